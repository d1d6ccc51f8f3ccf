"""torchlops.nn: unrolled networks, data consistency, helpers (shapes, gradients, vmap, compile, training)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import torchlops
from torchlops.nn import (
    LISTA,
    ConvDenoiser,
    DataConsistency,
    LearnedPrimalDual,
    UnrolledISTA,
    UnrolledProximalGradient,
    conv_block,
    operator_norm,
    physics_loss,
    soft_threshold,
)
from torchlops.signalprocessing.convolve1d import Convolve1D
from torchlops.signalprocessing.convolve2d import Convolve2D


def _matrix(m: int = 12, n: int = 20, dtype: torch.dtype = torch.float32, seed: int = 0) -> torchlops.MatrixMult:
    g = torch.Generator().manual_seed(seed)
    return torchlops.MatrixMult(torch.randn(m, n, generator=g, dtype=dtype) / m**0.5)


def _conv1d(n: int = 32, dtype: torch.dtype = torch.float32, learn: bool = False) -> Convolve1D:
    h = torch.tensor([0.2, -0.5, 1.0, -0.5, 0.2], dtype=dtype)
    return Convolve1D(n, nn.Parameter(h) if learn else h, offset=2)


def _sparse(B: int, n: int, k: int, gen: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.zeros(B, n, dtype=dtype)
    idx = torch.randint(0, n, (B, k), generator=gen)
    return x.scatter(1, idx, torch.randn(B, k, generator=gen, dtype=dtype))


def _networks() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    A1 = _conv1d()
    A2 = Convolve2D((8, 10), torch.ones(3, 3) / 9, offset=(1, 1))
    small = lambda i, o, d: conv_block(i, o, d, hidden=4, depth=2)  # noqa: E731
    return {
        "lista": (UnrolledISTA(A1, n_iter=4), A1.dimsd),
        "lista_shared": (UnrolledISTA(A1, n_iter=3, shared=True), A1.dimsd),
        "pg": (UnrolledProximalGradient(A1, n_iter=3, prox=ConvDenoiser(1, hidden=4)), A1.dimsd),
        "pg_list": (UnrolledProximalGradient(A2, n_iter=2, prox=[ConvDenoiser(2, hidden=4) for _ in range(2)]),
                    A2.dimsd),
        "lpd1": (LearnedPrimalDual(A1, n_iter=2, factory=small, n_primal=3, n_dual=2), A1.dimsd),
        "lpd2": (LearnedPrimalDual(A2, n_iter=2, factory=small), A2.dimsd),
    }


# ---------------------------------------------------------------- shapes and batching
@pytest.mark.parametrize("name", list(_networks()))
def test_shapes_and_batching(name: str) -> None:
    net, dimsd = _networks()[name]
    # perturb the zero-initialised layers so that the networks are not trivially the identity
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    dims = net.Op.dims
    y = torch.randn(2, 3, *dimsd)
    out = net(y)
    assert out.shape == (2, 3, *dims)
    assert net(y[0, 0]).shape == dims
    torch.testing.assert_close(net(y.reshape(6, *dimsd)), out.reshape(6, *dims))
    torch.testing.assert_close(net(y[1, 2][None])[0], out[1, 2], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected shape"):
        net(torch.randn(4, 7))


def test_data_consistency_shapes_and_value() -> None:
    A = _matrix(dtype=torch.float64)
    dc = DataConsistency(A, lam=0.5, niter=60).double()
    z, y = torch.randn(2, 3, 20, dtype=torch.float64), torch.randn(2, 3, 12, dtype=torch.float64)
    x = dc(z, y)
    assert x.shape == (2, 3, 20)
    M = A.A
    lam = float(dc.lam.detach())
    ref = torch.linalg.solve(M.T @ M + lam * torch.eye(20, dtype=torch.float64), (y @ M + lam * z).unsqueeze(-1))
    torch.testing.assert_close(x, ref.squeeze(-1), rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match="same batch"):
        dc(z[0], y)
    with pytest.raises(ValueError, match="lam must be"):
        DataConsistency(A, lam=-1.0)


def test_data_consistency_complex() -> None:
    g = torch.Generator().manual_seed(6)
    M = torch.randn(8, 6, dtype=torch.complex128, generator=g)
    dc = DataConsistency(torchlops.MatrixMult(M), lam=0.4, niter=40).double()
    z = torch.randn(3, 6, dtype=torch.complex128, generator=g, requires_grad=True)
    y = torch.randn(3, 8, dtype=torch.complex128, generator=g)
    x = dc(z, y)
    lam = dc.lam.detach()
    ref = torch.linalg.solve(M.mH @ M + lam * torch.eye(6, dtype=torch.complex128), (y @ M.conj() + lam * z).T).T
    torch.testing.assert_close(x, ref, rtol=1e-8, atol=1e-8)
    assert torch.autograd.gradcheck(lambda zz: dc(zz, y), (z,))
    with pytest.raises(TypeError, match="real operator"):
        LearnedPrimalDual(torchlops.MatrixMult(M), n_iter=1)


# ---------------------------------------------------------------- implicit gradients
def _dc_as_function(seed: int) -> tuple:
    """An implicit DataConsistency layer over a learnable filter as a function of (z, y, rho,
    h), with inputs that require grad."""
    A = _conv1d(10, torch.float64, learn=True)
    dc = DataConsistency(A, lam=0.8, niter=40).double()
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 10, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.randn(2, 10, dtype=torch.float64, generator=gen, requires_grad=True)
    rho = dc.rho.detach().clone().requires_grad_()
    h = A.h.detach().clone().requires_grad_()

    def f(z: torch.Tensor, y: torch.Tensor, rho: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(dc, {"rho": rho, "Op.h": h}, (z, y))

    return f, (z, y, rho, h)


def test_data_consistency_gradcheck() -> None:
    f, args = _dc_as_function(3)
    assert torch.autograd.gradcheck(f, args, atol=1e-7)


def test_implicit_equals_unrolled() -> None:
    A = _conv1d(16, torch.float64, learn=True)
    gen = torch.Generator().manual_seed(4)
    z, y = torch.randn(3, 16, dtype=torch.float64, generator=gen), torch.randn(3, 16, dtype=torch.float64, generator=gen)
    w = torch.randn(3, 16, dtype=torch.float64, generator=gen)
    grads = []
    for implicit in (True, False):
        dc = DataConsistency(A, lam=0.3, niter=60, implicit=implicit).double()
        zz, yy = z.clone().requires_grad_(), y.clone().requires_grad_()
        loss = (dc(zz, yy) * w).sum() ** 2
        grads.append(torch.autograd.grad(loss, [zz, yy, dc.rho, A.h]))
    for gi, gu in zip(*grads, strict=True):
        torch.testing.assert_close(gi, gu, rtol=1e-7, atol=1e-9)


def test_implicit_second_derivatives() -> None:
    """Second derivatives through the implicit layer (create_graph, a gradient penalty trained
    with backward(inputs=...)): gradgradcheck in z, y, rho and the filter, and equal to the
    unrolled layer's, also for the penalty's rho gradient (they were silently wrong)."""
    f, (z, y, rho, h) = _dc_as_function(5)
    assert torch.autograd.gradgradcheck(f, (z, y, rho, h), atol=1e-6)
    pen = []
    for implicit in (True, False):
        layer = DataConsistency(_conv1d(10, torch.float64, learn=True), lam=0.5, niter=40, implicit=implicit).double()
        zz = z.detach().clone().requires_grad_()
        (gz,) = torch.autograd.grad((layer(zz, y.detach()) ** 2).sum(), zz, create_graph=True)
        gz.square().sum().backward(inputs=[layer.rho, layer.Op.h])
        pen.append((layer.rho.grad.clone(), layer.Op.h.grad.clone()))
    for a, b in zip(*pen, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- vmap and compile
def test_vmap_matches_batched() -> None:
    net = LISTA(_conv1d(), n_iter=4)
    y = torch.randn(5, 32)
    out = torch.func.vmap(net)(y)
    torch.testing.assert_close(out, net(y))
    assert out.abs().sum() > 0


def test_compile_forward_backward_matches_eager() -> None:
    torch._dynamo.reset()
    A = _conv1d(24)
    net = LISTA(A, n_iter=3)
    y = torch.randn(4, 24)
    x = torch.randn(4, 24)
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")  # AOTAutograd: forward and backward graphs
    out_c = compiled(y)
    out_e = net(y)
    torch.testing.assert_close(out_c, out_e)
    g_c = torch.autograd.grad(((out_c - x) ** 2).sum(), [net.log_step, net.log_threshold])
    g_e = torch.autograd.grad(((out_e - x) ** 2).sum(), [net.log_step, net.log_threshold])
    for a, b in zip(g_c, g_e, strict=True):
        torch.testing.assert_close(a, b)
        assert a.abs().sum() > 0


# ---------------------------------------------------------------- gradients reach the learnable parts
def test_learnable_parameters_receive_gradients() -> None:
    A = _conv1d(learn=True)
    nets = [UnrolledISTA(A, n_iter=3), UnrolledProximalGradient(A, n_iter=2, prox=ConvDenoiser(1, hidden=4))]
    y = torch.randn(3, 32)
    for net in nets:
        net.zero_grad()
        ((net(y) - 1) ** 2).sum().backward()
        assert net.log_step.grad is not None and net.log_step.grad.abs().sum() > 0
        assert A.h.grad is not None and A.h.grad.abs().sum() > 0
    assert nets[0].log_threshold.grad.abs().sum() > 0
    fixed = UnrolledISTA(_conv1d(), n_iter=2, learn_step=False, learn_threshold=False)
    assert len(list(fixed.parameters())) == 0 and fixed.log_step.shape == (2,)
    dc = DataConsistency(A, lam=1.0)
    (dc(torch.randn(3, 32), y) ** 2).sum().backward()
    assert dc.rho.grad is not None and dc.rho.grad.abs() > 0


@pytest.mark.parametrize("kind", ["lista", "pg", "lpd", "modl"])
def test_training_reduces_loss(kind: str) -> None:
    torch.manual_seed(0)
    A = _conv1d(32)
    gen = torch.Generator().manual_seed(5)
    if kind == "lista":
        net, lr = LISTA(A, n_iter=5), 5e-2
    elif kind == "pg":
        net, lr = UnrolledProximalGradient(A, n_iter=3, prox=ConvDenoiser(1, hidden=8)), 1e-2
    elif kind == "lpd":
        net, lr = LearnedPrimalDual(A, n_iter=2, factory=lambda i, o, d: conv_block(i, o, d, hidden=8)), 1e-3
    else:
        dc, den = DataConsistency(A, lam=0.5, niter=8), ConvDenoiser(1, hidden=8)
        net, lr = nn.ModuleDict({"dc": dc, "den": den}), 1e-2
        net.forward = lambda y: dc(den(dc(torch.zeros_like(y), y)), y)  # type: ignore[method-assign]
    x = _sparse(32, 32, 3, gen)
    y = A(x) + 0.01 * torch.randn(32, 32, generator=gen)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(25):
        loss = ((net(y) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.9 * losses[0], losses


# ---------------------------------------------------------------- helpers and errors
def test_helpers() -> None:
    A = _matrix(dtype=torch.float64)
    assert abs(operator_norm(A, niter=200) - float(torch.linalg.matrix_norm(A.A, ord=2))) < 1e-6
    x, y = torch.randn(4, 20, dtype=torch.float64), torch.randn(4, 12, dtype=torch.float64)
    torch.testing.assert_close(physics_loss(A, x, y), ((x @ A.A.T - y) ** 2).sum(-1).mean())
    torch.testing.assert_close(soft_threshold(torch.tensor([-3.0, 0.5, 2.0]), 1.0), torch.tensor([-2.0, 0.0, 1.0]))
    zc = torch.tensor([3 + 4j, 0.3j])
    torch.testing.assert_close(soft_threshold(zc, 1.0), torch.tensor([2.4 + 3.2j, 0j]))
    # default step is 0.99 / ||A||^2
    net = UnrolledISTA(A, n_iter=2)
    assert abs(float(net.steps[0].detach()) * operator_norm(A) ** 2 - 0.99) < 1e-3


def test_errors() -> None:
    A = _conv1d()
    with pytest.raises(TypeError, match="LinearOperator"):
        UnrolledISTA(torch.eye(3), n_iter=2)
    with pytest.raises(ValueError, match="n_iter"):
        UnrolledISTA(A, n_iter=0)
    with pytest.raises(ValueError, match="step"):
        UnrolledISTA(A, n_iter=2, step=-1.0)
    with pytest.raises(ValueError, match="n_iter = 3"):
        UnrolledProximalGradient(A, n_iter=3, prox=[nn.Identity()])
    with pytest.raises(TypeError, match="prox"):
        UnrolledProximalGradient(A, n_iter=3, prox="identity")
    with pytest.raises(ValueError, match="primal_blocks"):
        LearnedPrimalDual(A, n_iter=2, primal_blocks=[nn.Identity()])
    with pytest.raises(ValueError, match="ndim"):
        conv_block(1, 1, ndim=4)
    with pytest.raises(ValueError, match="niter"):
        DataConsistency(A, niter=0)


@pytest.mark.parametrize("implicit", [False, True])
def test_data_consistency_under_torch_func(implicit):
    """vmap, grad, per-sample vmap(grad) and parameter gradients through functional_call agree
    with plain autograd on both paths (the unrolled CG with no tolerance reads no value; the
    implicit Function has a generated vmap rule); implicit=False also compiles with
    fullgraph=True (A^H A is built outside the traced call)."""
    g = torch.Generator().manual_seed(1)
    Op = torchlops.Diagonal(nn.Parameter(torch.rand(8, dtype=torch.float64, generator=g) + 0.5))
    dc = DataConsistency(Op, lam=1.0, niter=20 if implicit else 5, implicit=implicit)
    z = torch.randn(3, 8, dtype=torch.float64, generator=g)
    y = torch.randn(3, 8, dtype=torch.float64, generator=g)
    ref = dc(z, y).detach()
    torch.testing.assert_close(torch.func.vmap(dc)(z, y).detach(), ref)
    zz = z.clone().requires_grad_()
    (gz_ref,) = torch.autograd.grad(dc(zz, y).sum(), zz)
    torch.testing.assert_close(torch.func.grad(lambda v: dc(v, y).sum())(z), gz_ref)
    per = torch.func.vmap(torch.func.grad(lambda v, w: dc(v[None], w[None]).sum()))(z, y)
    torch.testing.assert_close(per, gz_ref)
    params = {k: v.detach() for k, v in dc.named_parameters()}
    pg = torch.func.grad(lambda p: torch.func.functional_call(dc, p, (z, y)).sum())(params)
    ref_g = torch.autograd.grad(dc(z, y).sum(), [dc.rho, dc.Op.diag])
    torch.testing.assert_close(pg["rho"], ref_g[0])
    torch.testing.assert_close(pg["Op.diag"], ref_g[1])
    assert sorted(dc.state_dict()) == ["Op.diag", "rho"]  # A^H A adds no second copy
    if not implicit:
        torch.testing.assert_close(torch.compile(dc, fullgraph=True, backend="eager")(z, y).detach(), ref)


def test_zero_operator_norm_and_default_steps():
    """A zero operator (a learnable filter starting at zero) has norm 0, not NaN, and the
    layers that derive their step from the norm say so instead of holding NaN steps."""
    A = Convolve1D(16, nn.Parameter(torch.zeros(5)), offset=2)
    assert operator_norm(A) == 0.0 and operator_norm(torchlops.Zero(4)) == 0.0
    for make in (lambda: UnrolledISTA(A, n_iter=3), lambda: UnrolledProximalGradient(A, 3, prox=nn.Identity())):
        with pytest.raises(ValueError, match="norm is 0.0.*pass step="):
            make()
    net = UnrolledISTA(A, n_iter=3, step=0.5)
    assert torch.isfinite(net.steps).all() and net(torch.randn(2, 16)).shape == (2, 16)


def test_operator_norm_and_default_steps_of_per_sample_filters():
    """One filter per sample is one matrix per filter: operator_norm is the largest of their
    norms (the default step then suits every sample) rather than an error about a batch of 1
    the caller never passed; power_iteration, which returns one eigenvalue, says it needs one
    matrix."""
    from torchlops.optimization.eigs import power_iteration

    D = torch.float64
    H = torch.tensor([[1.0, 0.5, 0.0], [3.0, -1.0, 0.5], [0.2, 0.1, 0.0]], dtype=D)
    C = Convolve1D(16, H, offset=1, batched_filter=True)
    norms = [float(torch.linalg.matrix_norm(Convolve1D(16, h, offset=1).todense(), 2)) for h in H]
    assert operator_norm(C, niter=300) == pytest.approx(max(norms), rel=1e-6)
    assert operator_norm(C, niter=300) > sorted(norms)[-2] * 1.5
    net = UnrolledISTA(C, n_iter=2).double()
    torch.testing.assert_close(net.steps, torch.full_like(net.steps, 0.99 / operator_norm(C) ** 2))
    assert net(torch.randn(2, 3, 16, dtype=D)).shape == (2, 3, 16)
    with pytest.raises(ValueError, match="power_iteration: C applies one filter per sample"):
        power_iteration(C.H @ C)
    # real models of a complex operator: the iteration goes on real vectors, without a warning
    # about discarded imaginary parts
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = operator_norm(torchlops.FFT(16, real=True, dtype=torch.complex128) @ C, niter=300)
    assert got == pytest.approx(max(norms), rel=1e-6)


def test_layer_parameters_follow_the_operator_device():
    """Steps, thresholds, rho and the default primal-dual blocks are made on the operator's
    device (they took its dtype but were made on the CPU)."""
    A = torchlops.MatrixMult(torch.randn(6, 6)).to("meta")
    layers = (UnrolledISTA(A, 2, step=0.1), UnrolledProximalGradient(A, 2, prox=nn.Identity(), step=0.1),
              DataConsistency(A), LearnedPrimalDual(A, 2))
    for layer in layers:
        tensors = [*layer.parameters(), *layer.buffers()]
        assert tensors and {t.device.type for t in tensors} == {"meta"}, type(layer).__name__


def test_layers_on_real_models_of_a_complex_operator():
    """FFT(real=True) with a complex dtype: real models, its adjoint answers real vectors. The
    layers give real models (as from a real x0), the default step follows from its norm (1),
    and DataConsistency's result solves its normal equations."""
    D = torch.float64
    F = torchlops.FFT(16, real=True, dtype=torch.complex128)
    g = torch.Generator().manual_seed(0)
    y = F @ torch.randn(3, 16, dtype=D, generator=g)
    assert abs(operator_norm(F) - 1.0) < 1e-8
    net = UnrolledISTA(F, 3, step=0.5, threshold=0.01).double()
    x = net(y)
    assert x.dtype == D
    torch.testing.assert_close(x, net(y, x0=torch.zeros(16, dtype=D)))
    assert UnrolledISTA(F, 2).double()(y).dtype == D
    pg = UnrolledProximalGradient(F, 2, prox=ConvDenoiser(1, hidden=4).double(), step=0.5)
    torch.testing.assert_close(pg(y), pg(y, x0=torch.zeros(16, dtype=D)))
    z = torch.randn(3, 16, dtype=D, generator=g)
    for implicit in (True, False):
        dc = DataConsistency(F, lam=0.5, niter=30, implicit=implicit).double()
        x = dc(z, y)
        assert x.dtype == D
        # F^H (F x - y) + lam (x - z) = 0
        torch.testing.assert_close(F.H @ (F @ x - y) + dc.lam * (x - z), torch.zeros_like(x), atol=1e-10, rtol=0)
    # (gradients: the implicit backward gives the unrolled path's, for z, y and lam)
    grads = []
    for implicit in (True, False):
        dc = DataConsistency(F, lam=0.5, niter=30, implicit=implicit).double()
        zz, yy = z.clone().requires_grad_(), y.clone().requires_grad_()
        dc(zz, yy).pow(2).sum().backward()
        grads.append((zz.grad, yy.grad, dc.rho.grad))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "unrolled"])
def test_dataconsistency_backward_uses_the_forwards_operator(implicit):
    """The backward differentiates the operator the forward used: a buffer bound by
    functional_call for the forward (closed form lam / (d^2 + lam)), not the module's own; an
    operator tensor changed in place between forward and backward is refused; changing niter or
    the operator after the forward changes nothing."""
    D = torch.float64
    d_live, d_call = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=D), torch.tensor([4.0, 0.1, 2.0, 1.0], dtype=D)
    dc = DataConsistency(torchlops.Diagonal(d_live.clone()), lam=0.5, learn_lam=False, niter=10, implicit=implicit)
    lam = dc.lam.detach()
    z, y = torch.randn(2, 4, dtype=D, requires_grad=True), torch.randn(2, 4, dtype=D)
    x = torch.func.functional_call(dc, {"Op.diag": d_call}, (z, y))
    torch.testing.assert_close(x, (d_call * y + lam * z) / (d_call**2 + lam))
    x.sum().backward()
    torch.testing.assert_close(z.grad, (lam / (d_call**2 + lam)).expand(2, 4))
    x = dc(z, y)
    with torch.no_grad():
        dc.Op.diag.mul_(10)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        x.sum().backward()
    dc.Op.diag.copy_(d_live)
    z.grad = None
    x = dc(z, y)
    dc.niter, dc.Op = 1, torchlops.Diagonal(d_call.clone())
    x.sum().backward()
    torch.testing.assert_close(z.grad, (lam / (d_live**2 + lam)).expand(2, 4))


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "unrolled"])
def test_dataconsistency_vmap_with_a_learnable_operator(implicit):
    """vmap(layer) backward reaches rho, the operator's tensor and z as the batched call does;
    vmap(grad(functional_call)) over an ensemble of operator tensors equals the loop."""
    D = torch.float64
    g = torch.Generator().manual_seed(0)
    d0 = torch.rand(6, dtype=D, generator=g) + 0.5
    z0, y = torch.randn(3, 6, dtype=D, generator=g), torch.randn(3, 6, dtype=D, generator=g)
    dc = DataConsistency(torchlops.Diagonal(nn.Parameter(d0.clone())), lam=0.7, niter=20, implicit=implicit).double()
    grads = []
    for mode in ("batched", "vmap"):
        dc.zero_grad()
        z = z0.clone().requires_grad_()
        out = dc(z, y) if mode == "batched" else torch.func.vmap(dc)(z, y)
        (out**2).sum().backward()
        grads.append((dc.rho.grad.clone(), dc.Op.diag.grad.clone(), z.grad.clone()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    params = {k: v.detach() for k, v in dc.named_parameters()}

    def f(p):
        return (torch.func.functional_call(dc, p, (z0, y)) ** 2).sum()

    ens = {k: torch.stack([v, 1.1 * v, 0.9 * v]) for k, v in params.items()}
    gv = torch.func.vmap(torch.func.grad(f))(ens)
    for i in range(3):
        ref = torch.func.grad(f)({k: v[i] for k, v in ens.items()})
        for k in params:
            torch.testing.assert_close(gv[k][i], ref[k])


def test_dataconsistency_follows_a_dtype_move():
    """A layer built in float64 and moved to float32 computes and returns float32."""
    dc = DataConsistency(torchlops.Diagonal(torch.rand(5, dtype=torch.float64) + 0.5), lam=0.5)
    dc(torch.zeros(2, 5, dtype=torch.float64), torch.ones(2, 5, dtype=torch.float64))
    dc = dc.to(torch.float32)
    for implicit in (True, False):
        dc.implicit = implicit
        assert dc(torch.zeros(2, 5), torch.ones(2, 5)).dtype == torch.float32
    # moved before any call, then compiled whole: A^H A was rebuilt by the move, not while tracing
    dc = DataConsistency(torchlops.Diagonal(torch.rand(5) + 0.5), lam=0.5, niter=5, implicit=False).double()
    z, y = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    out = torch.compile(dc, fullgraph=True, backend="eager")(z, y)
    torch.testing.assert_close(out, dc(z, y))


def test_module_lists_shapes_and_integer_arguments():
    """A ModuleList of per-iteration modules is a list (UnrolledProximalGradient,
    LearnedPrimalDual); x0 of another batch and physics_loss batches that differ are clear
    errors; filter positions must be integers; numpy ints are ints."""
    import numpy as np

    from torchlops.nn import LearnedPrimalDual, UnrolledProximalGradient, physics_loss
    from torchlops.signalprocessing.fredholm1 import Fredholm1
    from torchlops.signalprocessing.nonstatconvolve1d import NonStationaryConvolve1D
    from torchlops.signalprocessing.nonstatfilters1d import NonStationaryFilters1D

    A = torchlops.MatrixMult(torch.randn(10, 10))
    mods = nn.ModuleList([nn.Identity(), nn.Identity()])
    net = UnrolledProximalGradient(A, n_iter=2, prox=mods)
    assert len(net.prox) == 2 and net(torch.randn(3, 10)).shape == (3, 10)
    with pytest.raises(ValueError, match="x0 must hold one model or one per sample"):
        UnrolledISTA(A, n_iter=2, step=0.1)(torch.randn(2, 3, 10), x0=torch.zeros(3, 10))
    with pytest.raises(ValueError, match="x and y must hold the same batch"):
        physics_loss(A, torch.randn(2, 3, 10), torch.randn(3, 2, 10))
    blocks = [nn.Conv1d(6, 5, 3, padding=1) for _ in range(2)]
    lpd = LearnedPrimalDual(A, n_iter=2, primal_blocks=nn.ModuleList(blocks))
    assert all(a is b for a, b in zip(lpd.primal_blocks, blocks, strict=True))
    with pytest.raises(ValueError, match="must be integers"):
        NonStationaryConvolve1D(12, torch.randn(2, 3), (1.5, 6.5))
    assert NonStationaryFilters1D(torch.randn(12), np.int64(3), (2, 9)).hsize == 3
    assert Fredholm1(torch.randn(3, 4, 5), nz=np.int64(2)).nz == 2
    with pytest.raises(TypeError, match="hsize must be an int"):
        NonStationaryFilters1D(torch.randn(12), torch.tensor(3.7), (2, 9))
    with pytest.raises(ValueError, match="nz must be a positive int"):
        Fredholm1(torch.randn(3, 4, 5), nz=torch.tensor(2.7))
    # one sample given flat on one side and with a batch dim of 1 on the other is one sample
    assert physics_loss(A, torch.randn(10), torch.randn(1, 10)).dim() == 0
    # an empty batch: the mean of no samples (NaN, as torch.mean), not a reshape error
    assert bool(torch.isnan(physics_loss(A, torch.randn(0, 10), torch.randn(0, 10))))
    # x0 with another batch of as many samples would pair the wrong samples: refused; one model
    # (flat or with a batch dim of 1) and one per sample with y's batch are taken
    y = torch.randn(2, 3, 10)
    for net in (UnrolledISTA(A, n_iter=2, step=0.1), UnrolledProximalGradient(A, 2, prox=nn.Identity(), step=0.1)):
        with pytest.raises(ValueError, match=r"x0 must hold one model or one per sample of y \(batch \(2, 3\)\)"):
            net(y, x0=torch.randn(3, 2, 10))
        x0 = torch.randn(2, 3, 10)
        torch.testing.assert_close(net(y, x0=x0)[1, 2], net(y[1, 2], x0=x0[1, 2]))
        torch.testing.assert_close(net(y, x0=x0[0, 0])[1, 2], net(y[1, 2], x0=x0[0, 0]))
        torch.testing.assert_close(net(y, x0=x0[:1, 0])[1, 2], net(y[1, 2], x0=x0[0, 0]))
    # numpy ints are ints for the iteration counts; fractions and bools are not
    assert LISTA(A, n_iter=np.int64(3)).n_iter == 3
    assert DataConsistency(A, niter=np.int64(4)).niter == 4
    assert LearnedPrimalDual(A, n_iter=np.int64(2), n_primal=np.int64(2)).n_primal == 2
    assert operator_norm(A, niter=np.int64(5)) > 0
    for bad in (2.7, True, 0):
        with pytest.raises(ValueError, match="n_primal must be a positive int"):
            LearnedPrimalDual(A, n_iter=1, n_primal=bad)
    with pytest.raises(TypeError, match="a list holding a str"):
        UnrolledProximalGradient(A, 2, prox=[nn.Identity(), "x"])


def test_hyperparameters_in_the_operators_precision():
    """Steps, thresholds and lambda are created in the operator's real dtype (a float64
    operator under the float32 default keeps 0.02 exactly, which a later .double() could not
    restore); a fixed-step LISTA then equals torchlops.ista to rounding."""
    A = torchlops.MatrixMult(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    assert torch.get_default_dtype() == torch.float32
    net = LISTA(A, n_iter=3, step=0.02, threshold=0.001, learn_step=False, learn_threshold=False)
    assert net.log_step.dtype == torch.float64 and float(net.steps[0]) == pytest.approx(0.02, rel=1e-15)
    upg = UnrolledProximalGradient(A, 2, prox=nn.Identity(), step=0.02)
    assert upg.log_step.dtype == torch.float64
    dc = DataConsistency(A, lam=0.3)
    assert dc.rho.dtype == torch.float64 and float(dc.lam.detach()) == pytest.approx(0.3, rel=1e-15)
    Ac = torchlops.MatrixMult(torch.randn(4, 4, dtype=torch.complex64))
    assert DataConsistency(Ac).rho.dtype == torch.float32
    y = torch.randn(2, 6, dtype=torch.float64)
    x = net(y)
    # (ISTA's soft threshold is eps alpha / 2)
    ref = torchlops.ista(A, y, niter=3, alpha=0.02, eps=2 * 0.001 / 0.02, tol=0)[0]
    assert x.dtype == torch.float64
    torch.testing.assert_close(x, ref, rtol=1e-13, atol=1e-15)


def test_default_blocks_follow_the_operator_precision_and_block_arguments_are_checked() -> None:
    """LearnedPrimalDual's default blocks are built in the operator's precision (a float64
    operator worked only after .double()); ConvDenoiser takes a dtype; fractional, bool or
    non-positive sizes of the blocks are clear errors at construction."""
    A64 = torchlops.FirstDerivative((8, 9), axis=0, dtype=torch.float64)
    net = LearnedPrimalDual(A64, n_iter=2)
    assert net(torch.randn(3, 8, 9, dtype=torch.float64)).dtype == torch.float64
    assert net(torch.randn(3, 8, 9)).dtype == torch.float64  # (data promoted to the operator's dtype)
    A32 = torchlops.FirstDerivative((8, 9), axis=0, dtype=torch.float32)
    assert LearnedPrimalDual(A32, n_iter=1)(torch.randn(2, 8, 9)).dtype == torch.float32
    pg = UnrolledProximalGradient(A64, 2, prox=ConvDenoiser(2, hidden=4, dtype=torch.float64), step=0.1)
    assert pg(torch.randn(3, 8, 9, dtype=torch.float64)).dtype == torch.float64
    for bad in (2.0, True, 4):
        with pytest.raises(ValueError, match="ndim must be 1, 2 or 3"):
            ConvDenoiser(ndim=bad)
    for kw, name in ((dict(depth=2.5), "depth"), (dict(kernel_size=3.0), "kernel_size"), (dict(hidden=0), "hidden"),
                     (dict(kernel_size=-1), "kernel_size")):
        with pytest.raises(ValueError, match=f"{name} must be an int >= 1"):
            conv_block(1, 1, 2, **kw)


@pytest.mark.parametrize("build", [lambda C: C @ C, lambda C: C.H @ C, lambda C: torchlops.VStack([C, C]),
                                   lambda C: torchlops.VStack([C, Convolve1D(16, C.h, offset=1)])],
                         ids=["CC", "CHC", "VStack-same", "VStack-two-modules-one-filter"])
def test_dataconsistency_keeps_a_shared_learnable_operator_tensor(build) -> None:
    """An operator held twice in the layer's composite keeps the user's Parameter through the
    implicit backward, so every later gradient (and conversion) still reaches it; two operators
    sharing one filter each give it their share: each backward gives the gradient through the
    dense solve."""
    g = torch.Generator().manual_seed(3)
    h = nn.Parameter(torch.randn(5, generator=g, dtype=torch.float64))
    C = Convolve1D(16, h, offset=2)
    dc = DataConsistency(build(C), lam=0.3, niter=60)
    z = torch.randn(2, 16, generator=g, dtype=torch.float64)
    y = torch.randn(2, *dc.Op.dimsd, generator=g, dtype=torch.float64)

    h2 = h.detach().clone().requires_grad_()
    M = build(Convolve1D(16, h2, offset=2))(torch.eye(16, dtype=torch.float64)).T
    lam = float(dc.lam.detach())
    x = torch.linalg.solve(M.T @ M + lam * torch.eye(16, dtype=torch.float64), M.T @ y.T + lam * z.T).T
    x.pow(2).sum().backward()
    for _ in range(2):
        h.grad = None
        dc(z, y).pow(2).sum().backward()
        assert C.h is h and any(p is h for p in dc.parameters())
        torch.testing.assert_close(h.grad, h2.grad, rtol=1e-9, atol=1e-11)
    assert dc.float().Op.dtype == torch.float32


def test_layer_input_errors_name_the_argument() -> None:
    D = torchlops.Diagonal(torch.rand(8, dtype=torch.float64) + 0.5)
    with pytest.raises(TypeError, match="z must be a floating or complex tensor"):
        DataConsistency(D)(torch.zeros(2, 8, dtype=torch.int64), torch.randn(2, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="got str"):
        UnrolledProximalGradient(D, 2, prox="denoiser")


def test_data_consistency_learns_function_operator_closures_and_keeps_empty_batches_in_the_graph():
    """implicit=True with a FunctionOperator(autograd=True) closing over a learnable tensor: the
    closed form's gradient (it was silently wrong: only the A^H y part reached the tensor); an
    empty batch through the unrolled solve stays in the graph of rho and the operator (it was
    cut off, and backward raised), as the implicit one."""
    D = torch.float64
    g = torch.Generator().manual_seed(0)
    z, y = torch.randn(2, 6, dtype=D, generator=g), torch.randn(2, 6, dtype=D, generator=g)
    w0 = torch.rand(6, dtype=D, generator=torch.Generator().manual_seed(1)) + 0.5
    wr = w0.clone().requires_grad_()
    ((wr * y + 0.5 * z) / (wr**2 + 0.5)).pow(2).sum().backward()
    for implicit in (True, False):
        w = nn.Parameter(w0.clone())
        F = torchlops.FunctionOperator(lambda x, w=w: w * x, lambda v, w=w: w * v, 6, autograd=True, dtype=D)
        DataConsistency(F, lam=0.5, niter=40, implicit=implicit)(z, y).pow(2).sum().backward()
        torch.testing.assert_close(w.grad, wr.grad, rtol=1e-8, atol=1e-10)
    A = Convolve1D(8, nn.Parameter(torch.tensor([0.3, 1.0, -0.2])), offset=1)
    for implicit in (True, False):
        dc = DataConsistency(A, implicit=implicit)
        out = dc(torch.zeros(0, 8), torch.randn(0, 8))
        assert out.shape == (0, 8) and out.requires_grad
        out.sum().backward()
        assert A.h.grad is not None and float(A.h.grad.abs().sum()) == 0.0
        A.h.grad = None


def test_layers_on_the_meta_device_need_their_step():
    """On the meta device the operator norm has no values to come from: a clear error naming
    step= (Tensor.item() on a meta tensor before); with step given the layer builds there."""
    with torch.device("meta"):
        A = Convolve1D(16, nn.Parameter(torch.tensor([0.2, -0.5, 1.0])), offset=1)
    with pytest.raises(ValueError, match="meta device .* needs step= given"):
        UnrolledISTA(A, 3)
    with pytest.raises(ValueError, match="meta device"):
        operator_norm(A)
    assert UnrolledISTA(A, 3, step=0.3).log_step.device.type == "meta"
