"""Fourier operators (FFT, FFT2D, FFTND, Shift, DCT): the property battery over
tests/registry_fourier.py, PyLops 2.8 parity, inverses and error messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tests.registry import FOURIER_CASES as CASES
from torchlops.signalprocessing.dct import DCT
from torchlops.signalprocessing.fft import FFT
from torchlops.signalprocessing.fft2d import FFT2D
from torchlops.signalprocessing.fftnd import FFTND
from torchlops.signalprocessing.shift import Shift
from torchlops.utils import testing as T

pl = pytest.importorskip("pylops")

IDS = [c.name for c in CASES]
RNG = np.random.default_rng(20240611)
RTOL = 1e-10


# ---------------------------------------------------------------------------- property battery


# ---------------------------------------------------------------------------- PyLops parity
def _both(name: str, *args, torch_args=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P = getattr(pl.signalprocessing, name)(*args, **kw)
        Top = globals()[name](*(torch_args or args), **kw)
    return Top, P


PSH = RNG.standard_normal(5)
PSH3 = RNG.standard_normal((6, 4))
PARITY = [
    ("FFT-axis0-pad", lambda: _both("FFT", (5, 4), axis=0, nfft=8), True),
    ("FFT-crop-none", lambda: _both("FFT", (5, 7), nfft=4, norm="none"), True),
    (
        "FFT-real-1/n-shifts",
        lambda: _both("FFT", (6, 3), axis=0, nfft=9, norm="1/n", real=True, ifftshift_before=True, fftshift_after=True),
        False,
    ),
    ("FFT-real-even-sampling", lambda: _both("FFT", (4, 6), nfft=8, real=True, sampling=0.1), False),
    ("FFT-float64", lambda: _both("FFT", (5, 4), dtype="float64", fftshift_after=True), False),
    ("FFT2D-default", lambda: _both("FFT2D", (4, 5), ifftshift_before=True, fftshift_after=True), True),
    (
        "FFT2D-axes02-real-none",
        lambda: _both(
            "FFT2D", (5, 4, 3), axes=(0, 2), nffts=(7, 2), real=True, norm="none", fftshift_after=(True, False)
        ),
        False,
    ),
    (
        "FFT2D-axes21-real",
        lambda: _both(
            "FFT2D",
            (5, 4, 3),
            axes=(2, 1),
            nffts=(4, 6),
            real=True,
            ifftshift_before=(False, True),
            sampling=(0.5, 2.0),
        ),
        False,
    ),
    ("FFTND-3d-real-1/n", lambda: _both("FFTND", (5, 4, 3), nffts=(7, 2, 5), real=True, norm="1/n"), False),
    (
        "FFTND-4d",
        lambda: _both(
            "FFTND",
            (5, 4, 3, 2),
            axes=(2, 0, 1),
            nffts=(4, 6, 5),
            ifftshift_before=(False, True, True),
            fftshift_after=True,
        ),
        True,
    ),
    ("Shift-scalar", lambda: _both("Shift", (5, 4), 1.3, axis=0), True),
    ("Shift-real-nfft", lambda: _both("Shift", (7, 4), -0.7, axis=0, nfft=12, real=True), False),
    (
        "Shift-pertrace",
        lambda: _both("Shift", (5, 7), PSH, torch_args=((5, 7), torch.from_numpy(PSH)), nfft=9, sampling=0.5),
        True,
    ),
    (
        "Shift-3d-real-pertrace",
        lambda: _both("Shift", (6, 3, 4), PSH3, torch_args=((6, 3, 4), torch.from_numpy(PSH3)), axis=1, real=True),
        False,
    ),
    ("Shift-float64-crop", lambda: _both("Shift", (6, 3), 0.4, axis=0, nfft=4, dtype="float64"), False),
    ("DCT-type1", lambda: _both("DCT", (5, 4), type=1), False),
    ("DCT-type2-axis1", lambda: _both("DCT", (5, 6), axes=1), False),
    ("DCT-type3-axes02", lambda: _both("DCT", (5, 4, 3), type=3, axes=(0, 2)), False),
    ("DCT-type4-complex", lambda: _both("DCT", (6, 5), type=4, axes=0, dtype="complex128"), True),
]


def _rand(n: int, cplx: bool) -> np.ndarray:
    a = RNG.standard_normal(n)
    return a + 1j * RNG.standard_normal(n) if cplx else a


def assert_rel(a, b, what: str) -> None:
    a = a.detach().numpy().ravel() if isinstance(a, torch.Tensor) else np.ravel(a)
    b = np.ravel(b)
    assert a.shape == b.shape, f"{what}: {a.shape} vs {b.shape}"
    err = np.linalg.norm(a - b) / np.linalg.norm(b)
    assert err <= RTOL, f"{what}: relative error {err:.3e}"


@pytest.mark.parametrize("build, cplx", [(b, c) for _, b, c in PARITY], ids=[p[0] for p in PARITY])
def test_pylops_parity(build, cplx: bool) -> None:
    Top, P = build()
    assert Top.shape == P.shape and Top.dims == tuple(P.dims) and Top.dimsd == tuple(P.dimsd)
    assert Top.clinear == P.clinear
    x, y = _rand(P.shape[1], cplx), _rand(P.shape[0], True)
    assert_rel(Top @ torch.from_numpy(x).reshape(Top.dims), P @ x, "forward")
    assert_rel(Top.H @ torch.from_numpy(y).reshape(Top.dimsd), P.H @ y, "adjoint")
    X = np.stack([_rand(P.shape[1], cplx) for _ in range(3)])
    assert_rel(Top @ torch.from_numpy(X), np.stack([P @ xi for xi in X]), "batched forward (flat)")
    for attr in ("f", "f1", "f2"):
        if hasattr(P, attr):
            assert_rel(getattr(Top, attr), getattr(P, attr), attr)
    if hasattr(P, "fs"):
        for ft, fp in zip(Top.fs, P.fs):
            assert_rel(ft, fp, "fs")


def test_adjoint_real_output_dtype() -> None:
    F = FFT(6, real=True)
    assert F.dtype == torch.complex128 and not F.clinear
    assert (F.H @ torch.ones(4, dtype=torch.complex128)).dtype == torch.float64


# ---------------------------------------------------------------------------- inverse (Op / y)
@pytest.mark.parametrize("norm", ["ortho", "none", "1/n"])
@pytest.mark.parametrize("real", [False, True])
def test_division_is_exact_inverse(norm: str, real: bool) -> None:
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    for Op in (
        FFT((5, 6), axis=0, nfft=8, norm=norm, real=real),
        FFT2D((5, 6), nffts=(6, 7), norm=norm, real=real),
        FFTND((5, 6), norm=norm, real=real, ifftshift_before=(True, False)),
    ):
        xi = x if real else x.to(torch.complex128)
        y = Op @ xi
        T.assert_close(Op / y, xi, 1e-12, f"{type(Op).__name__} / y, norm={norm}")
        if norm == "ortho":
            # unitary (for nfft >= n): the adjoint is the inverse and CGLS agrees
            T.assert_close(Op.H @ y, xi, 1e-12, "adjoint as inverse")
    P = pl.signalprocessing.FFT((5, 6), axis=0, nfft=8, norm=norm, real=real)
    yn = np.asarray(P @ x[0].numpy().ravel())
    assert_rel(FFT((5, 6), axis=0, nfft=8, norm=norm, real=real) / torch.from_numpy(yn), P / yn, "vs PyLops division")


def test_dct_is_orthogonal() -> None:
    for t in (1, 2, 3, 4):
        A = DCT((5, 4), type=t).todense()
        T.assert_close(A.T @ A, torch.eye(20, dtype=torch.float64), 1e-12, f"DCT type {t} orthogonality")


def test_dct_repeated_axes_refused() -> None:
    """Two names of one axis (scipy's dctn: "all axes must be unique") are an error, not a
    transform applied twice."""
    with pytest.raises(ValueError, match="axes must be unique"):
        DCT((3, 4), axes=(1, -1))


def test_shift_integer_and_learnable() -> None:
    x = torch.randn(3, 16, dtype=torch.float64)
    S = Shift((3, 16), 3.0)
    T.assert_close((S @ x).real, torch.roll(x, 3, dims=1), 1e-12, "integer shift is a circular roll")
    s = torch.nn.Parameter(torch.tensor([0.5, -1.2, 2.0], dtype=torch.float64))
    Sp = Shift((3, 16), s, real=True)
    assert [n for n, _ in Sp.named_parameters()] == ["shift"]
    loss = (Sp @ x).square().sum()
    (g,) = torch.autograd.grad(loss, s)
    eps = 1e-6
    num = []
    for i in range(3):
        d = torch.zeros(3, dtype=torch.float64)
        d[i] = eps
        lp = (Shift((3, 16), s.detach() + d, real=True) @ x).square().sum()
        lm = (Shift((3, 16), s.detach() - d, real=True) @ x).square().sum()
        num.append((lp - lm) / (2 * eps))
    T.assert_close(g, torch.stack(num), 1e-6, "shift gradient vs finite differences")


# ---------------------------------------------------------------------------- errors
def test_errors() -> None:
    with pytest.raises(ValueError, match=r"norm='bad' is not one of 'ortho', 'none' or '1/n'"):
        FFT(4, norm="bad")
    with pytest.raises(ValueError, match='use "none"'):
        FFT(4, norm="backward")
    with pytest.raises(ValueError, match='use "1/n"'):
        FFTND((4, 3), norm="forward")
    with pytest.raises(ValueError, match=r"FFT2D requires at least two input dimensions, got dims with 1"):
        FFT2D(4)
    for cls in (FFT2D, FFTND):  # numpy would transform axis 1 twice; a clear error here
        with pytest.raises(ValueError, match=r"axes must be distinct, got \(1, 1\)"):
            cls((3, 4), axes=(1, 1))
    with pytest.raises(ValueError, match=r"exactly two dimensions, got axes=\(0, 1, 2\)"):
        FFT2D((3, 4, 5), axes=(0, 1, 2))
    with pytest.raises(ValueError, match=r"must have the same number of elements, got 2, 3, 2, 2 and 2"):
        FFTND((3, 4), nffts=(3, 4, 5))
    with pytest.raises(ValueError, match=r"axes=2 is out of range"):
        FFT2D((3, 4), axes=(0, 2))
    with pytest.raises(TypeError, match="nffts must hold int values"):
        FFTND((3, 4), nffts=(3.5, 4))
    with pytest.raises(ValueError, match="nfft must be a positive int"):
        FFT(4, nfft=0)
    with pytest.warns(UserWarning, match="nfft smaller than dims"):
        FFT(6, nfft=4)
    with pytest.warns(UserWarning, match=r"nfft=4 smaller than dims\[axis\]=6"):
        Shift((3, 6), 0.5, nfft=4)
    with pytest.raises(
        ValueError, match=r"shift must be a scalar or hold one shift per trace, of shape \(5,\), got \(4,\)"
    ):
        Shift((5, 7), torch.zeros(4))
    with pytest.raises(TypeError, match="shift must be real"):
        Shift(5, torch.tensor(1j))
    with pytest.raises(ValueError, match="Wrong `type`, it can only be 1, 2, 3 or 4, got 5"):
        DCT(4, type=5)
    with pytest.raises(ValueError, match="type 1 DCT needs at least 2 samples"):
        DCT((1, 4), type=1)
    with pytest.raises(
        ValueError, match=r"expected an input of shape \(\*batch, 5, 4\) or \(\*batch, 20\), got \(3, 3\)"
    ):
        FFT((5, 4)) @ torch.zeros(3, 3, dtype=torch.complex128)


def test_shift_follows_complex_cast() -> None:
    S = Shift((3, 8), torch.tensor([0.5, 1.0, -2.0]), real=False, dtype=torch.complex128)
    x = torch.randn(3, 8, dtype=torch.complex64)
    ref = S @ x.to(torch.complex128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        S64 = S.to(torch.complex64)
    T.assert_close(S64 @ x, ref, 1e-5, "complex64 copy")


def test_fft_errors_name_its_own_arguments() -> None:
    with pytest.raises(ValueError, match=r"axis=2 is out of range for a model of 2 dimension"):
        FFT((4, 5), axis=2)
    with pytest.raises(ValueError, match="nfft must be a positive int, got 0"):
        FFT((4, 5), axis=1, nfft=0)


def test_shift_float32_phase_is_accurate_for_large_shifts() -> None:
    """The phase is computed in float64 whatever the operator's precision: an integer shift of
    30000 samples in float32 is the roll to float32 accuracy (float32 phases were 1e-2 rad off)."""
    from torchlops.signalprocessing.shift import Shift

    n = 65536
    x = torch.randn(n, generator=torch.Generator().manual_seed(0))
    for real in (True, False):
        Op = Shift(n, 30000.0, real=real, dtype=torch.complex64)
        y = Op @ (x if real else x.to(torch.complex64))
        err = (y.to(torch.complex128) - torch.roll(x.double(), 30000)).abs().norm() / x.double().norm()
        assert y.dtype == (torch.float32 if real else torch.complex64) and float(err) < 1e-6


def test_shift_phase_of_half_precision_operators_and_half_integer_shifts() -> None:
    """The phase of a float16 / complex32 Shift is built (torch.polar has no half kernel: it is
    taken in float32, then cast); shifts either side of half-integers (where the turns' fraction
    wraps) give the float64 phase and gradients."""
    from torchlops.signalprocessing.shift import Shift

    for dt in (torch.float16, torch.complex32):
        assert Shift(8, 1.3, dtype=dt)._phase().dtype == torch.complex32
    s = torch.tensor([0.5, 1.5, 2.4999999, 2.5000001, -3.5, 30000.25], dtype=torch.float64)
    x = torch.randn(6, 16, dtype=torch.float64)
    Op = Shift((6, 16), s, axis=1, real=True, dtype=torch.complex128)
    f = torch.fft.rfftfreq(16, dtype=torch.float64)
    want = torch.polar(torch.ones(6, 9, dtype=torch.float64), -2 * torch.pi * f * s[:, None])
    # (the reference takes sin / cos of angles up to 1e5 rad in float64: itself good to ~1e-11)
    torch.testing.assert_close(Op._phase(), want, rtol=0, atol=1e-10)
    sp = s.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: Shift((6, 16), v, axis=1, real=True, dtype=torch.complex128) @ x, (sp,))


def test_shift_value_is_kept_exactly_in_single_precision_operators() -> None:
    """A shift given as a number or a tensor is held in float64 whatever the operator's
    precision (a complex64 operator rounded 10000.3 to 10000.2998: 4e-4 relative error)."""
    from torchlops.signalprocessing.shift import Shift

    pl = pytest.importorskip("pylops")
    x = torch.randn(64, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    for sh in (10000.3, [30000.3]):
        ref = pl.signalprocessing.Shift(64, sh[0] if isinstance(sh, list) else sh, dtype="complex128") @ x.numpy()
        y = Shift(64, np.asarray(sh) if isinstance(sh, list) else sh, dtype=torch.complex64) @ x.to(torch.complex64)
        err = np.linalg.norm(y.numpy().astype(np.complex128) - ref) / np.linalg.norm(ref)
        assert err < 1e-6


def test_fft_engine_names_are_pylops() -> None:
    """engine takes PyLops' names (torch.fft runs whatever it is) and a misspelt one raises, as
    in PyLops (FFT2D / FFTND have no fftw there)."""
    for make in (lambda e: FFT(6, engine=e), lambda e: FFT2D((4, 4), engine=e), lambda e: FFTND((4, 4), engine=e)):
        for good in ("numpy", "scipy", "mkl_fft", None):
            make(good)
        with pytest.raises(ValueError, match="engine must be one of"):
            make("foo")
    FFT(6, engine="fftw")
    with pytest.raises(ValueError, match="engine must be one of numpy, scipy, mkl_fft"):
        FFT2D((4, 4), engine="fftw")


def test_shift_keeps_its_phase_while_the_shift_is_unchanged():
    """The phase is computed once (it cost as much as the FFTs) and afresh after an in-place
    change, a new shift or a conversion; a shift that needs a gradient gets it; pickles."""
    import pickle

    x = torch.randn(16, dtype=torch.complex128)
    S = Shift(16, 2.5)
    y1 = S @ x
    ph = S.__dict__["_kept_values"]["phase"][2]
    S @ x
    assert S.__dict__["_kept_values"]["phase"][2] is ph
    S.shift.add_(1.0)
    torch.testing.assert_close(S @ x, Shift(16, 3.5) @ x)
    S.shift.data.add_(1.0)  # (no version counter through .data: the values are compared)
    torch.testing.assert_close(S @ x, Shift(16, 4.5) @ x)
    S.shift = torch.tensor(0.0, dtype=torch.float64)
    torch.testing.assert_close(S @ x, x)
    torch.testing.assert_close(pickle.loads(pickle.dumps(S)) @ x, x)
    S64 = Shift(16, 2.5).to(torch.complex64)
    assert (S64 @ x.to(torch.complex64)).dtype == torch.complex64
    torch.testing.assert_close(S64 @ x.to(torch.complex64), y1.to(torch.complex64), rtol=1e-5, atol=1e-5)
    p = torch.nn.Parameter(torch.tensor(2.5, dtype=torch.float64))
    Sp = Shift(16, p)
    (Sp @ x).abs().pow(2).sum().backward()
    assert p.grad is not None


@pytest.mark.parametrize("engine", ["torch", "auto"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 33, 64])
def test_dct_every_type_equals_scipy(n, engine, monkeypatch):
    """The torch engine: types 2 and 3 (each the other's transpose) from one real FFT of n
    samples, type 1 from a real FFT of 2 (n - 1), type 4 from a complex FFT of n / 2 (even n)
    or 2 n (odd n); "auto" on the CPU: scipy's. Both are scipy's orthonormal dct / idct along
    every axis, odd and even lengths, in float64 and float32."""
    import scipy.fft as sf

    from torchlops.functional import fourier

    calls = []
    if engine == "torch":
        monkeypatch.setattr(fourier, "_scipy_dct_ok", lambda x: False)
    else:
        orig = fourier._dct_scipy
        monkeypatch.setattr(fourier, "_dct_scipy", lambda *a: calls.append(1) or orig(*a))
    x = torch.randn(3, n, 5, dtype=torch.float64)
    for ty in (1, 2, 3, 4):
        if ty == 1 and n == 1:
            continue
        for axis in (0, 1):
            D32 = DCT((n, 5), type=ty, axes=axis, dtype=torch.float32)
            np.testing.assert_allclose((D32 @ x.float()).double().numpy(),
                                       sf.dct(x.numpy(), type=ty, axis=axis + 1, norm="ortho"), rtol=2e-5, atol=2e-5)
            D = DCT((n, 5), type=ty, axes=axis)
            np.testing.assert_allclose((D @ x).numpy(), sf.dct(x.numpy(), type=ty, axis=axis + 1, norm="ortho"),
                                       rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose((D.H @ x).numpy(), sf.idct(x.numpy(), type=ty, axis=axis + 1, norm="ortho"),
                                       rtol=1e-12, atol=1e-13)
    assert bool(calls) == (engine == "auto")


def test_dct_cpu_scipy_path_only_where_nothing_is_recorded():
    """The scipy path never runs where a graph, a tangent or a transform must see the
    transform: the functional dct on a tensor that requires grad keeps its gradient, vmap and
    forward-mode AD work, and the workers argument reaches scipy."""
    import torch.autograd.forward_ad as fwAD

    from torchlops.functional.fourier import dct

    x = torch.randn(2, 8, 6, dtype=torch.float64, requires_grad=True)
    y = dct(x, 4, (0, 1))
    M = DCT((8, 6), type=4).todense()
    (g,) = torch.autograd.grad((y * torch.arange(48.0, dtype=torch.float64).reshape(1, 8, 6)).sum(), x)
    torch.testing.assert_close(g[0].reshape(-1), M.T @ torch.arange(48.0, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    D = DCT((8, 6), type=2)
    xs = torch.randn(3, 8, 6, dtype=torch.float64)
    torch.testing.assert_close(torch.func.vmap(D.matvec)(xs), D @ xs, rtol=1e-12, atol=1e-12)
    t = torch.randn(8, 6, dtype=torch.float64)
    with fwAD.dual_level():
        out = D.matvec(fwAD.make_dual(xs[0], t))
        torch.testing.assert_close(fwAD.unpack_dual(out).tangent, D @ t, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(DCT((8, 6), type=3, workers=1) @ xs, DCT((8, 6), type=3) @ xs, rtol=0, atol=0)
    with pytest.raises(ValueError):
        DCT((8, 6), workers=0) @ xs  # (scipy refuses 0 workers)


@pytest.mark.parametrize("which", ["FFT", "FFT2D", "FFTND", "Shift"])
def test_fft_tuning_kwargs_accepted_as_in_pylops(which: str) -> None:
    """PyLops passes **kwargs_fft to its FFT engine (scipy's workers, pyFFTW's threads, ...):
    the same call builds here, with the same result; a keyword no engine tunes with raises."""
    pylops = pytest.importorskip("pylops")
    dims = (6, 8)
    make = {
        "FFT": lambda **kw: (FFT(dims, axis=1, engine="scipy", **kw), pylops.signalprocessing.FFT),
        "FFT2D": lambda **kw: (FFT2D(dims, engine="scipy", **kw), pylops.signalprocessing.FFT2D),
        "FFTND": lambda **kw: (FFTND(dims, axes=(0, 1), engine="scipy", **kw), pylops.signalprocessing.FFTND),
        "Shift": lambda **kw: (Shift(dims, 1.5, axis=1, engine="scipy", **kw), pylops.signalprocessing.Shift),
    }[which]
    Op, Pcls = make(workers=2)
    args = {"FFT": dict(dims=dims, axis=1), "FFT2D": dict(dims=dims), "FFTND": dict(dims=dims, axes=(0, 1)),
            "Shift": dict(dims=dims, shift=1.5, axis=1)}[which]
    P = Pcls(**args, engine="scipy", workers=2)
    x = np.random.default_rng(0).standard_normal(dims)
    np.testing.assert_allclose((Op @ torch.from_numpy(x)).numpy().ravel(), P @ x.ravel(), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="'axiss'"):
        make(axiss=1)


def test_dct_traces_and_modes_see_the_transform():
    """A jit trace, make_fx and a dispatch mode record the torch formulation (the scipy path
    would leave a constant in the graph); jacrev through the functional type 3 (its vmapped
    backward) gives the matrix; an unknown engine raises."""
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.utils._python_dispatch import TorchDispatchMode

    from torchlops.functional.fourier import dct

    D = DCT((6, 5))
    x1, x2 = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    traced = torch.jit.trace(D, (x1,), check_trace=False)
    # (the trace keeps its twiddle factors' arithmetic on traced sizes in single precision)
    torch.testing.assert_close(traced(x2), D(x2), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(traced(x2), D(x1), rtol=1e-3, atol=1e-3)
    g = make_fx(lambda v: dct(v, 2, (0, 1)))(x1.unsqueeze(0))
    torch.testing.assert_close(g(x2.unsqueeze(0))[0], D(x2), rtol=1e-12, atol=1e-12)

    class Seen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    with Seen() as mode:
        D(x1)
    assert any("fft" in o for o in mode.ops)
    for n in (4, 5):
        v = torch.randn(1, n, dtype=torch.float64)
        J = torch.func.jacrev(lambda u, n=n: dct(u, 3, (0,)))(v).reshape(n, n)
        torch.testing.assert_close(J, DCT(n, type=3).todense(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="engine must be"):
        dct(x1.unsqueeze(0), 2, (0,), engine="scipy")


@pytest.mark.slow
def test_dct2_functional_compiles_with_dynamic_shapes():
    """The functional DCT-II over two axes under inductor with dynamic shapes (an in-place
    negation of a slice failed its range analysis)."""
    import scipy.fft as sf

    from torchlops.functional.fourier import dct

    x = torch.randn(2, 6, 4, dtype=torch.float64)
    torch._dynamo.reset()
    f = torch.compile(lambda v: dct(v, 2, (0, 1)), backend="inductor", fullgraph=True, dynamic=True)
    np.testing.assert_allclose(f(x).numpy(), sf.dctn(x.numpy(), type=2, axes=[1, 2], norm="ortho"), rtol=1e-12,
                               atol=1e-12)


REAL_INPUT_CASES = [p for p in PARITY if not p[0].startswith("DCT")]


@pytest.mark.parametrize("build", [p[1] for p in REAL_INPUT_CASES], ids=[p[0] for p in REAL_INPUT_CASES])
def test_real_input_reaches_the_transform_real_and_gives_the_complex_inputs_result(build) -> None:
    """The FFT family and Shift transform a real input as it is (no complex copy first) where
    nothing is recorded: same values and dtype as the complex input of zero imaginary part, and
    as the recorded path; a float32 input of a complex128 operator is computed in float64."""
    Top, _ = build()
    seen = []
    for name in ("_matvec", "_rmatvec"):
        kernel = getattr(Top, name)
        setattr(Top, name, lambda v, k=kernel: (seen.append(v.dtype), k(v))[1])
    for adjoint, ins in ((False, Top.dims), (True, Top.dimsd)):
        apply = Top.rmatvec if adjoint else Top.matvec
        for xdt in (torch.float64, torch.float32):
            x = torch.from_numpy(RNG.standard_normal((2, *ins))).to(xdt)
            seen.clear()
            y = apply(x)
            assert seen == [torch.float64], seen  # (float32: promoted to the operator's precision only)
            yc = apply(x.to(torch.complex128))
            assert y.dtype == yc.dtype and y.shape == yc.shape
            torch.testing.assert_close(y, yc, rtol=1e-12, atol=1e-12)
            xg = x.double().requires_grad_()
            yg = apply(xg)
            torch.testing.assert_close(y, yg.detach(), rtol=1e-12, atol=1e-12)
            (g,) = torch.autograd.grad(yg.abs().sum() if yg.is_complex() else yg.sum(), xg)
            assert g.dtype == torch.float64


def test_shift_conversions_set_the_precision_and_keep_the_shift_in_float64() -> None:
    """``.to(complex64)`` gives the operator built in complex64 (the shift stays float64: a shift
    of 10000.3 rounded to complex64 was 3e-4 off); ``.float()`` / ``.half()`` / ``.double()``
    leave a complex operator's dtype as it is, and its results follow that dtype."""
    x = torch.randn(2, 64, dtype=torch.complex128, generator=torch.Generator().manual_seed(4))
    ref = Shift(64, 10000.3)(x)
    built = Shift(64, 10000.3, dtype=torch.complex64)(x.to(torch.complex64))
    for S in (Shift(64, 10000.3).to(torch.complex64), Shift(64, 10000.3, dtype=torch.complex64).to(torch.complex64),
              Shift(64, 10000.3).to(torch.float32)):
        assert S.shift.dtype == torch.float64 and S.dtype == torch.complex64
        y = S(x.to(torch.complex64))
        assert y.dtype == torch.complex64
        torch.testing.assert_close(y, built, rtol=0, atol=0)
    for conv in ("float", "half", "double"):
        S = getattr(Shift(64, 10000.3), conv)()
        assert S.dtype == torch.complex128 and S.shift.dtype == torch.float64
        torch.testing.assert_close(S(x), ref, rtol=0, atol=0)
    S = Shift(64, 10000.3, dtype=torch.complex64).double()
    assert S(x.to(torch.complex64)).dtype == torch.complex64
    assert Shift(64, 0.5).to("meta").shift.dtype == torch.float64
    S = Shift(64, 0.5).to("meta").to_empty(device="cpu")  # (storage for the values a checkpoint fills)
    assert S.shift.device.type == "cpu" and S.shift.dtype == torch.float64
    S.load_state_dict(Shift(64, 0.5).state_dict())
    torch.testing.assert_close(S(x), Shift(64, 0.5)(x), rtol=0, atol=0)


@pytest.mark.parametrize("dt", [torch.float16, torch.bfloat16, torch.complex32])
def test_half_precision_shift_and_dct_apply(dt) -> None:
    """Shift and DCT in half precision apply (computed in single precision, returned in the
    input's: there is no half-precision FFT on the CPU, which raised 'Unsupported dtype Half'),
    close to the float64 result to the precision of the type."""
    warnings.simplefilter("ignore", UserWarning)  # (complex32 is experimental in torch)
    x64 = torch.randn(3, 10, dtype=torch.complex128 if dt.is_complex else torch.float64,
                      generator=torch.Generator().manual_seed(0))
    x = x64.to(dt)
    tol = 0.05 if dt == torch.bfloat16 else 5e-3
    for real in ((False,) if dt.is_complex else (False, True)):
        ref_dt = torch.complex128 if dt.is_complex else torch.float64
        S, S64 = Shift((3, 10), 1.3, axis=1, dtype=dt, real=real), Shift((3, 10), 1.3, axis=1, dtype=ref_dt, real=real)
        for f, f64 in ((S.matvec, S64.matvec), (S.rmatvec, S64.rmatvec)):
            y, want = f(x.reshape(-1)), f64(x.to(ref_dt).reshape(-1))
            assert y.dtype == dt
            assert (y.to(want.dtype) - want).abs().max() <= tol * want.abs().max()
    if not dt.is_complex:
        for t in (1, 2, 3, 4):
            C, C64 = DCT((3, 10), type=t, dtype=dt), DCT((3, 10), type=t)
            for f, f64 in ((C.matvec, C64.matvec), (C.rmatvec, C64.rmatvec)):
                y, want = f(x.reshape(-1)), f64(x.to(torch.float64).reshape(-1))
                assert y.dtype == dt
                assert (y.double() - want).abs().max() <= tol * want.abs().max()


def test_dct_workers_is_checked() -> None:
    """workers: None or a non-zero int (scipy's meaning), refused at construction (2.5 and 'a'
    reached scipy at the first CPU apply and were ignored elsewhere)."""
    x = torch.randn(8, dtype=torch.float64)
    torch.testing.assert_close(DCT(8, workers=np.int64(2)) @ x, DCT(8) @ x)
    torch.testing.assert_close(DCT(8, workers=-1) @ x, DCT(8) @ x)
    for bad in (2.5, "a", 0, True):
        with pytest.raises(ValueError, match="workers must be None or a non-zero int"):
            DCT(8, workers=bad)
