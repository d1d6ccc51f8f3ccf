"""Stateless pure-torch forward/adjoint pairs: the reference engine and the tests' oracle.

Every function acts on tensors with ONE leading batch dimension: a model ``x`` of
shape ``(B, *dims)`` or data ``y`` of shape ``(B, *dimsd)``; ``axis`` arguments
count the operator's dimensions (0-based, without the batch dimension).
"""

from torchlops.functional.basic import (
    causal_integration,
    causal_integration_adjoint,
    crop,
    diagonal,
    diagonal_adjoint,
    flip,
    matrixmult,
    matrixmult_adjoint,
    pad,
    regression,
    regression_adjoint,
    restriction,
    restriction_adjoint,
    roll,
    spread,
    sum_axis,
    symmetrize,
    symmetrize_adjoint,
)

__all__ = [
    "causal_integration",
    "causal_integration_adjoint",
    "crop",
    "diagonal",
    "diagonal_adjoint",
    "flip",
    "matrixmult",
    "matrixmult_adjoint",
    "pad",
    "regression",
    "regression_adjoint",
    "restriction",
    "restriction_adjoint",
    "roll",
    "spread",
    "sum_axis",
    "symmetrize",
    "symmetrize_adjoint",
]
