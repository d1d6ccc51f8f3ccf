"""Layers and unrolled networks built from operators and solvers.

Every layer holds its operator as a submodule (the operator's ``nn.Parameter`` s are learnt
with the network), takes inputs batched over leading dims and runs on any device.
"""

from torchlops.nn._common import operator_norm, physics_loss, soft_threshold
from torchlops.nn.blocks import ConvDenoiser, conv_block
from torchlops.nn.dataconsistency import DataConsistency
from torchlops.nn.primaldual import LearnedPrimalDual
from torchlops.nn.unrolled import LISTA, UnrolledISTA, UnrolledProximalGradient

__all__ = [
    "UnrolledISTA",
    "LISTA",
    "UnrolledProximalGradient",
    "LearnedPrimalDual",
    "DataConsistency",
    "ConvDenoiser",
    "conv_block",
    "physics_loss",
    "operator_norm",
    "soft_threshold",
]
