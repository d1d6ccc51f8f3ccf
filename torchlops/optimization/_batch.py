"""Per-sample reductions for batched solvers."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.utils.checks import as_int

#: steps between two host checks of "have all samples stopped?" (a positive tolerance) on an
#: accelerator, where each check waits for the device; CPU solves check every step
CHECK_EVERY = 10


def check_every(t: torch.Tensor) -> int:
    """Steps between two host checks of the stop flags for a solve on ``t``'s device: 1 on the
    CPU (reading a CPU tensor waits for nothing, and then the iteration counts are exact),
    :data:`CHECK_EVERY` elsewhere, while ``torch.compile`` traces and under ``torch.func``
    transforms (which cannot read values: there a solve with no tolerance never checks)."""
    if (t.device.type == "cpu" and not torch.compiler.is_compiling()
            and torch._C._functorch.maybe_current_level() is None):
        return 1
    return CHECK_EVERY


def bdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample ``a^H b`` over the trailing flat dimension: ``(B, n), (B, n) -> (B,)``."""
    return torch.linalg.vecdot(a, b)


def bnorm2(a: torch.Tensor) -> torch.Tensor:
    """Per-sample squared 2-norm (real): ``(B, n) -> (B,)``, one reduction over the data
    (no temporary of ``a``'s size)."""
    return torch.linalg.vector_norm(a, dim=-1).square()


def is_zero(v: object) -> bool:
    """Whether ``v`` is a Python number equal to 0 (known on the host: terms it multiplies
    can be skipped; a tensor is never read)."""
    return isinstance(v, (int, float)) and v == 0


def safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` with 0 where ``den == 0`` (no host synchronisation)."""
    zero = den == 0
    # (the inner select keeps 0/0 out of the graph: its gradient would be NaN)
    return torch.where(zero, 0.0, num / torch.where(zero, 1.0, den))


def masked_div(num: torch.Tensor, den: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``num / den`` where ``keep`` (and ``den != 0``), 0 elsewhere. The division only sees the
    kept denominators, so its gradient stays finite where the result is discarded (a tiny
    ``den`` of a converged sample would give ``0 * inf`` there)."""
    ok = keep & (den != 0)
    return torch.where(ok, num / torch.where(ok, den, 1.0), 0.0)


def floor_of(k0: torch.Tensor) -> torch.Tensor:
    """Machine-precision floor of a squared residual norm that started at ``k0``:
    ``(eps ||r_0||)^2`` in ``k0``'s dtype (below it another step only adds rounding noise)."""
    return k0 * torch.finfo(k0.dtype).eps ** 2


def op_tensors(Op: torch.nn.Module) -> list[torch.Tensor]:
    """The operator's parameters and buffers that require grad (deduplicated, in module order)."""
    seen: set[int] = set()
    out = []
    for t in list(Op.parameters()) + list(Op.buffers()):
        if t.requires_grad and id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def count_arg(value: object, name: str) -> int:
    """An iteration count: a non-negative int (a fraction, a bool or a negative count is an
    error, not truncated or taken as no iterations)."""
    n = as_int(value, name)
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {n}")
    return n


def model_rows(shape: Sequence[int], batch: tuple[int, ...], dims: tuple[int, ...], N: int) -> int | None:
    """How many models a tensor of ``shape`` holds for a problem of batch ``batch`` and model
    ``dims`` (``N`` entries): 1 (one model for every sample: ``dims`` or ``(N,)``, leading
    ones allowed), ``B`` (one per sample: ``(*batch, *dims)``, ``(*batch, N)`` or the batch
    flattened), or None (any other layout, e.g. the batch dims in another order)."""
    shape = tuple(shape)
    nd = len(dims)
    if len(shape) >= nd and shape[len(shape) - nd:] == tuple(dims):
        lead = shape[: len(shape) - nd]
    elif shape and shape[-1] == N:
        lead = shape[:-1]
    else:
        return None
    B = 1
    for b in batch:
        B *= b
    if all(v == 1 for v in lead):
        return 1
    # (dims of size 1 order nothing: (1, 2, N) is batch (2,)'s layout)
    if tuple(v for v in lead if v != 1) == tuple(v for v in batch if v != 1) or lead == (B,):
        return B
    return None


def flatten_data(Op, y: torch.Tensor, x0: torch.Tensor | None = None):
    """Data ``(*batch, *dimsd)`` or ``(*batch, M)`` -> ``(B, M)``, with the batch shape, the
    output model shape, the working dtype and ``x0`` as ``(B, N)`` (or None)."""
    yf = Op._flat_data(y)
    if not (yf.is_floating_point() or yf.is_complex()):  # (as the operators: integer inputs raise)
        raise TypeError(f"y must be a floating or complex tensor, got dtype {yf.dtype}")
    batch = tuple(yf.shape[:-1])
    M, N = Op.shape
    dt = torch.promote_types(Op.dtype, yf.dtype)
    if x0 is not None:
        if not isinstance(x0, torch.Tensor):
            raise TypeError(f"x0 must be a torch.Tensor, got {type(x0).__name__}")
        if not (x0.is_floating_point() or x0.is_complex()):
            raise TypeError(f"x0 must be a floating or complex tensor, got dtype {x0.dtype}")
        dt = torch.promote_types(dt, x0.dtype)
    B = 1
    for b in batch:
        B *= b
    # N-d data gives an N-d model, flat data a flat model (a 1-D dimsd is both: N-d)
    k = y.dim() - len(Op.dimsd)
    nd = k >= 0 and tuple(y.shape[k:]) == tuple(Op.dimsd)
    xshape = (*batch, *Op.dims) if nd else (*batch, N)
    x0f = None
    if x0 is not None:
        rows = model_rows(x0.shape, batch, tuple(Op.dims), N)
        if rows == 1 and B != 1:
            x0f = x0.reshape(1, N).to(dt).expand(B, N).clone()
        elif rows == B:
            x0f = x0.reshape(B, N).to(dt)
        else:
            raise ValueError(f"x0 must have shape {xshape} (or {(*batch, N)}, or one model of shape "
                             f"{tuple(Op.dims)}), got {tuple(x0.shape)}")
    return yf.reshape(B, M).to(dt), batch, xshape, dt, x0f
