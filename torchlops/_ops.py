"""Typed wrappers over the compiled kernels ``torch.ops.torchlops.*`` and engine selection.

The extension ``torchlops._C`` (``csrc/``) registers nine ops in ``TORCH_LIBRARY(torchlops)``:

* ``stencil(x, axes, scales, spec, weights, adjoint)``: ``sum_t scales[t] w_t S_{axes[t]} x``
  (or its adjoint) for ``x`` of shape ``(B, *dims)``: first/second derivatives, the Laplacian
  fused over its axes, directional derivatives (``weights``), boxcar smoothing;
* ``stencil_split`` / ``stencil_merge``: the gradient ``(B, *dims) -> (B, T, *dims)`` in one
  read of ``x``, and its adjoint in one write of ``x``;
* ``convolve(x, h, axes, offsets, nout, adjoint)``: direct convolution along up to 3 axes,
  per-sample filters;
* ``shrink`` / ``fista_update``: fused steps of the sparsity solvers on the CPU (no autograd;
  :func:`sparse_fusable` says when a step may take them);
* ``cgls_residual`` / ``cgls_direction``: fused vector steps of CGLS on the CPU and CUDA
  (no autograd; :func:`cgls_fusable` says when a step may take them);
* ``stencil_norm``: ``stencil`` without weights and the 2-norm of each output sample (CGLS'
  ``||A c||``; one pass with the CUDA vector path; no autograd, :func:`band_with_norm`).

Here each op gets a fake (meta) implementation, so ``torch.compile`` traces it without
graph breaks, and an autograd rule whose backward is the registered adjoint op (filter
gradients of ``convolve`` come from the pure-torch engine). Operators choose an engine with
:func:`check_engine` at construction and :func:`use_ext` per call.

A stencil is described once, in Python (``functional/derivatives.py`` and
``functional/smoothing.py``), as ``(taps, lo, hi, edge rows)``; :func:`stencil_spec` packs
it for the kernels, so the torch engine and the kernels share one definition.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "ENGINES",
    "ext_available",
    "ext_info",
    "check_engine",
    "use_ext",
    "stencil_spec",
    "stencil_rows_ok",
    "stencil_engine",
    "band",
    "band_split",
    "band_merge",
    "convolve",
    "sparse_fusable",
    "shrink",
    "fista_update",
    "cgls_fusable",
    "cgls_residual",
    "cgls_direction",
    "band_with_norm",
]

ENGINES = ("auto", "torch", "ext")

_EXT_ERROR: str | None = None
try:  # the compiled kernels are optional
    _C = importlib.import_module("torchlops._C")
except ImportError as _err:  # pragma: no cover - depends on the build
    _C = None
    _EXT_ERROR = (
        f"torchlops._C is not available ({_err}); every operator uses its pure-torch engine. "
        "Build it with `pip install --no-build-isolation -e .` (or "
        "`python setup.py build_ext --inplace`) where a C++ compiler is installed"
    )
    # (once, at import: the operators work, slower; python -m torchlops info says the same)
    warnings.warn(_EXT_ERROR, RuntimeWarning, stacklevel=2)

#: the devices the built extension has kernels for
EXT_DEVICES: tuple[str, ...] = ()
if _C is not None:
    EXT_DEVICES = tuple(
        d for d in ("cpu", "cuda") if torch._C._dispatch_has_kernel_for_dispatch_key("torchlops::stencil", d.upper())
    )

_EXT_CPU, _EXT_CUDA = "cpu" in EXT_DEVICES, "cuda" in EXT_DEVICES
_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)
_functorch_level = torch._C._functorch.maybe_current_level
_grad_enabled = torch.is_grad_enabled
_is_compiling = torch.compiler.is_compiling
_forward_ad = torch.autograd.forward_ad

#: most taps / edge entries / axes one stencil kernel takes (csrc/stencil.h)
MAX_TAPS, MAX_EDGE, MAX_TERMS = 65, 16, 8


def ext_available() -> bool:
    """Whether the compiled extension ``torchlops._C`` was built and imported."""
    return _C is not None


def ext_info() -> str:
    """One line on the compiled extension: the devices it has kernels for, or how to build it."""
    if _C is None:
        return _EXT_ERROR or "torchlops._C is not available"
    simd = f"; CPU vector loops: {_C.simd()}" if hasattr(_C, "simd") else ""
    return f"torchlops._C is available (kernels for: {', '.join(EXT_DEVICES)}{simd})"


# ---------------------------------------------------------------------------- engines
def check_engine(engine: str, supported: str | None = None) -> str:
    """Validate an operator's ``engine`` argument at construction.

    ``supported`` is ``None`` when the kernels can compute this operator, else the reason
    they cannot; ``engine="ext"`` then raises (as it does when the extension is not built).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "ext":
        if _C is None:
            raise ValueError(f"engine='ext' needs the compiled extension: {_EXT_ERROR}")
        if supported is not None:
            raise ValueError(f"engine='ext' cannot compute this operator: {supported}")
    return engine


def _runtime_reason(x: torch.Tensor) -> str | None:
    if _C is None:
        return _EXT_ERROR
    if x.device.type not in EXT_DEVICES:
        return f"no kernels for device {x.device} (built for: {', '.join(EXT_DEVICES) or 'none'})"
    if x.dtype not in _DTYPES:
        return f"no kernels for dtype {x.dtype}"
    return None


def use_ext(engine: str, supported: str | None, x: torch.Tensor, *tensors: torch.Tensor) -> bool:
    """Whether this application runs the compiled kernels.

    ``"torch"``: never; ``"auto"``: when the operator is ``supported`` and the extension has
    kernels for the input's device and dtype; ``"ext"``: always, ``ValueError`` when it
    cannot. Inside a ``torch.func`` transform (e.g. the forward-mode derivative along an
    operator's tensors), and when one of ``tensors`` requires grad while grad mode is on (the
    generic gradient rule differentiating the operator), the pure-torch engine runs: the kernels
    have no forward-mode or batching rule, and no gradient for stencil weights.
    """
    if engine == "torch" or supported is not None:
        return False
    if _functorch_level() is not None:
        return False
    if tensors and _grad_enabled():
        for t in tensors:
            if t.requires_grad:
                return False
    # (x.is_cpu / x.is_cuda: a tenth of the cost of x.device.type; this runs on every call)
    if x.dtype in _DTYPES and ((_EXT_CPU and x.is_cpu) or (_EXT_CUDA and x.is_cuda)):
        return True
    if engine == "ext":
        raise ValueError(f"engine='ext': {_runtime_reason(x)}")
    return False


# ---------------------------------------------------------------------------- calls
_below_autograd = torch._C._AutoDispatchBelowAutograd
_dispatch_modes = torch._C._len_torch_dispatch_stack
_function_modes = torch._C._is_torch_function_mode_enabled
#: tensor types without a __torch_function__ of their own (others take torch.ops)
_PLAIN = (torch.Tensor, torch.nn.Parameter)


#: direct eager entry points of the ops (csrc/calls.cpp): the same op through a typed
#: dispatcher handle below autograd, without torch.ops' per-call argument conversion
_DIRECT: dict = {}
if _C is not None and hasattr(_C, "convolve"):
    _DIRECT = {
        torch.ops.torchlops.stencil.default: _C.stencil,
        torch.ops.torchlops.stencil_split.default: _C.stencil_split,
        torch.ops.torchlops.stencil_merge.default: _C.stencil_merge,
        torch.ops.torchlops.convolve.default: _C.convolve,
    }


def _call(op: object, args: tuple, tensors: tuple[torch.Tensor | None, ...]) -> torch.Tensor:
    """``op(*args)``; straight to the device kernel when nothing needs a graph (the autograd
    layer of a custom op, and torch.ops' argument conversion, cost several microseconds per
    call: most of a small application)."""
    if _is_compiling():
        return op(*args)
    if _forward_ad._current_level >= 0:
        # (the ops have no forward-mode formula: a tangent reaching them would be dropped
        # silently; operators carry tangents through their autograd Function's jvp instead)
        for t in tensors:
            if t is not None and _forward_ad.unpack_dual(t).tangent is not None:
                raise RuntimeError(f"{op}: an input carries a forward-mode AD tangent, which the compiled "
                                   "kernels cannot carry; apply the operator (its jvp carries it)")
        return op(*args)
    grad = _grad_enabled()
    plain = True
    for t in tensors:
        if t is None:
            continue
        if grad and t.requires_grad:
            return op(*args)
        if type(t) not in _PLAIN:
            plain = False
    if plain and not _dispatch_modes() and not _function_modes():
        direct = _DIRECT.get(op)
        if direct is not None:
            return direct(*args)
    with _below_autograd():
        return op(*args)


# ---------------------------------------------------------------------------- stencils
Stencil = tuple[dict[int, float], int, int, list[tuple[int, dict[int, float]]]]


def stencil_spec(st: Stencil) -> tuple[float, ...]:
    """Pack ``(taps, lo, hi, edge rows)`` for the kernels:
    ``(ntaps, lo, hi, nedge, reach, (off, c) * ntaps, (row, col, c) * nedge)``; rows and
    columns ``< 0`` count from the end; rows and columns at least ``reach`` from both ends
    are plain interior rows (all taps inside, no edge entry)."""
    taps, lo, hi, edges = st
    entries = [(row, col, c) for row, cols in edges for col, c in cols.items()]
    maxoff = max((abs(k) for k in taps), default=0)
    extent = max((v + 1 if v >= 0 else -v for r, c, _ in entries for v in (r, c)), default=0)
    reach = max(max(lo, hi) + maxoff, extent)
    out: list[float] = [len(taps), lo, hi, len(entries), reach]
    for k, c in taps.items():
        out += [k, c]
    for r, col, c in entries:
        out += [r, col, c]
    return tuple(float(v) for v in out)


def stencil_rows_ok(st: Stencil, n: int) -> str | None:
    """``None`` when the kernels compute this stencil on an axis of length ``n`` exactly as the
    torch engine does (edge rows distinct, outside the interior, columns inside the axis),
    else the reason they do not."""
    taps, lo, hi, edges = st
    if n == 0:
        return None  # (an empty axis: no sample to compute, whatever the edges)
    if len(taps) > MAX_TAPS:
        return f"the stencil has {len(taps)} taps (at most {MAX_TAPS})"
    if sum(len(cols) for _, cols in edges) > MAX_EDGE:
        return f"the stencil has more than {MAX_EDGE} edge entries"
    rows = []
    for row, cols in edges:
        r = row + n if row < 0 else row
        if not 0 <= r < n or lo <= r < n - hi:
            return f"edge row {row} does not fit an axis of length {n}"
        for col in cols:
            c = col + n if col < 0 else col
            if not 0 <= c < n:
                return f"edge column {col} does not fit an axis of length {n}"
        rows.append(r)
    if len(set(rows)) != len(rows):
        return f"edge rows overlap on an axis of length {n}"
    return None


def stencil_engine(st: Stencil, dims: Sequence[int], axes: Iterable[int]) -> tuple[tuple[float, ...], str | None]:
    """The packed stencil for the kernels and why they cannot apply it along ``axes`` of
    ``dims`` (``None``: they can)."""
    axes = list(axes)
    why = f"more than {MAX_TERMS} axes" if len(axes) > MAX_TERMS else None
    for a in axes:
        why = why or stencil_rows_ok(st, dims[a])
    return stencil_spec(st), why


def band(
    x: torch.Tensor,
    axes: Sequence[int],
    scales: Sequence[float],
    spec: tuple[float, ...],
    adjoint: bool,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """``sum_t scales[t] w_t S_{axes[t]} x`` (or the adjoint) through the kernels; ``x`` is
    ``(B, *dims)``, ``weights`` ``(T, *dims)`` of ``x``'s dtype."""
    return _call(torch.ops.torchlops.stencil.default, (x, list(axes), list(scales), list(spec), weights, adjoint), (x, weights))


def band_split(x: torch.Tensor, axes: Sequence[int], scales: Sequence[float], spec: tuple[float, ...]) -> torch.Tensor:
    """``(B, *dims) -> (B, T, *dims)``: component ``t`` is ``scales[t] S_{axes[t]} x``."""
    return _call(torch.ops.torchlops.stencil_split.default, (x, list(axes), list(scales), list(spec)), (x,))


def band_merge(y: torch.Tensor, axes: Sequence[int], scales: Sequence[float], spec: tuple[float, ...]) -> torch.Tensor:
    """``(B, T, *dims) -> (B, *dims)``: ``sum_t scales[t] S_{axes[t]}^T y[:, t]``."""
    return _call(torch.ops.torchlops.stencil_merge.default, (y, list(axes), list(scales), list(spec)), (y,))


# ---------------------------------------------------------------------------- convolution
def convolve(
    x: torch.Tensor,
    h: torch.Tensor,
    axes: Sequence[int],
    offsets: Sequence[int],
    nout: Sequence[int],
    adjoint: bool,
    batched: bool,
) -> torch.Tensor:
    """Direct convolution (or its adjoint) of ``x`` ``(B, *dims)`` along ``axes`` (any order,
    at most 3) with ``h`` (``(Bh, *hshape)`` when ``batched``), through the kernels (which take
    a shared filter as it is, without a leading filter dim)."""
    k = len(axes)
    if h.dim() != k + batched:  # (a swapped-in filter of the other form would be misread)
        extra = " (one leading dim of per-sample filters)" if batched else ""
        raise ValueError(f"h must have {k + batched} dimension(s){extra}, got shape {tuple(h.shape)}")
    if h.dtype != x.dtype:
        # (both to their promoted dtype, as the torch engine: a complex or double filter swapped
        # in for a real or single precision one is not cast down to the input's dtype)
        dt = torch.promote_types(x.dtype, h.dtype)
        x, h = x.to(dt), h.to(dt)
    if batched and x.shape[0] % h.shape[0]:
        raise ValueError(
            f"per-sample filters: the flattened batch ({x.shape[0]}) must be a multiple of "
            f"the number of filters ({h.shape[0]})"
        )
    if k == 1:
        args = (x, h, axes, offsets, nout, adjoint)
    else:
        order = sorted(range(k), key=lambda i: axes[i])
        if order != list(range(k)):
            h = h.permute(0, *(1 + i for i in order)) if batched else h.permute(*order)
        args = (x, h, [axes[i] for i in order], [offsets[i] for i in order], [nout[i] for i in order], adjoint)
    return _call(torch.ops.torchlops.convolve.default, args, (x, h))


# ---------------------------------------------------------------------------- sparsity solvers
#: the fused solver steps are built (csrc/cpu/sparse_cpu.cpp; CPU only)
_SPARSE = _C is not None and hasattr(_C, "fista_update")
_REAL = (torch.float32, torch.float64)
#: the per-tensor checks below in C++ (the same rules)
_ARGS_OK = getattr(_C, "sparse_args_ok", None) if _SPARSE else None


def _untraced() -> bool:
    """Plain eager execution: no torch.compile tracing, forward AD, torch.func transform, or
    dispatch / function mode would see the ops (the fused solver kernels have no rules for them)."""
    return not (_is_compiling() or _forward_ad._current_level >= 0 or _functorch_level() is not None
                or _dispatch_modes() or _function_modes())


def sparse_fusable(*tensors: torch.Tensor | float | None) -> bool:
    """Whether an eager solver step over these tensors (floats and None are skipped) may run
    the fused kernels: they are built, every tensor is a plain CPU tensor of one real dtype
    (float32 or float64; bool masks aside), and nothing needs a graph (no gradient needed, no
    torch.compile, forward AD, torch.func transform or dispatch / function mode). The callers
    check the shapes."""
    if not _SPARSE or not _untraced():
        return False
    if _ARGS_OK is not None:
        return _ARGS_OK(*tensors)
    grad = _grad_enabled()
    dtype = None
    for t in tensors:
        if not isinstance(t, torch.Tensor):  # floats, None
            continue
        if type(t) not in _PLAIN or not t.is_cpu or t.layout is not torch.strided or (grad and t.requires_grad):
            return False
        dt = t.dtype
        if dt is torch.bool:
            continue
        if dtype is None:
            if dt not in _REAL:
                return False
            dtype = dt
        elif dt is not dtype:
            return False
    return True


def _split_param(v: torch.Tensor | float) -> tuple[float, torch.Tensor | None]:
    return (0.0, v) if isinstance(v, torch.Tensor) else (float(v), None)


def shrink(z: torch.Tensor, g: torch.Tensor, alpha: torch.Tensor | float, thresh: torch.Tensor | float,
           kind: str) -> torch.Tensor:
    """``T(z + alpha g)`` for ``(B, n)`` rows in one pass: ``kind`` "soft" or "hard"
    (zero where ``|v| <= sqrt(2 thresh)``); ``alpha`` and ``thresh`` floats or per-row
    ``(B, 1)`` tensors. Call only where :func:`sparse_fusable` holds."""
    a, at = _split_param(alpha)
    t, tt = _split_param(thresh)
    return _C.shrink(z, g, a, at, t, tt, 0 if kind == "soft" else 1)


def fista_update(
    xn: torch.Tensor, xold: torch.Tensor, z: torch.Tensor, r: torch.Tensor, rz: torch.Tensor, y: torch.Tensor,
    oxn: torch.Tensor, act: torch.Tensor, xu: torch.Tensor, lastcost: torch.Tensor | None, w: float, tol: float,
    eps: torch.Tensor | float,
) -> tuple[torch.Tensor, ...]:
    """Everything of a FISTA step after the forward pass ``oxn = Op xn``, in one pass:
    returns ``(x, z, r, rz, xu, act, cost)`` (see ``csrc/torchlops.cpp``). Call only where
    :func:`sparse_fusable` holds."""
    e, et = _split_param(eps)
    return _C.fista_update(xn, xold, z, r, rz, y, oxn, act, xu, lastcost, float(w), float(tol), e, et)


# ---------------------------------------------------------------------------- CGLS
def _has_op(name: str, key: str) -> bool:
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(name, key)
    except RuntimeError:  # (an extension built before the op existed)
        return False


#: the devices with fused CGLS kernels (csrc/cpu/cgls_cpu.cpp, csrc/cuda/cgls_cuda.cu)
_CGLS_CPU = _C is not None and _has_op("torchlops::cgls_direction", "CPU")
_CGLS_CUDA = _C is not None and _has_op("torchlops::cgls_direction", "CUDA")


def cgls_fusable(*tensors: torch.Tensor) -> bool:
    """Whether an eager CGLS step over these ``(B, n)`` rows may run the fused kernels: they
    are built for the rows' device, every tensor is a plain strided tensor of one dtype among
    float32/64 and complex64/128 on that device, and nothing needs a graph (no gradient
    needed, no torch.compile, forward AD, torch.func transform or dispatch / function mode)."""
    if not (_CGLS_CPU or _CGLS_CUDA) or not _untraced():
        return False
    grad = _grad_enabled()
    first = tensors[0]
    dev, dt = first.device, first.dtype
    if dt not in _DTYPES or not ((_CGLS_CPU and first.is_cpu) or (_CGLS_CUDA and first.is_cuda)):
        return False
    for t in tensors:
        if type(t) not in _PLAIN or t.layout is not torch.strided or t.dtype is not dt or t.device != dev:
            return False
        if grad and t.requires_grad:
            return False
    return True


def cgls_residual(s: torch.Tensor, q: torch.Tensor, kold: torch.Tensor, qn: torch.Tensor,
                  act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CGLS' residual update for ``(B, n)`` rows in one pass: with ``a = kold / qn^2`` where
    ``act`` (and ``qn != 0``), else 0, returns ``(s - a q, ||s - a q||, a)`` (per-row values
    ``(B,)``, real). Call only where :func:`cgls_fusable` holds."""
    with _below_autograd():
        return torch.ops.torchlops.cgls_residual.default(s, q, kold, qn, act)


def cgls_direction(x: torch.Tensor, c: torch.Tensor, r: torch.Tensor, a: torch.Tensor, rn: torch.Tensor,
                   kold: torch.Tensor, act: torch.Tensor, keep: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CGLS' model and direction updates in one pass: with ``k = rn^2`` and ``beta = k / kold``
    where ``act`` (and ``kold != 0``), else 0, returns ``(x + a c, r + beta c, where(act, k,
    kold))``; with ``keep`` the rows where ``act`` is False keep ``c``. Call only where
    :func:`cgls_fusable` holds."""
    with _below_autograd():
        return torch.ops.torchlops.cgls_direction.default(x, c, r, a, rn, kold, act, keep)


#: the devices with the stencil-and-norm op (csrc/*/stencil_*)
_NORM_CPU = _C is not None and _has_op("torchlops::stencil_norm", "CPU")
_NORM_CUDA = _C is not None and _has_op("torchlops::stencil_norm", "CUDA")
#: take the stencil-and-norm op where it applies (TORCHLOPS_FUSED_NORMS=0 turns it off: the
#: output and then its norm, as before; for comparisons)
FUSED_NORMS: bool = os.environ.get("TORCHLOPS_FUSED_NORMS", "1") != "0"


def band_with_norm(engine: str, supported: str | None, x: torch.Tensor, axes: Sequence[int],
                   scales: Sequence[float], spec: tuple[float, ...],
                   adjoint: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(band(x, ...), the 2-norm of each sample (B,))`` from one op (on CUDA, with the
    float32 vector path, one pass: CGLS' ``||A c||``), or ``None`` where it does not apply:
    the operator's engine would not take the kernels (:func:`use_ext`), the op is not built for
    ``x``'s device, or something needs a graph (a gradient, tracing, a transform). ``x`` is
    ``(B, *dims)``; no weights."""
    if not FUSED_NORMS or not ((_NORM_CPU and x.is_cpu) or (_NORM_CUDA and x.is_cuda)) or not _untraced():
        return None
    if type(x) not in _PLAIN or (x.requires_grad and _grad_enabled()) or not use_ext(engine, supported, x):
        return None
    with _below_autograd():
        return torch.ops.torchlops.stencil_norm.default(x, list(axes), list(scales), list(spec), adjoint)


# ---------------------------------------------------------------------------- registration
def _one_device(op: str, first: torch.Tensor, *others: object) -> None:
    """The fake (meta) kernels' device check: the real kernels refuse tensors on several
    devices, and without this a fake kernel reached by a meta tensor among CPU ones (the
    dispatcher picks the meta kernel) returned an uninitialised CPU tensor."""
    for t in others:
        if isinstance(t, torch.Tensor) and t.device != first.device:
            raise RuntimeError(f"torchlops.{op}: expected every tensor on {first.device}, got one on {t.device}")


def _register() -> None:
    lib = "torchlops::"

    @torch.library.register_fake(lib + "stencil")
    def _(x, axes, scales, spec, weights, adjoint):  # noqa: ANN001, ANN202
        _one_device("stencil", x, weights)
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    if _NORM_CPU or _NORM_CUDA:  # (no autograd: called only when nothing needs a gradient)

        @torch.library.register_fake(lib + "stencil_norm")
        def _(x, axes, scales, spec, adjoint):  # noqa: ANN001, ANN202
            y = torch.empty_like(x, memory_format=torch.contiguous_format)
            return y, x.new_empty((x.shape[0],), dtype=x.dtype.to_real())

    @torch.library.register_fake(lib + "stencil_split")
    def _(x, axes, scales, spec):  # noqa: ANN001, ANN202
        return x.new_empty((x.shape[0], len(axes), *x.shape[1:]))

    @torch.library.register_fake(lib + "stencil_merge")
    def _(y, axes, scales, spec):  # noqa: ANN001, ANN202
        return y.new_empty((y.shape[0], *y.shape[2:]))

    @torch.library.register_fake(lib + "convolve")
    def _(x, h, axes, offsets, nout, adjoint):  # noqa: ANN001, ANN202
        _one_device("convolve", x, h)
        shape = list(x.shape)
        for a, n in zip(axes, nout):
            shape[1 + a] = n
        return x.new_empty(shape)

    # ---- autograd: the backward of each op is its registered adjoint
    def _stencil_ctx(ctx, inputs, output):  # noqa: ANN001, ANN202
        _, ctx.axes, ctx.scales, ctx.spec, weights, ctx.adjoint = inputs
        ctx.save_for_backward(weights)

    def _stencil_bwd(ctx, g):  # noqa: ANN001, ANN202
        (weights,) = ctx.saved_tensors
        if weights is not None and ctx.needs_input_grad[4]:
            raise ValueError("torchlops.stencil: no gradient for the weights; use engine='torch'")
        return torch.ops.torchlops.stencil(g, ctx.axes, ctx.scales, ctx.spec, weights, not ctx.adjoint), None, None, None, None, None

    torch.library.register_autograd(lib + "stencil", _stencil_bwd, setup_context=_stencil_ctx)

    def _split_ctx(ctx, inputs, output):  # noqa: ANN001, ANN202
        _, ctx.axes, ctx.scales, ctx.spec = inputs

    def _split_bwd(ctx, g):  # noqa: ANN001, ANN202
        return torch.ops.torchlops.stencil_merge(g, ctx.axes, ctx.scales, ctx.spec), None, None, None

    def _merge_bwd(ctx, g):  # noqa: ANN001, ANN202
        return torch.ops.torchlops.stencil_split(g, ctx.axes, ctx.scales, ctx.spec), None, None, None

    torch.library.register_autograd(lib + "stencil_split", _split_bwd, setup_context=_split_ctx)
    torch.library.register_autograd(lib + "stencil_merge", _merge_bwd, setup_context=_split_ctx)

    def _conv_ctx(ctx, inputs, output):  # noqa: ANN001, ANN202
        x, h, ctx.axes, ctx.offsets, ctx.nout, ctx.adjoint = inputs
        ctx.nin = [x.shape[1 + a] for a in ctx.axes]
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, h)

    def _conv_bwd(ctx, g):  # noqa: ANN001, ANN202
        x, h = ctx.saved_tensors
        gx = gh = None
        if ctx.needs_input_grad[0]:
            gx = torch.ops.torchlops.convolve(g, h, ctx.axes, ctx.offsets, ctx.nin, not ctx.adjoint)
        if ctx.needs_input_grad[1]:
            gh = _filter_grad(x, h, g, ctx.axes, ctx.offsets, ctx.nout, ctx.adjoint)
        return gx, gh, None, None, None, None

    torch.library.register_autograd(lib + "convolve", _conv_bwd, setup_context=_conv_ctx)

    if _CGLS_CPU or _CGLS_CUDA:  # (no autograd: CGLS calls these only when nothing needs a gradient)

        @torch.library.register_fake(lib + "cgls_residual")
        def _(s, q, kold, qn, act):  # noqa: ANN001, ANN202
            _one_device("cgls_residual", s, q, kold, qn, act)
            return s.new_empty(s.shape), kold.new_empty((s.shape[0],)), kold.new_empty((s.shape[0],))

        @torch.library.register_fake(lib + "cgls_direction")
        def _(x, c, r, a, rn, kold, act, keep):  # noqa: ANN001, ANN202
            _one_device("cgls_direction", x, c, r, a, rn, kold, act)
            return x.new_empty(x.shape), x.new_empty(x.shape), kold.new_empty((x.shape[0],))

    if _SPARSE:  # (no autograd: the solvers call these only when nothing needs a gradient)

        @torch.library.register_fake(lib + "shrink")
        def _(z, g, alpha, alphas, thresh, threshs, kind):  # noqa: ANN001, ANN202
            _one_device("shrink", z, g, alphas, threshs)
            return z.new_empty(z.shape)

        @torch.library.register_fake(lib + "fista_update")
        def _(xn, xold, z, r, rz, y, oxn, act, xu, lastcost, w, tol, eps, epss):  # noqa: ANN001, ANN202
            _one_device("fista_update", xn, xold, z, r, rz, y, oxn, act, xu, lastcost, w, epss)
            B = xn.shape[0]
            return (xn.new_empty(xn.shape), xn.new_empty(xn.shape), r.new_empty(r.shape), r.new_empty(r.shape),
                    xn.new_empty((B, 1)), act.new_empty((B, 1)), xn.new_empty((B, 1)))


def _filter_grad(
    x: torch.Tensor,
    h: torch.Tensor,
    g: torch.Tensor,
    axes: Sequence[int],
    offsets: Sequence[int],
    nout: Sequence[int],
    adjoint: bool,
) -> torch.Tensor:
    """Vector-Jacobian product of the convolution with respect to the filter ``(Bh, *hshape)``
    or ``(*hshape)``: an FFT cross-correlation in pure torch (differentiable again)."""
    from torchlops.functional.convolution import convolve_filter_vjp

    if x.numel() == 0 or g.numel() == 0:  # (an empty batch: no FFT of nothing, a zero gradient,
        # tied to x and g so that a double backward through it finds them)
        return torch.zeros_like(h) + (x.sum() + g.sum()) * 0
    return convolve_filter_vjp(h, x, g, axes, offsets, adjoint, h.dim() > len(axes))


if _C is not None:
    _register()
