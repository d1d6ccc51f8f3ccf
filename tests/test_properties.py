"""The property battery: every operator of tests/registry.py against every property (dot tests,
gradient = adjoint, gradcheck / gradgradcheck, batches, input forms, vmap, jvp, devices, compile)."""

from __future__ import annotations

import pytest
import torch

from tests.registry import CASES, OperatorCase
from torchlops import _autograd
from torchlops.utils import testing as T
from torchlops.utils.checks import real_dtype

IDS = [c.name for c in CASES]
COMPILE_CASES = [pytest.param(c, id=c.name, marks=() if c.compile else pytest.mark.slow) for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("precision", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_dottest(case: OperatorCase, precision: torch.dtype) -> None:
    Op = case.build(precision)
    assert real_dtype(Op.dtype) == precision
    T.check_dottest(Op, batch=(3,))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_grad_is_adjoint(case: OperatorCase) -> None:
    T.check_grad_is_adjoint(case.build(torch.float64), rtol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_native_node_equals_function(case: OperatorCase, monkeypatch: pytest.MonkeyPatch) -> None:
    """First-order gradients recorded by the compiled node equal the Python Function's
    (the battery's gradchecks run through the node when the extension is built)."""
    Op = case.build(torch.float64)
    grads = {}
    for native in (True, False):
        monkeypatch.setattr(_autograd, "NATIVE_NODE", native and _autograd._node_run is not None)
        for adjoint in (False, True):
            for batch in ((2,), ()):
                x = T.random_input(Op, batch=batch, adjoint=adjoint, generator=torch.Generator().manual_seed(3))
                x.requires_grad_(True)
                y = Op.rmatvec(x) if adjoint else Op.matvec(x)
                g = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(4))
                (grads[native, adjoint, batch],) = torch.autograd.grad(y, x, g)
    for (native, adjoint, batch), gx in grads.items():
        if native:
            T.assert_close(gx, grads[False, adjoint, batch], 1e-13, f"node vs function {adjoint=} {batch=}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(case: OperatorCase) -> None:
    T.check_gradcheck(case.build(torch.float64), gradgrad=case.gradgrad)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batch_equals_per_sample(case: OperatorCase) -> None:
    T.check_batch(case.build(torch.float64), batch=(2, 3))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_input_forms(case: OperatorCase) -> None:
    T.check_forms(case.build(torch.float64))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vmap(case: OperatorCase) -> None:
    T.check_vmap(case.build(torch.float64))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp(case: OperatorCase) -> None:
    T.check_jvp(case.build(torch.float64))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_promotion_and_following(case: OperatorCase) -> None:
    Op = case.build(torch.float32)
    x32 = T.random_input(Op, batch=(2,))
    x64 = x32.to(torch.complex128 if x32.is_complex() else torch.float64)
    with torch.no_grad():
        y32 = Op.matvec(x32)
        y64 = Op.matvec(x64)
    # a float64 input is never cut to float32; a float32 input stays float32
    assert real_dtype(y64.dtype) == torch.float64
    assert real_dtype(y32.dtype) == torch.float32
    T.assert_close(y32, y64, 1e-4, "float32 vs float64 input")
    # the operator follows .to(dtype) / .double() (a wrapped PyLops operator computes in its own
    # dtype, which it keeps)
    Od = T.to_double(Op)
    if type(Op).__name__ == "PyLopsOperator":
        assert Od.dtype == Op.dtype
        return
    assert real_dtype(Od.dtype) == torch.float64
    with torch.no_grad():
        T.assert_close(Od.matvec(x64), y64, 1e-5, "float64 copy of the operator")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_result_dtypes_and_linearity(case: OperatorCase) -> None:
    """promote_types(Op.dtype, x.dtype) for every input precision, and linear at large scales."""
    for precision in (torch.float32, torch.float64):
        T.check_dtypes(case.build(precision))
    T.check_linearity(case.build(torch.float64))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_device_round_trip(case: OperatorCase, device: torch.device) -> None:
    Op = case.build(torch.float64)
    x = T.random_input(Op, batch=(2,))
    with torch.no_grad():
        ref = Op.matvec(x)
        Od = Op.to(device)
        y = Od.matvec(x.to(device)).cpu()
        back = Od.to("cpu").matvec(x)
    T.assert_close(y, ref, 1e-10, f"on {device}")
    T.assert_close(back, ref, 1e-12, "back on cpu")


@pytest.mark.parametrize("case", COMPILE_CASES)
def test_compile_fullgraph(case: OperatorCase) -> None:
    torch._dynamo.reset()
    Op = case.build(torch.float64)
    x = T.random_input(Op, batch=(2,))
    yd = T.random_input(Op, batch=(2,), adjoint=True)
    fwd = torch.compile(lambda v: Op(v), fullgraph=case.fullgraph)
    adj = torch.compile(lambda v: Op.rmatvec(v), fullgraph=case.fullgraph)
    with torch.no_grad():
        T.assert_close(fwd(x), Op(x), 1e-12, "compiled forward")
        T.assert_close(adj(yd), Op.rmatvec(yd), 1e-12, "compiled adjoint")


@pytest.mark.parametrize("case", [c for c in CASES if c.compile], ids=lambda c: c.name)
def test_compile_dynamic_grad(case: OperatorCase) -> None:
    """torch.compile(dynamic=True) of A^H A x with its gradient, then another batch size: values
    and gradients equal eager (a float an operator reads from an attribute or a module inside
    the traced graph, applied twice, trips dynamo; docs/adding_an_operator.md). The cases of the
    default compile smoke test (every registry case passed it when it was added, about 3 s each;
    the operators that reading floats concerns are in tests/test_ext.py)."""
    torch._dynamo.reset()
    Op = case.build(torch.float64)

    def loss(v: torch.Tensor) -> torch.Tensor:
        y = Op.rmatvec(Op(v))
        return (y.real if y.is_complex() else y).sum()

    cf = torch.compile(loss, fullgraph=case.fullgraph, dynamic=True)
    for nb in (2, 3):
        x = T.random_input(Op, batch=(nb,)).requires_grad_()
        (g1,) = torch.autograd.grad(cf(x), x)
        (g2,) = torch.autograd.grad(loss(x), x)
        T.assert_close(g1, g2, 1e-12, f"compiled gradient, batch {nb}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_empty_batch(case: OperatorCase) -> None:
    """An empty batch ((0, *in) and (3, 0, *in)), forward and adjoint: the output has the shape
    and dtype a one-sample batch gives with its batch dims emptied, and a backward runs (several
    kernels inferred sizes from the elements, and FFT libraries refuse empty transforms)."""
    Op = case.build(torch.float64)
    for adjoint in (False, True):
        A = Op.H if adjoint else Op
        ins = Op.dimsd if adjoint else Op.dims
        one = A(torch.zeros(1, *ins, dtype=Op.dtype))
        for batch in ((0,), (3, 0)):
            x = torch.zeros(*batch, *ins, dtype=Op.dtype, requires_grad=True)
            y = A(x)
            assert y.shape == (*batch, *one.shape[1:]) and y.dtype == one.dtype
            (y.abs().sum() if y.is_complex() else y.sum()).backward()
            assert x.grad is not None and x.grad.shape == x.shape
