"""The one autograd Function that links an operator's forward and adjoint.

``OperatorFunction.apply(op, adjoint, layout, x, *tensors)`` computes ``op._matvec``
(``adjoint=False``) or ``op._rmatvec`` (``adjoint=True``) of ``x``, which holds
``nb`` inputs (``layout = (nb, outshape, direct)``): it is reshaped to ``(nb, *in)``
inside the Function and the result to ``outshape``, so no view nodes enter the graph.
``direct`` says the caller has checked that ``x`` already is the kernel's input and
the kernel's output is ``outshape`` (the common case: then no shape is inspected).
``tensors`` are the operator's own parameters and buffers: they are inputs of the
Function so that

* they receive gradients when they require grad (differentiating the operator's
  pure-torch ``_matvec``/``_rmatvec`` with respect to them, unless the operator
  gives an explicit ``_tensor_vjp``),
* transforms that swap them (``torch.func.functional_call``, ``vmap`` over
  parameters) see the swapped values in forward and backward alike.

The vector-Jacobian product of ``y = A x`` is ``A^H g`` (PyTorch's convention for
complex tensors, and the real adjoint for R-linear operators), so backward applies
the other direction through this same Function: double backward and
Hessian-vector products come for free. The Jacobian-vector product is the operator
itself. ``vmap`` folds the mapped dimension into the batch dimension.

First-order applications that need a gradient for the input only are recorded, when the
compiled extension is built, by a C++ node with the same forward and backward (see
:func:`record` and ``csrc/autograd.cpp``): it spares the Python Function's own per-call cost.
"""

from __future__ import annotations

import sys as _sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.modules.module import _has_any_global_hook as _has_global_hooks

if TYPE_CHECKING:  # pragma: no cover
    from torchlops.linearoperator import LinearOperator

__all__ = ["OperatorFunction", "apply_operator", "record", "needs_function", "run_kernel", "own_tensors", "bind_tensors"]

Layout = tuple[int, tuple[int, ...], bool]


def own_tensors(op: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """The operator's own (non-recursive) parameters then buffers, in registration order."""
    params, buffers = op._parameters, op._buffers
    if not params:
        if not buffers:
            return ()
        return tuple([t for t in buffers.values() if t is not None])
    out = [t for t in params.values() if t is not None]
    if buffers:
        out.extend([t for t in buffers.values() if t is not None])
    return tuple(out)


def _holds(op: torch.nn.Module, tensors: Sequence[torch.Tensor]) -> bool:
    """Whether ``op``'s own tensors are exactly ``tensors`` (the common case: no swapping)."""
    if not tensors:
        return True
    i = 0
    n = len(tensors)
    for d in (op._parameters, op._buffers):
        for t in d.values():
            if t is None:
                continue
            if i >= n or t is not tensors[i]:
                return False
            i += 1
    return i == n


def _versions(tensors: Sequence[torch.Tensor]) -> tuple[int, ...] | None:
    """The version counters of the operator tensors a backward will read (None: some tensor
    keeps none, an inference tensor)."""
    try:
        return tuple([t._version for t in tensors])
    except RuntimeError:
        return None


def _check_versions(op: torch.nn.Module, tensors: Sequence[torch.Tensor], versions: tuple[int, ...] | None) -> None:
    """Raise as PyTorch does for a saved tensor when an operator tensor the backward reads was
    modified in place after the forward (the backward would apply the new values)."""
    if versions is None:
        return
    for i, (t, v) in enumerate(zip(tensors, versions)):
        if t._version != v:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: tensor {i} of {type(op).__name__} (shape {tuple(t.shape)}) is at version "
                f"{t._version}; expected version {v} instead (the operator applies it in the backward: "
                "update it out of place, or apply the operator again after the change)"
            )


@contextmanager
def bind_tensors(op: torch.nn.Module, tensors: Sequence[torch.Tensor]) -> Iterator[None]:
    """Temporarily make ``op``'s own parameters/buffers the given tensors (same order as
    :func:`own_tensors`)."""
    slots = [(d, k) for d in (op._parameters, op._buffers) for k, t in d.items() if t is not None]
    changed = [(d, k, d[k]) for (d, k), t in zip(slots, tensors) if d[k] is not t]
    for (d, k), t in zip(slots, tensors):
        d[k] = t
    try:
        yield
    finally:
        for d, k, old in changed:
            d[k] = old


def _raw(op: LinearOperator, adjoint: bool, x: torch.Tensor) -> torch.Tensor:
    return op._rmatvec(x) if adjoint else op._matvec(x)


def run_kernel(op: LinearOperator, adjoint: bool, x: torch.Tensor, nb: int, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(nb, *in)`` view of ``x`` through the raw kernel, with ``tensors`` bound. Operators
    that declare ``_any_batch`` take ``x`` with whatever leading dims it has."""
    ins = op._dimsd if adjoint else op._dims
    if op._any_batch:
        k = x.dim() - len(ins)
        if k < 0 or x.shape[k:] != ins:
            x = x.reshape(nb, *ins)
    elif x.dim() == 0 or x.shape[0] != nb or x.shape[1:] != ins:  # (0-d: a model of dims ())
        x = x.reshape(nb, *ins)
    if _holds(op, tensors):
        return op._rmatvec(x) if adjoint else op._matvec(x)
    with bind_tensors(op, tensors):
        return op._rmatvec(x) if adjoint else op._matvec(x)


_transforms_active = torch._C._are_functorch_transforms_active
_grad_enabled = torch.is_grad_enabled


def needs_function(x: torch.Tensor, tensors: Sequence[torch.Tensor]) -> bool:
    """Whether an application must go through the autograd Function: something requires
    grad (with grad mode on), forward-mode AD is active, or a torch.func transform is."""
    if _grad_enabled():
        if x.requires_grad:
            return True
        for t in tensors:
            if t.requires_grad:
                return True
    return torch.autograd.forward_ad._current_level >= 0 or _transforms_active()



_forward_ad = torch.autograd.forward_ad
_functorch_level = torch._C._functorch.maybe_current_level


def _fwd_ad_active() -> bool:
    return _forward_ad._current_level >= 0 or _functorch_level() is not None


class OperatorFunction(torch.autograd.Function):
    """``y = A x`` (or ``A^H x``) whose backward is ``A^H g`` (or ``A g``), whose jvp is the
    operator itself and whose vmap rule folds the mapped dimension into the batch."""

    @staticmethod
    def forward(op: LinearOperator, adjoint: bool, layout: Layout, x: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        nb, outshape, direct = layout
        if direct and _holds(op, tensors):
            y = op._rmatvec(x) if adjoint else op._matvec(x)
        else:
            y = run_kernel(op, adjoint, x, nb, tensors)
            y = y if y.shape == outshape else y.reshape(outshape)
        if y._base is not None and _forward_ad._current_level >= 0:
            # (forward-mode AD wants a view's tangent to be a view of the same layout, which
            # the jvp's is not: a kernel's output that is a view of its own work is copied)
            y = y.clone()
        return y

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        op, adjoint, layout, x = inputs[:4]
        tensors = inputs[4:]
        ctx.op = op
        ctx.adjoint = adjoint
        ctx.nb = layout[0]
        ctx.direct = layout[2]
        ctx.xshape = x.shape
        ctx.ystride = output.stride()  # forward AD wants each tangent in its primal's layout
        # no zero-filled gradients or tangents for inputs that have none
        ctx.set_materialize_grads(False)
        ctx.tensors_fw = tensors
        if not tensors:
            ctx.tensor_grads = ctx.keep_x = False
            return
        ctx.tensor_grads = True in ctx.needs_input_grad[4:]
        ctx.keep_x = ctx.tensor_grads or _fwd_ad_active()
        if ctx.keep_x:
            # graph-connected copies for double backward through the tensors' gradients
            # (saved tensors: autograd checks their versions itself)
            ctx.save_for_backward(x, *tensors)
            ctx.save_for_forward(x)
        else:  # (traced by torch.compile: version counters are not values there)
            ctx.versions = None if torch.compiler.is_compiling() else _versions(tensors)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None) -> tuple:
        if g is None:
            return (None,) * (4 + len(ctx.tensors_fw))
        op, adjoint, nb, tensors = ctx.op, ctx.adjoint, ctx.nb, ctx.tensors_fw
        if ctx.keep_x:
            saved = ctx.saved_tensors
            x, tensors = saved[0], saved[1:]
        elif tensors:
            _check_versions(op, tensors, ctx.versions)
        gx = None
        if ctx.needs_input_grad[3]:
            if _grad_enabled() or _forward_ad._current_level >= 0:
                # create_graph: keep the adjoint differentiable (double backward); forward-mode
                # AD: g may carry a tangent (forward over reverse), which the Function's jvp
                # carries and the kernels alone would drop
                gx = apply_operator(op, not adjoint, (nb, ctx.xshape, ctx.direct), g, *tensors)
            elif ctx.direct and _holds(op, tensors):
                gx = op._matvec(g) if adjoint else op._rmatvec(g)
            else:
                gx = OperatorFunction.forward(op, not adjoint, (nb, ctx.xshape, ctx.direct), g, *tensors)
        if not ctx.tensor_grads:
            if not tensors:
                return None, None, None, gx
            return (None, None, None, gx, *((None,) * len(tensors)))
        tgrads = _tensor_vjp(op, adjoint, x, nb, tensors, g, ctx.needs_input_grad[4:])
        return (None, None, None, gx, *tgrads)

    @staticmethod
    def jvp(ctx: Any, _o: None, _a: None, _l: None, x_t: torch.Tensor | None, *tensor_ts: torch.Tensor | None):
        op, adjoint, tensors = ctx.op, ctx.adjoint, ctx.tensors_fw
        out = None
        if any(t is not None for t in tensor_ts):
            (x,) = ctx.saved_tensors
            out = _tensor_jvp(op, adjoint, x, ctx.nb, tensors, tensor_ts)
        if x_t is not None:
            outs = op._dims if adjoint else op._dimsd
            lin = OperatorFunction.apply(op, adjoint, (ctx.nb, (ctx.nb, *outs), False), x_t, *tensors)
            out = lin if out is None else out + lin
        if out is not None:
            outshape = _outshape(op, adjoint, ctx.xshape)
            out = out.reshape(outshape)
            if out.stride() != ctx.ystride:
                # (new_empty_strided: a vmapped tangent, as in jacfwd / hessian, is copied into
                # a vmapped tensor; a plain one cannot take it)
                out = out.new_empty_strided(outshape, ctx.ystride).copy_(out)
        return out

    @staticmethod
    def vmap(info: Any, in_dims: tuple, op: LinearOperator, adjoint: bool, layout: Layout, x: torch.Tensor, *tensors: torch.Tensor):
        nb, outshape, _ = layout
        xdim, tdims = in_dims[3], in_dims[4:]
        # (an operator whose samples are not interchangeable, e.g. per-sample filters cycling
        # over the batch, is folded only where each entry's own call would see the same filters)
        if all(d is None for d in tdims) and (xdim is None or op._foldable(nb)):
            if xdim is None:
                return OperatorFunction.apply(op, adjoint, layout, x, *tensors), None
            # fold the mapped dimension into the operator's batch dimension
            xv = x.movedim(xdim, 0)
            nv = xv.shape[0]
            y = OperatorFunction.apply(op, adjoint, (nv * nb, (nv, *outshape), False), xv, *tensors)
            return y, 0
        # the operator's own tensors are mapped (or the batch does not fold): one application
        # per mapped entry
        outs = []
        for i in range(info.batch_size):
            xi = x if xdim is None else x.select(xdim, i)
            ti = [t if d is None else t.select(d, i) for t, d in zip(tensors, tdims)]
            outs.append(OperatorFunction.apply(op, adjoint, layout, xi, *ti))
        return torch.stack(outs, 0), 0


def _outshape(op: LinearOperator, adjoint: bool, xshape: Sequence[int]) -> tuple[int, ...]:
    ins, outs = (op._dimsd, op._dims) if adjoint else (op._dims, op._dimsd)
    k = len(xshape) - len(ins)
    if k >= 0 and tuple(xshape[k:]) == ins:
        return (*xshape[:k], *outs)
    return (*xshape[:-1], op.shape[1] if adjoint else op.shape[0])


def _alias(t: torch.Tensor) -> torch.Tensor:
    """A new autograd node standing for ``t`` (a view; a copy for sparse layouts, which have
    no views)."""
    return t.view_as(t) if t.layout == torch.strided else t.clone()


_is_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


def _fresh_leaf(t: torch.Tensor, fw: bool) -> torch.Tensor:
    """A leaf requiring grad with ``t``'s values, and its forward-mode tangent where ``fw``."""
    tan = _forward_ad.unpack_dual(t).tangent if fw else None
    d = t.detach()
    return (d if tan is None else _forward_ad.make_dual(d, tan)).requires_grad_()


def _tensor_vjp(
    op: LinearOperator,
    adjoint: bool,
    x: torch.Tensor,
    nb: int,
    tensors: Sequence[torch.Tensor],
    g: torch.Tensor,
    needs: Sequence[bool],
) -> list[torch.Tensor | None]:
    """Gradients of ``<g, A(p) x>`` with respect to the operator's tensors ``p``."""
    ins, outs = (op._dimsd, op._dims) if adjoint else (op._dims, op._dimsd)
    xb = x.reshape(nb, *ins)
    gb = g.reshape(nb, *outs)
    custom = getattr(op, "_tensor_vjp", None)
    if custom is not None:
        grads = custom(adjoint, xb, tensors, gb, needs)
        if grads is not NotImplemented:  # (an operator may decline, e.g. for sparse tensors)
            return list(grads)
    create = torch.is_grad_enabled()
    fw = _forward_ad._current_level >= 0
    if not create and not fw:  # (under forward-mode AD x's tangent is part of the result's)
        xb = xb.detach()
    wrapped = _is_wrapped(xb) or _is_wrapped(gb) or any(_is_wrapped(t) for t in tensors)
    if not wrapped or any(n and t.layout != torch.strided for t, n in zip(tensors, needs)):
        # plain tensors (and sparse ones, which torch.func does not take): autograd.grad with
        # respect to fresh aliases of the tensors, not the tensors themselves, which x may depend
        # on too and which a graph for double backward must keep (the cheaper route)
        with torch.enable_grad():
            ins_t = [(_alias(t) if t.requires_grad else _fresh_leaf(t, fw)) if n else t
                     for t, n in zip(tensors, needs)]
            with bind_tensors(op, ins_t):
                y = _raw(op, adjoint, xb)
            wrt = [t for t, n in zip(ins_t, needs) if n]
            grads = iter(torch.autograd.grad(y, wrt, gb, create_graph=create, allow_unused=True))
        return [next(grads) if n else None for n in needs]
    # torch.func wrappers (the backward of a torch.func.vjp / jacrev / hessian, whose level has
    # ended by then: autograd.grad does not see them): the partial derivative at fixed x as a
    # torch.func.vjp in the tensors (its own level, so x, which may depend on them too, is a
    # constant there, and a graph asked for by the caller is kept)
    want = [i for i, n in enumerate(needs) if n]

    def fn(*ts: torch.Tensor) -> torch.Tensor:
        full = list(tensors)
        for i, t in zip(want, ts):
            full[i] = t
        with bind_tensors(op, full):
            return _raw(op, adjoint, xb)

    _, pull = torch.func.vjp(fn, *(tensors[i] for i in want))
    grads = iter(pull(gb))
    return [next(grads) if n else None for n in needs]


def _tensor_jvp(
    op: LinearOperator,
    adjoint: bool,
    x: torch.Tensor,
    nb: int,
    tensors: Sequence[torch.Tensor],
    tangents: Sequence[torch.Tensor | None],
) -> torch.Tensor:
    """Directional derivative of ``A(p) x`` along the tangents of the operator's tensors.

    Inside a ``torch.func`` transform this nests ``torch.func.jvp``; otherwise it is
    ``d/dv <J^T v, t>`` (reverse mode twice), which needs no nested forward-mode level
    and holds for real and complex tensors alike (complex numbers as pairs of reals).
    """
    xb = x.reshape(nb, *(op._dimsd if adjoint else op._dims))
    if torch._C._functorch.maybe_current_level() is not None:
        filled = tuple(torch.zeros_like(t) if tt is None else tt for t, tt in zip(tensors, tangents))

        def fn(*ts: torch.Tensor) -> torch.Tensor:
            with bind_tensors(op, ts):
                return _raw(op, adjoint, xb)

        return torch.func.jvp(fn, tuple(tensors), filled)[1]
    with torch.enable_grad():
        ins = [t.detach().requires_grad_(tt is not None) for t, tt in zip(tensors, tangents)]
        with bind_tensors(op, ins):
            y = _raw(op, adjoint, xb.detach())
        v = torch.zeros_like(y, requires_grad=True)
        pairs = [(p, tt) for p, tt in zip(ins, tangents) if tt is not None]
        gs = torch.autograd.grad(y, [p for p, _ in pairs], v, create_graph=True, allow_unused=True)
        s = sum((gp.conj() * tt).real.sum() for gp, (_, tt) in zip(gs, pairs) if gp is not None)
        if not isinstance(s, torch.Tensor) or not s.requires_grad:
            return torch.zeros_like(y)
        (jt,) = torch.autograd.grad(s, v)
    return jt


class _CompiledOperatorFunction(torch.autograd.Function):
    """The same forward and backward as :class:`OperatorFunction`, in the form dynamo traces
    into one graph (``torch.compile`` does not trace Functions with a custom ``jvp``, and
    passes a context to ``forward``)."""

    @staticmethod
    def forward(ctx: Any, op: LinearOperator, adjoint: bool, layout: Layout, x: torch.Tensor, *tensors: torch.Tensor):
        y = OperatorFunction.forward(op, adjoint, layout, x, *tensors)
        OperatorFunction.setup_context(ctx, (op, adjoint, layout, x, *tensors), y)
        return y

    backward = OperatorFunction.backward


# Function.apply binds its arguments through inspect.signature on every call (tens of
# microseconds). Every call here is positional with no defaults, so outside transforms and
# compilation the C entry point is called directly; torch.compile and torch.func take the
# stock route (dynamo recognises OperatorFunction.apply).
_fast_apply = super(torch.autograd.Function, OperatorFunction).apply


def apply_operator(*args: Any) -> torch.Tensor:
    """``OperatorFunction.apply(op, adjoint, layout, x, *tensors)`` with less Python overhead."""
    if torch.compiler.is_compiling():
        return _CompiledOperatorFunction.apply(*args)
    if _transforms_active():
        return OperatorFunction.apply(*args)
    return _fast_apply(*args)


# ---------------------------------------------------------------------------- native node
# The compiled extension can record the same forward/adjoint pair as a C++ autograd node
# (csrc/autograd.cpp): the forward kernel runs with grad mode off and the output's node
# calls :func:`_node_backward`, which applies the other direction exactly as
# ``OperatorFunction.backward`` does (through the Function when a graph is being built, so
# higher derivatives are unchanged). It is taken for first-order reverse mode with respect
# to the input only (no operator tensor requires grad, no forward AD, no torch.func
# transform, not compiling), where a Python Function's own cost dominates small operators.
try:  # the extension is optional; an older build may lack the node
    from torchlops import _C as _ext

    _node_run = getattr(_ext, "run", None)
except ImportError:  # pragma: no cover - depends on the build
    _node_run = None

#: record first-order applications with the compiled node when the extension has it
#: (``False`` forces the Python Function everywhere; the tests run both)
NATIVE_NODE: bool = _node_run is not None
_EXACT_TENSORS = (torch.Tensor, torch.nn.Parameter)


def _node_backward(state: tuple, g: torch.Tensor) -> torch.Tensor:
    """The node's backward: ``state = (op, adjoint, nb, xshape, direct, tensors, versions)`` of
    the forward."""
    op, adjoint, nb, xshape, direct, tensors, versions = state
    if tensors:
        _check_versions(op, tensors, versions)
    if _grad_enabled() or _forward_ad._current_level >= 0:
        # create_graph: keep the adjoint differentiable (double backward)
        return apply_operator(op, not adjoint, (nb, xshape, direct), g, *tensors)
    if direct and _holds(op, tensors):
        return op._matvec(g) if adjoint else op._rmatvec(g)
    y = run_kernel(op, not adjoint, g, nb, tensors)
    return y if y.shape == xshape else y.reshape(xshape)


if _node_run is not None:
    _ext.set_node_functions(_node_backward)


def _node_unsafe(op: LinearOperator) -> bool:
    """Cases the node leaves to the Function: module hooks on the operator (a hook that keeps
    the output would close a reference cycle through the node, which the garbage collector
    cannot see into; the Function's context it can), and compiled autograd (which cannot
    trace the node)."""
    if op._forward_hooks or op._forward_pre_hooks or op._backward_hooks or op._backward_pre_hooks:
        return True
    if _has_global_hooks():
        return True
    dyn = _sys.modules.get("torch._dynamo")
    if dyn is not None:
        ca = _sys.modules.get("torch._dynamo.compiled_autograd")
        if ca is not None and ca.compiled_autograd_enabled:
            return True
    return False


def record(op: LinearOperator, adjoint: bool, layout: Layout, x: torch.Tensor, tensors: tuple) -> torch.Tensor:
    """Apply ``op`` (or its adjoint) to ``x`` that requires grad, with autograd: through the
    compiled node when it applies (see above), else through :class:`OperatorFunction`."""
    if NATIVE_NODE and type(x) in _EXACT_TENSORS and x.requires_grad and not (
        _fwd_ad_active() or _transforms_active() or torch.compiler.is_compiling() or _node_unsafe(op)
    ):
        for t in tensors:
            if t.requires_grad:
                break
        else:
            nb, outshape, direct = layout
            kernel = op._rmatvec if adjoint else op._matvec
            vers = _versions(tensors) if tensors else None
            if direct:
                y = _node_run(kernel, x, (op, adjoint, nb, x.shape, True, tensors, vers), None, None, tensors)
            else:
                kshape = (nb, *(op._dimsd if adjoint else op._dims))
                y = _node_run(kernel, x, (op, adjoint, nb, x.shape, False, tensors, vers), kshape, outshape, tensors)
            if y is not None:
                return y
    return apply_operator(op, adjoint, layout, x, *tensors)
