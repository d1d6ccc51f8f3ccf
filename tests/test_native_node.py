"""The compiled autograd node (csrc/autograd.cpp) that records first-order applications.

It must give exactly what the Python ``OperatorFunction`` gives, fall back to it whenever
it cannot be used (learnt operator tensors, outputs that alias the input, tensors the
operator keeps), and behave as an ordinary autograd node (hooks, in-place changes,
retain_graph, other threads, errors, double backward, memory).
"""

from __future__ import annotations

import gc
import threading
import weakref

import pytest
import torch

import torchlops as tl
from torchlops import _autograd
from torchlops.linearoperator import LinearOperator

pytestmark = pytest.mark.skipif(_autograd._node_run is None, reason="needs the compiled extension")

NODE = "OperatorBackward"
FUNCTION = "OperatorFunctionBackward"
DEVICES = ["cpu"] + ([pytest.param("cuda", marks=pytest.mark.cuda)] if torch.cuda.is_available() else [])


@pytest.fixture(params=[True, False], ids=["node", "function"])
def native(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(_autograd, "NATIVE_NODE", request.param)
    return request.param


def _grad(Op: LinearOperator, x: torch.Tensor, g: torch.Tensor, adjoint: bool = False) -> tuple[torch.Tensor, str]:
    x = x.detach().requires_grad_(True)
    y = Op.rmatvec(x) if adjoint else Op(x)
    name = y.grad_fn.name()
    (gx,) = torch.autograd.grad(y, x, g)
    return gx, name


@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
@pytest.mark.parametrize(
    "shape",
    [(2, 7, 5), (7, 5), (35,), (3, 2, 35)],
    ids=["batched", "unbatched", "flat", "flat-batch2"],
)
def test_records_and_matches_the_adjoint(native: bool, shape: tuple, adjoint: bool) -> None:
    Op = tl.FirstDerivative((7, 5), axis=1, kind="centered", edge=True, dtype=torch.float64)
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        y = Op.rmatvec(x) if adjoint else Op(x)
    g = torch.randn_like(y)
    gx, name = _grad(Op, x, g, adjoint)
    assert name == (NODE if native else FUNCTION)
    with torch.no_grad():
        expected = Op(g) if adjoint else Op.rmatvec(g)
    torch.testing.assert_close(gx, expected, rtol=1e-14, atol=1e-14)
    xr = x.detach().requires_grad_(True)
    yr = Op.rmatvec(xr) if adjoint else Op(xr)
    assert yr.shape == y.shape and not yr.is_leaf
    if native:  # a tensor of its own, even where the kernel's output is reshaped
        assert yr._base is None


@pytest.mark.parametrize("device", DEVICES)
def test_node_on_device(device: str) -> None:
    d = torch.rand(64, dtype=torch.float32, device=device) + 0.5
    x = torch.randn(3, 64, device=device, requires_grad=True)
    y = tl.Diagonal(d)(x)
    assert y.grad_fn.name() == NODE
    (y * y).sum().backward()
    torch.testing.assert_close(x.grad, 2 * d * d * x.detach())


def test_complex_operator_on_real_input() -> None:
    d = torch.randn(9, dtype=torch.complex128)
    x = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    y = tl.Diagonal(d)(x)
    assert y.dtype == torch.complex128
    (y.abs() ** 2).sum().backward()
    assert x.grad.dtype == torch.float64
    torch.testing.assert_close(x.grad, 2 * d.abs() ** 2 * x.detach())


def test_learnt_tensors_take_the_function() -> None:
    d = torch.nn.Parameter(torch.rand(6, dtype=torch.float64) + 0.5)
    x = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    y = tl.Diagonal(d)(x)
    assert y.grad_fn.name() == FUNCTION
    y.sum().backward()
    torch.testing.assert_close(d.grad, x.detach().sum(0))
    torch.testing.assert_close(x.grad, d.detach().expand(2, 6))


def test_double_backward(native: bool) -> None:
    A = tl.SecondDerivative((11,), dtype=torch.float64)
    x = torch.randn(11, dtype=torch.float64, requires_grad=True)
    v = torch.randn(11, dtype=torch.float64)
    f = (A(x) ** 2).sum()
    (g,) = torch.autograd.grad(f, x, create_graph=True)
    (hv,) = torch.autograd.grad(g, x, v)
    with torch.no_grad():
        torch.testing.assert_close(g, 2 * A.rmatvec(A(x)), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(hv, 2 * A.rmatvec(A(v)), rtol=1e-13, atol=1e-13)
    torch.autograd.gradgradcheck(A, (x,))


def test_backward_uses_the_forward_tensors() -> None:
    # buffers swapped for the call only: the backward must use the swapped ones
    d = torch.rand(5, dtype=torch.float64) + 0.5
    d2 = torch.rand(5, dtype=torch.float64) + 2.0
    D = tl.Diagonal(d)
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    y = torch.func.functional_call(D, {"diag": d2}, (x,))
    assert y.grad_fn.name() == NODE
    y.sum().backward()
    torch.testing.assert_close(x.grad, d2)
    assert D.diag is d


def test_inplace_change_hooks_and_retain_graph() -> None:
    d = torch.rand(8, dtype=torch.float64) + 0.5
    x = torch.randn(8, dtype=torch.float64, requires_grad=True)
    y = tl.Diagonal(d)(x)
    y.mul_(3.0)
    y.register_hook(lambda g: 2 * g)
    s = y.sum()
    s.backward(retain_graph=True)
    torch.testing.assert_close(x.grad, 6 * d)
    s.backward()
    torch.testing.assert_close(x.grad, 12 * d)


def test_module_hooks_still_run() -> None:
    D = tl.Diagonal(torch.rand(4, dtype=torch.float64) + 0.5)
    seen = []
    handle = D.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    D(x).sum().backward()
    handle.remove()
    D(x)
    assert seen == [torch.Size([4])]


def test_backward_on_another_thread() -> None:
    A = tl.FirstDerivative((16,), dtype=torch.float64)
    x = torch.randn(16, dtype=torch.float64, requires_grad=True)
    g = torch.randn(16, dtype=torch.float64)
    out = {}

    def work() -> None:
        y = A(x)
        (out["gx"],) = torch.autograd.grad(y, x, g)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    with torch.no_grad():
        torch.testing.assert_close(out["gx"], A.rmatvec(g))


class _Failing(LinearOperator):
    def __init__(self) -> None:
        super().__init__(dims=(3,), dimsd=(3,), dtype=torch.float64)

    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        raise ValueError("adjoint failed on purpose")


def test_errors_in_the_adjoint_reach_the_caller() -> None:
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    y = _Failing()(x)
    assert y.grad_fn.name() == NODE
    with pytest.raises(ValueError, match="adjoint failed on purpose"):
        y.sum().backward()


def test_the_node_releases_the_operator() -> None:
    Op = tl.Diagonal(torch.rand(4, dtype=torch.float64))
    ref = weakref.ref(Op)
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = Op(x)
    del Op
    gc.collect()
    assert ref() is not None  # the graph holds it until the backward is done
    y.sum().backward()
    del y
    gc.collect()
    assert ref() is None


class _Aliasing(LinearOperator):
    """An operator whose forward returns the input itself, a view of it, a tensor it keeps,
    or a lazy conjugate: the node must leave all of them alone or be exact."""

    def __init__(self, mode: str, dtype: torch.dtype = torch.float64) -> None:
        super().__init__(dims=(4,), dimsd=(4,), dtype=dtype)
        self.mode = mode
        self.kept: list[torch.Tensor] = []

    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "input":
            return x
        if self.mode == "view":
            return x[:, :]
        if self.mode == "kept":
            y = 2 * x
            self.kept.append(y)
            return y
        return (x.conj() * 1j).conj()  # "conj": -1j x as a conjugate view of an intermediate

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if self.mode in ("input", "view"):
            return y.clone()
        if self.mode == "kept":
            return 2 * y
        return (y.conj() * -1j).conj()


@pytest.mark.parametrize("mode", ["input", "view", "kept"])
def test_outputs_the_operator_shares_take_the_function(mode: str) -> None:
    Op = _Aliasing(mode)
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    y = Op(x)
    assert y.grad_fn.name() == FUNCTION
    assert x.is_leaf and x.grad_fn is None
    if mode == "kept":
        # what the operator kept from the first (node) attempt got no history
        assert Op.kept[0].grad_fn is None and not Op.kept[0].requires_grad
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 2.0 if mode == "kept" else 1.0))


def test_lazy_conjugate_output_is_resolved() -> None:
    Op = _Aliasing("conj", torch.complex128)
    x = torch.randn(2, 4, dtype=torch.complex128)
    with torch.no_grad():
        expected = Op(x)
    xr = x.clone().requires_grad_(True)
    y = Op(xr)
    assert y.grad_fn.name() == NODE and not y.is_conj()
    torch.testing.assert_close(y.detach(), expected)
    torch.testing.assert_close(y.detach(), -1j * x)
    torch.autograd.gradcheck(Op, (xr,))


def test_operator_with_a_hook_keeping_its_output_is_collected() -> None:
    # a forward hook that keeps the output closes a cycle operator -> hook -> output -> graph
    # -> operator: the Function records it (a cycle the garbage collector can see through)
    D = tl.Diagonal(torch.rand(50, dtype=torch.float64))
    D.register_forward_hook(lambda mod, args, out: setattr(mod, "last", out))
    x = torch.randn(50, dtype=torch.float64, requires_grad=True)
    y = D(x)
    assert y.grad_fn.name() == FUNCTION and D.last is y
    ref = weakref.ref(D)
    del D, y
    gc.collect()
    assert ref() is None


class _WrongShape(LinearOperator):
    """A faulty operator whose kernel returns 5 entries per sample instead of 6."""

    def __init__(self, outs: list) -> None:
        super().__init__(dims=(2, 3), dimsd=(2, 3), dtype=torch.float64)
        self.outs = outs

    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.zeros(x.shape[0], 5, dtype=x.dtype)
        self.outs.append(weakref.ref(y))
        return y

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return y


def test_a_failing_reshape_after_the_kernel_leaks_nothing() -> None:
    outs: list = []
    Op = _WrongShape(outs)
    for _ in range(5):
        with pytest.raises(RuntimeError):
            Op(torch.randn(4, 6, dtype=torch.float64, requires_grad=True))  # flat input: reshaped output
    gc.collect()
    assert outs and all(r() is None for r in outs)


class _ChildView(LinearOperator):
    """Returns a view of a buffer held by a child module (not one of its own tensors)."""

    def __init__(self) -> None:
        super().__init__(dims=(4,), dimsd=(4,), dtype=torch.float64)
        self.child = torch.nn.Module()
        self.child.register_buffer("ws", torch.zeros(8, 4, dtype=torch.float64))

    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        ws = self.child.ws[: x.shape[0]]
        torch.mul(x, 2, out=ws)
        return ws

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return 2 * y


def test_a_view_of_someone_elses_storage_is_copied() -> None:
    Op = _ChildView()
    x = torch.ones(2, 4, dtype=torch.float64, requires_grad=True)
    y = Op(x)
    assert y.grad_fn.name() == NODE
    y.add_(100.0)  # must not reach the child's buffer
    assert float(Op.child.ws[0, 0]) == 2.0
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 2.0))


def test_instance_forward_and_patched_module_call_are_respected() -> None:
    D = tl.Diagonal(torch.rand(4, dtype=torch.float64) + 0.5)
    calls = []
    original = D.forward

    def wrapped(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return original(x)

    D.forward = wrapped
    D(torch.randn(4, dtype=torch.float64))
    assert calls == [1]

    class Leaf(torch.fx.Tracer):
        def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
            return isinstance(m, LinearOperator) or super().is_leaf_module(m, qualname)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.op = tl.FirstDerivative((9,), dtype=torch.float64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.op(x) * 2

    graph = Leaf().trace(Net())
    assert any(n.op == "call_module" and n.target == "op" for n in graph.nodes)


def test_compiled_autograd_records_with_the_function() -> None:
    from torch._dynamo import compiled_autograd

    D = tl.FirstDerivative((9, 7), axis=0, dtype=torch.float64)
    x = torch.randn(2, 9, 7, dtype=torch.float64, requires_grad=True)
    with compiled_autograd._enable(torch.compile(backend="eager")):
        y = D(x)
        assert y.grad_fn.name() == FUNCTION
        (y**2).sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(x.grad, 2 * D.rmatvec(D(x)))


def test_compile_does_not_pin_the_batch_size() -> None:
    torch._dynamo.reset()
    ncompiles = [0]

    def backend(gm: torch.fx.GraphModule, example: list) -> object:
        ncompiles[0] += 1
        return gm.forward

    D = tl.FirstDerivative((9, 7), axis=0, dtype=torch.float64)
    f = torch.compile(lambda v: (D(v) ** 2).sum(), backend=backend)
    for b in range(1, 7):
        f(torch.randn(b, 9, 7, dtype=torch.float64))
    assert ncompiles[0] <= 2


class _NoAdjoint(LinearOperator):
    def __init__(self) -> None:
        super().__init__(dims=(3,), dimsd=(3,), dtype=torch.float64)

    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    def _rmatvec(self, y: torch.Tensor) -> None:
        return None


def test_an_adjoint_returning_none_is_an_error() -> None:
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    y = _NoAdjoint()(x)
    assert y.grad_fn.name() == NODE
    with pytest.raises(RuntimeError, match="the adjoint did not return a tensor"):
        y.sum().backward()


def test_objects_with_a_known_shape_are_rejected() -> None:
    D = tl.Diagonal(torch.rand(4, dtype=torch.float64))
    D(torch.randn(4, dtype=torch.float64))  # the shape (4,) is now cached

    class Fake:
        shape = torch.Size([4])
        dtype = torch.float64

    with pytest.raises(TypeError, match="input must be a torch.Tensor, got Fake"):
        D(Fake())
