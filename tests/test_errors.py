"""Error messages at the public boundary (design section 9): bad input gets a clear
exception (``ValueError`` for bad values and shapes, ``TypeError`` for wrong types)
that says what was expected and what came, and a failing call changes nothing."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

import torchlops as tl

SEED = 7
GEN = torch.Generator().manual_seed(SEED)
F64 = torch.float64


def randn(*shape: int, dtype: torch.dtype = F64, requires_grad: bool = False) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=GEN).requires_grad_(requires_grad)


def esc(text: str) -> str:
    return re.escape(text)


def _diag() -> tl.LinearOperator:
    return tl.Diagonal(torch.arange(1.0, 16.0, dtype=F64).reshape(3, 5))


def _pad() -> tl.LinearOperator:
    return tl.Pad((3, 5), ((1, 0), (0, 2)), dtype=F64)  # dims (3, 5) -> dimsd (4, 7)


def _matrix() -> tl.LinearOperator:
    return tl.MatrixMult(randn(7, 5))


def _vstack() -> tl.LinearOperator:
    return tl.VStack([_matrix(), tl.Identity(5, dtype=F64)])  # (12, 5)


def _restriction() -> tl.LinearOperator:
    return tl.Restriction((3, 5), [0, 2, 2], axis=-1, dtype=F64)


# ---------------------------------------------------------------------------- application: shapes
SHAPE_CASES = [
    # (id, operator factory, adjoint, bad input shape, expected-shape text)
    ("Pad-forward-nd", _pad, False, (4, 4), "(*batch, 3, 5) or (*batch, 15)"),
    ("Pad-forward-flat", _pad, False, (2, 16), "(*batch, 3, 5) or (*batch, 15)"),
    ("Pad-adjoint-nd", _pad, True, (3, 5), "(*batch, 4, 7) or (*batch, 28)"),
    ("Pad-adjoint-model-shape", _pad, True, (2, 15), "(*batch, 4, 7) or (*batch, 28)"),
    ("Diagonal-forward-transposed", _diag, False, (5, 3), "(*batch, 3, 5) or (*batch, 15)"),
    ("MatrixMult-forward", _matrix, False, (7,), "(*batch, 5)"),
    ("MatrixMult-adjoint", _matrix, True, (2, 5), "(*batch, 7)"),
    ("MatrixMult-scalar", _matrix, False, (), "(*batch, 5)"),
    ("VStack-adjoint", _vstack, True, (3, 4), "(*batch, 12)"),
    ("Restriction-adjoint", _restriction, True, (3, 5), "(*batch, 3, 3) or (*batch, 9)"),
]


@pytest.mark.parametrize(
    ("factory", "adjoint", "shape", "expected"),
    [pytest.param(f, a, s, e, id=i) for i, f, a, s, e in SHAPE_CASES],
)
def test_wrong_shape(factory, adjoint, shape, expected):
    Op = factory()
    x = randn(*shape)
    direction = "adjoint" if adjoint else "forward"
    msg = f"{direction}: expected an input of shape {expected}, got {tuple(shape)}"
    with pytest.raises(ValueError, match=esc(msg)):
        Op.rmatvec(x) if adjoint else Op.matvec(x)
    # every public spelling raises the same error
    spellings = [lambda: Op.H @ x] if adjoint else [lambda: Op @ x, lambda: Op(x)]
    if not adjoint and x.numel() != 1:  # ``Op * t`` with a one-element tensor scales the operator
        spellings.append(lambda: Op * x)
    for apply in spellings:
        with pytest.raises(ValueError, match=esc(expected)):
            apply()


def test_wrong_data_shape_and_ragged_block_messages():
    """A 1-D data shape is named once; a Block whose rows span different models says so."""
    import torchlops.optimization as opt

    D = tl.Diagonal(randn(3))
    with pytest.raises(ValueError, match=esc("expected data of shape (*batch, 3), got (4,)")):
        opt.cgls(D, randn(4))
    with pytest.raises(ValueError, match=esc("expected data of shape (*batch, 3, 5) or (*batch, 15), got (4,)")):
        opt.cgls(tl.Flip((3, 5), axis=0, dtype=F64), randn(4))
    with pytest.raises(ValueError, match=esc("Block: the rows have different numbers of columns [6, 3]")):
        tl.Block([[D, D], [D]])
    # integer / bool data or starts raise, as integer inputs of the operators do
    for fn in (opt.cg, opt.cgls, opt.lsqr, opt.regularized_inversion, opt.normal_equations_inversion):
        args = (None,) if fn in (opt.regularized_inversion, opt.normal_equations_inversion) else ()
        for bad in (torch.ones(3, dtype=torch.int64), torch.ones(3, dtype=torch.bool)):
            with pytest.raises(TypeError, match="y must be a floating or complex tensor"):
                fn(D, bad, *args)
        with pytest.raises(TypeError, match="x0 must be a floating or complex tensor"):
            fn(D, randn(3), *args, x0=torch.ones(3, dtype=torch.int64))
    for fn in (opt.cg, opt.cgls, opt.lsqr):
        # (NumPy scalars and 0-d arrays of real numbers, as PyLops callers pass, are damps)
        for good in (np.float32(0.1), np.array(0.1), np.array(1)):
            fn(D, randn(3), damp=good)
        for bad in ("a", None, 1j, torch.tensor(1j)):
            with pytest.raises(TypeError, match="damp must be a real number or a real tensor"):
                fn(D, randn(3), damp=bad)


def test_wrong_shape_names_the_operator():
    Op = tl.Flip((3, 5), axis=0, dtype=F64, name="myflip")
    with pytest.raises(ValueError, match=r"^myflip forward: expected .* got \(2, 5, 3\)$"):
        Op @ randn(2, 5, 3)


def test_wrong_shape_composites():
    A = _matrix()
    with pytest.raises(ValueError, match=esc("got (7,)")):
        (A.H @ A) @ randn(7)
    with pytest.raises(ValueError, match=esc("(*batch, 7), got (5,)")):
        A.H @ randn(5)
    with pytest.raises(ValueError, match=esc("got (3,)")):
        (2 * A + A) @ randn(3)
    with pytest.raises(ValueError, match=esc("got (4, 4)")):
        tl.BlockDiag([A, A]) @ randn(4, 4)


@pytest.mark.parametrize(
    ("method", "shape", "expected"),
    [
        pytest.param("matmat", (4, 2), "D.matmat: expected a (15, k) tensor, got (4, 2)", id="matmat"),
        pytest.param("matmat", (15,), "D.matmat: expected a (15, k) tensor, got (15,)", id="matmat-1d"),
        pytest.param("rmatmat", (15, 2, 1), "D.rmatmat: expected a (15, k) tensor, got (15, 2, 1)", id="rmatmat-3d"),
    ],
)
def test_matmat_wrong_shape(method, shape, expected):
    Op = _diag()
    with pytest.raises(ValueError, match=esc(expected)):
        getattr(Op, method)(randn(*shape))


def test_div_wrong_shape():
    Op = _diag()
    with pytest.raises(ValueError, match=esc("expected data of shape (*batch, 3, 5) or (*batch, 15), got (4,)")):
        Op.div(randn(4))
    with pytest.raises(TypeError, match="y must be a torch.Tensor, got list"):
        Op.div([1.0] * 15)


# ---------------------------------------------------------------------------- application: types
@pytest.mark.parametrize(
    "dtype",
    [pytest.param(torch.int64, id="int64"), pytest.param(torch.int32, id="int32"), pytest.param(torch.bool, id="bool")],
)
@pytest.mark.parametrize("adjoint", [pytest.param(False, id="forward"), pytest.param(True, id="adjoint")])
def test_non_floating_input(dtype, adjoint):
    Op = _pad()
    shape = Op.dimsd if adjoint else Op.dims
    x = torch.ones(shape, dtype=dtype)
    msg = f"P: input must be a floating or complex tensor, got dtype {dtype}"
    with pytest.raises(TypeError, match=esc(msg)):
        Op.rmatvec(x) if adjoint else Op.matvec(x)


def test_non_floating_input_composites():
    A = _matrix()
    for Op in (A.H @ A, 2 * A, tl.VStack([A, A]), A.apply_columns([0, 1])):
        with pytest.raises(TypeError, match="floating or complex tensor, got dtype torch.int64"):
            Op @ torch.ones(Op.shape[1], dtype=torch.int64)
    with pytest.raises(TypeError, match="floating or complex tensor"):
        A.matmat(torch.ones(5, 2, dtype=torch.int64))


@pytest.mark.parametrize(
    ("value", "tname"),
    [
        pytest.param(np.ones(15), "ndarray", id="ndarray"),
        pytest.param([1.0] * 15, "list", id="list"),
        pytest.param(3.0, "float", id="float"),
        pytest.param("abc", "str", id="str"),
    ],
)
@pytest.mark.parametrize("method", ["matvec", "rmatvec", "call", "dot"])
def test_non_tensor_input(value, tname, method):
    Op = tl.Flip(15, dtype=F64)
    if method == "dot" and tname == "float":
        assert isinstance(Op.dot(value), tl.LinearOperator)  # (a number scales, as in PyLops)
        return
    apply = {"matvec": Op.matvec, "rmatvec": Op.rmatvec, "call": Op, "dot": Op.dot}[method]
    with pytest.raises(TypeError, match=esc(f"F: input must be a torch.Tensor, got {tname} (use torch.as_tensor")):
        apply(value)


@pytest.mark.parametrize("value", [pytest.param(np.ones(5), id="ndarray"), pytest.param([1.0] * 5, id="list")])
@pytest.mark.parametrize("op", ["@", "*"])
def test_non_tensor_operand(value, op):
    """``Op @ array`` / ``Op * array`` raise a TypeError (NumPy must not take over the
    operator and return an object array or raise its own ValueError)."""
    Op = tl.Flip(5, dtype=F64)
    with pytest.raises(TypeError):
        Op @ value if op == "@" else Op * value


@pytest.mark.parametrize("method", ["matmat", "rmatmat"])
def test_matmat_non_tensor(method):
    Op = tl.Flip(5, dtype=F64)
    with pytest.raises(TypeError, match="list"):
        getattr(Op, method)([[1.0]] * 5)


# ---------------------------------------------------------------------------- application: devices
def _meta_ops():
    return {
        "Diagonal": lambda: _diag(),
        "MatrixMult": lambda: _matrix(),
        "Restriction": lambda: _restriction(),
        "Regression": lambda: tl.Regression(torch.linspace(0, 1, 7, dtype=F64), 2),
    }


@pytest.mark.parametrize("name", list(_meta_ops()))
@pytest.mark.parametrize("adjoint", [pytest.param(False, id="forward"), pytest.param(True, id="adjoint")])
def test_device_mismatch_operator_on_meta(name, adjoint):
    Op = _meta_ops()[name]().to("meta")
    assert Op.device == torch.device("meta")
    x = randn(*(Op.dimsd if adjoint else Op.dims))
    with pytest.raises(ValueError, match=r"operator is on meta but the input is on cpu") as info:
        Op.rmatvec(x) if adjoint else Op.matvec(x)
    assert "Op.to" in str(info.value)


@pytest.mark.parametrize("name", list(_meta_ops()))
def test_device_mismatch_input_on_meta(name):
    Op = _meta_ops()[name]()
    x = torch.zeros(Op.dims, dtype=F64, device="meta")
    with pytest.raises(ValueError, match=r"operator is on cpu but the input is on meta.*Op\.to\(x\.device\)"):
        Op @ x


def test_device_mismatch_in_composites():
    D = _diag().to("meta")
    I15 = tl.Identity(15, dtype=F64)
    for Op in (tl.VStack([I15, D]), 2 * D, D.H, D @ D, tl.BlockDiag([I15, D]), tl.Kronecker(tl.Identity(1), D)):
        with pytest.raises(ValueError, match=r"on meta but the input is on cpu.*Op\.to"):
            Op @ randn(Op.shape[1])


@pytest.mark.parametrize(
    ("build", "adjoint"),
    [
        pytest.param(
            lambda: tl.Flip(5, dtype=F64) * torch.tensor(2.0, dtype=F64), False, id="scaled-by-tensor-forward"
        ),
        pytest.param(lambda: tl.Flip(5, dtype=F64) * torch.tensor(2.0, dtype=F64), True, id="scaled-by-tensor-adjoint"),
        pytest.param(lambda: tl.Flip(5, dtype=F64).apply_columns([0, 1, 2]), False, id="apply_columns-forward"),
        pytest.param(lambda: tl.Flip(5, dtype=F64).apply_columns([0, 1, 2]), True, id="apply_columns-adjoint"),
    ],
)
def test_device_mismatch_composite_own_buffers(build, adjoint):
    """Composite operators that own tensors (a tensor scale, the selected columns) also
    check the device of the input."""
    Op = build().to("meta")
    x = randn(*(Op.dimsd if adjoint else Op.dims))
    with pytest.raises(ValueError, match=r"meta.*cpu.*Op\.to|cpu.*meta.*Op\.to"):
        Op.rmatvec(x) if adjoint else Op.matvec(x)


def test_operator_without_tensors_follows_the_input():
    Op = tl.Flip((3, 5), axis=0, dtype=F64)
    assert Op.device is None
    y = Op @ torch.zeros(2, 3, 5, dtype=F64, device="meta")
    assert y.device == torch.device("meta") and tuple(y.shape) == (2, 3, 5)


# ---------------------------------------------------------------------------- constructors
CTOR_CASES = [
    # axis out of range / wrong type
    (
        "Flip-axis",
        lambda: tl.Flip((3, 5), axis=2),
        ValueError,
        "axis=2 is out of range for an operator with 2 dimension(s)",
    ),
    ("Flip-axis-float", lambda: tl.Flip(5, axis=1.0), TypeError, "axis must be an int, got float"),
    ("Roll-axis", lambda: tl.Roll((3, 5), axis=-3), ValueError, "axis=-3 is out of range"),
    ("Sum-axis", lambda: tl.Sum((3, 5), axis=2), ValueError, "axis=2 is out of range"),
    ("Sum-1d-axis", lambda: tl.Sum(5, axis=2), ValueError, "axis=2 is out of range"),
    ("Symmetrize-axis", lambda: tl.Symmetrize((3, 5), axis=3), ValueError, "axis=3 is out of range"),
    ("CausalIntegration-axis", lambda: tl.CausalIntegration((3, 5), axis=-4), ValueError, "axis=-4 is out of range"),
    ("Restriction-axis", lambda: tl.Restriction((3, 5), [0], axis=2), ValueError, "axis=2 is out of range"),
    ("Diagonal-axis", lambda: tl.Diagonal(torch.ones(3), dims=(3, 5), axis=2), ValueError, "axis=2 is out of range"),
    # Restriction indices
    (
        "Restriction-iava-high",
        lambda: tl.Restriction(5, [0, 5]),
        ValueError,
        "iava must lie in [-5, 5) (dims[-1] = 5), got values in [0, 5]",
    ),
    (
        "Restriction-iava-low",
        lambda: tl.Restriction((5, 3), [-6, 1], axis=0),
        ValueError,
        "iava must lie in [-5, 5) (dims[0] = 5), got values in [-6, 1]",
    ),
    (
        "Restriction-iava-float-list",
        lambda: tl.Restriction(5, [0.0, 1.5]),
        TypeError,
        "iava must hold integers, got dtype torch.float64",
    ),
    (
        "Restriction-iava-float-tensor",
        lambda: tl.Restriction(5, torch.tensor([0.0, 1.0], dtype=torch.float32)),
        TypeError,
        "iava must hold integers, got dtype torch.float32",
    ),
    (
        "Restriction-iava-bool",
        lambda: tl.Restriction(5, np.array([True, False])),
        TypeError,
        "iava must hold integers, got dtype torch.bool",
    ),
    # Pad
    ("Pad-negative", lambda: tl.Pad(5, (-1, 2)), ValueError, "Padding must be positive or zero, got [(-1, 2)]"),
    ("Pad-negative-nd", lambda: tl.Pad((3, 5), ((0, 1), (2, -3))), ValueError, "Padding must be positive or zero"),
    (
        "Pad-pairs",
        lambda: tl.Pad((3, 5), ((1, 1),)),
        ValueError,
        "pad needs one (before, after) pair per axis (2), got 1",
    ),
    ("Pad-form", lambda: tl.Pad(5, (1,)), ValueError, "pad must be (before, after) or one (before, after) per axis"),
    # CausalIntegration
    (
        "CausalIntegration-kind",
        lambda: tl.CausalIntegration(5, kind="simpson"),
        ValueError,
        "kind must be one of ('full', 'half', 'trapezoidal'), got 'simpson'",
    ),
    # Transpose
    (
        "Transpose-repeated",
        lambda: tl.Transpose((3, 5, 2), (0, 0, 1)),
        ValueError,
        "axes must be a permutation of (0, 1, 2), got (0, 0, 1)",
    ),
    (
        "Transpose-short",
        lambda: tl.Transpose((3, 5, 2), (1, 0)),
        ValueError,
        "axes must be a permutation of (0, 1, 2), got (1, 0)",
    ),
    (
        "Transpose-range",
        lambda: tl.Transpose((3, 5), (0, 2)),
        ValueError,
        "axes=2 is out of range for an operator with 2 dimension(s)",
    ),
    # Identity
    (
        "Identity-mixed-nd",
        lambda: tl.Identity((3, 5), (5, 3)),
        ValueError,
        "N=(3, 5) and M=(5, 3): every entry of one must be >= the same entry of the other",
    ),
    (
        "Identity-int-tuple",
        lambda: tl.Identity(3, (3, 5)),
        TypeError,
        "N and M must both be ints or both tuples, got int and tuple",
    ),
    (
        "Identity-ndim",
        lambda: tl.Identity((3, 5), (3,)),
        ValueError,
        "N and M must have the same number of dimensions, got (3, 5) and (3,)",
    ),
    ("Identity-float", lambda: tl.Identity(2.5), TypeError, "N must be an int or a sequence of ints, got float"),
    # dims / dtype
    ("Flip-negative-dims", lambda: tl.Flip(-3), ValueError, "dims must be non-negative, got (-3,)"),
    (
        "Flip-int-dtype",
        lambda: tl.Flip(5, dtype=torch.int64),
        TypeError,
        "dtype must be a floating or complex type, got torch.int64",
    ),
    (
        "Real-int-dtype",
        lambda: tl.Real(5, dtype="int32"),
        TypeError,
        "dtype must be a floating or complex type, got torch.int32",
    ),
    (
        "Symmetrize-empty",
        lambda: tl.Symmetrize((3, 0), axis=1),
        ValueError,
        "Symmetrize needs at least one sample along axis 1",
    ),
    # stacking
    (
        "VStack-columns",
        lambda: tl.VStack([tl.MatrixMult(torch.ones(3, 5)), tl.MatrixMult(torch.ones(3, 4))]),
        ValueError,
        "VStack: operators have different numbers of columns [5, 4]",
    ),
    (
        "HStack-rows",
        lambda: tl.HStack([tl.MatrixMult(torch.ones(3, 5)), tl.Identity(4)]),
        ValueError,
        "HStack: operators have different numbers of rows [3, 4]",
    ),
    ("VStack-empty", lambda: tl.VStack([]), TypeError, "VStack: ops must be a non-empty list of operators"),
    (
        "HStack-single-operator",
        lambda: tl.HStack(tl.Identity(3)),
        TypeError,
        "HStack: ops must be a non-empty list of operators",
    ),
    (
        "BlockDiag-tensor",
        lambda: tl.BlockDiag(torch.ones(3, 3)),
        TypeError,
        "BlockDiag: ops must be a non-empty list of operators",
    ),
    (
        "Block-rows",
        lambda: tl.Block([[tl.Identity(3), tl.Identity(4)]]),
        ValueError,
        "HStack: operators have different numbers of rows [3, 4]",
    ),
    (
        "Block-columns",
        lambda: tl.Block([[tl.Identity(3)], [tl.Identity(4)]]),
        ValueError,
        "Block: the rows have different numbers of columns [3, 4]",
    ),
    (
        "Block-empty-row",
        lambda: tl.Block([[tl.Identity(3)], []]),
        TypeError,
        "Block: ops must be a non-empty list of non-empty lists",
    ),
    (
        "Kronecker-tensor",
        lambda: tl.Kronecker(torch.ones(2, 2), tl.Identity(2)),
        TypeError,
        "Kronecker: Op1 and Op2 must be torchlops LinearOperators",
    ),
    # MatrixMult / Diagonal
    ("MatrixMult-1d", lambda: tl.MatrixMult(torch.ones(3)), ValueError, "A must be a 2-D matrix, got shape (3,)"),
    (
        "MatrixMult-3d",
        lambda: tl.MatrixMult(torch.ones(2, 3, 4)),
        ValueError,
        "A must be a 2-D matrix, got shape (2, 3, 4)",
    ),
    (
        "Diagonal-size",
        lambda: tl.Diagonal(torch.ones(4), dims=(3, 5), axis=0),
        ValueError,
        "diag must have 3 elements (dims[0]) or shape (3, 5), got shape (4,)",
    ),
    # Regression
    ("Regression-2d", lambda: tl.Regression(torch.ones(2, 3), 1), ValueError, "taxis must be 1-D, got shape (2, 3)"),
    (
        "LinearRegression-2d",
        lambda: tl.LinearRegression(np.ones((3, 1))),
        ValueError,
        "taxis must be 1-D, got shape (3, 1)",
    ),
    ("Regression-list", lambda: tl.Regression([0.0, 1.0], 1), TypeError, "taxis must be a tensor or array, got list"),
    (
        "Regression-order",
        lambda: tl.Regression(torch.ones(3), -1),
        ValueError,
        "order must be a non-negative integer, got -1",
    ),
    (
        "Regression-order-float",
        lambda: tl.Regression(torch.ones(3), 1.5),
        ValueError,
        "order must be a non-negative integer, got 1.5",
    ),
    # FunctionOperator / MemoizeOperator
    (
        "FunctionOperator-nargs",
        lambda: tl.FunctionOperator(lambda x: x),
        TypeError,
        "expected 1 to 3 positional arguments after f",
    ),
    ("FunctionOperator-callable", lambda: tl.FunctionOperator(3, 3), TypeError, "f and fc must be callables"),
    (
        "FunctionOperator-kwarg",
        lambda: tl.FunctionOperator(lambda x: x, 3, foo=1),
        TypeError,
        "unexpected keyword arguments ['foo']",
    ),
    (
        "MemoizeOperator-tensor",
        lambda: tl.MemoizeOperator(torch.ones(2, 2)),
        TypeError,
        "Op must be a torchlops LinearOperator, got Tensor",
    ),
    (
        "MemoizeOperator-max_neval",
        lambda: tl.MemoizeOperator(tl.Identity(2), 0),
        ValueError,
        "max_neval must be >= 1, got 0",
    ),
    # base class
    (
        "LinearOperator-nothing",
        lambda: tl.LinearOperator(),
        ValueError,
        "LinearOperator needs dims and dimsd, or shape",
    ),
    (
        "LinearOperator-shape",
        lambda: tl.LinearOperator(dims=3, dimsd=4, shape=(3, 3)),
        ValueError,
        "shape (3, 3) does not match dims (3,) and dimsd (4,)",
    ),
]


@pytest.mark.parametrize(("build", "exc", "msg"), [pytest.param(b, e, m, id=i) for i, b, e, m in CTOR_CASES])
def test_constructor_errors(build, exc, msg):
    with pytest.raises(exc, match=esc(msg)):
        build()


# ---------------------------------------------------------------------------- algebra and methods
ALG_CASES = [
    ("power-negative", lambda A, R: A**-1, ValueError, "power must be a non-negative integer, got -1"),
    ("power-float", lambda A, R: A**1.5, ValueError, "power must be a non-negative integer, got 1.5"),
    ("power-bool", lambda A, R: A**True, ValueError, "power must be a non-negative integer, got True"),
    ("power-rectangular", lambda A, R: R**2, ValueError, "power needs a square operator, got shape (7, 5)"),
    ("add-shapes", lambda A, R: A + R, ValueError, "cannot add operators of shapes (5, 5) and (7, 5)"),
    ("sub-shapes", lambda A, R: R - A, ValueError, "cannot add operators of shapes (7, 5) and (5, 5)"),
    (
        "product-shapes",
        lambda A, R: A @ R,
        ValueError,
        "cannot multiply operators of shapes (5, 5) and (7, 5): 5 columns against 7 rows",
    ),
    ("product-star-shapes", lambda A, R: A * R, ValueError, "cannot multiply operators of shapes (5, 5) and (7, 5)"),
    (
        "product-adjoint-shapes",
        lambda A, R: R.H @ R.H,
        ValueError,
        "cannot multiply operators of shapes (5, 7) and (5, 7)",
    ),
    ("add-tensor", lambda A, R: A + torch.ones(5, 5), TypeError, "unsupported operand"),
    ("trace-rectangular", lambda A, R: R.trace(), ValueError, "Operator must be square, got (7, 5)"),
    (
        "trace-method",
        lambda A, R: A.trace(method="lanczos"),
        ValueError,
        "method must be 'explicit', 'hutchinson', 'hutch++' or 'na-hutch++', got 'lanczos'",
    ),
    ("trace-neval-zero", lambda A, R: A.trace(method="hutchinson", neval=0), ValueError, "neval"),
    ("eigs-which", lambda A, R: A.eigs(which="BE"), ValueError, "which must be one of 'LM', 'SM', 'LA'"),
    ("eigs-which-lower", lambda A, R: A.eigs(which="lm"), ValueError, "got 'lm'"),
    ("eigs-kwargs", lambda A, R: A.eigs(tol=1e-8), TypeError, "unsupported keyword argument(s) tol"),
    ("eigs-largest", lambda A, R: A.eigs(largest=False), TypeError, "pass uselobpcg=True"),
    ("eigs-uselobpcg", lambda A, R: A.eigs(2, False, None, 3), TypeError, "uselobpcg must be a bool"),
    ("cond-niter-positional", lambda A, R: A.cond(20), TypeError, "pass niter= by keyword"),
    ("cond-kwargs", lambda A, R: A.cond(which="LM"), TypeError, "unsupported keyword argument(s) which"),
    ("eigs-neigs", lambda A, R: A.eigs(neigs=9), ValueError, "neigs must lie in [1, 5], got 9"),
    (
        "div-densesolver",
        lambda A, R: A.div(torch.ones(5, dtype=F64), densesolver="lapack"),
        ValueError,
        "densesolver must be 'torch', 'scipy' or 'numpy', got 'lapack'",
    ),
    (
        "apply_columns-range",
        lambda A, R: R.apply_columns([0, 5]),
        ValueError,
        "cols must lie in [-5, 5), got values in [0, 5]",
    ),
    (
        "rmatvec-without-fc",
        lambda A, R: tl.FunctionOperator(lambda x: 2 * x, 5).rmatvec(torch.ones(5)),
        TypeError,
        "F: no adjoint function fc was given",
    ),
    (
        "adjoint-without-fc",
        lambda A, R: tl.FunctionOperator(lambda x: 2 * x, 5).H @ torch.ones(5),
        TypeError,
        "no adjoint function fc was given",
    ),
    ("mask-shape", lambda A, R: tl.Restriction(5, [0, 2]).mask(torch.ones(4)), ValueError, "(4,)"),
    ("mask-type", lambda A, R: tl.Restriction(5, [0, 2]).mask([1.0] * 5), TypeError, "list"),
    (
        "regression-apply-shape",
        lambda A, R: tl.LinearRegression(torch.linspace(0, 1, 5)).apply(torch.ones(3), torch.ones(3)),
        ValueError,
        "(3,)",
    ),
]


@pytest.mark.parametrize(("expr", "exc", "msg"), [pytest.param(f, e, m, id=i) for i, f, e, m in ALG_CASES])
def test_algebra_and_method_errors(expr, exc, msg):
    A = tl.MatrixMult(randn(5, 5))
    R = tl.MatrixMult(randn(7, 5))
    with pytest.raises(exc, match=esc(msg)):
        expr(A, R)


def test_function_operator_without_adjoint_forward_still_works():
    F = tl.FunctionOperator(lambda x: 2 * x, 5, dtype=F64)
    x = randn(5)
    with pytest.raises(TypeError, match="no adjoint function fc was given"):
        F.rmatvec(x)
    torch.testing.assert_close(F @ x, 2 * x)


# ---------------------------------------------------------------------------- nothing changed
def _snapshot(Op: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in Op.state_dict().items()}


def _bad_calls(Op: tl.LinearOperator) -> list:
    n, m = Op.shape[1], Op.shape[0]
    return [
        (ValueError, lambda: Op @ randn(n + 1)),
        (ValueError, lambda: Op.rmatvec(randn(2, m + 1))),
        (TypeError, lambda: Op @ torch.ones(n, dtype=torch.int64)),
        (TypeError, lambda: Op.rmatvec([0.0] * m)),
        (ValueError, lambda: Op.matmat(randn(n + 1, 2))),
        (ValueError, lambda: Op @ torch.zeros(n, dtype=F64, device="meta")),
    ]


NOTHING_CHANGED = [
    ("Diagonal", _diag),
    ("MatrixMult", _matrix),
    ("Restriction", _restriction),
    ("Regression", lambda: tl.Regression(torch.linspace(-1, 1, 7, dtype=F64), 3)),
    ("VStack", _vstack),
    ("Memoize-MatrixMult", lambda: tl.MemoizeOperator(_matrix())),
    ("Scaled-tensor", lambda: _matrix() * torch.tensor(1.5, dtype=F64)),
]


@pytest.mark.parametrize("factory", [pytest.param(f, id=i) for i, f in NOTHING_CHANGED])
def test_failing_calls_change_nothing(factory):
    Op = factory()
    x = randn(2, Op.shape[1])
    y = randn(2, Op.shape[0])
    fwd, adj = Op @ x, Op.rmatvec(y)
    before = _snapshot(Op)
    attrs = (Op.dims, Op.dimsd, Op.shape, Op.dtype, Op.device, Op.name)
    neval = getattr(Op, "neval", None)
    for exc, call in _bad_calls(Op):
        with pytest.raises(exc):
            call()
    after = _snapshot(Op)
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), f"buffer {k} changed"
    assert (Op.dims, Op.dimsd, Op.shape, Op.dtype, Op.device, Op.name) == attrs
    assert getattr(Op, "neval", None) == neval
    # and it still works, with the same results
    torch.testing.assert_close(Op @ x, fwd, rtol=0, atol=0)
    torch.testing.assert_close(Op.rmatvec(y), adj, rtol=0, atol=0)


def test_failing_call_does_not_touch_the_input():
    Op = _restriction()
    x = randn(4, 4, requires_grad=True)
    x0 = x.detach().clone()
    with pytest.raises(ValueError):
        Op @ x
    assert torch.equal(x.detach(), x0) and x.grad is None


def test_failing_call_on_meta_operator_keeps_its_device():
    Op = _matrix().to("meta")
    with pytest.raises(ValueError, match="Op.to"):
        Op @ randn(5)
    assert Op.device == torch.device("meta") and Op.A.is_meta
    # moving it back (to real data) makes it usable again
    A = randn(7, 5)
    Op2 = tl.MatrixMult(A.clone()).to("meta")
    with pytest.raises(ValueError):
        Op2 @ randn(5)
    Op2.load_state_dict({"A": A}, assign=True)
    torch.testing.assert_close(Op2 @ torch.ones(5, dtype=F64), A.sum(1))


def test_failing_constructor_does_not_change_its_arguments():
    A = tl.MatrixMult(randn(5, 5))
    R = tl.MatrixMult(randn(7, 5))
    snapA, snapR = _snapshot(A), _snapshot(R)
    for bad in (lambda: A + R, lambda: A @ R, lambda: R**2, lambda: tl.VStack([A, tl.Identity(4)])):
        with pytest.raises(ValueError):
            bad()
    for Op, snap in ((A, snapA), (R, snapR)):
        for k, v in _snapshot(Op).items():
            assert torch.equal(v, snap[k])
    assert len(list(A.children())) == 0 and A.shape == (5, 5)
    iava = [0, 9]
    iava0 = copy.deepcopy(iava)
    with pytest.raises(ValueError):
        tl.Restriction(5, iava)
    assert iava == iava0


def test_failing_memoize_keeps_its_store():
    F = tl.FunctionOperator(lambda x: 3 * x, 4, dtype=F64)
    M = tl.MemoizeOperator(F)
    x = randn(4)
    y = M @ x
    assert M.neval == 1
    with pytest.raises(TypeError, match="no adjoint function"):
        M.rmatvec(y)
    assert M.neval == 1
    torch.testing.assert_close(M @ x.clone(), y)
    assert M.neval == 1


# ---------------------------------------------------------------------------- bad input, nothing changed
def test_solvers_refuse_a_start_whose_batch_dims_are_in_another_order():
    """x0 (3, 2, 5) for y (2, 3, 5) and dims (3, 5) has B * N entries but pairs the wrong
    samples: an error (one start for all and the flattened batch are fine)."""
    from torchlops.optimization import cgls, irls, ista, lsqr

    Op = tl.Diagonal(torch.rand(3, 5, dtype=torch.float64) + 1)
    y = torch.randn(2, 3, 5, dtype=torch.float64)
    bad = torch.randn(3, 2, 5, dtype=torch.float64)
    calls = (lambda x0: cgls(Op, y, x0=x0, niter=2), lambda x0: lsqr(Op, y, x0=x0, niter=2),
             lambda x0: ista(Op, y, x0=x0, niter=2, eps=0.1), lambda x0: irls(Op, y, x0=x0, nouter=1))
    for f in calls:
        with pytest.raises(ValueError, match="x0 must have shape"):
            f(bad)
        for good in (torch.zeros(3, 5, dtype=torch.float64), torch.zeros(2, 15, dtype=torch.float64),
                     torch.zeros(2, 3, 5, dtype=torch.float64), torch.zeros(15, dtype=torch.float64)):
            f(good)


@pytest.mark.parametrize("name", ["CGLS", "LSQR", "ISTA", "FISTA"])
def test_failed_setup_leaves_the_solver_as_it_was(name):
    from torchlops import optimization as tlo

    torch.manual_seed(0)
    Op = tl.MatrixMult(torch.randn(8, 5, dtype=torch.float64))
    y = torch.randn(8, dtype=torch.float64)
    good = dict(niter=10, eps=0.1) if name in ("ISTA", "FISTA") else dict(niter=10)
    bad = dict(good, niter=3, x0=torch.zeros(4, dtype=torch.float64))
    bad.update(eps=50.0) if "eps" in good else bad.update(damp=5.0)
    ref = getattr(tlo, name)(Op)
    xa = ref.run(ref.setup(y, **good), 10)
    s = getattr(tlo, name)(Op)
    x = s.setup(y, **good)
    before = dict(s.__dict__)
    with pytest.raises(ValueError, match="x0 must have shape"):
        s.setup(y, **bad)
    assert s.__dict__.keys() == before.keys() and all(s.__dict__[k] is v for k, v in before.items())
    torch.testing.assert_close(s.run(x, 10), xa, rtol=0, atol=0)


def test_solver_steps_before_setup_or_with_a_wrong_model_say_so():
    from torchlops.optimization import CGLS, FISTA

    Op = tl.MatrixMult(torch.randn(8, 5, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"call setup\(y, ...\) first"):
        CGLS(Op).step(torch.zeros(5, dtype=torch.float64))
    s = CGLS(Op)
    s.setup(torch.randn(8, dtype=torch.float64), niter=3)
    with pytest.raises(ValueError, match="x must be the model"):
        s.step(torch.zeros(4, dtype=torch.float64))
    # a model of another precision is taken in the solver's (it failed half-way through FISTA's step)
    f, g = FISTA(Op), FISTA(Op)
    y = torch.randn(8, dtype=torch.float64)
    xf, xg = f.setup(y, niter=5, eps=0.1), g.setup(y, niter=5, eps=0.1)
    xf, xg = f.step(xf)[0], g.step(xg)[0]
    torch.testing.assert_close(f.step(xf.float())[0], g.step(xg)[0], rtol=1e-6, atol=1e-6)
    assert f.iiter == g.iiter == 2


def test_operator_refuses_conversion_to_an_integer_dtype():
    D = tl.Diagonal(torch.tensor([0.5, 1.5, 2.7], dtype=torch.float64))
    with pytest.raises(TypeError, match="floating or complex dtypes only"):
        D.type(torch.int64)
    assert D.diag.dtype == torch.float64 and D.dtype == torch.float64
    torch.testing.assert_close(D @ torch.ones(3, dtype=torch.float64), D.diag)


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: tl.signalprocessing.Convolve2D((5, 6), torch.ones(3, 3), axes=(0.5, 1)), TypeError, "axes must be an int"),
        (lambda: tl.signalprocessing.ConvolveND((5, 6), torch.ones(3, 3), axes=(True, 0)), TypeError, "axes must be an int"),
        (lambda: tl.signalprocessing.Convolve2D((5, 6), torch.ones(3, 3), offset=((1,), 2)), TypeError, "offset must be"),
        (lambda: tl.MemoizeOperator(tl.Identity(3), max_neval=2.5), TypeError, "max_neval must be an int"),
        (lambda: tl.signalprocessing.FFT(8, axis=()), ValueError, "axis must be an int"),
        (lambda: tl.signalprocessing.FFT(8, nfft=()), ValueError, "nfft must be an int"),
        (lambda: tl.Roll(5, shift=float("inf")), TypeError, "shift must be an int"),
        (lambda: tl.Regression(torch.arange(4.0), order=float("inf")), ValueError, "order must be"),
    ],
)
def test_constructor_arguments_named_in_their_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_solver_counts_and_arguments_checked():
    from torchlops import optimization as tlo

    Op = tl.MatrixMult(torch.randn(8, 5, dtype=torch.float64))
    y = torch.randn(8, dtype=torch.float64)
    with pytest.raises(TypeError, match="niter must be an int"):
        tlo.ista(Op, y, niter=2.5, eps=0.1)
    with pytest.raises(TypeError, match="niter must be an int"):
        tlo.fista(Op, y, niter=2.5, eps=0.1)
    with pytest.raises(TypeError, match="niter_outer must be an int"):
        tlo.omp(Op, y, niter_outer=2.5)
    with pytest.raises(ValueError, match="nouter must be >= 0"):
        tlo.irls(Op, y, nouter=-1)
    with pytest.raises(ValueError, match="niter must be >= 1"):
        Op.eigs(neigs=2, niter=0)
    with pytest.raises(TypeError, match="niter must be an int"):
        Op.H.__matmul__(Op).cond(niter=2.5)
    with pytest.raises(ValueError, match="niter must be >= 0"):
        tlo.power_iteration(Op.H @ Op, niter=-1)
    with pytest.raises(TypeError, match="callback must be a callable"):
        tlo.cgls(Op, y, callback="x")
    with pytest.raises(TypeError, match="Regs must be a list"):
        tlo.regularized_inversion(Op, y, tl.Identity(5, dtype=torch.float64), engine="pylops")
    with pytest.raises(TypeError, match="Regs must hold torchlops operators"):
        tlo.normal_equations_inversion(Op, y, ["a"], engine="pylops")


def test_apply_columns_of_no_column():
    Op = tl.MatrixMult(torch.randn(4, 3, dtype=torch.float64))
    C = Op.apply_columns([])
    assert C.shape == (4, 0)
    assert (C @ torch.zeros(0, dtype=torch.float64)).shape == (4,)


def test_learned_primal_dual_names_a_dtype_its_default_blocks_cannot_take():
    Op = tl.Diagonal(torch.rand(2, 3) + 1)
    net = tl.nn.LearnedPrimalDual(Op, n_iter=1)
    for y in (torch.randn(1, 2, 3, dtype=torch.float64), torch.randn(1, 2, 3, dtype=torch.complex64)):
        with pytest.raises(TypeError, match="default blocks are torch.float32 convolutions"):
            net(y)
    assert net(torch.randn(1, 2, 3)).shape == (1, 2, 3)


def test_start_layouts_with_unit_dims_and_numpy_scalars():
    """Size-1 dims order nothing: (1, 2, N) starts batch (2,); a 0-d NumPy offset and an
    ndarray nop are taken as PyLops takes them."""
    from torchlops.optimization import cgls

    Op = tl.Diagonal(torch.rand(5, dtype=torch.float64) + 1)
    y = torch.randn(2, 5, dtype=torch.float64)
    ref = cgls(Op, y, x0=torch.ones(2, 5, dtype=torch.float64), niter=3, tol=0).x
    got = cgls(Op, y, x0=torch.ones(1, 2, 5, dtype=torch.float64), niter=3, tol=0).x
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    h = torch.randn(5, dtype=torch.float64)
    x = torch.randn(12, dtype=torch.float64)
    torch.testing.assert_close(tl.signalprocessing.Convolve1D(12, h, offset=np.array(2.5)) @ x,
                               tl.signalprocessing.Convolve1D(12, h, offset=2) @ x)
    S = tl.signalprocessing.Sliding3D(tl.Identity(4 * 4 * 6, dtype=torch.float64), (8, 8, 6), (8, 8, 6),
                                      (4, 4), (0, 0), np.array([4, 4]))
    assert S.shape == (384, 384)


def test_construction_arguments_as_pylops_takes_them_and_nothing_truncated():
    """Pad widths are integers (a fraction raises, as numpy's pad; NumPy / 0-d tensor ints
    are taken); SmoothingND takes an array of lengths; every Interp kind defaults to float64;
    an empty axis or complex positions are refused; an empty Restriction takes nothing."""
    import pylops

    from torchlops.signalprocessing.bilinear import Bilinear
    from torchlops.signalprocessing.dct import DCT
    from torchlops.signalprocessing.interp import Interp

    with pytest.raises(TypeError, match="pad widths must be integers"):
        tl.Pad(5, (1.5, 2))
    assert tl.Pad(5, (np.int64(1), torch.tensor(2))).pad == [(1, 2)]
    x = torch.randn(6, 7, generator=GEN, dtype=torch.float64)
    for n in (np.array([3, 5]), torch.tensor([3, 5])):
        S = tl.SmoothingND(n, (6, 7), axes=(0, 1), dtype=torch.float64)
        ref = pylops.SmoothingND((3, 5), (6, 7), axes=(0, 1)) @ x.numpy()
        np.testing.assert_allclose((S @ x).numpy(), ref, rtol=1e-12, atol=1e-14)
    for kind in ("nearest", "linear", "sinc", "cubic_spline"):
        assert Interp(5, [1.0, 2.4], kind=kind, dtype=None)[0].dtype == torch.float64
    assert Interp(1, [0.0], kind="linear", dtype=None)[0].dtype == torch.float64
    with pytest.raises(ValueError, match="no samples"):
        Interp(0, [0.5])
    with pytest.raises(TypeError, match="real numbers"):
        Bilinear(np.array([[0.5 + 3j], [0.5]]), (4, 4))
    for D, shape in ((DCT((0, 4)), (0, 4)), (DCT((4, 0), axes=0), (4, 0))):
        e = torch.ones(shape, dtype=torch.float64)
        assert (D @ e).shape == (D.H @ e).shape == shape and D.todense().shape == (0, 0)
    R = tl.Restriction(5, [])
    assert R.shape == (0, 5) and torch.equal(R.H @ torch.ones(0), torch.zeros(5))


def test_sampling_steps_are_real_numbers():
    """A complex, boolean or text sampling step: a TypeError naming it (CausalIntegration raised
    float()'s message, and a complex NumPy scalar lost its imaginary part with a warning); 0-d
    arrays and tensors are numbers (FFT raised 'iteration over a 0-d tensor')."""
    from torchlops.signalprocessing.fft import FFT
    from torchlops.signalprocessing.shift import Shift

    makers = {"CausalIntegration": lambda s: tl.CausalIntegration(4, sampling=s),
              "FirstDerivative": lambda s: tl.FirstDerivative(4, sampling=s),
              "Gradient": lambda s: tl.Gradient((3, 4), sampling=s),
              "Shift": lambda s: Shift(4, 0.5, sampling=s)}
    for name, make in makers.items():
        for bad in (0.5j, np.complex128(2.0), torch.tensor(1j), True, "a"):
            with pytest.raises(TypeError, match="sampling must be a real number"):
                make(bad)
        for good in (2, np.float32(0.5), torch.tensor(0.5, dtype=torch.float64), np.array(0.5),
                     torch.tensor(0.5, requires_grad=True), torch.tensor(0.5, dtype=torch.bfloat16)):
            Op = make(good)
            g = float(good.detach()) if isinstance(good, torch.Tensor) else float(good)
            assert Op.sampling in (g, (g,) * 2), name
    for bad in (np.array([True, True]), torch.tensor([True, True]), np.array(["0.5", "1"]), np.array([1j, 1.0])):
        with pytest.raises(TypeError, match="sampling must be a real number"):  # (entries of a 1-D array too)
            tl.Gradient((4, 4), sampling=bad)
    assert tl.Gradient((4, 4), sampling=np.array([0.5, 2])).sampling == (0.5, 2.0)
    assert FFT(4, sampling=torch.tensor(0.5)).sampling == (0.5,)
    torch.testing.assert_close(FFT(4, sampling=np.array(0.25)).f, FFT(4, sampling=0.25).f)
    with pytest.raises(TypeError, match="sampling must hold number values"):
        FFT(4, sampling=np.complex128(1j))
