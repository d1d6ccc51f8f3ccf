"""Helpers shared by the sparsity solvers: thresholds, batched shapes, flat operators.

Every helper works on flat ``(B, n)`` tensors (one row per problem) and never reads
a tensor value on the host.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import flatten_data, model_rows
from torchlops.optimization.basesolver import Solver
from torchlops.optimization.callback import Callbacks

__all__ = [
    "THRESHKINDS",
    "threshold",
    "softthreshold",
    "hardthreshold",
    "halfthreshold",
    "FlatOperator",
    "Batch",
    "SparseSolver",
    "now",
]

THRESHKINDS = ("hard", "soft", "half", "hard-percentile", "soft-percentile", "half-percentile")


def hardthreshold(x: torch.Tensor, thresh: torch.Tensor | float) -> torch.Tensor:
    r"""Hard thresholding (proximal operator of :math:`\|\mathbf{x}\|_0`): zero every
    entry with :math:`|x_i| \le \sqrt{2\,\text{thresh}}`. ``thresh`` broadcasts against ``x``."""
    t = torch.as_tensor(thresh, dtype=x.abs().dtype, device=x.device)
    return torch.where(x.abs() <= torch.sqrt(2 * t), torch.zeros_like(x), x)


def softthreshold(x: torch.Tensor, thresh: torch.Tensor | float) -> torch.Tensor:
    r"""Soft thresholding (proximal operator of :math:`\|\mathbf{x}\|_1`):
    :math:`\max(|x_i| - \text{thresh}, 0)\, e^{j \angle x_i}` (the sign for real ``x``)."""
    if x.is_complex():
        return torch.clamp(x.abs() - thresh, min=0.0) * torch.sgn(x)
    # real: x - clip(x, -t, t) is sign(x) max(|x| - t, 0) exactly, in two passes instead of five
    return x - torch.clamp(x, -thresh, thresh)


def halfthreshold(x: torch.Tensor, thresh: torch.Tensor | float) -> torch.Tensor:
    r"""Half thresholding (proximal operator of :math:`\|\mathbf{x}\|_{1/2}^{1/2}`):

    .. math::
        x_i \leftarrow \tfrac{2}{3} x_i \left(1 + \cos\left(\tfrac{2\pi}{3} - \tfrac{2}{3}
        \arccos\left(\tfrac{\text{thresh}}{8} \left(\tfrac{|x_i|}{3}\right)^{-3/2}\right)\right)\right)

    for :math:`|x_i| > \tfrac{54^{1/3}}{4}\,\text{thresh}^{2/3}` and 0 otherwise (the argument of
    the arccos is clipped to [-1, 1] and taken as 1 where :math:`x_i = 0`)."""
    a = x.abs()
    t = torch.as_tensor(thresh, dtype=a.dtype, device=x.device)
    nz = a != 0
    safe = torch.where(nz, a, torch.ones_like(a))
    arg = torch.where(nz, (t / 8.0) * (safe / 3.0) ** (-1.5), torch.ones_like(a)).clamp(-1.0, 1.0)
    phi = 2.0 / 3.0 * torch.arccos(arg)
    x1 = 2.0 / 3.0 * x * (1.0 + torch.cos(2.0 * math.pi / 3.0 - phi))
    return torch.where(a <= (54.0 ** (1.0 / 3.0) / 4.0) * t ** (2.0 / 3.0), torch.zeros_like(x1), x1)


def _percentile(x: torch.Tensor, perc: float) -> torch.Tensor:
    """Per-row percentile of ``|x|`` (linear interpolation, NumPy's default): ``(B, n) -> (B, 1)``."""
    if x.shape[0] == 0:  # (an empty batch: quantile refuses empty inputs)
        return x.abs().new_zeros(0, 1)
    return torch.quantile(x.abs(), perc / 100.0, dim=-1, keepdim=True)


def threshold(x: torch.Tensor, kind: str, thresh: torch.Tensor | float, perc: float | None) -> torch.Tensor:
    """Apply the thresholding ``kind`` to the rows of ``x`` (``(B, n)``): with ``thresh``
    (broadcast against ``x``) for hard/soft/half, or keeping the ``perc`` percent largest
    entries of each row (the threshold is the row's ``100 - perc`` percentile) for the
    percentile variants."""
    if kind == "soft":
        return softthreshold(x, thresh)
    if kind == "hard":
        return hardthreshold(x, thresh)
    if kind == "half":
        return halfthreshold(x, thresh)
    t = _percentile(x, 100.0 - float(perc))  # type: ignore[arg-type]
    if kind == "soft-percentile":
        return softthreshold(x, t)
    if kind == "hard-percentile":
        return hardthreshold(x, 0.5 * t**2)
    return halfthreshold(x, (4.0 / 54 ** (1.0 / 3.0) * t) ** 1.5)


class FlatOperator(LinearOperator):
    """Operator from two closures acting on flat ``(B, n)`` / ``(B, m)`` tensors; the row
    count ``B`` is that of the batched problem, so the closures may hold per-sample
    tensors (weights, column sets) of leading size ``B``."""

    _composite = True

    def __init__(
        self,
        n: int,
        m: int,
        matvec: Callable[[torch.Tensor], torch.Tensor],
        rmatvec: Callable[[torch.Tensor], torch.Tensor],
        dtype: torch.dtype,
        name: str = "F",
    ) -> None:
        super().__init__(dims=(n,), dimsd=(m,), dtype=dtype, name=name)
        self._mv = matvec
        self._rmv = rmatvec

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self._rmv(x) if adjoint else self._mv(x)


class Batch:
    """Shapes of a batched problem: ``y`` of shape ``(*batch, *dimsd)`` or ``(*batch, M)``
    flattened to ``(B, M)`` in the working dtype (of ``Op``, ``y`` and a starting ``x0``)."""

    def __init__(self, Op: LinearOperator, y: torch.Tensor, x0: torch.Tensor | None = None) -> None:
        if not isinstance(Op, LinearOperator):
            raise TypeError(f"Op must be a torchlops LinearOperator, got {type(Op).__name__}")
        if isinstance(y, torch.Tensor) and not (y.is_floating_point() or y.is_complex()):
            raise TypeError(f"y must be a floating or complex tensor, got dtype {y.dtype}")
        self.y, self.batch, self.xshape, self.dtype, _ = flatten_data(Op, y, x0)
        self.M, self.N = Op.shape
        self.B = self.y.shape[0]
        self.dims = Op.dims
        self.dimsd = Op.dimsd

    def model(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` -> ``(*batch, *dims)`` (N-d data) or ``(*batch, N)`` (flat data)."""
        return x.reshape(self.xshape)

    def data(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, M)`` -> ``(*batch, *dimsd)``."""
        return y.reshape(*self.batch, *self.dimsd)

    def flat_model(self, x: torch.Tensor, name: str = "x0") -> torch.Tensor:
        """A model with ``B * N`` or ``N`` entries (shared by all samples) as ``(B, N)``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not (x.is_floating_point() or x.is_complex()):
            raise TypeError(f"{name} must be a floating or complex tensor, got dtype {x.dtype}")
        if x.is_complex() and not self.dtype.is_complex:
            # (cast, it would lose its imaginary part)
            raise TypeError(f"{name} is complex ({x.dtype}) but the problem is real ({self.dtype}): "
                            f"pass it to setup (or give complex data)")
        rows = model_rows(x.shape, tuple(self.batch), tuple(self.dims), self.N)
        if rows == self.B:
            return x.reshape(self.B, self.N).to(self.dtype)
        if rows == 1:
            return x.reshape(1, self.N).to(self.dtype).expand(self.B, self.N).clone()
        raise ValueError(
            f"{name} must have shape (*batch, {', '.join(map(str, self.dims))}) with batch {self.batch} "
            f"or (*batch, {self.N}), got {tuple(x.shape)}"
        )

    def scalar(self, v: float | torch.Tensor, name: str) -> torch.Tensor | float:
        """A float, or a tensor broadcast to one value per sample as ``(B, 1)``."""
        if isinstance(v, torch.Tensor):
            if v.numel() not in (1, self.B):
                raise ValueError(f"{name} must be a scalar or hold one value per sample ({self.B}), got shape {tuple(v.shape)}")
            return v.reshape(-1, 1).expand(self.B, 1) if v.numel() == self.B else v.reshape(1, 1)
        return float(v)


def version_of(t: torch.Tensor) -> int | None:
    """``t``'s version counter, to tell later whether it was changed in place; None where there
    is none to read (an inference tensor, a trace of torch.compile): identity alone then."""
    return None if torch.compiler.is_compiling() or t.is_inference() else t._version


def now() -> float:
    """``time.time()``, or 0 while ``torch.compile`` traces (dynamo cannot trace the clock)."""
    return 0.0 if torch.compiler.is_compiling() else time.time()


class SparseSolver(Solver):
    """:class:`Solver` whose construction does not read the clock while ``torch.compile``
    traces, so a whole solve can be compiled with ``fullgraph=True``."""

    def __init__(self, Op: LinearOperator, callbacks: Callbacks | Sequence[Callbacks] | None = None) -> None:
        if not torch.compiler.is_compiling():
            super().__init__(Op, callbacks)
            return
        if not isinstance(Op, LinearOperator):
            raise TypeError(f"Op must be a torchlops LinearOperator, got {type(Op).__name__}")
        self.Op = Op
        if callbacks is None:
            self.callbacks = []
        elif isinstance(callbacks, Callbacks):
            self.callbacks = [callbacks]
        else:
            self.callbacks = list(callbacks)
        self.iiter = 0
        self.cost = []
        self.tstart = 0.0
        self.telapsed = 0.0


_ENGINES = ("scipy", "pylops")


def check_engine(engine: str) -> None:
    """Validate PyLops' ``engine`` of the inner least-squares solves: ``"scipy"`` runs LSQR with
    scipy's arguments and stopping rule, ``"pylops"`` the batched cgls of ``niter`` steps."""
    if engine not in _ENGINES:
        raise ValueError(f"engine must be one of {_ENGINES}, got {engine!r}")
