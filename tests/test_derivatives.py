"""PyLops 2.8 parity and analytic checks of the derivative and smoothing operators.

Every combination of kind, edge, order and axis is compared with PyLops in 1-D, 2-D
and 3-D, even and odd sizes, unit and non-unit sampling: forward and adjoint, float64
(relative 1e-12) and float32 (relative 1e-5 against the float64 PyLops result).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import torchlops as tl

pl = pytest.importorskip("pylops")

RNG = np.random.default_rng(20240611)
KINDS = ("forward", "centered", "backward")
SHAPES = [(8,), (9,), (6, 7), (7, 6), (4, 5, 6), (5, 6, 5)]
SAMPLINGS = (1.0, 0.7)


def rand(shape, cplx: bool = False) -> np.ndarray:
    a = RNG.standard_normal(shape)
    if cplx:
        a = a + 1j * RNG.standard_normal(shape)
    return a


def assert_rel(a, b, rtol: float, what: str = "") -> None:
    a = np.asarray(a.detach().cpu().resolve_conj().numpy() if isinstance(a, torch.Tensor) else a).ravel()
    b = np.asarray(b).ravel()
    assert a.size == b.size, what
    err, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    assert err <= rtol * max(ref, 1e-300), f"{what}: relative error {err / max(ref, 1e-300):.2e} > {rtol:.0e}"


def check_pair(Top64, Top32, Pop, what: str, cplx: bool = False) -> None:
    """Forward and adjoint of the float64 and float32 torchlops operators against PyLops."""
    x = rand(Top64.dims, cplx)
    y = rand(Top64.dimsd, cplx)
    px = Pop.matvec(x.ravel())
    py = Pop.rmatvec(y.ravel())
    assert_rel(Top64 @ torch.from_numpy(x), px, 1e-12, f"{what} forward float64")
    assert_rel(Top64.H @ torch.from_numpy(y), py, 1e-12, f"{what} adjoint float64")
    if Top32 is not None:
        lo = torch.complex64 if cplx else torch.float32
        assert_rel(Top32 @ torch.from_numpy(x).to(lo), px, 1e-5, f"{what} forward float32")
        assert_rel(Top32.H @ torch.from_numpy(y).to(lo), py, 1e-5, f"{what} adjoint float32")


# ---------------------------------------------------------------------------- parity
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("kind", "edge", "order"), list(itertools.product(KINDS, (False, True), (3, 5))))
def test_first_derivative_parity(shape, kind, edge, order):
    for axis, s in itertools.product(range(len(shape)), SAMPLINGS):
        kw = dict(axis=axis, sampling=s, kind=kind, edge=edge, order=order)
        check_pair(
            tl.FirstDerivative(shape, dtype=torch.float64, **kw),
            tl.FirstDerivative(shape, dtype=torch.float32, **kw),
            pl.FirstDerivative(shape, dtype="float64", **kw),
            f"FirstDerivative{shape} {kw}",
        )


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("kind", "edge"), list(itertools.product(KINDS, (False, True))))
def test_second_derivative_parity(shape, kind, edge):
    for axis, s in itertools.product(range(len(shape)), SAMPLINGS):
        kw = dict(axis=axis, sampling=s, kind=kind, edge=edge)
        check_pair(
            tl.SecondDerivative(shape, dtype=torch.float64, **kw),
            tl.SecondDerivative(shape, dtype=torch.float32, **kw),
            pl.SecondDerivative(shape, dtype="float64", **kw),
            f"SecondDerivative{shape} {kw}",
        )


LAPLACIANS = [
    ((6, 7), (-2, -1), (1, 1), (1, 1)),
    ((7, 6), (0, 1), (0.5, 2.0), (1.0, 0.7)),
    ((7, 6), (1,), (3.0,), (0.5,)),
    ((4, 5, 6), (0, 2), (1.0, -2.0), (0.7, 1.3)),
    ((5, 4, 3), (2, 0, 1), (1.0, 2.0, 3.0), (1.0, 0.5, 2.0)),
]


@pytest.mark.parametrize(("dims", "axes", "weights", "sampling"), LAPLACIANS, ids=str)
@pytest.mark.parametrize(("kind", "edge"), list(itertools.product(KINDS, (False, True))))
def test_laplacian_parity(dims, axes, weights, sampling, kind, edge):
    kw = dict(axes=axes, weights=weights, sampling=sampling, kind=kind, edge=edge)
    check_pair(
        tl.Laplacian(dims, dtype=torch.float64, **kw),
        tl.Laplacian(dims, dtype=torch.float32, **kw),
        pl.Laplacian(dims, dtype="float64", **kw),
        f"Laplacian{dims} {kw}",
    )


@pytest.mark.parametrize("dims", [(8,), (6, 7), (4, 5, 6)], ids=str)
@pytest.mark.parametrize(("kind", "edge"), list(itertools.product(KINDS, (False, True))))
def test_gradient_parity(dims, kind, edge):
    for sampling in (1.0, tuple(0.5 + 0.3 * i for i in range(len(dims)))):
        kw = dict(sampling=sampling, kind=kind, edge=edge)
        Top = tl.Gradient(dims, dtype=torch.float64, **kw)
        assert Top.dimsd == (len(dims), *dims)
        check_pair(
            Top,
            tl.Gradient(dims, dtype=torch.float32, **kw),
            pl.Gradient(dims, dtype="float64", **kw),
            f"Gradient{dims} {kw}",
        )


@pytest.mark.parametrize("dims", [(6, 7), (4, 5, 6)], ids=str)
@pytest.mark.parametrize("field", [False, True], ids=["const", "field"])
@pytest.mark.parametrize(("kind", "edge"), list(itertools.product(KINDS, (False, True))))
def test_directional_parity(dims, field, kind, edge):
    v = rand((len(dims), *dims)) if field else rand(len(dims))
    s = tuple(0.5 + 0.3 * i for i in range(len(dims)))
    kw = dict(sampling=s, edge=edge, kind=kind)
    for name in ("FirstDirectionalDerivative", "SecondDirectionalDerivative"):
        check_pair(
            getattr(tl, name)(dims, torch.from_numpy(v), dtype=torch.float64, **kw),
            getattr(tl, name)(dims, torch.from_numpy(v), dtype=torch.float32, **kw),
            getattr(pl, name)(dims, v, dtype="float64", **kw),
            f"{name}{dims} field={field} {kw}",
        )


@pytest.mark.parametrize("nsmooth", [1, 3, 4, 7, 8])
@pytest.mark.parametrize("dims", [(10,), (9, 10), (9, 10, 11)], ids=str)
def test_smoothing1d_parity(nsmooth, dims):
    for axis in range(len(dims)):
        check_pair(
            tl.Smoothing1D(nsmooth, dims, axis=axis, dtype=torch.float64),
            tl.Smoothing1D(nsmooth, dims, axis=axis, dtype=torch.float32),
            pl.Smoothing1D(nsmooth, dims, axis=axis, dtype="float64"),
            f"Smoothing1D({nsmooth}, {dims}, axis={axis})",
        )


@pytest.mark.parametrize("nsmooth", [(3, 5), (4, 2), (1, 7)], ids=str)
@pytest.mark.parametrize(("dims", "axes"), [((9, 8), (-2, -1)), ((8, 9), (1, 0)), ((5, 6, 7), (0, 2))], ids=str)
def test_smoothing2d_parity(nsmooth, dims, axes):
    check_pair(
        tl.Smoothing2D(nsmooth, dims, axes=axes, dtype=torch.float64),
        tl.Smoothing2D(nsmooth, dims, axes=axes, dtype=torch.float32),
        pl.Smoothing2D(nsmooth, dims, axes=axes, dtype="float64"),
        f"Smoothing2D({nsmooth}, {dims}, axes={axes})",
    )


@pytest.mark.parametrize(
    ("nsmooth", "dims", "axes"),
    [((3, 2, 5), (5, 6, 7), (0, 1, 2)), ((4, 3), (5, 6, 7), (2, 0)), ((3, 5), (5, 6, 7), None), ((5,), (6, 9), (1,))],
    ids=str,
)
def test_smoothingnd_parity(nsmooth, dims, axes):
    paxes = (-2, -1) if axes is None else axes
    check_pair(
        tl.SmoothingND(nsmooth, dims, axes=axes, dtype=torch.float64),
        tl.SmoothingND(nsmooth, dims, axes=axes, dtype=torch.float32),
        pl.SmoothingND(nsmooth, dims, axes=paxes, dtype="float64"),
        f"SmoothingND({nsmooth}, {dims}, axes={axes})",
    )


@pytest.mark.parametrize(
    "name",
    [
        "FirstDerivative",
        "SecondDerivative",
        "Laplacian",
        "Gradient",
        "FirstDirectionalDerivative",
        "SecondDirectionalDerivative",
        "Smoothing1D",
        "Smoothing2D",
        "SmoothingND",
    ],
)
def test_complex_parity(name):
    dims = (6, 7)
    if name in ("FirstDirectionalDerivative", "SecondDirectionalDerivative"):
        v = rand(2, cplx=True)
        args, pargs = (dims, torch.from_numpy(v)), (dims, v)
    elif name.startswith("Smoothing"):
        ns = 3 if name == "Smoothing1D" else (3, 5)
        args = pargs = (ns, dims)
    else:
        args = pargs = (dims,)
    Top = getattr(tl, name)(*args, dtype=torch.complex128)
    Pop = getattr(pl, name)(*pargs, dtype="complex128")
    Top32 = getattr(tl, name)(*args, dtype=torch.complex64)
    check_pair(Top, Top32, Pop, f"{name} complex", cplx=True)


# ---------------------------------------------------------------------------- low precision, batches, gradients
@pytest.mark.parametrize("dt", [torch.float16, torch.bfloat16])
def test_half_precision(dt):
    x = torch.randn(3, 9, 8, dtype=torch.float64)
    for Op in (
        tl.FirstDerivative((9, 8), axis=0, order=5, edge=True),
        tl.SecondDerivative((9, 8), edge=True),
        tl.Laplacian((9, 8)),
        tl.Gradient((9, 8)),
        tl.Smoothing2D((3, 3), (9, 8)),
    ):
        ref = Op.double() @ x
        Op = Op.to(dt)
        y = Op @ x.to(dt)
        assert y.dtype == dt
        assert torch.allclose(y.double(), ref, rtol=5e-2, atol=5e-2)
        assert (Op.H @ y).dtype == dt


def test_learnable_direction_gets_gradients():
    dims = (4, 5)
    x = torch.randn(dims, dtype=torch.float64)
    for cls in (tl.FirstDirectionalDerivative, tl.SecondDirectionalDerivative):
        for shape in ((2,), (2, *dims)):
            for adjoint in (False, True):

                def f(v, cls=cls, adjoint=adjoint):
                    op = cls(dims, v)
                    return (op.H if adjoint else op) @ x

                v = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
                assert torch.autograd.gradcheck(f, (v,))
        p = torch.nn.Parameter(torch.tensor([0.6, 0.8], dtype=torch.float64))
        op = cls(dims, p)
        assert [n for n, _ in op.named_parameters()] == ["v"]
        (op @ x).square().sum().backward()
        assert p.grad is not None and torch.isfinite(p.grad).all()


# ---------------------------------------------------------------------------- analytic values
def test_polynomial_derivatives():
    s = 0.25
    z = torch.arange(11, dtype=torch.float64) * s
    q = 3 * z**2 - 2 * z + 1
    for order in (3, 5):
        d = tl.FirstDerivative(11, sampling=s, order=order, dtype=torch.float64) @ q
        m = order // 2
        torch.testing.assert_close(d[m:-m], (6 * z - 2)[m:-m], rtol=1e-12, atol=1e-12)
    d2 = tl.SecondDerivative(11, sampling=s, dtype=torch.float64) @ q
    torch.testing.assert_close(d2[1:-1], torch.full((9,), 6.0, dtype=torch.float64))
    d2e = tl.SecondDerivative(11, sampling=s, edge=True, dtype=torch.float64) @ q
    torch.testing.assert_close(d2e, torch.full((11,), 6.0, dtype=torch.float64))
    lin = 2 * z + 1
    for kind in KINDS:
        d = tl.FirstDerivative(11, sampling=s, kind=kind, edge=True, dtype=torch.float64) @ lin
        inner = slice(0, -1) if kind == "forward" else slice(1, None)
        torch.testing.assert_close(d[inner], torch.full((10,), 2.0, dtype=torch.float64))


def test_laplacian_of_paraboloid():
    i, j = torch.meshgrid(torch.arange(7.0), torch.arange(9.0), indexing="ij")
    f = (i**2 + j**2).double()
    y = tl.Laplacian((7, 9), dtype=torch.float64) @ f
    torch.testing.assert_close(y[1:-1, 1:-1], torch.full((5, 7), 4.0, dtype=torch.float64))
    assert y[0, 0] == 0 and y[0, 1] == 2  # only the axis-1 term on the first row


def test_gradient_adjoint_is_minus_divergence():
    dims = (8, 9)
    G = tl.Gradient(dims, sampling=(0.5, 2.0), dtype=torch.float64)
    u = torch.randn(2, *dims, dtype=torch.float64)
    div = (u[0, 2:, 1:-1] - u[0, :-2, 1:-1]) / (2 * 0.5) + (u[1, 1:-1, 2:] - u[1, 1:-1, :-2]) / (2 * 2.0)
    torch.testing.assert_close((G.H @ u)[2:-2, 2:-2], -div[1:-1, 1:-1])


def test_complex_laplacian_weights():
    w = (1 + 2j, 0.5)
    assert tl.Laplacian((6, 7), weights=w).dtype.is_complex
    Top = tl.Laplacian((6, 7), weights=w, dtype=torch.complex128)
    Top32 = tl.Laplacian((6, 7), weights=w, dtype=torch.complex64)
    Pop = pl.Laplacian((6, 7), weights=w, dtype="complex128")
    check_pair(Top, Top32, Pop, "Laplacian complex weights", cplx=True)


def test_smoothing_of_constant_and_batches():
    S = tl.Smoothing2D((3, 5), (9, 11), dtype=torch.float64)
    y = S @ torch.ones(9, 11, dtype=torch.float64)
    torch.testing.assert_close(y[1:-1, 2:-2], torch.ones(7, 7, dtype=torch.float64))
    X = torch.randn(4, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(S @ X, torch.stack([S @ x for x in X]))


# ---------------------------------------------------------------------------- errors
def test_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        tl.FirstDerivative(5, kind="central")
    with pytest.raises(ValueError, match="order must be 3 or 5, got 4"):
        tl.FirstDerivative(5, order=4)
    with pytest.raises(ValueError, match="sampling must be non-zero"):
        tl.SecondDerivative(5, sampling=0.0)
    with pytest.raises(ValueError, match="axes, weights and sampling must have the same length"):
        tl.Laplacian((4, 5), axes=(0, 1), weights=(1,))
    with pytest.raises(ValueError, match="complex weights need a complex dtype"):
        tl.Laplacian((4, 5), weights=(1j, 1), dtype=torch.float64)
    with pytest.raises(ValueError, match=r"sampling must be a number or 2 numbers, got 3"):
        tl.Gradient((4, 5), sampling=(1, 2, 3))
    with pytest.raises(ValueError, match=r"v must have shape \(2,\) .* got \(3,\)"):
        tl.FirstDirectionalDerivative((4, 5), v=torch.ones(3))
    with pytest.raises(ValueError, match="nsmooth must be >= 0"):
        tl.Smoothing1D(-1, 5)
    for make in (lambda: tl.Smoothing2D((3, 3), (5, 6), axes=(0, 0)), lambda: tl.SmoothingND((3, 5), (5, 6), axes=(1, -1))):
        with pytest.raises(ValueError, match="axes must be distinct"):
            make()
    with pytest.raises(ValueError, match="nsmooth and axes must have two entries"):
        tl.Smoothing2D((3,), (4, 5))
    with pytest.raises(ValueError, match="nsmooth and axes must have the same length"):
        tl.SmoothingND((3, 3), (4, 5, 6), axes=(0,))


def test_pylops_argument_conventions():
    """As PyLops: the one-sided kinds ignore order; nsmooth 0 (even) becomes 1 (no smoothing)."""
    import numpy as np

    pl = pytest.importorskip("pylops")
    x = torch.arange(5.0, dtype=torch.float64) ** 2
    for kind, order in (("forward", 4), ("backward", 7)):
        D = tl.FirstDerivative(5, kind=kind, order=order, dtype=torch.float64)
        ref = pl.FirstDerivative(5, kind=kind, order=order) @ x.numpy()
        np.testing.assert_allclose((D @ x).numpy(), ref, rtol=1e-12)
    torch.testing.assert_close(tl.Smoothing1D(0, 5, dtype=torch.float64) @ x, x)
    S = tl.Smoothing2D((0, 3), (4, 5), dtype=torch.float64)
    X = torch.randn(4, 5, dtype=torch.float64)
    np.testing.assert_allclose((S @ X).numpy(), (pl.Smoothing2D((0, 3), (4, 5)) @ X.numpy().ravel()).reshape(4, 5),
                               rtol=1e-12)


@pytest.mark.parametrize(
    "make,pyl",
    [
        (lambda: tl.SecondDerivative(2, edge=True), lambda: pl.SecondDerivative(2, edge=True)),
        (lambda: tl.FirstDerivative(2, edge=True, order=5), lambda: pl.FirstDerivative(2, edge=True, order=5)),
        (lambda: tl.FirstDerivative(1, edge=True), lambda: pl.FirstDerivative(1, edge=True)),
        (lambda: tl.Laplacian((5, 2), edge=True), lambda: pl.Laplacian((5, 2), edge=True)),
        (lambda: tl.Gradient((1, 4), edge=True), lambda: pl.Gradient((1, 4), edge=True)),
        (lambda: tl.FirstDirectionalDerivative((4, 1), v=torch.ones(2), edge=True), None),
    ],
    ids=["second-n2", "first-o5-n2", "first-n1", "laplacian", "gradient", "directional"],
)
def test_edge_stencils_longer_than_the_axis_are_refused(make, pyl):
    """Edge rows that reach past a short axis: PyLops fails with an IndexError when applied;
    torchlops refuses the operator (the torch engine used to wrap the index around)."""
    with pytest.raises(ValueError, match="edge=True does not fit axis"):
        make()
    if pyl is not None:
        P = pyl()
        with pytest.raises(IndexError):
            P @ np.ones(P.shape[1])


def test_overlapping_edge_rows_have_the_true_adjoint():
    """FirstDerivative(3, edge=True, order=5): the edge rows 1 and -2 are one row. The forward
    is PyLops'; the adjoint is its transpose (PyLops' adjoint adds that row twice, so its own
    dot test fails), for both engines."""
    P = pl.FirstDerivative(3, edge=True, order=5, dtype="float64")
    F = P.todense()
    for eng in ("auto", "torch"):
        D = tl.FirstDerivative(3, edge=True, order=5, dtype=torch.float64, engine=eng)
        np.testing.assert_allclose(D.todense().numpy(), F, rtol=1e-14)
        np.testing.assert_allclose(D.H.todense().numpy(), F.T, rtol=1e-14)
    assert not np.allclose(P.H.todense(), F.T)  # (PyLops 2.8)
    X = torch.randn(2, 4, 3, dtype=torch.float64)
    Dx = tl.FirstDerivative((4, 3), axis=1, edge=True, order=5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: Dx @ x, (X.requires_grad_(),))


def test_empty_axes_and_array_sampling():
    with pytest.raises(ValueError, match="axes must name at least one axis"):
        tl.Laplacian((4, 5), axes=(), weights=(), sampling=())
    with pytest.raises(ValueError, match="nsmooth must hold at least one length"):
        tl.SmoothingND((), (4, 5), axes=())
    # zero-length axes with edge stencils: empty results, as without edges
    assert (tl.FirstDerivative((3, 0), axis=1, edge=True) @ torch.zeros(3, 0)).shape == (3, 0)
    # sampling as an array or a tensor (PyLops takes any sequence)
    for s in (np.array([0.5, 2.0]), torch.tensor([0.5, 2.0])):
        G = tl.Gradient((4, 5), sampling=s, dtype=torch.float64)
        assert G.sampling == (0.5, 2.0)
        x = rand((4, 5))
        np.testing.assert_allclose((G @ torch.from_numpy(x)).numpy().ravel(),
                                   pl.Gradient((4, 5), sampling=(0.5, 2.0)) @ x.ravel(), rtol=1e-12)
        assert tl.FirstDirectionalDerivative((4, 5), v=torch.ones(2), sampling=s).sampling == (0.5, 2.0)


# ---------------------------------------------------------------------------- offset data
# The taps are summed with their bare coefficients and the sum is scaled once, as PyLops does
# ((x[1:] - x[:-1]) / sampling): folding the scale into each coefficient rounds every product
# at |x| / sampling, and the cancellation of the taps keeps that error on data with a large
# offset (float32 ramp 1000 + 0.01 i, sampling 0.3: 6e-3 relative, against one rounding).
ENGINES = [
    "torch",
    pytest.param("ext", marks=pytest.mark.skipif(not tl.ext_available(), reason="no compiled extension")),
]
OFFSET_DTYPES = [(torch.float32, 1000.0, 0.01, 1e-5), (torch.float64, 1.7e9, 1.0, 1e-12)]


def offset_data(dims, dt, base: float, step: float, power: int = 1, ext: int = 0) -> torch.Tensor:
    """``base + step * sum_d (d + 1) * i_d**power`` over ``ext`` leading components (if any)
    and ``dims``, rounded to ``dt`` (the input of both libraries)."""
    axes = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) for n in dims), indexing="ij")
    x = base + step * sum((d + 1) * a**power for d, a in enumerate(axes))
    if ext:
        x = torch.stack([x + 0.5 * step * k for k in range(ext)])
    return x.to(dt)


def check_offset(Top, Pop, x: torch.Tensor, y: torch.Tensor, rtol: float, grad: bool, what: str) -> None:
    """Forward and adjoint against PyLops in the same dtype, element by element."""
    npdt = str(x.dtype).removeprefix("torch.")
    for name, op, pop, v in (("forward", Top, Pop.matvec, x), ("adjoint", Top.H, Pop.rmatvec, y)):
        v = v.clone().requires_grad_(grad)
        got = (op @ v).detach()
        want = torch.from_numpy(np.asarray(pop(v.detach().numpy().ravel()), dtype=npdt)).reshape(got.shape)
        torch.testing.assert_close(got, want, rtol=rtol, atol=0, msg=lambda m, name=name: f"{what} {name}: {m}")


@pytest.mark.parametrize("grad", [False, True], ids=["plain", "grad"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("dt", "base", "step", "rtol"), OFFSET_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(
    ("kind", "order", "edge"),
    [(k, 3, e) for k in KINDS for e in (False, True)] + [("centered", 5, False), ("centered", 5, True)],
)
def test_first_derivative_offset_data(kind, order, edge, dt, base, step, rtol, engine, grad):
    n, s = 40, 0.3
    if order == 5:
        # x = 12 k with a short k: x / 12 and 2 x / 3 (PyLops) exact, as x * fl(1/12) and
        # x * fl(2/3) (each rounds otherwise, one way or the other)
        base, step = (1536.0 if dt == torch.float32 else 12.0 * 2**27), 0.1875
    kw = dict(sampling=s, kind=kind, edge=edge, order=order)
    Top = tl.FirstDerivative(n, dtype=dt, engine=engine, **kw)
    Pop = pl.FirstDerivative(n, dtype=str(dt).removeprefix("torch."), **kw)
    x = offset_data((n,), dt, base, step)
    y = offset_data((n,), dt, base, -1.5 * step)
    check_offset(Top, Pop, x, y, rtol, grad, f"FirstDerivative {kw} {dt} {engine}")


@pytest.mark.parametrize("grad", [False, True], ids=["plain", "grad"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("dt", "base", "step", "rtol"), OFFSET_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("kind", "edge"), list(itertools.product(KINDS, (False, True))))
def test_second_derivative_offset_data(kind, edge, dt, base, step, rtol, engine, grad):
    n, s = 40, 0.3
    kw = dict(sampling=s, kind=kind, edge=edge)
    Top = tl.SecondDerivative(n, dtype=dt, engine=engine, **kw)
    Pop = pl.SecondDerivative(n, dtype=str(dt).removeprefix("torch."), **kw)
    x = offset_data((n,), dt, base, step, power=2)
    y = offset_data((n,), dt, base, -1.5 * step, power=2)
    check_offset(Top, Pop, x, y, rtol, grad, f"SecondDerivative {kw} {dt} {engine}")


@pytest.mark.parametrize("grad", [False, True], ids=["plain", "grad"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("dt", "base", "step", "rtol"), OFFSET_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("edge", [False, True])
def test_laplacian_offset_data(edge, dt, base, step, rtol, engine, grad):
    dims = (12, 10)
    kw = dict(axes=(0, 1), weights=(2.0, 0.5), sampling=(0.3, 0.7), edge=edge)
    Top = tl.Laplacian(dims, dtype=dt, engine=engine, **kw)
    Pop = pl.Laplacian(dims, dtype=str(dt).removeprefix("torch."), **kw)
    x = offset_data(dims, dt, base, step, power=2)
    check_offset(Top, Pop, x, x, rtol, grad, f"Laplacian {kw} {dt} {engine}")


@pytest.mark.parametrize("grad", [False, True], ids=["plain", "grad"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("dt", "base", "step", "rtol"), OFFSET_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("kind", "edge"), [("forward", False), ("centered", False), ("centered", True)])
def test_gradient_offset_data(kind, edge, dt, base, step, rtol, engine, grad):
    dims = (12, 10)
    kw = dict(sampling=(0.3, 0.7), kind=kind, edge=edge)
    Top = tl.Gradient(dims, dtype=dt, engine=engine, **kw)
    Pop = pl.Gradient(dims, dtype=str(dt).removeprefix("torch."), **kw)
    x = offset_data(dims, dt, base, step)
    y = offset_data(dims, dt, base, -1.5 * step, ext=2)
    check_offset(Top, Pop, x, y, rtol, grad, f"Gradient {kw} {dt} {engine}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_long_boxcars_by_fft_equal_pylops_and_the_tap_loop(dtype, monkeypatch):
    """Boxcars longer than LONG_BOXCAR (past the kernels' taps) are FFT convolutions, by one FFT
    or overlap-add blocks on long axes: PyLops' Smoothing1D / Smoothing2D along either axis,
    forward and adjoint, and the tap-by-tap loop where the boxcar is longer than the axis."""
    pylops = pytest.importorskip("pylops")
    from torchlops.functional import smoothing as S

    g = torch.Generator().manual_seed(1)
    for dims, nsm, axis in (((300, 40), 101, 0), ((40, 300), 101, 1), ((20000,), 301, 0)):
        x = torch.randn(*dims, generator=g, dtype=dtype)
        T = tl.Smoothing1D(nsm, dims, axis=axis, dtype=dtype)
        P = pylops.Smoothing1D(nsm, dims, axis=axis, dtype="complex128" if dtype.is_complex else "float64")
        np.testing.assert_allclose(T(x).numpy().ravel(), P @ x.numpy().ravel(), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(T.H(x).numpy().ravel(), P.H @ x.numpy().ravel(), rtol=1e-11, atol=1e-13)
    x = torch.randn(2, 300, 200, generator=g, dtype=dtype)
    T2 = tl.Smoothing2D((101, 71), (300, 200), dtype=dtype)
    P2 = pylops.Smoothing2D((101, 71), (300, 200), dtype="complex128" if dtype.is_complex else "float64")
    np.testing.assert_allclose(T2(x)[1].numpy().ravel(), P2 @ x[1].numpy().ravel(), rtol=1e-11, atol=1e-13)
    for half in (torch.float16, torch.bfloat16):  # (no CPU FFT in half precision: the tap loop)
        xh = torch.randn(80, generator=g).to(half)
        yh = tl.Smoothing1D(67, 80, dtype=half)(xh)
        assert yh.dtype == half
        torch.testing.assert_close(yh.double(), tl.Smoothing1D(67, 80, dtype=torch.float64)(xh.double()),
                                   rtol=2e-2, atol=2e-2)
    short = torch.randn(3, 50, generator=g, dtype=dtype)  # (the boxcar longer than the axis)
    fft = S._boxcar(short, 1, 101)
    monkeypatch.setattr(S, "LONG_BOXCAR", 10**9)
    torch.testing.assert_close(fft, S._boxcar(short, 1, 101), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("second", [False, True])
def test_directional_derivative_takes_v_of_any_shape_of_its_size(second):
    """v with nd x prod(dims) values in any multi-dimensional shape (e.g. (nd, prod(dims))) is
    one direction per point in the layout (nd, *dims), as PyLops (which ravels it; a ValueError
    before); a learnable one gets its gradient in its own shape; other sizes still raise."""
    dims = (3, 4)
    v = torch.randn(2, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cls, pcls = ((tl.SecondDirectionalDerivative, pl.SecondDirectionalDerivative) if second
                 else (tl.FirstDirectionalDerivative, pl.FirstDirectionalDerivative))
    Op, ref = cls(dims, v), cls(dims, v.reshape(2, *dims))
    P = pcls(dims, v.numpy())
    x = torch.randn(*dims, dtype=torch.float64)
    torch.testing.assert_close(Op @ x, ref @ x)
    np.testing.assert_allclose((Op @ x).numpy().ravel(), P @ x.numpy().ravel(), rtol=1e-12)
    np.testing.assert_allclose((Op.H @ x).numpy().ravel(), P.H @ x.numpy().ravel(), rtol=1e-12)
    vp = torch.nn.Parameter(v.clone())
    (cls(dims, vp) @ x).pow(2).sum().backward()
    vr = v.reshape(2, *dims).clone().requires_grad_()
    (cls(dims, vr) @ x).pow(2).sum().backward()
    assert vp.grad.shape == (2, 12)
    torch.testing.assert_close(vp.grad, vr.grad.reshape(2, 12))
    with pytest.raises(ValueError, match=r"two or more dimensions holding 24 values"):
        cls(dims, torch.ones(2, 11, dtype=torch.float64))
