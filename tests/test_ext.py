"""The compiled kernels (torchlops._C): engine="ext" equals engine="torch" for every variant,
opcheck of every registered op, torch.compile over kernel-backed operators, errors.

CI sets TORCHLOPS_REQUIRE_EXT=1: there a missing extension fails this module instead of
skipping it.
"""

from __future__ import annotations

import itertools
import os

import pytest
import torch

import torchlops as tl
from tests.fused import fused_vs_plain
from torchlops import _ops
from torchlops.functional.derivatives import first_stencil

if not tl.ext_available():
    if os.environ.get("TORCHLOPS_REQUIRE_EXT") == "1":
        raise RuntimeError(f"TORCHLOPS_REQUIRE_EXT=1 but the extension is not built: {tl.ext_info()}")
    pytest.skip(f"extension not built: {tl.ext_info()}", allow_module_level=True)

DEVICES = ["cpu"] + (["cuda"] if "cuda" in _ops.EXT_DEVICES and torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64, torch.complex128]
TOL = {torch.float32: 2e-5, torch.float64: 1e-12, torch.complex64: 2e-5, torch.complex128: 1e-12}


def _dev(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.cuda) if name == "cuda" else name


DEVS = [_dev(d) for d in DEVICES]


def _close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> None:
    scale = b.abs().max().clamp_min(1.0)
    err = (a - b).abs().max() / scale
    assert err <= TOL[dtype], f"ext vs torch: max relative error {err:.3g}"


def _compare(
    make: object, dims: tuple[int, ...], dtype: torch.dtype, device: str, batch: tuple[int, ...] = (2, 3),
    unbatched: bool = True,
) -> None:
    """engine='ext' == engine='torch', forward and adjoint, batched and non-contiguous inputs."""
    E = make("ext").to(device)
    T = make("torch").to(device)
    assert E.engine == "ext" and T.engine == "torch"
    x = torch.randn(*batch, *dims, dtype=dtype, device=device)
    y = torch.randn(*batch, *E.dimsd, dtype=dtype, device=device)
    _close(E @ x, T @ x, dtype)
    _close(E.H @ y, T.H @ y, dtype)
    # non-contiguous: a transposed copy transposed back (same values, other strides)
    xt = x.transpose(0, -1).contiguous().transpose(0, -1)
    assert not xt.is_contiguous()
    _close(E @ xt, T @ x, dtype)
    if dtype.is_complex:  # lazily conjugated input (conj bit set)
        _close(E @ x.conj(), T @ x.conj().resolve_conj(), dtype)
    if unbatched:
        _close(E @ x[0, 0], T @ x[0, 0], dtype)


# ---------------------------------------------------------------------------- derivatives
FIRST = [(k, e, o) for k in ("forward", "centered", "backward") for e in (False, True) for o in (3, 5)
         if not (o == 5 and k != "centered")]


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("kind,edge,order", FIRST)
def test_first_derivative(kind: str, edge: bool, order: int, axis: int, dtype: torch.dtype, device: str) -> None:
    dims = (7, 6, 9)
    _compare(lambda e: tl.FirstDerivative(dims, axis=axis, sampling=0.7, kind=kind, edge=edge, order=order,
                                          dtype=dtype, engine=e), dims, dtype, device)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("kind,edge", list(itertools.product(("forward", "centered", "backward"), (False, True))))
def test_second_derivative(kind: str, edge: bool, axis: int, dtype: torch.dtype, device: str) -> None:
    dims = (6, 5, 8)
    _compare(lambda e: tl.SecondDerivative(dims, axis=axis, sampling=1.3, kind=kind, edge=edge, dtype=dtype, engine=e),
             dims, dtype, device)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("axes,weights,sampling", [
    ((-2, -1), (1.0, 1.0), (1.0, 1.0)),
    ((0, 2), (2.0, -0.5), (0.5, 2.0)),
    ((0, 1, 2), (1.0, 2.0, 3.0), (1.0, 0.7, 1.1)),
])
@pytest.mark.parametrize("kind,edge", [("centered", False), ("centered", True), ("forward", True), ("backward", False)])
def test_laplacian(axes: tuple, weights: tuple, sampling: tuple, kind: str, edge: bool, dtype: torch.dtype, device: str) -> None:
    dims = (5, 7, 6)
    _compare(lambda e: tl.Laplacian(dims, axes=axes, weights=weights, sampling=sampling, kind=kind, edge=edge,
                                    dtype=dtype, engine=e), dims, dtype, device)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("dims", [(9,), (5, 8), (4, 6, 5)], ids=str)
@pytest.mark.parametrize("kind,edge", [("centered", False), ("centered", True), ("forward", False), ("backward", True)])
def test_gradient(dims: tuple, kind: str, edge: bool, dtype: torch.dtype, device: str) -> None:
    sampling = tuple(0.5 + i for i in range(len(dims)))
    _compare(lambda e: tl.Gradient(dims, sampling=sampling, kind=kind, edge=edge, dtype=dtype, engine=e),
             dims, dtype, device)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("field", [False, True], ids=["one-direction", "per-point"])
@pytest.mark.parametrize("second", [False, True], ids=["first", "second"])
def test_directional(field: bool, second: bool, dtype: torch.dtype, device: str) -> None:
    dims = (6, 7)
    gen = torch.Generator().manual_seed(3)
    v = torch.randn(2, *dims, generator=gen) if field else torch.tensor([0.6, 0.8])
    Op = tl.SecondDirectionalDerivative if second else tl.FirstDirectionalDerivative
    _compare(lambda e: Op(dims, v=v.to(dtype), sampling=(1.0, 0.5), edge=True, engine=e), dims, dtype, device)


# Line layouts of the CPU stencil kernels: long lines cut into blocks of rows; short lines in
# groups laid end to end across samples ("joined"), within a sample's long run of lines, or as
# runs of a few lines per sample (split/merge outputs, per-point weights); axes whose rows are all
# near an end, or whose interior is shorter than the stencil's reach; several terms accumulated
# into one output.
_FIELD = torch.randn(2, 300, 40, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
LAYOUTS = {
    "long-lines": ((9000,), (2,), lambda d, e: tl.FirstDerivative((9000,), kind="centered", order=5, edge=True,
                                                                  sampling=0.3, dtype=d, engine=e)),
    "long-and-short-axes": ((4500, 3), (2,), lambda d, e: tl.Laplacian((4500, 3), weights=(1.0, -2.0),
                                                                       dtype=d, engine=e)),
    "joined-short-lines": ((700, 16), (3,), lambda d, e: tl.SecondDerivative((700, 16), axis=-1, edge=True,
                                                                             dtype=d, engine=e)),
    "few-lines-per-sample": ((5, 8, 8), (7,), lambda d, e: tl.Gradient((5, 8, 8), edge=True, sampling=(1.0, 2.0, 0.5),
                                                                       dtype=d, engine=e)),
    "weights-short-runs": ((9, 11), (5,), lambda d, e: tl.FirstDirectionalDerivative(
        (9, 11), v=_FIELD[:, :9, :11].to(d), edge=True, engine=e)),
    "weights-long-runs": ((300, 40), (2,), lambda d, e: tl.SecondDirectionalDerivative(
        (300, 40), v=_FIELD.to(d), engine=e)),
    "all-edge-rows": ((3, 50), (4,), lambda d, e: tl.FirstDerivative((3, 50), axis=0, kind="centered", order=5,
                                                                     dtype=d, engine=e)),
    "interior-shorter-than-reach": ((7, 50), (3,), lambda d, e: tl.FirstDerivative((7, 50), axis=0, kind="centered",
                                                                                   order=5, dtype=d, engine=e)),
    "interior-shorter-than-reach-narrow": ((6, 7, 2), (3,), lambda d, e: tl.Laplacian(
        (6, 7, 2), axes=(0, 1), kind="centered", dtype=d, engine=e)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_stencil_line_layouts(layout: str, dtype: torch.dtype) -> None:
    """ext == torch on every line layout of the CPU kernels, and a batch's samples equal, bit for
    bit, the samples run one at a time (another grouping of the same lines)."""
    dims, batch, make = LAYOUTS[layout]
    _compare(lambda e: make(dtype, e), dims, dtype, "cpu", batch=batch, unbatched=False)
    E = make(dtype, "ext")
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(*batch, *dims, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(*batch, *E.dimsd, generator=gen, dtype=torch.float64).to(dtype)
    for A, v in ((E, x), (E.H, y)):
        whole = A @ v
        for i in range(batch[0]):
            assert torch.equal(whole[i], A @ v[i])


PATH_STENCILS = {
    "first-3": lambda dims, d, e: tl.FirstDerivative(dims, axis=0, sampling=0.7, dtype=d, engine=e),
    "first-5-edge": lambda dims, d, e: tl.FirstDerivative(dims, axis=0, order=5, edge=True, dtype=d, engine=e),
    "forward-edge": lambda dims, d, e: tl.FirstDerivative(dims, axis=0, kind="forward", edge=True, dtype=d, engine=e),
    "second-edge": lambda dims, d, e: tl.SecondDerivative(dims, axis=0, edge=True, sampling=1.3, dtype=d, engine=e),
    "smoothing-9": lambda dims, d, e: tl.Smoothing1D(9, dims, axis=0, dtype=d, engine=e),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex128], ids=str)
@pytest.mark.parametrize("which", list(PATH_STENCILS))
def test_stencil_paths_agree_bitwise(which: str, dtype: torch.dtype) -> None:
    """The CPU kernels' paths (short lines of narrow rows in groups, the rest line by line and row
    by row) give an element the same bits: a column does not depend on how wide the rows are, nor
    a row near an end on how long the line is."""
    make = PATH_STENCILS[which]
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 40, 9, generator=gen, dtype=torch.float64).to(dtype)
    for adjoint in (False, True):
        def apply(v: torch.Tensor, adjoint: bool = adjoint) -> torch.Tensor:
            A = make(tuple(v.shape[1:]), dtype, "ext")
            return (A.H if adjoint else A) @ v

        assert torch.equal(apply(x)[..., :8], apply(x[..., :8].contiguous()))  # rows of 9 vs of 8
        long_ = torch.randn(3, 1100, 1, generator=gen, dtype=torch.float64).to(dtype)
        short = long_[:, 100:].contiguous()  # lines of 1000 (grouped) vs 1100 (one by one)
        yl, ys = apply(long_), apply(short)
        assert torch.equal(yl[:, -900:], ys[:, -900:])
        yh = apply(long_[:, :1000].contiguous())
        assert torch.equal(yl[:, :900], yh[:, :900])


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("which", ["1D-axis0", "1D-long", "2D", "ND"])
def test_smoothing(which: str, dtype: torch.dtype, device: str) -> None:
    dims = (6, 9, 5)
    make = {
        "1D-axis0": lambda e: tl.Smoothing1D(3, dims, axis=0, dtype=dtype, engine=e),
        "1D-long": lambda e: tl.Smoothing1D(13, dims, axis=1, dtype=dtype, engine=e),  # longer than the axis
        "2D": lambda e: tl.Smoothing2D((3, 5), dims, axes=(0, 2), dtype=dtype, engine=e),
        "ND": lambda e: tl.SmoothingND((3, 4, 5), dims, dtype=dtype, engine=e),
    }[which]
    _compare(make, dims, dtype, device)


# ---------------------------------------------------------------------------- convolutions
def _filt(shape: tuple[int, ...], dtype: torch.dtype, seed: int = 5) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype) \
        if not dtype.is_complex else torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("nh,offset,axis", [(5, 2, -1), (4, 0, 0), (7, 6, 1), (12, 3, -1)], ids=str)
def test_convolve1d(nh: int, offset: int, axis: int, dtype: torch.dtype, device: str) -> None:
    dims = (6, 9)  # nh=12 along axis -1: a filter longer than the signal (dimsd differs)
    h = _filt((nh,), dtype)
    _compare(lambda e: tl.Convolve1D(dims, h, offset=offset, axis=axis, method="direct", engine=e), dims, dtype, device)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_convolve1d_per_sample_filters(dtype: torch.dtype, device: str) -> None:
    dims = (11,)
    h = _filt((3, 4), dtype)
    _compare(lambda e: tl.Convolve1D(dims, h, offset=1, method="direct", batched_filter=True, engine=e),
             dims, dtype, device, batch=(2, 3), unbatched=False)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("hs,offset,axes", [((3, 5), (1, 2), (-2, -1)), ((4, 2), (0, 1), (0, 2)), ((3, 3), (2, 0), (2, 0))], ids=str)
def test_convolve2d(hs: tuple, offset: tuple, axes: tuple, dtype: torch.dtype, device: str) -> None:
    dims = (7, 5, 8)
    h = _filt(hs, dtype)
    _compare(lambda e: tl.Convolve2D(dims, h, offset=offset, axes=axes, method="direct", engine=e), dims, dtype, device)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_convolvend(dtype: torch.dtype, device: str) -> None:
    dims = (5, 6, 7)
    h = _filt((3, 2, 4), dtype)
    _compare(lambda e: tl.ConvolveND(dims, h, offset=(1, 0, 2), axes=None, method="direct", engine=e),
             dims, dtype, device)


def test_auto_engine_picks_ext_and_torch() -> None:
    assert tl.FirstDerivative((5, 6)).engine == "auto"
    x = torch.randn(5, 6)
    calls = []
    orig = _ops.band

    def spy(*a: object, **k: object) -> torch.Tensor:
        calls.append(1)
        return orig(*a, **k)

    _ops.band = spy
    try:
        tl.FirstDerivative((5, 6), engine="auto") @ x
        n_auto = len(calls)
        tl.FirstDerivative((5, 6), engine="torch") @ x
        n_torch = len(calls) - n_auto
    finally:
        _ops.band = orig
    assert n_auto == 1 and n_torch == 0
    # kernels for float16 do not exist: auto falls back, ext says why
    xh = torch.randn(5, 6, dtype=torch.float16)
    assert not _ops.use_ext("auto", None, xh)
    with pytest.raises(ValueError, match="no kernels for dtype torch.float16"):
        _ops.use_ext("ext", None, xh)


# ---------------------------------------------------------------------------- autograd through the ops
def test_learnable_filter_gradient_with_ext() -> None:
    dims = (4, 17)
    h = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    x = torch.randn(3, *dims, dtype=torch.float64)
    C = tl.Convolve1D(dims, h, offset=2, method="direct", engine="ext")
    R = tl.Convolve1D(dims, h, offset=2, method="direct", engine="torch")
    (C @ x).square().sum().backward()
    g_ext = h.grad.clone()
    h.grad = None
    (R @ x).square().sum().backward()
    torch.testing.assert_close(g_ext, h.grad, rtol=1e-12, atol=1e-12)


def test_raw_ops_gradcheck() -> None:
    x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    spec = tl.FirstDerivative((5, 6), kind="centered", edge=True)._spec
    assert torch.autograd.gradcheck(lambda t: _ops.band(t, (0, 1), (1.0, 2.0), spec, False), (x,))
    assert torch.autograd.gradgradcheck(lambda t: _ops.band(t, (0, 1), (1.0, 2.0), spec, True), (x,))
    assert torch.autograd.gradcheck(lambda t: _ops.band_split(t, (0, 1), (1.0, 0.5), spec), (x,))
    h = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, f: _ops.convolve(t, f, (1, 0), (1, 0), (6, 5), False, False), (x, h))
    assert torch.autograd.gradgradcheck(lambda t, f: _ops.convolve(t, f, (1,), (1,), (6,), True, False), (x, h[:, 0]))


# ---------------------------------------------------------------------------- opcheck
def _opcheck_samples() -> list:
    spec = tl.FirstDerivative((5, 6), kind="centered", edge=True)._spec
    spec2 = tl.SecondDerivative((5, 6), edge=True)._spec
    out = []
    for dt in (torch.float32, torch.float64, torch.complex128):
        rg = dt == torch.float64
        x = torch.randn(2, 5, 6, dtype=dt, requires_grad=rg)
        w = torch.randn(2, 5, 6, dtype=dt)
        out += [
            (torch.ops.torchlops.stencil.default, (x, [0, 1], [1.0, 0.5], list(spec), None, False)),
            (torch.ops.torchlops.stencil.default, (x, [1], [2.0], list(spec2), None, True)),
            (torch.ops.torchlops.stencil.default, (x, [0, 1], [1.0, 0.5], list(spec), w, True)),
            (torch.ops.torchlops.stencil_split.default, (x, [0, 1], [1.0, 0.5], list(spec))),
            (torch.ops.torchlops.stencil_merge.default,
             (torch.randn(2, 2, 5, 6, dtype=dt, requires_grad=rg), [0, 1], [1.0, 0.5], list(spec))),
            (torch.ops.torchlops.convolve.default,
             (x, torch.randn(1, 3, dtype=dt, requires_grad=rg), [1], [1], [6], False)),
            (torch.ops.torchlops.convolve.default,
             (x, torch.randn(2, 2, 3, dtype=dt, requires_grad=rg), [0, 1], [0, 2], [5, 6], True)),
            (torch.ops.torchlops.convolve.default,
             (x, torch.randn(1, 8, dtype=dt, requires_grad=rg), [1], [3], [8], False)),
            # one shared filter, without the leading filter dim
            (torch.ops.torchlops.convolve.default, (x, torch.randn(3, dtype=dt, requires_grad=rg), [1], [1], [6], True)),
            (torch.ops.torchlops.convolve.default,
             (x, torch.randn(2, 3, dtype=dt, requires_grad=rg), [0, 1], [1, 2], [4, 6], False)),
        ]
    return out


@pytest.mark.parametrize("op,args", _opcheck_samples(), ids=lambda v: getattr(v, "__name__", "") if callable(v) else "")
def test_opcheck(op: object, args: tuple) -> None:
    torch.library.opcheck(op, args)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("axes,hs,offs", [([1], (4,), [2]), ([0, 2], (3, 2), [1, 0]), ([0, 1, 2], (2, 3, 2), [0, 1, 1])])
def test_convolve_shared_filter_form(axes: list, hs: tuple, offs: list, adjoint: bool, device: str) -> None:
    """A filter without the leading filter dim is one filter for every sample: the same
    result, bit for bit, as the (1, *hshape) form."""
    x = torch.randn(3, 5, 6, 4, dtype=torch.float64, device=device)
    h = torch.randn(hs, dtype=torch.float64, device=device)
    nout = [x.shape[1 + a] for a in axes]
    a = torch.ops.torchlops.convolve(x, h, axes, offs, nout, adjoint)
    b = torch.ops.torchlops.convolve(x, h.unsqueeze(0), axes, offs, nout, adjoint)
    assert torch.equal(a, b)
    assert torch.equal(_ops._DIRECT[torch.ops.torchlops.convolve.default](x, h, axes, offs, nout, adjoint), b)


def test_convolve_filter_form_checked() -> None:
    """A filter of the other form than the operator's (a swapped-in tensor) is an error, as
    with the torch engine, not a silent reinterpretation."""
    x = torch.randn(4, 9, dtype=torch.float64)
    with pytest.raises(ValueError, match="h must have 1 dimension"):
        _ops.convolve(x, torch.randn(2, 3, dtype=torch.float64), (0,), (1,), [9], False, False)
    with pytest.raises(ValueError, match="h must have 2 dimension"):
        _ops.convolve(x, torch.randn(3, dtype=torch.float64), (0,), (1,), [9], False, True)
    op = tl.Convolve1D(9, torch.randn(3, dtype=torch.float64), offset=1, method="direct")
    with pytest.raises(ValueError, match="h must have 1 dimension"):
        torch.func.functional_call(op, {"h": torch.randn(4, 3, dtype=torch.float64)}, (x,))


# ---------------------------------------------------------------------------- torch.compile
@pytest.mark.parametrize("which", ["laplacian", "convolve2d"])
def test_compile_fullgraph(which: str) -> None:
    torch._dynamo.reset()
    if which == "laplacian":
        Op = tl.Laplacian((9, 8), weights=(1.0, 2.0), edge=True, dtype=torch.float64, engine="ext")
    else:
        Op = tl.Convolve2D((9, 8), torch.randn(3, 3, dtype=torch.float64), offset=(1, 1), method="direct", engine="ext")
    x = torch.randn(2, 9, 8, dtype=torch.float64, requires_grad=True)

    def f(t: torch.Tensor) -> torch.Tensor:
        return Op.H(Op(t) * 2.0)

    cf = torch.compile(f, fullgraph=True)
    torch.testing.assert_close(cf(x), f(x))
    g1 = torch.autograd.grad(cf(x).sum(), x)[0]
    g2 = torch.autograd.grad(f(x).sum(), x)[0]
    torch.testing.assert_close(g1, g2)


DYNAMIC = {
    "first-ext": lambda: tl.FirstDerivative((7, 8), axis=1, sampling=0.5, edge=True, dtype=torch.float64, engine="ext"),
    "first-torch": lambda: tl.FirstDerivative((7, 8), axis=0, sampling=0.5, dtype=torch.float64, engine="torch"),
    "second-ext": lambda: tl.SecondDerivative((7, 8), axis=1, sampling=1.5, dtype=torch.float64, engine="ext"),
    "second-torch": lambda: tl.SecondDerivative((7, 8), axis=0, sampling=1.5, dtype=torch.float64, engine="torch"),
    "causal": lambda: tl.CausalIntegration((7, 8), axis=1, sampling=0.5, kind="trapezoidal", dtype=torch.float64),
    # (pi read as math.pi inside the traced backward failed the same way)
    "dct": lambda: tl.signalprocessing.DCT((7, 8), type=2, axes=(1,), dtype=torch.float64),
    "dct4": lambda: tl.signalprocessing.DCT((7, 8), type=4, axes=(0, 1), dtype=torch.float64),
    "shift": lambda: tl.signalprocessing.Shift((7, 8), 0.3, axis=1, dtype=torch.float64),
}


@pytest.mark.parametrize("which", list(DYNAMIC))
def test_compile_dynamic_backward(which: str) -> None:
    """torch.compile(fullgraph=True, dynamic=True) of A^H A x with a gradient, then a new batch
    size: operators whose scales come from a float argument (a float attribute read inside the
    traced backward failed: "lift_tracked_freevar_to_input should not be called on root"), and
    those using pi."""
    torch._dynamo.reset()
    Op = DYNAMIC[which]()
    cf = torch.compile(lambda t: Op.H(Op(t)).square().sum(), fullgraph=True, dynamic=True)
    for nb in (2, 3):
        x = torch.randn(nb, 7, 8, dtype=torch.float64, requires_grad=True)
        (g1,) = torch.autograd.grad(cf(x), x)
        (g2,) = torch.autograd.grad(Op.H(Op(x)).square().sum(), x)
        torch.testing.assert_close(g1, g2)


def test_sampling_is_fixed_at_construction() -> None:
    """The sampling of the derivatives and of CausalIntegration is read-only: the kernels and the
    torch engine both hold the value given at construction, so a later assignment would be
    silently ignored by both (PyLops re-reads it); it raises instead."""
    for Op in (tl.FirstDerivative((4, 5), sampling=0.5), tl.SecondDerivative((4, 5), sampling=0.5),
               tl.CausalIntegration((4, 5), sampling=0.5)):
        assert Op.sampling == 0.5
        with pytest.raises(AttributeError):
            Op.sampling = 2.0
        assert Op.sampling == 0.5


# ---------------------------------------------------------------------------- errors
def test_engine_errors() -> None:
    with pytest.raises(ValueError, match="engine must be one of"):
        tl.FirstDerivative((5, 6), engine="cuda")
    with pytest.raises(ValueError, match="the kernels compute method='direct'"):
        tl.Convolve1D((5, 6), torch.ones(3), method="fft", engine="ext")
    with pytest.raises(ValueError, match="complex weights"):
        tl.Laplacian((5, 6), weights=(1.0, 1j), engine="ext")
    with pytest.raises(ValueError, match="edge rows overlap on an axis of length 3"):
        tl.FirstDerivative(3, order=5, edge=True, engine="ext")
    with pytest.raises(ValueError, match="more than 65 samples"):
        tl.Smoothing1D(67, 100, engine="ext")
    # engine="auto" falls back silently where the kernels cannot go
    D = tl.FirstDerivative(3, order=5, edge=True, dtype=torch.float64)
    torch.testing.assert_close(D @ torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))


def test_kernel_argument_checks() -> None:
    x = torch.randn(2, 5, 6)
    spec = list(tl.FirstDerivative((5, 6))._spec)
    with pytest.raises(RuntimeError, match="stencil axis must lie in"):
        torch.ops.torchlops.stencil(x, [2], [1.0], spec, None, False)
    with pytest.raises(RuntimeError, match="one scale per axis expected"):
        torch.ops.torchlops.stencil(x, [0, 1], [1.0], spec, None, False)
    with pytest.raises(RuntimeError, match="stencil spec of"):
        torch.ops.torchlops.stencil(x, [0], [1.0], spec[:-1], None, False)
    with pytest.raises(RuntimeError, match="weights must have shape"):
        torch.ops.torchlops.stencil(x, [0], [1.0], spec, torch.randn(1, 5, 5), False)
    with pytest.raises(RuntimeError, match="the filter must have the input's dtype"):
        torch.ops.torchlops.convolve(x, torch.randn(1, 3, dtype=torch.float64), [1], [1], [6], False)
    with pytest.raises(RuntimeError, match="must be a multiple of the number of filters"):
        torch.ops.torchlops.convolve(x, torch.randn(3, 3), [1], [1], [6], False)
    with pytest.raises(RuntimeError, match="axes must be increasing"):
        torch.ops.torchlops.convolve(x, torch.randn(1, 3, 3), [1, 0], [1, 1], [6, 5], False)
    with pytest.raises(RuntimeError, match="expected a filter"):
        torch.ops.torchlops.convolve(x, torch.randn(3), [0, 1], [1, 1], [5, 6], False)


@pytest.mark.parametrize("n", range(1, 8))
def test_short_axes_auto_equals_torch(n: int) -> None:
    """Axes shorter than the stencil's edge rows: auto takes the kernels where they match the
    torch engine exactly and falls back where they would not (never a different result)."""
    gen = torch.Generator().manual_seed(n)
    makers = []
    for kind, edge, order in itertools.product(("forward", "centered", "backward"), (False, True), (3, 5)):
        if order == 5 and kind != "centered":
            continue
        makers += [
            lambda e, k=kind, ed=edge, o=order: tl.FirstDerivative((n, 3), axis=0, kind=k, edge=ed, order=o,
                                                                   dtype=torch.float64, engine=e),
            lambda e, k=kind, ed=edge: tl.SecondDerivative((3, n), kind=k, edge=ed, dtype=torch.float64, engine=e),
            lambda e, k=kind, ed=edge: tl.Laplacian((n, 4), kind=k, edge=ed, dtype=torch.float64, engine=e),
            lambda e, k=kind, ed=edge: tl.Gradient((n, 4), kind=k, edge=ed, dtype=torch.float64, engine=e),
        ]
    makers += [lambda e, L=L: tl.Smoothing1D(L, (n, 3), axis=0, dtype=torch.float64, engine=e) for L in (3, 9)]
    for make in makers:
        try:
            T = make("torch")
        except ValueError as err:  # edge rows past the axis: refused by every engine (PyLops: IndexError)
            assert "does not fit" in str(err)
            with pytest.raises(ValueError, match="does not fit"):
                make("auto")
            continue
        A = make("auto")
        x = torch.randn(2, *T.dims, dtype=torch.float64, generator=gen)
        y = torch.randn(2, *T.dimsd, dtype=torch.float64, generator=gen)
        torch.testing.assert_close(A @ x, T @ x, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(A.H @ y, T.H @ y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex128], ids=str)
@pytest.mark.parametrize("case", ["1d-long-line", "1d-per-sample", "1d-filter-longer", "2d-plane", "2d-31x31"])
def test_convolve_tile_sized(case: str, dtype: torch.dtype, device: str) -> None:
    """Sizes that take the shared-memory tiled CUDA paths (lines of >= 128 outputs, planes of
    >= 512); on CPU the same cases check the line kernels on long lines."""
    if case == "1d-long-line":
        h = _filt((31,), dtype)
        _compare(lambda e: tl.Convolve1D((3, 1301), h, offset=15, method="direct", engine=e), (3, 1301), dtype, device)
    elif case == "1d-per-sample":
        h = _filt((3, 17), dtype)
        _compare(lambda e: tl.Convolve1D(700, h, offset=4, method="direct", batched_filter=True, engine=e),
                 (700,), dtype, device, batch=(2, 3), unbatched=False)
    elif case == "1d-filter-longer":
        h = _filt((300,), dtype)
        _compare(lambda e: tl.Convolve1D((2, 200), h, offset=120, method="direct", engine=e), (2, 200), dtype, device)
    elif case == "2d-plane":
        h = _filt((15, 15), dtype)
        _compare(lambda e: tl.Convolve2D((2, 45, 70), h, offset=(7, 3), method="direct", engine=e),
                 (2, 45, 70), dtype, device)
    else:
        h = _filt((31, 31), dtype)
        _compare(lambda e: tl.Convolve2D((40, 37), h, offset=(15, 30), method="direct", engine=e), (40, 37), dtype, device)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "case",
    ["long-line", "long-axis0", "filter-longer-than-chunk", "2d-long-rows", "2d-tiles", "2d-tiles-per-sample",
     "nd-unit-first-axis"],
)
def test_convolve_long_lines(case: str, dtype: torch.dtype, device: str) -> None:
    """Lines longer than one CPU work chunk (8 KiB of outputs): chunk edges, taps grouped four
    at a time that straddle the signal's ends, filters longer than a chunk."""
    if case == "long-line":
        h = _filt((41,), dtype)
        _compare(lambda e: tl.Convolve1D((2, 5003), h, offset=3, method="direct", engine=e), (2, 5003), dtype, device)
    elif case == "long-axis0":  # P3 = 3 elements per output position
        h = _filt((9,), dtype)
        _compare(lambda e: tl.Convolve1D((2600, 3), h, offset=6, axis=0, method="direct", engine=e),
                 (2600, 3), dtype, device, batch=(2,), unbatched=False)
    elif case == "filter-longer-than-chunk":
        h = _filt((1103,), dtype)
        _compare(lambda e: tl.Convolve1D(2500, h, offset=700, method="direct", engine=e), (2500,), dtype, device,
                 batch=(2,), unbatched=False)
    elif case == "2d-long-rows":
        h = _filt((3, 6), dtype)
        _compare(lambda e: tl.Convolve2D((4, 3001), h, offset=(1, 4), method="direct", engine=e), (4, 3001),
                 dtype, device, batch=(2,), unbatched=False)
    elif case == "2d-tiles":  # register tiles: row blocks of 4 and a remainder, edge columns
        h = _filt((5, 7), dtype)
        _compare(lambda e: tl.Convolve2D((3, 23, 57), h, offset=(3, 2), axes=(1, 2), method="direct", engine=e),
                 (3, 23, 57), dtype, device, batch=(2,), unbatched=False)
    elif case == "2d-tiles-per-sample":
        h = _filt((3, 4, 6), dtype)
        _compare(lambda e: tl.Convolve2D((19, 41), h, offset=(0, 5), method="direct", batched_filter=True,
                                         engine=e), (19, 41), dtype, device, batch=(2, 3), unbatched=False)
    else:  # a filter of length 1 along the first of three axes, off-centre: planes without input
        h = _filt((1, 3, 5), dtype)
        _compare(lambda e: tl.ConvolveND((4, 30, 40), h, offset=(1, 1, 2), axes=None, method="direct", engine=e),
                 (4, 30, 40), dtype, device, batch=(2,), unbatched=False)


def test_empty_filter_rejected_by_kernel() -> None:
    with pytest.raises(RuntimeError, match="the filter must not be empty"):
        torch.ops.torchlops.convolve(torch.randn(2, 5), torch.randn(1, 0), [0], [0], [5], False)


# ---------------------------------------------------------------------------- direct eager calls
def _op_samples() -> list:
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 9, 7, dtype=torch.float64, generator=gen)
    spec = list(_ops.stencil_spec(first_stencil("centered", True, 3)))
    w = torch.randn(1, 9, 7, dtype=torch.float64, generator=gen)
    h = torch.randn(1, 4, 3, dtype=torch.float64, generator=gen)
    ops = torch.ops.torchlops
    return [
        (ops.stencil.default, (x, [0, 1], [0.5, 2.0], spec, None, False)),
        (ops.stencil.default, (x, [1], [1.0], spec, w, True)),
        (ops.stencil_split.default, (x, [0, 1], [1.0, 0.5], spec)),
        (ops.stencil_merge.default, (torch.randn(2, 2, 9, 7, dtype=torch.float64, generator=gen), [0, 1], [1.0, 0.5], spec)),
        (ops.convolve.default, (x, h, [0, 1], [1, 2], [9, 7], False)),
        (ops.convolve.default, (x, h, (0, 1), (1, 2), (9, 7), True)),
    ]


@pytest.mark.parametrize("i", range(6))
def test_direct_calls_equal_torch_ops(i: int) -> None:
    op, args = _op_samples()[i]
    direct = _ops._DIRECT[op]
    with torch.no_grad():
        torch.testing.assert_close(direct(*args), op(*args), rtol=0, atol=0)
        torch.testing.assert_close(_ops._call(op, args, (args[0],)), op(*args), rtol=0, atol=0)


def test_direct_call_errors_reach_the_caller() -> None:
    with pytest.raises(RuntimeError, match="the filter must not be empty"):
        _ops._DIRECT[torch.ops.torchlops.convolve.default](torch.randn(2, 5), torch.randn(1, 0), [0], [0], [5], False)
    with pytest.raises(RuntimeError, match="must be a tensor"):
        _ops._DIRECT[torch.ops.torchlops.convolve.default]("x", torch.randn(1, 2), [0], [0], [5], False)
    with pytest.raises(TypeError):
        _ops._DIRECT[torch.ops.torchlops.stencil.default](torch.randn(2, 5), [0], ["a"], [1.0], None, False)


def test_direct_call_rejects_a_bad_element() -> None:
    conv = _ops._DIRECT[torch.ops.torchlops.convolve.default]
    x, h = torch.randn(1, 8, 1, dtype=torch.float64), torch.randn(1, 3, 1, dtype=torch.float64)
    with pytest.raises(TypeError):
        conv(x, h, [0, 1], [2.5, 1], [8, 1], False)
    with pytest.raises(TypeError):
        _ops._DIRECT[torch.ops.torchlops.stencil.default](x, [0], [1.0, object()], [1.0], None, False)


@pytest.mark.parametrize("kind", ["dispatch", "function"])
def test_modes_and_subclasses_see_the_ops(kind: str) -> None:
    """Under a TorchDispatchMode or TorchFunctionMode, and for tensor subclasses, the ops go
    through torch.ops (not the direct calls), so modes and subclasses see them."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    def record(func, args, kwargs):  # noqa: ANN001, ANN202
        seen.append(str(func))
        return func(*args, **(kwargs or {}))

    class RecordDispatch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            return record(func, args, kwargs)

    class RecordFunction(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            return record(func, args, kwargs)

    class Tagged(torch.Tensor):
        pass

    D = tl.FirstDerivative((9, 7), axis=0, dtype=torch.float64, engine="ext")
    x = torch.randn(2, 9, 7, dtype=torch.float64)
    with torch.no_grad():
        ref = D(x)
        with RecordDispatch() if kind == "dispatch" else RecordFunction():
            y = D(x)
        z = D(x.as_subclass(Tagged))
    torch.testing.assert_close(y, ref)
    assert any("torchlops.stencil" in s for s in seen)
    assert type(z) is Tagged
    torch.testing.assert_close(z.as_subclass(torch.Tensor), ref)


def test_cpu_vector_loops_use_the_cpus_instruction_set() -> None:
    """The vector loops are cloned for x86-64-v3 (AVX2, FMA, ...): on a CPU that has those
    features the extension must use that clone (resolved on features, not on the CPU model)."""
    import platform

    level = _ops._C.simd()
    assert level in ("x86-64-v3", "avx2", "baseline")
    if platform.machine() not in ("x86_64", "AMD64"):
        assert level == "baseline"
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line for line in f if line.startswith("flags")).split(":")[1].split())
    except (OSError, StopIteration):
        pytest.skip("CPU flags not readable here")
    v3 = {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
    if v3 <= flags:
        assert level != "baseline", "the AVX2 clone is not used on a CPU that supports it"
    assert level in _ops.ext_info()


# ---------------------------------------------------------------------------- fused solver steps
def _shrink_ref(z, g, alpha, thresh, kind):
    from torchlops.optimization._sparse_helpers import hardthreshold, softthreshold

    v = z + alpha * g
    return softthreshold(v, thresh) if kind == "soft" else hardthreshold(v, thresh)


@pytest.mark.parametrize("kind", ["soft", "hard"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_row", [False, True], ids=["scalars", "per-row"])
def test_shrink_kernel(kind: str, dtype: torch.dtype, per_row: bool) -> None:
    """T(z + alpha g) in one pass equals the tensor ops (NaN stays NaN, negative thresholds as
    torch.clamp treats them), with scalar or per-row alpha / thresh."""
    B, n = 4, 37
    z, g = torch.randn(B, n, dtype=dtype), torch.randn(B, n, dtype=dtype)
    z[1, 3] = float("nan")
    if per_row:
        alpha = torch.tensor([[0.5], [1.0], [0.25], [2.0]], dtype=dtype)
        thresh = torch.tensor([[0.3], [0.0], [1.5], [-0.2]], dtype=dtype)
    else:
        alpha, thresh = 0.7, 0.4
    out = _ops.shrink(z, g, alpha, thresh, kind)
    ref = _shrink_ref(z, g, alpha, thresh, kind)
    assert torch.isnan(out[1, 3])
    torch.testing.assert_close(out, ref, rtol=0, atol=4 * torch.finfo(dtype).eps, equal_nan=True)
    assert int((out == 0).sum()) > 0 and int((out != 0).sum()) > n  # both branches taken
    # the dispatcher path (torch.ops) is the same kernel
    a, ta = (0.0, alpha) if per_row else (alpha, None)
    t, tt = (0.0, thresh) if per_row else (thresh, None)
    k = 0 if kind == "soft" else 1
    assert torch.equal(torch.ops.torchlops.shrink(z, g, a, ta, t, tt, k).nan_to_num(7.0), out.nan_to_num(7.0))


def _update_ref(xn, xold, z, r, rz, y, oxn, act, xu, lastcost, w, tol, eps):
    """The tensor ops that fista_update replaces (FISTA.step's pure-torch branch)."""
    rn = y - oxn
    un = torch.linalg.vector_norm(xn - xold, dim=-1, keepdim=True)
    rnorm = torch.linalg.vector_norm(rn, dim=-1, keepdim=True)
    cost = torch.linalg.vector_norm(xn, ord=1, dim=-1, keepdim=True) * eps + 0.5 * rnorm * rnorm
    if lastcost is not None:
        cost = torch.where(act, cost, lastcost)
    xu_new = torch.where(act, un, xu)
    return (torch.where(act, xn, xold), torch.where(act, torch.lerp(xold, xn, w), z), torch.where(act, rn, r),
            torch.where(act, torch.lerp(r, rn, w), rz), xu_new, act & (xu_new > tol), cost)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 20, 30), (2, 40000, 33000)], ids=["small", "chunked-rows"])
@pytest.mark.parametrize("lastcost", [False, True])
def test_fista_update_kernel(dtype: torch.dtype, shape: tuple, lastcost: bool) -> None:
    """The fused FISTA update equals the tensor ops: frozen rows keep every value, rows longer
    than one work chunk sum their partial norms, per-row eps."""
    B, N, M = shape
    xn, xold, z = (torch.randn(B, N, dtype=dtype) for _ in range(3))
    r, rz, y, oxn = (torch.randn(B, M, dtype=dtype) for _ in range(4))
    act = torch.tensor([True, False, True][:B]).reshape(B, 1)
    xu = torch.rand(B, 1, dtype=dtype)
    lc = torch.rand(B, 1, dtype=dtype) if lastcost else None
    eps = torch.rand(B, 1, dtype=dtype)
    w = 1.37
    # tol between the rows' update norms: one active row stops, the other goes on
    un = torch.linalg.vector_norm(xn - xold, dim=-1)
    tol = float(un[0]) * (1.001 if B == 3 else 0.999)
    out = _ops.fista_update(xn, xold, z, r, rz, y, oxn, act, xu, lc, w, tol, eps)
    ref = _update_ref(xn, xold, z, r, rz, y, oxn, act, xu, lc, w, tol, eps)
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    for name, a, b in zip(("x", "z", "r", "rz", "xu", "act", "cost"), out, ref):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        # (lerp's rounding, fused multiply-adds or not, is an ulp of the operands' scale)
        atol = 0 if b.dtype == torch.bool else 4 * torch.finfo(dtype).eps * float(b.abs().max())
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=name)
    assert torch.equal(out[0][1], xold[1]) and torch.equal(out[1][1], z[1]) and torch.equal(out[3][1], rz[1])
    assert not bool(out[5][1]) and bool(out[5][0]) == (B != 3)
    # a scalar eps
    out2 = _ops.fista_update(xn, xold, z, r, rz, y, oxn, act, xu, lc, w, tol, 0.3)
    torch.testing.assert_close(out2[6], _update_ref(xn, xold, z, r, rz, y, oxn, act, xu, lc, w, tol, 0.3)[6],
                               rtol=rtol, atol=0)


def test_fused_kernels_check_their_arguments() -> None:
    z = torch.randn(2, 5, dtype=torch.float64)
    with pytest.raises(RuntimeError, match=r"g must have shape \(2, 5\)"):
        _ops.shrink(z, z[:, :4], 1.0, 0.1, "soft")
    with pytest.raises(RuntimeError, match="expected float32 or float64"):
        _ops.shrink(z.to(torch.complex128), z.to(torch.complex128), 1.0, 0.1, "soft")
    with pytest.raises(RuntimeError, match="threshs must hold 1 or 2 values"):
        _ops.shrink(z, z, 1.0, torch.ones(3, 1, dtype=torch.float64), "soft")
    r = torch.randn(2, 3, dtype=torch.float64)
    act, xu = torch.ones(2, 1, dtype=torch.bool), torch.ones(2, 1, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="act must be Bool"):
        _ops.fista_update(z, z, z, r, r, r, r, xu, xu, None, 1.0, 0.0, 0.1)
    with pytest.raises(RuntimeError, match=r"oxn must have shape \(2, 3\)"):
        _ops.fista_update(z, z, z, r, r, r, z, act, xu, None, 1.0, 0.0, 0.1)


def test_fused_kernels_opcheck() -> None:
    z, g = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    torch.library.opcheck(torch.ops.torchlops.shrink.default, (z, g, 0.5, None, 0.2, None, 0))
    torch.library.opcheck(torch.ops.torchlops.shrink.default,
                          (z.float(), g.float(), 0.0, torch.rand(3, 1), 0.0, torch.rand(3, 1), 1))
    r = torch.randn(3, 4, dtype=torch.float64)
    act, xu = torch.tensor([[True], [False], [True]]), torch.rand(3, 1, dtype=torch.float64)
    torch.library.opcheck(torch.ops.torchlops.fista_update.default,
                          (z, g, z, r, r, r, r, act, xu, xu, 1.2, 0.1, 0.1, None))


def _fused_vs_torch(monkeypatch, run):
    """``run()`` with the fused kernels (counting their calls) and with the tensor ops."""
    return fused_vs_plain(monkeypatch, run, ("shrink", "fista_update"), "sparse_fusable")


@pytest.mark.parametrize("solver", ["ista", "fista"])
@pytest.mark.parametrize("kind", ["soft", "hard"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_sample", [False, True], ids=["float-eps", "tensor-eps"])
def test_fused_solver_steps_equal_tensor_ops(monkeypatch, solver, kind, dtype, per_sample) -> None:
    """ISTA/FISTA with the fused CPU kernels give the tensor-op iteration: models, momentum,
    step counts (samples stopping at different steps) and cost histories."""
    from torchlops.optimization.cls_sparsity import FISTA, ISTA

    g = torch.Generator().manual_seed(5)
    A = torch.randn(20, 30, generator=g, dtype=torch.float64) / 20**0.5
    X = torch.zeros(4, 30, dtype=torch.float64)
    X[:, [2, 11, 25]] = torch.randn(4, 3, generator=g, dtype=torch.float64)
    Y = (X @ A.T).to(dtype)
    Y[3] = 0  # a sample that stops at its first step
    Op = tl.MatrixMult(A.to(dtype))
    eps = torch.tensor([0.1, 0.05, 0.2, 0.1], dtype=dtype) if per_sample else 0.1
    x0 = 0.01 * torch.randn(4, 30, generator=g, dtype=torch.float64).to(dtype)
    cls = FISTA if solver == "fista" else ISTA

    def run():
        s = cls(Op)
        x, it, cost = s.solve(Y, x0=x0, niter=150, eps=eps, alpha=0.2, tol=1e-3, threshkind=kind)
        return x, it, cost, s.iiters.clone(), s.z if solver == "fista" else x

    (xf, itf, cf, nf, zf), (xt, itt, ct, nt, zt), calls = _fused_vs_torch(monkeypatch, run)
    assert calls["shrink"] == itt and calls["fista_update"] == (itt if solver == "fista" else 0)
    assert itf == itt and torch.equal(nf, nt) and len(set(nt.tolist())) > 1  # samples stop at different steps
    rtol = 1e-4 if dtype == torch.float32 else 1e-11
    torch.testing.assert_close(xf, xt, rtol=rtol, atol=rtol * float(xt.abs().max()))
    torch.testing.assert_close(zf, zt, rtol=rtol, atol=rtol * float(zt.abs().max()))
    torch.testing.assert_close(cf, ct, rtol=rtol, atol=0)


def test_fused_steps_not_taken_when_a_gradient_is_needed(monkeypatch) -> None:
    """Unrolled differentiation takes the tensor ops (the kernels have no autograd): the
    gradient through FISTA reaches y; complex data and torch.no_grad are handled too."""
    from torchlops.optimization.sparsity import fista

    A = torch.randn(8, 10, dtype=torch.float64)
    y = torch.randn(8, dtype=torch.float64, requires_grad=True)

    def run():
        x = fista(tl.MatrixMult(A), y, niter=5, eps=0.1, alpha=0.01, tol=0)[0]
        return torch.autograd.grad(x.sum(), y)[0]

    gf, gt, calls = _fused_vs_torch(monkeypatch, run)
    assert calls == {"shrink": 0, "fista_update": 0} and torch.equal(gf, gt) and bool(gf.abs().sum() > 0)
    monkeypatch.undo()
    with torch.no_grad():
        _, _, calls = _fused_vs_torch(monkeypatch, lambda: fista(tl.MatrixMult(A), y, niter=5, eps=0.1,
                                                                  alpha=0.01, tol=0)[0])
    assert calls == {"shrink": 5, "fista_update": 5}
    monkeypatch.undo()
    Ac = torch.randn(8, 10, dtype=torch.complex128)
    _, _, calls = _fused_vs_torch(monkeypatch, lambda: fista(tl.MatrixMult(Ac), Ac @ torch.ones(10, dtype=torch.complex128),
                                                             niter=5, eps=0.1, alpha=0.01, tol=0)[0])
    assert calls == {"shrink": 0, "fista_update": 0}


def test_stencil_op_refuses_a_spec_whose_reach_is_too_small() -> None:
    """The kernels' interior paths read within `reach` of an element unchecked: a hand-made
    spec with a smaller reach than its taps need is an error, not an out-of-bounds read."""
    x = torch.arange(1.0, 7.0, dtype=torch.float64).reshape(1, 6)
    good = list(_ops.stencil_spec(({-1: -0.5, 1: 0.5}, 1, 1, [])))
    torch.testing.assert_close(torch.ops.torchlops.stencil(x, [0], [1.0], good, None, False),
                               torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0, 0.0]], dtype=torch.float64))
    bad = good.copy()
    bad[4] = 0.0
    with pytest.raises(RuntimeError, match="stencil reach must be at least 2"):
        torch.ops.torchlops.stencil(x, [0], [1.0], bad, None, False)
    with pytest.raises(RuntimeError, match="stencil reach must be at least 1000"):
        torch.ops.torchlops.stencil(x, [0], [1.0], [1.0, 0.0, 0.0, 0.0, 0.0, 1000.0, 1.0], None, True)
    edge = list(_ops.stencil_spec(({0: 1.0}, 0, 0, [(-3, {-4: 2.0})])))
    edge[4] = 3.0
    with pytest.raises(RuntimeError, match="stencil reach must be at least 4"):
        torch.ops.torchlops.stencil_split(x, [0], [1.0], edge)


def test_stencil_ops_refuse_spec_numbers_outside_int_range() -> None:
    """Counts, rows and offsets far outside int's range (or not whole) are an error of every
    stencil op: their cast was undefined and the reach sum overflowed past its check (a crash
    or an out-of-bounds read)."""
    x = torch.randn(2, 50, 8, dtype=torch.float64)
    ops = torch.ops.torchlops
    specs = (
        [1, 0, 0, 0, 0, 3e9, 1.0],  # tap offset beyond int
        [1, 0, 0, 0, 0, -2147483648.0, 1.0],  # -offset overflows int
        [1, 2147483647 - 99999, 0, 0, 0, 100000.0, 1.0],  # lo + offset overflows int
        [1, 2147483647, 0, 0, 0, 1.0, 1.0],
        [1, 0, 0, 0, 1, 0.5, 1.0],  # not a whole number
        [1, 0, 0, 0, 1, float("nan"), 1.0],
    )
    for spec in specs:
        for call in (lambda s=spec: ops.stencil(x, [0], [1.0], s, None, False),
                     lambda s=spec: ops.stencil_norm(x, [0], [1.0], s, True),
                     lambda s=spec: ops.stencil_split(x, [0, 1], [1.0, 1.0], s),
                     lambda s=spec: ops.stencil_merge(x.reshape(2, 2, 25, 8), [0, 1], [1.0, 1.0], s)):
            with pytest.raises(RuntimeError, match="stencil"):
                call()


def test_stencil_ops_refuse_an_axis_too_short_for_the_edge_rows() -> None:
    """Edge rows that leave the axis, fall in the interior or land on one another (an axis too
    short for the stencil) are an error of every stencil op, as the operators' own check
    (`stencil_rows_ok`), not zeros or rows written twice; an empty batch is no error."""
    st = first_stencil("centered", True, 5)
    spec = list(_ops.stencil_spec(st))
    ok, short = torch.randn(2, 8, 7, dtype=torch.float64), torch.randn(2, 8, 3, dtype=torch.float64)
    assert _ops.stencil_rows_ok(st, 3) is not None and _ops.stencil_rows_ok(st, 7) is None
    torch.ops.torchlops.stencil(ok, [0, 1], [1.0, 1.0], spec, None, False)
    calls = [lambda: torch.ops.torchlops.stencil(short, [0, 1], [1.0, 1.0], spec, None, False),
             lambda: torch.ops.torchlops.stencil(short, [1], [1.0], spec, None, True),
             lambda: torch.ops.torchlops.stencil_split(short, [0, 1], [1.0, 1.0], spec),
             lambda: torch.ops.torchlops.stencil_merge(torch.randn(2, 2, 8, 3, dtype=torch.float64), [0, 1],
                                                       [1.0, 1.0], spec)]
    if _ops._NORM_CPU:
        calls.append(lambda: torch.ops.torchlops.stencil_norm(short, [1], [1.0], spec, False))
    for call in calls:
        with pytest.raises(RuntimeError, match="does not fit axis 1 of length 3|overlap on axis 1 of length 3"):
            call()
    # an edge row inside the interior of an axis (lo = hi = 0: every row is interior)
    inner = list(_ops.stencil_spec(({0: 1.0}, 0, 0, [(1, {0: 2.0})])))
    with pytest.raises(RuntimeError, match=r"edge entry \(1, 0\) does not fit axis 0 of length 6"):
        torch.ops.torchlops.stencil(torch.randn(1, 6), [0], [1.0], inner, None, False)
    assert torch.ops.torchlops.stencil(short[:0], [1], [1.0], spec, None, False).shape == (0, 8, 3)


def test_fused_steps_fall_back_and_match_on_odd_state(monkeypatch) -> None:
    """State the fused kernels do not take (a float32 xupdate on a float64 solve, a 0-d one,
    an operator computing in another dtype than it declares) falls back to the tensor ops; a
    NaN per-sample threshold gives NaN as the tensor ops do; an infinite eps zeroes the model;
    inference mode works."""
    from torchlops.optimization.cls_sparsity import FISTA, ISTA

    g = torch.Generator().manual_seed(2)
    A = torch.randn(6, 8, generator=g, dtype=torch.float64)
    Y = torch.randn(4, 6, generator=g, dtype=torch.float64)

    def run_xu(value):
        def run():
            s = FISTA(tl.MatrixMult(A))
            x = s.setup(Y, niter=6, eps=0.1, alpha=0.02, tol=0)
            s.xupdate = value
            return s.run(x)
        return run

    for value in (torch.full((4,), float("inf")), torch.tensor(float("inf"), dtype=torch.float64)):
        fused, plain, _ = _fused_vs_torch(monkeypatch, run_xu(value))
        torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-14)
        monkeypatch.undo()
    Op32 = tl.FunctionOperator(lambda x: x.double() @ A.T, lambda y: y.double() @ A, 6, 8, dtype=torch.float32)
    fused, plain, _ = _fused_vs_torch(monkeypatch, lambda: ISTA(Op32).solve(Y.float(), niter=5, eps=0.1, alpha=0.02,
                                                                              tol=0)[0])
    torch.testing.assert_close(fused, plain)
    monkeypatch.undo()
    eps = torch.tensor([0.1, float("nan"), 0.1, 0.1], dtype=torch.float64)
    for cls in (ISTA, FISTA):
        fused, plain, calls = _fused_vs_torch(monkeypatch, lambda c=cls: c(tl.MatrixMult(A)).solve(
            Y, niter=4, eps=eps, alpha=0.02, tol=0)[0])
        assert calls["shrink"] == 4 and bool(torch.isnan(fused[1]).all()) and bool(torch.isnan(plain[1]).all())
        torch.testing.assert_close(fused[[0, 2, 3]], plain[[0, 2, 3]], rtol=1e-12, atol=1e-14)
        monkeypatch.undo()
    for cls in (ISTA, FISTA):
        x = cls(tl.MatrixMult(A)).solve(Y, niter=3, eps=float("inf"), alpha=0.02, tol=0)[0]
        assert torch.equal(x, torch.zeros_like(x))
        with torch.inference_mode():
            xi = cls(tl.MatrixMult(A)).solve(Y, niter=5, eps=0.1, alpha=0.02, tol=0)[0]
        torch.testing.assert_close(xi.clone(), cls(tl.MatrixMult(A)).solve(Y, niter=5, eps=0.1, alpha=0.02, tol=0)[0])


def test_sparse_args_check_in_cpp_matches_the_python_rules(monkeypatch) -> None:
    """_ops.sparse_fusable's per-tensor rules, in C++ and in Python, on the same arguments."""
    x = torch.randn(2, 3, dtype=torch.float64)
    mask = torch.ones(2, 1, dtype=torch.bool)

    class Sub(torch.Tensor):
        pass

    cases = [
        (x, mask, 0.5, None), (x.float(), x.float()), (x, x.float()), (x.to(torch.complex128),),
        (torch.nn.Parameter(x.clone()),), (x.clone().requires_grad_(),), (x.as_subclass(Sub),),
        (x.to_sparse(),), (torch.ones(2, dtype=torch.int64),), (mask, x.float()), (), (None, 1.0),
    ]
    got = {}
    for name, ok in (("cpp", _ops._ARGS_OK), ("python", None)):
        monkeypatch.setattr(_ops, "_ARGS_OK", ok)
        got[name] = [_ops.sparse_fusable(*c) for c in cases]
        with torch.no_grad():
            got[name] += [_ops.sparse_fusable(x.clone().requires_grad_())]
    assert got["cpp"] == got["python"]
    assert got["cpp"] == [True, True, False, False, False, False, False, False, False, True, True, True, True]


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("sampling", [0.3, 0.7, 1.1])
def test_first_differences_of_a_constant_are_exactly_zero(sampling: float, dtype: torch.dtype, device: str) -> None:
    """Taps of opposite coefficients on equal inputs cancel exactly (no fused multiply-add keeps
    the first product's rounding error), as with the torch engine and PyLops."""
    dims = (6, 20)
    x = torch.full((2, *dims), 7.77, dtype=dtype, device=device)
    ops = [tl.FirstDerivative(dims, axis=a, sampling=sampling, kind=k, dtype=dtype, engine="ext")
           for a in (0, 1) for k in ("forward", "centered", "backward")]
    ops += [tl.Gradient(dims, sampling=(sampling, 2 * sampling), dtype=dtype, engine="ext"),
            tl.FirstDirectionalDerivative(dims, v=torch.tensor([0.6, 0.8], dtype=dtype), sampling=(sampling, 0.9),
                                          engine="ext")]
    for Op in ops:
        Op = Op.to(device)
        y = Op @ x
        inner = y[..., 1:-1, 1:-1]
        assert int((inner != 0).sum()) == 0, f"{Op}: {int((inner != 0).sum())} nonzero interior values"


def test_import_without_the_extension_says_how_to_build_it() -> None:
    """With torchlops._C missing, `import torchlops` works and warns once with the build command."""
    import subprocess
    import sys

    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torchlops._C':\n"
        "            raise ImportError('hidden for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import torchlops, torch\n"
        "msgs = [str(x.message) for x in w if 'torchlops._C' in str(x.message)]\n"
        "assert len(msgs) == 1 and 'pip install --no-build-isolation -e .' in msgs[0], msgs\n"
        "assert torchlops.ext_available() is False\n"
        "D = torchlops.FirstDerivative(5, dtype=torch.float64)\n"
        "want = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64)\n"
        "assert torch.allclose(D @ torch.arange(5.0, dtype=torch.float64), want)\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TORCHLOPS_REQUIRE_EXT"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("which", ["1d", "2d", "nd"])
@pytest.mark.parametrize("pair", [("float64", "complex128"), ("float32", "float64")])
def test_swapped_in_filter_promotes_as_the_torch_engine(which: str, pair: tuple) -> None:
    """A filter of another dtype than the input (swapped in with functional_call): both are
    promoted, as the torch engine does (the kernels' path cast the filter down to the input's
    dtype: a complex filter lost its imaginary part with only a ComplexWarning)."""
    xdt, hdt = getattr(torch, pair[0]), getattr(torch, pair[1])
    g = torch.Generator().manual_seed(4)
    dims, h0, kw = {"1d": ((5, 9), torch.randn(3, generator=g), {"axis": -1, "offset": 1}),
                    "2d": ((6, 7), torch.randn(3, 3, generator=g), {"offset": (1, 1)}),
                    "nd": ((4, 5, 6), torch.randn(3, 1, 3, generator=g), {"offset": (1, 0, 1)})}[which]
    cls = {"1d": tl.Convolve1D, "2d": tl.Convolve2D, "nd": tl.ConvolveND}[which]
    h = torch.randn(h0.shape, generator=g, dtype=hdt)
    x = torch.randn(2, *dims, generator=g, dtype=xdt)
    out = {}
    for eng in ("ext", "torch"):
        C = cls(dims, h0.to(xdt), method="direct", engine=eng, **kw)
        CH = C.H
        (hname,) = [k for k, _ in CH.named_buffers() if k.split(".")[-1] == "h"]
        out[eng] = (torch.func.functional_call(C, {"h": h}, (x,)), torch.func.functional_call(CH, {hname: h}, (x,)))
    for a, b in zip(out["ext"], out["torch"], strict=True):
        assert a.dtype == b.dtype == torch.promote_types(xdt, hdt)
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_raw_convolve_of_an_empty_batch_gives_the_filter_a_zero_gradient() -> None:
    """The raw op on an empty batch with a filter that needs a gradient: zeros (the FFT
    cross-correlation of nothing raised an MKL error), and opcheck passes there."""
    x = torch.randn(0, 5, 6, dtype=torch.float64)
    h = torch.randn(3, dtype=torch.float64, requires_grad=True)
    y = torch.ops.torchlops.convolve(x, h, [1], [1], [6], False)
    assert y.shape == (0, 5, 6)
    (gh,) = torch.autograd.grad(y.sum(), h)
    assert torch.equal(gh, torch.zeros(3, dtype=torch.float64))
    xg = x.clone().requires_grad_()
    (gh,) = torch.autograd.grad(torch.ops.torchlops.convolve(xg, h, [1], [1], [6], False).sum(), h, create_graph=True)
    gx, gh2 = torch.autograd.grad(gh.sum(), (xg, h), allow_unused=True)  # (double backward: zeros)
    assert gx.shape == xg.shape and (gh2 is None or not gh2.any())
    torch.library.opcheck(torch.ops.torchlops.convolve.default, (x, h, [1], [1], [6], True))


def test_raw_ops_refuse_a_meta_tensor_among_cpu_ones() -> None:
    """A meta tensor among CPU ones reaches the ops' fake kernels (the dispatcher picks the meta
    kernel): they raise, as the real kernels do for mixed devices, instead of returning an
    uninitialised CPU tensor."""
    ops = torch.ops.torchlops
    x = torch.ones(2, 5, 6, dtype=torch.float64)
    meta = torch.ones(3, dtype=torch.float64, device="meta")
    with pytest.raises(RuntimeError, match="expected every tensor on cpu, got one on meta"):
        ops.convolve(x, meta, [1], [1], [6], False)
    w = torch.ones(1, 5, 6, dtype=torch.float64, device="meta")
    with pytest.raises(RuntimeError, match="expected every tensor on cpu, got one on meta"):
        ops.stencil(x, [0], [1.0], list(_ops.stencil_spec(first_stencil("centered", False, 3))), w, False)
    s = torch.ones(2, 4, dtype=torch.float64)
    one = torch.ones(2, dtype=torch.float64)
    act = torch.ones(2, dtype=torch.bool)
    if hasattr(ops, "cgls_residual"):
        with pytest.raises(RuntimeError, match="expected every tensor on cpu, got one on meta"):
            ops.cgls_residual(s, s, one.to("meta"), one, act)
    # (the operators say it at their level: a ValueError naming the devices)
    C = tl.Convolve1D((5, 6), torch.ones(3, dtype=torch.float64, device="meta"), offset=1, method="direct",
                      engine="ext")
    with pytest.raises(ValueError):
        C @ x


def test_kernels_refuse_forward_mode_tangents_they_would_drop() -> None:
    """The compiled ops have no forward-mode formula: a dual input raises rather than losing its
    tangent; operators carry tangents through their Function's jvp (forward over reverse too)."""
    import torch.autograd.forward_ad as fwad

    A = tl.FirstDerivative((4, 5), kind="forward", dtype=torch.float64, engine="ext")
    x = torch.randn(1, 4, 5, dtype=torch.float64)
    t = torch.randn_like(x)
    with fwad.dual_level():
        d = fwad.make_dual(x, t)
        with pytest.raises(RuntimeError, match="forward-mode AD tangent"):
            _ops.band(d, (1,), A._scales, A._spec, False)
        y = A @ d
        torch.testing.assert_close(fwad.unpack_dual(y).tangent, A @ t)
        torch.testing.assert_close(_ops.band(x, (1,), A._scales, A._spec, False), A @ x)  # (primal: no tangent)


def test_ext_engine_takes_empty_axes_with_edges() -> None:
    """An empty axis has no sample to compute: engine="ext" applies edge stencils to it (as the
    torch engine) instead of refusing them at construction."""
    for cls in (tl.FirstDerivative, tl.SecondDerivative):
        for dims, ax in (((0, 4), 0), ((4, 0), 1), ((0, 4), 1), ((3, 0, 5), 1)):
            A = cls(dims, axis=ax, edge=True, engine="ext", dtype=torch.float64)
            R = cls(dims, axis=ax, edge=True, engine="torch", dtype=torch.float64)
            x = torch.randn(2, *dims, dtype=torch.float64)
            assert torch.equal(A @ x, R @ x) and torch.equal(A.H @ x, R.H @ x)
    G = tl.Gradient((0, 4), edge=True, engine="ext", dtype=torch.float64)
    assert (G @ torch.randn(0, 4, dtype=torch.float64)).shape == (2, 0, 4)
