"""The autograd bridge: learnable operator tensors, transforms, double backward, compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import torchlops as tl
from torchlops.utils.testing import assert_close

DT = torch.float64


def test_learnable_diagonal_matches_dense_autograd() -> None:
    d = nn.Parameter(torch.randn(3, dtype=DT))
    D = tl.Diagonal(d, dims=(3, 4), axis=0)
    assert [p is d for p in D.parameters()] == [True]
    x = torch.randn(2, 3, 4, dtype=DT, requires_grad=True)
    w = torch.randn(2, 3, 4, dtype=DT)
    (D(x) * w).sum().backward()
    d2 = d.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    (d2[:, None] * x2 * w).sum().backward()
    assert_close(d.grad, d2.grad, 1e-12, "diag gradient")
    assert_close(x.grad, x2.grad, 1e-12, "input gradient")


def test_learnable_complex_matrixmult_matches_dense_autograd() -> None:
    A = nn.Parameter(torch.randn(4, 3, dtype=torch.complex128))
    M = tl.MatrixMult(A)
    x = torch.randn(5, 3, dtype=torch.complex128, requires_grad=True)
    w = torch.randn(5, 4, dtype=torch.complex128)
    for adjoint in (False, True):
        A.grad = None
        xin = x if not adjoint else torch.randn(5, 4, dtype=torch.complex128)
        out = M.rmatvec(xin) if adjoint else M(xin)
        wt = torch.randn_like(out)
        (wt.conj() * out).real.sum().backward()
        A2 = A.detach().clone().requires_grad_()
        ref = xin @ A2.conj() if adjoint else xin @ A2.T
        (wt.conj() * ref).real.sum().backward()
        assert_close(A.grad, A2.grad, 1e-12, f"matrix gradient (adjoint={adjoint})")
    del w


def test_operator_tensor_gradcheck_and_gradgradcheck() -> None:
    x = torch.randn(2, 3, 5, dtype=DT, requires_grad=True)

    def f(x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        return tl.MatrixMult(A, otherdims=(5,)).rmatvec(tl.MatrixMult(A, otherdims=(5,))(x))

    A = torch.randn(4, 3, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x, A))
    assert torch.autograd.gradgradcheck(f, (x, A))


def test_nonleaf_operator_tensor_receives_gradient() -> None:
    # an operator built from a network output is a layer: gradients reach the network
    theta = torch.randn(4, dtype=DT, requires_grad=True)
    D = tl.Diagonal(torch.exp(theta))
    x = torch.randn(4, dtype=DT)
    D(x).sum().backward()
    assert_close(theta.grad, torch.exp(theta.detach()) * x, 1e-12, "chain rule through the diagonal")


def test_hessian_vector_product_through_operator() -> None:
    A = tl.MatrixMult(torch.randn(6, 4, dtype=DT))
    x = torch.randn(4, dtype=DT, requires_grad=True)
    v = torch.randn(4, dtype=DT)
    loss = 0.5 * (A(x) ** 2).sum()
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    (hv,) = torch.autograd.grad(g, x, v)
    assert_close(hv, A.rmatvec(A(v)), 1e-12, "H v = A^H A v")


def test_functional_call_and_vmap_over_parameters() -> None:
    D = tl.Diagonal(torch.randn(5, dtype=DT))
    x = torch.randn(3, 5, dtype=DT)
    ds = torch.randn(4, 5, dtype=DT)
    out = torch.func.vmap(lambda d: torch.func.functional_call(D, {"diag": d}, (x,)))(ds)
    assert_close(out, ds[:, None] * x, 1e-12, "vmap over the diagonal")
    grad = torch.func.grad(lambda d: torch.func.functional_call(D, {"diag": d}, (x,)).sum())(ds[0])
    assert_close(grad, x.sum(0), 1e-12, "func.grad over the diagonal")
    # the operator's own tensor is untouched afterwards
    assert not torch.equal(D.diag, ds[0])


def test_forward_mode_through_operator_tensor() -> None:
    import torch.autograd.forward_ad as fwAD

    d = torch.randn(5, dtype=DT)
    x = torch.randn(2, 5, dtype=DT)
    t = torch.randn(5, dtype=DT)
    with fwAD.dual_level():
        D = tl.Diagonal(fwAD.make_dual(d, t))
        tangent = fwAD.unpack_dual(D(x)).tangent
    assert_close(tangent, t * x, 1e-12, "d/dd (d x) . t")
    _, jt = torch.func.jvp(lambda dd: torch.func.functional_call(D, {"diag": dd}, (x,)), (d,), (t,))
    assert_close(jt, t * x, 1e-12, "func.jvp over the diagonal")


def test_learnable_scalar_in_composite() -> None:
    lam = nn.Parameter(torch.tensor(0.3, dtype=DT))
    A = tl.MatrixMult(torch.randn(5, 4, dtype=DT))
    Op = A.H @ A + lam * tl.Identity(4, dtype=DT)
    assert any(p is lam for p in Op.parameters())
    x = torch.randn(4, dtype=DT)
    Op(x).sum().backward()
    assert_close(lam.grad, x.sum(), 1e-12, "gradient of the damping")


def test_compile_composite_normal_operator_fullgraph() -> None:
    torch._dynamo.reset()
    A = tl.MatrixMult(torch.randn(7, 5, dtype=DT))
    Op = A.H @ A + 0.1 * tl.Identity(5, dtype=DT)
    x = torch.randn(3, 5, dtype=DT, requires_grad=True)
    f = torch.compile(lambda v: Op(v), fullgraph=True)
    y = f(x)
    assert_close(y, Op(x), 1e-12, "compiled composite")
    (gc,) = torch.autograd.grad(y.sum(), x)
    (ge,) = torch.autograd.grad(Op(x).sum(), x)
    assert_close(gc, ge, 1e-12, "compiled backward")


def test_module_integration_state_dict_and_to() -> None:
    D = tl.Diagonal(nn.Parameter(torch.randn(3)))
    net = nn.Sequential(nn.Linear(3, 3), D)
    assert len(list(net.parameters())) == 3
    sd = net.state_dict()
    assert "1.diag" in sd
    net = net.double()
    assert D.dtype == torch.float64
    out = net(torch.randn(2, 3, dtype=DT))
    assert out.dtype == DT
    D2 = tl.Diagonal(nn.Parameter(torch.zeros(3, dtype=DT)))
    D2.load_state_dict({"diag": D.diag.detach()})
    assert torch.equal(D2.diag, D.diag)


def test_compile_matmul_syntax_matches_eager() -> None:
    # dynamo does not trace `Op @ x` on a module object (a graph break), but the result is right
    torch._dynamo.reset()
    A = tl.MatrixMult(torch.randn(7, 5, dtype=DT))
    Op = A.H @ A + 0.1 * tl.Identity(5, dtype=DT)
    x = torch.randn(3, 5, dtype=DT)
    f = torch.compile(lambda v: Op @ v)
    assert_close(f(x), Op(x), 1e-12, "compiled Op @ x")


# ---------------------------------------------------------------------------- explicit tensor gradients
@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
@pytest.mark.parametrize("xdt", [torch.float64, torch.complex128], ids=["real-x", "complex-x"])
@pytest.mark.parametrize("odt", [torch.float64, torch.complex128], ids=["real-op", "complex-op"])
@pytest.mark.parametrize("kind", ["diag-full", "diag-axis", "mm", "mm-otherdims"])
def test_explicit_tensor_vjp_equals_dense_autograd(kind: str, odt: torch.dtype, xdt: torch.dtype, adjoint: bool) -> None:
    """Diagonal and MatrixMult give their tensors' gradients explicitly (so torch.compile traces
    them); they equal autograd of the dense expression, real parts for real tensors."""
    gen = torch.Generator().manual_seed(11)
    shape = {"diag-full": (3, 5), "diag-axis": (3,), "mm": (4, 3), "mm-otherdims": (4, 3)}[kind]
    p = torch.randn(shape, dtype=odt, generator=gen)
    make = {
        "diag-full": lambda q: tl.Diagonal(q),
        "diag-axis": lambda q: tl.Diagonal(q, dims=(3, 5), axis=0),
        "mm": lambda q: tl.MatrixMult(q),
        "mm-otherdims": lambda q: tl.MatrixMult(q, otherdims=(2,)),
    }[kind]
    q = p.clone().requires_grad_()
    Op = make(q)
    x = torch.randn(2, *(Op.dimsd if adjoint else Op.dims), dtype=xdt, generator=gen)
    out = Op.H(x) if adjoint else Op(x)
    g = torch.randn(out.shape, dtype=out.dtype, generator=gen)
    (got,) = torch.autograd.grad(out, q, g)
    q2 = p.clone().requires_grad_()
    xx = x.to(torch.promote_types(odt, xdt))
    if kind.startswith("diag"):
        d = q2 if kind == "diag-full" else q2.reshape(3, 1)
        ref_out = d.conj() * xx if adjoint else d * xx
    else:
        A = q2.to(xx.dtype)
        eq = "ji,bj...->bi..." if adjoint else "ij,bj...->bi..."
        ref_out = torch.einsum(eq, A.conj() if adjoint else A, xx)
    (ref,) = torch.autograd.grad(ref_out, q2, g)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["diagonal", "matrixmult", "directional", "directional2", "fredholm1"])
def test_learnable_operator_compiles_fullgraph(kind: str) -> None:
    p = torch.nn.Parameter(torch.randn(60, dtype=torch.float64))
    Op = {
        "diagonal": lambda: tl.Diagonal(p),
        "matrixmult": lambda: tl.MatrixMult(p.reshape(6, 10)),
        "directional": lambda: tl.FirstDirectionalDerivative((5, 6), v=p.reshape(2, 5, 6), edge=True),
        "directional2": lambda: tl.SecondDirectionalDerivative((5, 6), v=p.reshape(2, 5, 6), edge=True),
        "fredholm1": lambda: tl.Fredholm1(p.reshape(3, 5, 4), nz=2),
    }[kind]()
    x = torch.randn(3, *Op.dims, dtype=torch.float64)
    Op(x).square().sum().backward()
    g_eager = p.grad.clone()
    p.grad = None
    torch._dynamo.reset()
    torch.compile(lambda t: Op(t).square().sum(), fullgraph=True)(x).backward()
    torch.testing.assert_close(p.grad, g_eager)


@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
@pytest.mark.parametrize("dt", [torch.float64, torch.complex128], ids=["real", "complex"])
@pytest.mark.parametrize(
    "kind", ["directional-one", "directional-field", "second-one", "second-field", "fredholm1"]
)
def test_explicit_tensor_vjp_directional_fredholm(kind: str, dt: torch.dtype, adjoint: bool) -> None:
    """Explicit gradients of the direction field and of the Fredholm kernels equal autograd of
    the pure-torch functional expression."""
    from torchlops.functional.derivatives import (
        first_directional_derivative,
        first_directional_derivative_adjoint,
        second_directional_derivative,
        second_directional_derivative_adjoint,
    )
    from torchlops.functional.interpolation import fredholm1, fredholm1_adjoint

    gen = torch.Generator().manual_seed(5)
    dims = (4, 6)
    if kind == "fredholm1":
        p = torch.randn(3, 5, 4, dtype=dt, generator=gen)
        make = lambda q: tl.Fredholm1(q, nz=2)  # noqa: E731
        ref = lambda q, x: fredholm1_adjoint(x, q) if adjoint else fredholm1(x, q)  # noqa: E731
    else:
        one = kind.endswith("-one")
        p = torch.randn(2, *((1, 1) if one else dims), dtype=dt, generator=gen)
        vshape = p.shape
        p = p.reshape(2) if one else p
        second = kind.startswith("second")
        cls = tl.SecondDirectionalDerivative if second else tl.FirstDirectionalDerivative
        make = lambda q: cls(dims, v=q, sampling=(1.0, 0.5), edge=True)  # noqa: E731
        if second:
            fwd, adj = second_directional_derivative, second_directional_derivative_adjoint
        else:
            fwd, adj = first_directional_derivative, first_directional_derivative_adjoint

        def ref(q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return (adj if adjoint else fwd)(x, q.reshape(vshape), (1.0, 0.5), "centered", True)

    q = p.clone().requires_grad_()
    Op = make(q)
    x = torch.randn(3, *(Op.dimsd if adjoint else Op.dims), dtype=dt, generator=gen)
    out = Op.H(x) if adjoint else Op(x)
    g = torch.randn(out.shape, dtype=dt, generator=gen)
    (got,) = torch.autograd.grad(out, q, g)
    q2 = p.clone().requires_grad_()
    (want,) = torch.autograd.grad(ref(q2, x), q2, g)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_forward_ad_learnable_matrix_with_otherdims() -> None:
    """Forward AD through a learnt MatrixMult acting along its first axis (otherdims): the
    tangent comes back in the output's layout (PyTorch asserts on a mismatch)."""
    import torch.autograd.forward_ad as fwAD

    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 3, dtype=torch.float64, generator=g)
    M = tl.MatrixMult(nn.Parameter(A.clone()), otherdims=2)
    x = torch.randn(2, 3, 2, dtype=torch.float64, generator=g)
    tA = torch.randn(4, 3, dtype=torch.float64, generator=g)
    with fwAD.dual_level():
        y = torch.func.functional_call(M, {"A": fwAD.make_dual(A, tA)}, (x,))
        tangent = fwAD.unpack_dual(y).tangent
    assert_close(tangent, torch.einsum("ij,bjk->bik", tA, x), 1e-12, "tangent")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_unrolled_cg_gradients_stay_finite_after_convergence(dtype) -> None:
    """Unrolled CG/CGLS run past convergence: a residual at machine precision stops the sample,
    so the ratios of tiny norms never reach the backward (they gave NaN gradients)."""
    from torchlops.optimization.basic import cg, cgls

    I8 = tl.Identity(8, dtype=dtype)
    b = torch.randn(2, 8, dtype=dtype, requires_grad=True)
    for solve in (lambda: cg(I8, b, niter=10, tol=0).x, lambda: cgls(I8, b, niter=10, tol=0).x):
        (gb,) = torch.autograd.grad(solve().sum(), b)
        torch.testing.assert_close(gb, torch.ones_like(b))
    dc = tl.nn.DataConsistency(I8, lam=1.0, niter=10, implicit=False)
    z = torch.randn(2, 8, dtype=dtype, requires_grad=True)
    out = dc(z, torch.randn(2, 8, dtype=dtype))
    (gz,) = torch.autograd.grad(out.sum(), z)
    assert torch.isfinite(gz).all() and torch.isfinite(out).all()


@pytest.mark.parametrize("which", ["nsconv1d", "nsfilters1d", "nsconv2d", "convolve1d"])
def test_operator_tensor_gradient_when_the_input_depends_on_it(which):
    """d/dp || A(p)^H (A(p) A(p)^H y) ||^2 is the same through .backward(), create_graph=True,
    torch.func.grad and gradgradcheck holds: the partial derivative of each application with
    respect to p is taken at fixed input (the generic vjp used to add the input's own
    dependence on p again whenever the backward ran with grad mode on)."""
    from torchlops.signalprocessing.nonstatconvolve1d import NonStationaryConvolve1D
    from torchlops.signalprocessing.nonstatconvolve2d import NonStationaryConvolve2D
    from torchlops.signalprocessing.nonstatfilters1d import NonStationaryFilters1D

    D = torch.float64
    g = torch.Generator().manual_seed(0)
    if which == "nsconv1d":
        A, pn = NonStationaryConvolve1D(10, torch.nn.Parameter(torch.randn(2, 3, dtype=D, generator=g)), (1, 8)), "hs"
    elif which == "nsfilters1d":
        A, pn = NonStationaryFilters1D(torch.nn.Parameter(torch.randn(6, dtype=D, generator=g)), 3, (0, 5)), "inp"
    elif which == "nsconv2d":
        A, pn = NonStationaryConvolve2D((6, 5), torch.nn.Parameter(torch.randn(2, 2, 3, 3, dtype=D, generator=g)),
                                        (1, 4), (1, 3)), "hs"
    else:
        A, pn = tl.Convolve1D(10, torch.nn.Parameter(torch.randn(5, dtype=D, generator=g)), offset=2), "h"
    y = torch.randn(1, *A.dimsd, dtype=D, generator=g)

    def L(p):
        with torch.nn.utils.stateless._reparametrize_module(A, {pn: p}):
            return (A.rmatvec(A(A.rmatvec(y))) ** 2).sum()

    p0 = getattr(A, pn).detach().clone()
    p = p0.clone().requires_grad_()
    g_plain = torch.autograd.grad(L(p), p)[0]
    g_graph = torch.autograd.grad(L(p), p, create_graph=True)[0]
    g_func = torch.func.grad(L)(p0)
    fd = torch.zeros_like(p0)
    for i in range(p0.numel()):
        e = torch.zeros_like(p0).view(-1)
        e[i] = 1e-6
        fd.view(-1)[i] = (L(p0 + e.view(p0.shape)) - L(p0 - e.view(p0.shape))) / 2e-6
    for got in (g_plain, g_graph, g_func):
        torch.testing.assert_close(got, fd, rtol=1e-6, atol=1e-6 * float(fd.abs().max()))
    assert torch.autograd.gradgradcheck(L, (p0.clone().requires_grad_(),))


def test_sparse_operator_tensor_gradient_with_create_graph():
    """A learnable sparse (COO) MatrixMult gets its gradient through the generic rule, also
    with create_graph=True (sparse tensors have no views to alias)."""
    g = torch.Generator().manual_seed(0)
    Ad = torch.relu(torch.randn(5, 4, dtype=torch.float64, generator=g))
    x = torch.randn(3, 4, dtype=torch.float64, generator=g)
    w = torch.randn(3, 5, dtype=torch.float64, generator=g)
    ref = w.T @ x  # d/dA sum(w * (x A^T)) = w^T x (on the pattern)
    for create in (False, True):
        As = Ad.to_sparse().requires_grad_()
        (gA,) = torch.autograd.grad((w * tl.MatrixMult(As)(x)).sum(), As, create_graph=create)
        mask = Ad != 0
        torch.testing.assert_close(gA.to_dense()[mask], ref[mask])


def test_compiled_vmap_over_operator_tensors():
    """torch.compile of vmap over an ensemble of operator tensors (functional_call) equals eager."""
    D = tl.Diagonal(nn.Parameter(torch.ones(6, dtype=torch.float64)))
    x = torch.randn(3, 6, dtype=torch.float64)
    E = torch.randn(4, 6, dtype=torch.float64)

    def f(E, x):
        return torch.func.vmap(lambda d: torch.func.functional_call(D, {"diag": d}, (x,)))(E)

    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(f, backend="aot_eager")(E, x), E[:, None, :] * x)


def test_parametrized_operator_tensors_get_their_gradient() -> None:
    """An operator tensor under torch.nn.utils.parametrize (a unit-norm filter) is computed on
    each access from an original the operator does not hold: its gradient reaches the original
    whether or not the input requires grad, forward and adjoint, alone and inside LISTA."""
    from torch.nn.utils import parametrize

    from torchlops.nn import LISTA

    class UnitNorm(torch.nn.Module):
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return h / h.norm()

    g = torch.Generator().manual_seed(0)
    h0 = torch.randn(3, generator=g, dtype=torch.float64)
    x = torch.randn(2, 8, generator=g, dtype=torch.float64)
    y = torch.randn(4, 8, generator=g, dtype=torch.float64)
    for x_grad in (False, True):
        for adjoint in (False, True):
            C = tl.Convolve1D(8, torch.nn.Parameter(h0.clone()), offset=1)
            parametrize.register_parametrization(C, "h", UnitNorm())
            xi = x.clone().requires_grad_(x_grad)
            ((C.H if adjoint else C)(xi) ** 2).sum().backward()
            p = h0.clone().requires_grad_()
            R = tl.Convolve1D(8, p / p.norm(), offset=1)
            xr = x.clone().requires_grad_(x_grad)
            ((R.H if adjoint else R)(xr) ** 2).sum().backward()
            torch.testing.assert_close(C.parametrizations.h.original.grad, p.grad, rtol=1e-12, atol=1e-14)
            if x_grad:
                torch.testing.assert_close(xi.grad, xr.grad, rtol=1e-12, atol=1e-14)
    C = tl.Convolve1D(8, torch.nn.Parameter(h0.clone()), offset=1)
    parametrize.register_parametrization(C, "h", UnitNorm())
    (LISTA(C, n_iter=3, step=0.1, threshold=0.01).double()(y) ** 2).sum().backward()
    p = h0.clone().requires_grad_()
    (LISTA(tl.Convolve1D(8, p / p.norm(), offset=1), n_iter=3, step=0.1, threshold=0.01).double()(y) ** 2).sum().backward()
    got = C.parametrizations.h.original.grad
    assert got is not None and bool(got.abs().sum() > 0)
    torch.testing.assert_close(got, p.grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("native", [True, False], ids=["native-node", "function"])
def test_operator_tensor_modified_in_place_before_backward_raises(monkeypatch, native) -> None:
    """A fixed operator tensor changed in place between forward and backward: the backward
    raises as PyTorch does for a saved tensor (it applied the new values silently)."""
    from torchlops import _autograd

    monkeypatch.setattr(_autograd, "NATIVE_NODE", native and _autograd.NATIVE_NODE)
    for adjoint in (False, True):
        C = tl.Convolve1D(8, torch.tensor([0.5, 1.0, -0.25], dtype=torch.float64), offset=1)
        x = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
        y = (C.H if adjoint else C)(x)
        with torch.no_grad():
            C.h.mul_(2.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation: tensor 0 of Convolve1D"):
            y.sum().backward()
        # unchanged (or changed out of place): the backward runs
        C = tl.Convolve1D(8, torch.tensor([0.5, 1.0, -0.25], dtype=torch.float64), offset=1)
        y = (C.H if adjoint else C)(x)
        C.h = C.h * 2.0
        y.sum().backward()
        assert x.grad is not None
        x.grad = None


def test_func_reverse_mode_over_generically_differentiated_operator_tensors() -> None:
    """torch.func.vjp / jacrev / hessian with respect to tensors whose gradient comes from the
    generic rule (non-stationary filters, a Shift's shift) equal forward mode (jacfwd), which
    has its own rule; they raised (autograd.grad on wrappers of an ended level)."""
    from torch.func import functional_call, hessian, jacfwd, jacrev, vjp

    g = torch.Generator().manual_seed(5)
    dt = torch.float64
    op = tl.NonStationaryConvolve1D(10, nn.Parameter(torch.randn(3, 5, generator=g, dtype=dt)), ih=(2, 5, 8))
    x = torch.randn(10, generator=g, dtype=dt)
    p0 = op.hs.detach()

    def f(p):
        return functional_call(op, {"hs": p}, (x,))

    J = jacfwd(f)(p0)
    torch.testing.assert_close(jacrev(f)(p0), J, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(vjp(f, p0)[1](x)[0], torch.einsum("i,ijk->jk", x, J), rtol=1e-12, atol=1e-12)
    H = hessian(lambda p: (f(p) ** 2).sum())(p0)
    torch.testing.assert_close(H, 2 * torch.einsum("ijk,ilm->jklm", J, J), rtol=1e-10, atol=1e-10)
    sh = tl.Shift(8, nn.Parameter(torch.tensor(0.3, dtype=dt)), real=True)

    def s(v):
        return functional_call(sh, {"shift": v}, (x[:8],))

    torch.testing.assert_close(jacrev(s)(sh.shift.detach()), jacfwd(s)(sh.shift.detach()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("native", [True, False])
def test_forward_over_reverse_reaches_operator_tensors_and_recorded_nodes(native: bool, monkeypatch) -> None:
    """Forward-mode AD of gradients, without create_graph: the tangent of the gradient with
    respect to an operator's tensors keeps x's tangent (operators whose tensor gradient autograd
    derives: Regression, non-stationary convolutions), and a backward run inside a dual level
    over an application recorded outside it carries the cotangent's tangent (the compiled node
    raised there). Reference: reverse over reverse."""
    import torch.autograd.forward_ad as fwad

    from torchlops import _autograd
    from torchlops.signalprocessing.nonstatconvolve1d import NonStationaryConvolve1D

    monkeypatch.setattr(_autograd, "NATIVE_NODE", native)
    dt = torch.float64
    g = torch.Generator().manual_seed(0)
    cases = [
        (tl.Regression(torch.nn.Parameter(torch.linspace(-1, 1, 7, dtype=dt)), order=3), "taxis"),
        (NonStationaryConvolve1D(13, torch.nn.Parameter(torch.randn(3, 5, dtype=dt, generator=g)), ih=(2, 6, 10)), "hs"),
    ]
    for Op, pn in cases:
        p0 = getattr(Op, pn).detach().clone()
        x = torch.randn(2, *Op.dims, dtype=dt, generator=g)
        b = torch.randn(2, *Op.dimsd, dtype=dt, generator=g)
        pt, xt = torch.randn(p0.shape, dtype=dt, generator=g), torch.randn(x.shape, dtype=dt, generator=g)

        def loss(p, xx, Op=Op, pn=pn, b=b):
            return 0.5 * (torch.func.functional_call(Op, {pn: p}, (xx,)) - b).square().sum()

        P, X = p0.clone().requires_grad_(), x.clone().requires_grad_()
        gp, gx = torch.autograd.grad(loss(P, X), (P, X), create_graph=True)
        rp, rx = torch.autograd.grad((gp * pt).sum() + (gx * xt).sum(), (P, X))
        with fwad.dual_level():
            P = fwad.make_dual(p0, pt).requires_grad_()
            X = fwad.make_dual(x, xt).requires_grad_()
            gp, gx = torch.autograd.grad(loss(P, X), (P, X))
            torch.testing.assert_close(fwad.unpack_dual(gp).tangent, rp, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(fwad.unpack_dual(gx).tangent, rx, rtol=1e-10, atol=1e-12)
    A = tl.FirstDerivative((4, 5), kind="forward", dtype=dt, engine="auto")
    x = torch.randn(4, 5, dtype=dt, generator=g, requires_grad=True)
    y = A @ x  # (recorded outside the dual level)
    v, vt = torch.randn(4, 5, dtype=dt, generator=g), torch.randn(4, 5, dtype=dt, generator=g)
    with fwad.dual_level():
        (gx,) = torch.autograd.grad(y, x, fwad.make_dual(v, vt))
        torch.testing.assert_close(fwad.unpack_dual(gx).tangent, (A.H @ vt).detach())


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_forward_mode_tangent_of_a_filter(method: str) -> None:
    """A filter carrying a forward-mode tangent (torch.autograd.forward_ad): the output's tangent
    is the convolution with the filter's tangent (the FFT engine's output, a view of its work,
    failed an internal layout check of forward-mode AD)."""
    import torch.autograd.forward_ad as fwad

    dt = torch.float64
    g = torch.Generator().manual_seed(1)
    Op = tl.signalprocessing.Convolve1D(8, torch.randn(3, dtype=dt, generator=g), offset=1, method=method)
    h, ht = Op.h.detach().clone(), torch.randn(3, dtype=dt, generator=g)
    x = torch.randn(2, 8, dtype=dt, generator=g)
    with fwad.dual_level():
        y = torch.func.functional_call(Op, {"h": fwad.make_dual(h, ht)}, (x,))
        tangent = fwad.unpack_dual(y).tangent
    torch.testing.assert_close(tangent, torch.func.functional_call(Op, {"h": ht}, (x,)))
