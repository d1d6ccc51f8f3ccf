"""Solvers on torch tensors (PyLops ``pylops.optimization`` names)."""

from torchlops.optimization.basesolver import Solver
from torchlops.optimization.basic import CGLSResult, cgls
from torchlops.optimization.callback import (
    Callbacks,
    CostNanInfCallback,
    CostToDataCallback,
    CostToInitialCallback,
    MetricsCallback,
)
from torchlops.optimization.eigs import power_iteration

__all__ = [
    "Solver",
    "Callbacks",
    "MetricsCallback",
    "CostToInitialCallback",
    "CostToDataCallback",
    "CostNanInfCallback",
    "cgls",
    "CGLSResult",
    "power_iteration",
]
