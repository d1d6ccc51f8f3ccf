"""Solvers on torch tensors (PyLops ``pylops.optimization`` names)."""

from torchlops.optimization.basic import CGLSResult, cgls
from torchlops.optimization.eigs import power_iteration

__all__ = ["cgls", "CGLSResult", "power_iteration"]
