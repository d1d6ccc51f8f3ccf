"""A factory for every operator: the property battery (test_properties.py) runs over all of them.

Each :class:`OperatorCase` builds an operator in a requested real precision (complex
operators use the matching complex dtype). A new operator joins the battery by adding
one or more cases here: odd sizes, non-default axes, several parameter sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import torchlops as tl


@dataclass(frozen=True)
class OperatorCase:
    """One parameter set of one operator."""

    name: str
    factory: Callable[[torch.dtype], tl.LinearOperator]
    #: run gradgradcheck (skip for operators whose second derivative is expensive)
    gradgrad: bool = True
    #: include in the torch.compile smoke test run by default (the rest is marked slow)
    compile: bool = False
    #: torch.compile traces it into one graph (torch.sparse.mm does not)
    fullgraph: bool = True

    def build(self, dtype: torch.dtype = torch.float64) -> tl.LinearOperator:
        return self.factory(dtype)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, dtype: torch.dtype, seed: int = 0, cplx: bool = False) -> torch.Tensor:
    g = _gen(seed)
    x = torch.randn(*shape, dtype=dtype, generator=g)
    if cplx:
        x = torch.complex(x, torch.randn(*shape, dtype=dtype, generator=g))
    return x


def _c(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _mm(m: int, n: int, dtype: torch.dtype, seed: int = 0, cplx: bool = False) -> tl.MatrixMult:
    return tl.MatrixMult(_randn(m, n, dtype=dtype, seed=seed, cplx=cplx))


CASES: list[OperatorCase] = [
    # ---------------------------------------------------------------- basic operators
    OperatorCase("Identity-square", lambda dt: tl.Identity(7, dtype=dt), compile=True),
    OperatorCase("Identity-N>M", lambda dt: tl.Identity(7, 4, dtype=dt)),
    OperatorCase("Identity-N<M-nd", lambda dt: tl.Identity((3, 4), (3, 6), dtype=dt)),
    OperatorCase("Zero-rect", lambda dt: tl.Zero(5, 3, dtype=dt)),
    OperatorCase("Zero-nd", lambda dt: tl.Zero((2, 3), (3, 3), dtype=dt)),
    OperatorCase("Diagonal-full", lambda dt: tl.Diagonal(_randn(3, 5, dtype=dt)), compile=True),
    OperatorCase("Diagonal-axis0", lambda dt: tl.Diagonal(_randn(3, dtype=dt), dims=(3, 5), axis=0)),
    OperatorCase("Diagonal-complex", lambda dt: tl.Diagonal(_randn(5, dtype=dt, cplx=True))),
    OperatorCase("MatrixMult", lambda dt: _mm(5, 7, dt), compile=True),
    OperatorCase("MatrixMult-otherdims", lambda dt: tl.MatrixMult(_randn(5, 3, dtype=dt), otherdims=(2, 3))),
    OperatorCase("MatrixMult-complex", lambda dt: _mm(4, 3, dt, cplx=True)),
    OperatorCase(
        "MatrixMult-sparse",
        lambda dt: tl.MatrixMult(torch.relu(_randn(6, 5, dtype=dt)).to_sparse()),
        gradgrad=False,
        fullgraph=False,
    ),
    OperatorCase(
        "FunctionOperator",
        lambda dt: tl.FunctionOperator(lambda x: 2 * x.flip(-1), lambda y: 2 * y.flip(-1), 5, dtype=dt),
    ),
    OperatorCase(
        "FunctionOperator-rect-vmapped",
        lambda dt: tl.FunctionOperator(
            lambda x: torch.stack([x[0] + x[1], x[2]]),
            lambda y: torch.stack([y[0], y[0], y[1]]),
            2, 3, dtype=dt, vectorized=False,
        ),
    ),
    OperatorCase("MemoizeOperator", lambda dt: tl.MemoizeOperator(_mm(4, 6, dt), max_neval=3)),
    OperatorCase(
        "VStack",
        lambda dt: tl.VStack([tl.Identity(4, dtype=dt), tl.Diagonal(_randn(4, dtype=dt)), _mm(3, 4, dt, seed=1)]),
        compile=True,
    ),
    OperatorCase("VStack-nd", lambda dt: tl.VStack([tl.Flip((3, 2), axis=0, dtype=dt), tl.Sum((3, 2), axis=1, dtype=dt)])),
    OperatorCase("HStack", lambda dt: tl.HStack([tl.Identity(4, dtype=dt), _mm(4, 3, dt, seed=2)])),
    OperatorCase("HStack-complex", lambda dt: tl.HStack([_mm(3, 2, dt, cplx=True), tl.Identity(3, dtype=dt)])),
    OperatorCase("BlockDiag", lambda dt: tl.BlockDiag([tl.Identity(3, dtype=dt), _mm(2, 5, dt, seed=3)])),
    OperatorCase("BlockDiag-same", lambda dt: tl.BlockDiag([tl.Flip(5, dtype=dt), tl.Roll(5, shift=2, dtype=dt)])),
    OperatorCase(
        "Block",
        lambda dt: tl.Block(
            [[tl.Identity(3, dtype=dt), _mm(3, 2, dt, seed=4)], [_mm(4, 3, dt, seed=5), tl.Zero(4, 2, dtype=dt)]]
        ),
    ),
    OperatorCase("Kronecker", lambda dt: tl.Kronecker(_mm(3, 2, dt, seed=6), _mm(4, 5, dt, seed=7))),
    OperatorCase("Kronecker-complex", lambda dt: tl.Kronecker(_mm(2, 3, dt, cplx=True), tl.Flip(3, dtype=dt))),
    OperatorCase("Real", lambda dt: tl.Real((3, 4), dtype=_c(dt))),
    OperatorCase("Imag", lambda dt: tl.Imag(5, dtype=_c(dt))),
    OperatorCase("Conj", lambda dt: tl.Conj((2, 3), dtype=_c(dt))),
    OperatorCase("Transpose-3d", lambda dt: tl.Transpose((2, 3, 5), axes=(2, 0, 1), dtype=dt), compile=True),
    OperatorCase("Transpose-2d", lambda dt: tl.Transpose((3, 4), axes=(1, 0), dtype=dt)),
    OperatorCase("Flip-axis0", lambda dt: tl.Flip((5, 3), axis=0, dtype=dt)),
    OperatorCase("Flip-1d", lambda dt: tl.Flip(7, dtype=dt)),
    OperatorCase("Roll-neg", lambda dt: tl.Roll((3, 7), axis=1, shift=-3, dtype=dt)),
    OperatorCase("Roll-axis0", lambda dt: tl.Roll((5, 2), axis=0, shift=2, dtype=dt)),
    OperatorCase("Pad-1d", lambda dt: tl.Pad(5, (2, 3), dtype=dt), compile=True),
    OperatorCase("Pad-2d", lambda dt: tl.Pad((3, 4), ((1, 0), (2, 3)), dtype=dt)),
    OperatorCase("Sum-axis0", lambda dt: tl.Sum((3, 5), axis=0, dtype=dt)),
    OperatorCase("Sum-3d", lambda dt: tl.Sum((2, 3, 4), axis=1, dtype=dt)),
    OperatorCase("Symmetrize-1d", lambda dt: tl.Symmetrize(5, dtype=dt)),
    OperatorCase("Symmetrize-axis0", lambda dt: tl.Symmetrize((4, 3), axis=0, dtype=dt)),
    OperatorCase("Restriction", lambda dt: tl.Restriction(9, [0, 3, 4, 8], dtype=dt), compile=True),
    OperatorCase("Restriction-repeated-axis0", lambda dt: tl.Restriction((5, 3), [4, 1, 1, 0], axis=0, dtype=dt)),
    OperatorCase("Regression", lambda dt: tl.Regression(torch.linspace(-1, 1, 7, dtype=dt), order=3)),
    OperatorCase("LinearRegression", lambda dt: tl.LinearRegression(torch.linspace(0, 2, 5, dtype=dt))),
    OperatorCase("CausalIntegration-full", lambda dt: tl.CausalIntegration(7, sampling=0.5, dtype=dt)),
    OperatorCase(
        "CausalIntegration-half-axis0",
        lambda dt: tl.CausalIntegration((5, 3), axis=0, kind="half", dtype=dt),
    ),
    OperatorCase(
        "CausalIntegration-trap-removefirst",
        lambda dt: tl.CausalIntegration((3, 6), axis=1, kind="trapezoidal", removefirst=True, sampling=2.0, dtype=dt),
    ),
    OperatorCase("FirstDerivative-centered", lambda dt: tl.FirstDerivative(7, sampling=0.5, dtype=dt), compile=True),
    OperatorCase("FirstDerivative-forward-axis0", lambda dt: tl.FirstDerivative((5, 3), axis=0, kind="forward", dtype=dt)),
    OperatorCase("FirstDerivative-backward-3d", lambda dt: tl.FirstDerivative((3, 5, 2), axis=1, kind="backward", dtype=dt)),
    OperatorCase("FirstDerivative-centered-edge", lambda dt: tl.FirstDerivative((3, 7), edge=True, dtype=dt)),
    OperatorCase(
        "FirstDerivative-order5-edge-axis0",
        lambda dt: tl.FirstDerivative((7, 3), axis=0, order=5, edge=True, sampling=2.0, dtype=dt),
    ),
    OperatorCase("FirstDerivative-order5-complex", lambda dt: tl.FirstDerivative(9, order=5, dtype=_c(dt))),
    OperatorCase("SecondDerivative-centered", lambda dt: tl.SecondDerivative(7, sampling=0.5, dtype=dt), compile=True),
    OperatorCase("SecondDerivative-forward-axis0", lambda dt: tl.SecondDerivative((5, 3), axis=0, kind="forward", dtype=dt)),
    OperatorCase("SecondDerivative-backward-3d", lambda dt: tl.SecondDerivative((3, 5, 2), axis=1, kind="backward", dtype=dt)),
    OperatorCase("SecondDerivative-edge-complex", lambda dt: tl.SecondDerivative((3, 7), edge=True, dtype=_c(dt))),
    OperatorCase("Laplacian", lambda dt: tl.Laplacian((5, 7), dtype=dt), compile=True),
    OperatorCase(
        "Laplacian-3d-weights-edge",
        lambda dt: tl.Laplacian((3, 5, 4), axes=(0, 2), weights=(0.5, 2.0), sampling=(1.0, 0.5), edge=True, dtype=dt),
    ),
    OperatorCase(
        "Laplacian-forward-3axes",
        lambda dt: tl.Laplacian((4, 3, 5), axes=(2, 0, 1), weights=(1, 2, 3), sampling=(1, 1, 2), kind="forward", dtype=dt),
    ),
    OperatorCase("Gradient", lambda dt: tl.Gradient((5, 7), dtype=dt), compile=True),
    OperatorCase("Gradient-3d-forward-edge", lambda dt: tl.Gradient((3, 5, 4), sampling=(1.0, 0.5, 2.0), kind="forward", dtype=dt)),
    OperatorCase("Gradient-edge-complex", lambda dt: tl.Gradient((4, 5), edge=True, dtype=_c(dt))),
    OperatorCase(
        "FirstDirectionalDerivative-const",
        lambda dt: tl.FirstDirectionalDerivative((5, 7), v=torch.tensor([0.6, 0.8], dtype=dt)),
    ),
    OperatorCase(
        "FirstDirectionalDerivative-field-edge",
        lambda dt: tl.FirstDirectionalDerivative((3, 5), v=_randn(2, 3, 5, dtype=dt), edge=True, sampling=(1.0, 2.0)),
    ),
    OperatorCase(
        "FirstDirectionalDerivative-complex-backward",
        lambda dt: tl.FirstDirectionalDerivative((4, 3), v=_randn(2, dtype=dt, cplx=True), kind="backward"),
    ),
    OperatorCase(
        "SecondDirectionalDerivative-const",
        lambda dt: tl.SecondDirectionalDerivative((5, 7), v=torch.tensor([0.6, 0.8], dtype=dt)),
    ),
    OperatorCase(
        "SecondDirectionalDerivative-field-3d",
        lambda dt: tl.SecondDirectionalDerivative((3, 4, 5), v=_randn(3, 3, 4, 5, dtype=dt), edge=True),
    ),
    OperatorCase("Smoothing1D", lambda dt: tl.Smoothing1D(3, 7, dtype=dt), compile=True),
    OperatorCase("Smoothing1D-even-axis0", lambda dt: tl.Smoothing1D(4, (9, 3), axis=0, dtype=dt)),
    OperatorCase("Smoothing1D-long-complex", lambda dt: tl.Smoothing1D(11, (3, 5), dtype=_c(dt))),
    OperatorCase("Smoothing2D", lambda dt: tl.Smoothing2D((3, 5), (7, 9), dtype=dt), compile=True),
    OperatorCase("Smoothing2D-3d-axes", lambda dt: tl.Smoothing2D((2, 3), (5, 3, 7), axes=(0, 2), dtype=dt)),
    OperatorCase("SmoothingND-3d", lambda dt: tl.SmoothingND((3, 2, 5), (5, 3, 7), axes=(0, 1, 2), dtype=dt)),
    OperatorCase("SmoothingND-default-axes", lambda dt: tl.SmoothingND((3, 3), (3, 5, 7), dtype=dt)),
    # ---------------------------------------------------------------- algebra (torchlops._algebra classes)
    OperatorCase("SumOperator", lambda dt: _mm(4, 4, dt) + tl.Identity(4, dtype=dt)),
    OperatorCase("SumOperator-difference", lambda dt: tl.Flip((2, 3), dtype=dt) - tl.Roll((2, 3), dtype=dt)),
    OperatorCase("ProductOperator", lambda dt: _mm(3, 5, dt) @ tl.Flip(5, dtype=dt), compile=True),
    OperatorCase("ScaledOperator", lambda dt: 2.5 * tl.Roll((3, 4), axis=0, dtype=dt)),
    OperatorCase("ScaledOperator-complex", lambda dt: (1 - 2j) * _mm(3, 4, dt)),
    OperatorCase("ScaledOperator-negated", lambda dt: -tl.Diagonal(_randn(4, dtype=dt))),
    OperatorCase("PowerOperator", lambda dt: _mm(4, 4, dt) ** 3),
    OperatorCase("AdjointOperator", lambda dt: _mm(3, 5, dt, cplx=True).H),
    OperatorCase("TransposeOperator", lambda dt: _mm(3, 5, dt, cplx=True).T),
    OperatorCase("ConjOperator", lambda dt: _mm(3, 5, dt, cplx=True).conj()),
    OperatorCase("SumOperator-normal", lambda dt: _mm(6, 4, dt).H @ _mm(6, 4, dt) + 0.1 * tl.Identity(4, dtype=dt), compile=True),
    OperatorCase("RealImagOperator-toreal", lambda dt: _mm(3, 4, dt, cplx=True).toreal()),
    OperatorCase("RealImagOperator-toimag", lambda dt: _mm(3, 4, dt, cplx=True).toimag()),
    OperatorCase("ColumnOperator", lambda dt: _mm(3, 6, dt).apply_columns([0, 2, 5])),
    OperatorCase("ProductOperator-Rlinear", lambda dt: tl.Conj(3, dtype=_c(dt)) @ tl.Diagonal(_randn(3, dtype=dt, cplx=True))),
]

_BY_NAME = {c.name: c for c in CASES}
if len(_BY_NAME) != len(CASES):  # pragma: no cover - guards the registry itself
    raise RuntimeError("duplicate case names in tests/registry.py")


def find_case(name: str) -> OperatorCase:
    """The case called ``name``."""
    return _BY_NAME[name]
