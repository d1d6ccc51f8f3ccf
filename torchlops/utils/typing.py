"""Typing aliases shared across torchlops."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: A shape given as an int (1-D) or a sequence of ints.
InputDimsLike = int | Sequence[int]
#: A dtype given the torch way, the numpy way, or by name ("float32", "complex128", ...).
DTypeLike = torch.dtype | np.dtype | type | str | None
#: Anything a device can be built from.
DeviceLike = torch.device | str | int | None
#: A tensor or anything :func:`torch.as_tensor` accepts.
TensorLike = torch.Tensor | np.ndarray | Sequence[float] | float | complex

__all__ = ["InputDimsLike", "DTypeLike", "DeviceLike", "TensorLike"]
