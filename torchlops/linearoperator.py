"""The LinearOperator base class: a ``torch.nn.Module`` with a forward and an adjoint."""

from __future__ import annotations

import math
import numbers
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from torchlops._autograd import needs_function, own_tensors, record, run_kernel
from torchlops.utils.checks import check_backend, complex_dtype, prod, real_dtype, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike

#: the common input dtypes, checked by set membership before the general test
_FLOAT_DTYPES = frozenset({torch.float32, torch.float64, torch.complex64, torch.complex128})
#: input shapes whose layout an operator keeps (beyond that it recomputes them)
_MAX_PLANS = 32

__all__ = ["LinearOperator", "aslinearoperator"]

_is_compiling = torch.compiler.is_compiling


def _plain(y: torch.Tensor) -> torch.Tensor:
    """``y`` without a lazy conj/neg bit (say ``conj(A^T conj(x))``), so callers get plain values
    (traced code has no such views to resolve: functionalisation materialises them)."""
    if y.is_complex() and not _is_compiling() and (y.is_conj() or y.is_neg()):
        return y.resolve_conj().resolve_neg()
    return y


#: per class: whether clinear / explicit / name may be set in the instance's dict (no class
#: attribute or property of those names, no __setattr__ of its own; weak: classes made on the fly
#: are freed)
_PLAIN_PUBLIC: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()

#: how many times an operator has been converted (``.to``, ``.double()``, ...): a composite
#: derives its dtype from its parts again when this has changed since it last did
_CONVERSIONS = [0]


def _plain_function_modes() -> bool:
    """Whether the torch-function modes in force, if any, only set a default device."""
    if not torch._C._is_torch_function_mode_enabled():
        return True
    try:
        from torch.overrides import _get_current_function_mode_stack
        from torch.utils._device import DeviceContext

        return all(isinstance(m, DeviceContext) for m in _get_current_function_mode_stack())
    except (ImportError, AttributeError):  # (another torch: keep nothing under modes)
        return False


class LinearOperator(nn.Module):
    r"""Base class of every torchlops operator.

    A linear operator :math:`\mathbf{A}: \mathbb{F}^{N} \to \mathbb{F}^{M}` acting on
    tensors of shape ``dims`` (model) and returning tensors of shape ``dimsd`` (data).
    It is a :class:`torch.nn.Module`: the tensors that define it are buffers (or
    :class:`torch.nn.Parameter` when learnt), so ``.to()``, ``.double()``, ``state_dict``
    and ``parameters()`` behave as for any layer.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`, optional
        Model shape (defaults to ``(shape[1],)``).
    dimsd : :obj:`int` or :obj:`tuple`, optional
        Data shape (defaults to ``(shape[0],)``).
    shape : :obj:`tuple`, optional
        ``(M, N)``, used only when ``dims``/``dimsd`` are not given.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to :func:`torch.get_default_dtype`).
    clinear : :obj:`bool`, optional
        ``False`` for operators that are only R-linear (``Real``, ``Imag``, ``Conj``).
    explicit : :obj:`bool`, optional
        The operator holds its dense matrix (``A``).
    name : :obj:`str`, optional
        Display name.

    Notes
    -----
    A subclass implements ``_matvec(x)`` and ``_rmatvec(y)`` on ONE leading batch
    dimension: ``x`` is ``(B, *dims)``, ``y`` is ``(B, *dimsd)``. Every public
    application (``Op @ x``, ``Op(x)``, ``Op.matvec(x)``, ``Op.H @ y``, ``Op.rmatvec(y)``)
    accepts ``(*batch, *dims)`` or flat ``(*batch, N)`` inputs and goes through
    :class:`torchlops._autograd.OperatorFunction`, whose backward is the adjoint.

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 3.0]))
    >>> D @ torch.ones(3)
    tensor([1., 2., 3.])
    >>> (D.H @ D).matvec(torch.ones(2, 3))
    tensor([[1., 4., 9.],
            [1., 4., 9.]])
    """

    # composite operators apply their parts and do not use the Function themselves
    _composite: bool = False
    # element-wise operators whose kernels broadcast over any leading dims (including none)
    # may set this: their _matvec/_rmatvec then receive inputs without a reshape
    _any_batch: bool = False
    # complex by definition (FFT, Shift, Real, Imag, Conj): a conversion to a real dtype sets
    # the precision and keeps it complex
    _complex_by_definition: bool = False
    # complex operators whose kernels take a real input of their precision as the complex one of
    # zero imaginary part (torch.fft's real-input transforms): where nothing is recorded, a real
    # input is not converted to the complex dtype first (a copy of twice its size)
    _real_input_kernels: bool = False
    # kernels differentiated by autograd as the torch code they are, never through the autograd
    # Function (FunctionOperator(autograd=True): tensors its functions close over get gradients)
    _autograd_through_kernels: bool = False

    def __init__(
        self,
        dims: InputDimsLike | None = None,
        dimsd: InputDimsLike | None = None,
        shape: tuple[int, int] | None = None,
        dtype: DTypeLike = None,
        clinear: bool = True,
        explicit: bool = False,
        name: str = "A",
    ) -> None:
        super().__init__()
        if dims is None or dimsd is None:
            if shape is None:
                if dims is None and dimsd is None:
                    raise ValueError("LinearOperator needs dims and dimsd, or shape")
                dims = dimsd if dims is None else dims
                dimsd = dims if dimsd is None else dimsd
            else:
                shape = to_dims(shape, "shape")
                if len(shape) != 2:
                    raise ValueError(f"shape must be (M, N), got {shape}")
                dims = (shape[1],) if dims is None else dims
                dimsd = (shape[0],) if dimsd is None else dimsd
        dims = to_dims(dims, "dims")
        dimsd = to_dims(dimsd, "dimsd")
        if shape is not None and tuple(shape) != (prod(dimsd), prod(dims)):
            raise ValueError(f"shape {tuple(shape)} does not match dims {dims} and dimsd {dimsd}")
        # (plain values, none a tensor or a module: set in the instance's dict, without the checks
        # of Module.__setattr__, which were most of the cost of building a composite such as Op.H;
        # the public ones as any attribute where a class defines them, say as properties)
        self.__dict__.update(
            _dims=dims,
            _dimsd=dimsd,
            _n=prod(dims),
            _m=prod(dimsd),
            _dtype=to_torch_dtype(dtype),
            _dtype_epoch=-1,  # (composites: the conversion count their dtype was derived at)
            # (adjoint, input shape) -> (nb, outshape, direct), filled by _layout
            _plans={},
        )
        public = {"clinear": bool(clinear), "explicit": bool(explicit), "name": name}
        cls = type(self)
        plain = _PLAIN_PUBLIC.get(cls)
        if plain is None:
            plain = _PLAIN_PUBLIC[cls] = cls.__setattr__ is nn.Module.__setattr__ and not any(
                hasattr(cls, k) for k in public)
        if plain:
            self.__dict__.update(public)
        else:
            for k, v in public.items():
                setattr(self, k, v)

    # ------------------------------------------------------------------ attributes
    @property
    def dims(self) -> tuple[int, ...]:
        """Model shape."""
        return self._dims

    @property
    def dimsd(self) -> tuple[int, ...]:
        """Data shape."""
        return self._dimsd

    @property
    def shape(self) -> tuple[int, int]:
        """``(prod(dimsd), prod(dims))``."""
        return (self._m, self._n)

    @property
    def dtype(self) -> torch.dtype:
        """Operator dtype (follows ``.to(dtype)``, ``.double()``, ...; a composite's is derived
        from its parts', so it follows them also when they are converted through another
        composite that shares them)."""
        if self._composite and torch.compiler.is_compiling():
            # (traced: from the parts, no cache and no global count, which dynamo would guard
            # on, recompiling after any operator's conversion)
            dt = self._dtype_from_parts()
            return self._dtype if dt is None else dt
        if self._composite and self._dtype_epoch != _CONVERSIONS[0]:
            # (derived once per conversion of any operator, then kept: a walk of the parts on
            # every application would cost nested composites quadratic time)
            dt = self._dtype_from_parts()
            if dt is not None:
                self._dtype = dt
            self._dtype_epoch = _CONVERSIONS[0]
        return self._dtype

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._dtype_epoch = -1  # (the conversion count is this process's: derive afresh)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for k in [k for k in state if k.startswith("_kept")]:
            del state[k]  # (values kept by _kept and kept_line_terms are built again on use)
        return state

    def _kept(self, slot: str, source: torch.Tensor, build: Callable[[], torch.Tensor], key: Any = None) -> torch.Tensor:
        """``build()``, a value derived from the tensor ``source`` (a Vandermonde matrix, a phase),
        kept on the CPU while ``source`` holds the same values (compared with a copy: writes
        through ``.data`` or a shared NumPy array count too) and ``key`` is the same. Built afresh
        elsewhere (a comparison would read the device), and where ``source`` is recorded (it
        requires grad with grad mode on, forward-mode AD is on), a transform's wrapper or a
        tensor subclass, under a trace (``torch.compile``, ``torch.jit.trace``, ``make_fx``),
        a dispatch or function mode (fake tensors; a default device, ``torch.set_default_device``
        or ``with torch.device(...)``, is not one of them), or in inference mode."""
        if (source.device.type != "cpu" or (source.requires_grad and torch.is_grad_enabled())
                or type(source) not in (torch.Tensor, nn.Parameter)
                or torch.compiler.is_compiling() or torch.jit.is_tracing()
                or torch._C._len_torch_dispatch_stack() or not _plain_function_modes()
                or torch.autograd.forward_ad._current_level >= 0
                or torch._C._functorch.is_functorch_wrapped_tensor(source) or torch.is_inference_mode_enabled()
                or source.is_inference()):
            return build()
        kept = self.__dict__.setdefault("_kept_values", {})
        old = kept.get(slot)
        if (old is not None and old[1] == key and old[0].dtype == source.dtype and old[0].shape == source.shape
                and torch.equal(old[0], source)):
            return old[2]
        value = build()
        kept[slot] = (source.detach().clone(), key, value)
        return value

    def _parts(self) -> list[LinearOperator]:
        """The operators a composite is made of (its direct children, lists included)."""
        out: list[LinearOperator] = []
        for m in self.children():
            if isinstance(m, LinearOperator):
                out.append(m)
            elif isinstance(m, (nn.ModuleList, nn.Sequential)):
                out.extend(o for o in m if isinstance(o, LinearOperator))
        return out

    def _dtype_from_parts(self) -> torch.dtype | None:
        """A composite's dtype from its parts' dtypes now (``None``: it has no parts and its
        dtype is its own). Promotes them by default; composites with another rule override it."""
        parts = self._parts()
        if not parts:
            return None
        dt = parts[0].dtype
        for op in parts[1:]:
            dt = torch.promote_types(dt, op.dtype)
        return dt

    @property
    def device(self) -> torch.device | None:
        """Device of the operator's tensors (``None`` when it has none)."""
        for t in own_tensors(self):
            return t.device
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return None

    def _apply(self, fn: Any, recurse: bool = True) -> LinearOperator:
        # a dtype of the operator's own (a leaf's, a dtype given to a stack) follows the
        # conversion (probed before anything is converted: an integer one is refused); a
        # composite's then follows from its converted parts
        probes = {}
        for attr in ("_dtype", "_given_dtype"):
            own = getattr(self, attr, None)
            if own is not None:
                with warnings.catch_warnings():  # (a complex probe cast to real warns)
                    warnings.simplefilter("ignore")
                    probes[attr] = fn(torch.zeros((), dtype=own)).dtype
        if "_dtype" in probes and not (probes["_dtype"].is_floating_point or probes["_dtype"].is_complex):
            raise TypeError(f"{self.name}: an operator converts to floating or complex dtypes only, "
                            f"not {probes['_dtype']}")
        if self._complex_by_definition:
            # complex by its definition (FFT, Shift, Real, ...), not by a tensor that torch casts
            # to real or a dtype given to it: a real target dtype sets its precision and it stays
            # complex
            for attr, dt in probes.items():
                own = getattr(self, attr)
                if own.is_complex and dt.is_floating_point:
                    probes[attr] = complex_dtype(dt)
        super()._apply(fn, recurse)
        for attr, dt in probes.items():
            if dt.is_floating_point or dt.is_complex:
                setattr(self, attr, dt)
        _CONVERSIONS[0] += 1  # (every composite's dtype is derived afresh on its next read)
        return self

    def extra_repr(self) -> str:
        return f"dims={self._dims}, dimsd={self._dimsd}, dtype={self.dtype}"

    def register_operator_tensor(self, name: str, tensor: torch.Tensor | None) -> None:
        """Register a tensor that defines the operator: a Parameter stays a parameter
        (learnt), anything else becomes a buffer (moved by ``.to()``, saved in ``state_dict``)."""
        if isinstance(tensor, nn.Parameter):
            self.register_parameter(name, tensor)
        else:
            self.register_buffer(name, tensor)

    # ------------------------------------------------------------------ kernels
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} does not implement _matvec")

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} does not implement _rmatvec")

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        """Apply to ``x`` of shape ``(B, *in)`` with autograd; composites override it."""
        return self._apply_public(x, adjoint)

    def _device_error(self, dev: torch.device, xdev: torch.device) -> None:
        raise ValueError(
            f"{self.name}: operator is on {dev} but the input is on {xdev}; "
            f"move one of them, e.g. Op.to(x.device)"
        )

    def _check_own_device(self, x: torch.Tensor) -> None:
        """Device check for composites that hold tensors of their own (leaves check in ``_apply_public``)."""
        for t in own_tensors(self):
            if t.device != x.device:
                self._device_error(t.device, x.device)
            return

    # ------------------------------------------------------------------ application
    def _layout(self, x: Any, adjoint: bool, store: bool = True) -> tuple[int, tuple[int, ...], bool]:
        """Check an input and return ``(nb, outshape, direct)``: the number of inputs it holds,
        the output's shape, and whether it already is the kernels' ``(nb, *in)`` (or any batch
        for ``_any_batch`` operators). Valid layouts are kept per input shape."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{self.name}: input must be a torch.Tensor, got {type(x).__name__} "
                "(use torch.as_tensor to convert it)"
            )
        if x.dtype not in _FLOAT_DTYPES and not (x.is_floating_point() or x.is_complex()):
            raise TypeError(
                f"{self.name}: input must be a floating or complex tensor, got dtype {x.dtype}"
            )
        if adjoint:
            ins, outs, nin_flat, nout_flat = self._dimsd, self._dims, self._m, self._n
        else:
            ins, outs, nin_flat, nout_flat = self._dims, self._dimsd, self._n, self._m
        shp = x.shape
        nd = len(shp)
        k = nd - len(ins)
        if k >= 0 and shp[k:] == ins:
            batch = shp[:k]
            outshape = (*batch, *outs)
            # the kernels take (nb, *in), or any batch when they declare _any_batch
            direct = k == 1 or self._any_batch
        elif nd >= 1 and shp[-1] == nin_flat:
            batch = shp[:-1]
            outshape = (*batch, nout_flat)
            direct = False
        else:
            flat_form = "" if len(ins) == 1 else f" or (*batch, {prod(ins)})"
            raise ValueError(
                f"{self.name} {'adjoint' if adjoint else 'forward'}: expected an input of shape "
                f"(*batch, {', '.join(map(str, ins))}){flat_form}, got {tuple(shp)}"
            )
        nb = 1
        for b in batch:
            nb *= b
        layout = (nb, outshape, direct)
        plans = self.__dict__.get("_plans") if store else None
        if plans is not None and len(plans) < _MAX_PLANS:
            plans[adjoint, shp] = layout
        return layout

    def _apply_public(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        if _is_compiling():  # traced: no cache (its lookups would pin the batch size)
            nb, outshape, direct = self._layout(x, adjoint, store=False)
        else:
            try:  # a shape seen before: its layout is known
                nb, outshape, direct = self._plans[adjoint, x.shape]
            except (KeyError, AttributeError, TypeError):
                nb, outshape, direct = self._layout(x, adjoint)
        if not isinstance(x, torch.Tensor):
            self._layout(x, adjoint)  # raises TypeError (an object with a known shape gets here)
        dt = x.dtype
        if dt is not self._dtype and dt not in _FLOAT_DTYPES:
            self._layout(x, adjoint)  # raises for non-floating dtypes (float16 and the like pass)
        if nb == 0:
            return self._empty_batch(x, adjoint, outshape)
        if self._composite:
            y = self._batched(x.reshape(nb, *(self._dimsd if adjoint else self._dims)), adjoint).reshape(outshape)
            return _plain(y)
        # promote, check the device, and go through autograd only when needed
        tensors = own_tensors(self)
        if dt is not self._dtype:
            pt = torch.promote_types(self._dtype, dt)
            if pt is not dt:
                if (self._real_input_kernels and pt.is_complex and not dt.is_complex
                        and not needs_function(x, tensors)):
                    pt = real_dtype(pt)  # (the kernels transform the real input as it is)
                if pt is not dt:
                    x = x.to(pt)
        if tensors and tensors[0].device != x.device:
            self._device_error(tensors[0].device, x.device)
        if "parametrizations" in self._modules:
            # (torch.nn.utils.parametrize: a constrained tensor is computed on each access, from
            # originals that own_tensors does not see; plain autograd through the raw kernel
            # reaches them, the autograd Function would not)
            y = _plain(run_kernel(self, adjoint, x, nb, ()))
            return y if y.shape == outshape else y.reshape(outshape)
        if self._autograd_through_kernels:
            y = _plain(run_kernel(self, adjoint, x, nb, ()))
            return y if y.shape == outshape else y.reshape(outshape)
        if needs_function(x, tensors):
            return record(self, adjoint, (nb, outshape, direct), x, tensors)
        y = (self._rmatvec(x) if adjoint else self._matvec(x)) if direct else run_kernel(self, adjoint, x, nb, tensors)
        y = _plain(y)
        return y if direct or y.shape == outshape else y.reshape(outshape)

    def _empty_batch(self, x: torch.Tensor, adjoint: bool, outshape: tuple[int, ...]) -> torch.Tensor:
        """The result for an empty batch: no kernel (several infer sizes from the elements, and
        FFT libraries refuse empty transforms). One zero sample gives the output's dtype and
        shape (operators differ in both: FFT, toreal, ...; a batch of one filter per sample, as
        many as the filters); the result stays in ``x``'s graph."""
        ins = self._dimsd if adjoint else self._dims
        k = self._batch_period()
        y = self._apply_public(x.new_zeros((k, *ins)), adjoint)[:0].reshape(outshape)
        if x.requires_grad and torch.is_grad_enabled():
            y = y + (x.sum().real * 0).to(y.dtype)
        return y

    def _sample_period(self) -> int:
        """The batch sizes the operator takes are the multiples of this (1; operators with one
        filter per sample: the number of filters)."""
        return 1

    def _batch_period(self) -> int:
        """The batch sizes the operator and every part of it take are the multiples of this: the
        least common multiple of the parts' :meth:`_sample_period`."""
        return math.lcm(*(m._sample_period() for m in self.modules() if isinstance(m, LinearOperator)))

    def _foldable(self, nb: int) -> bool:
        """Whether ``nv`` inputs of batch ``nb`` may be applied as one batch of ``nv * nb``
        (``vmap``): unless samples are told apart by their place in the batch (sample ``b``
        takes filter ``b % Bh``: a batch of ``nv * nb`` keeps each entry's filters when ``Bh | nb``)."""
        return nb % self._sample_period() == 0

    def _flat(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        """Apply to ``(B, n_in)`` and return ``(B, n_out)`` whatever the operator's shapes
        (a 1-D ``dims`` makes the flat and N-d forms coincide, so reshape explicitly)."""
        y = self._apply_public(x, adjoint)
        nb = x.shape[0]
        if y.dim() == 2 and y.shape[0] == nb:  # already (B, n_out) (the numel fixes the columns)
            return y
        return y.reshape(nb, self._n if adjoint else self._m)

    def _flat_norm(self, x: torch.Tensor, adjoint: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(_flat(x, adjoint), the 2-norm of each of its rows)`` for ``(B, n_in)`` rows (CGLS'
        ``A c`` and ``||A c||``): from one kernel where the operator's :meth:`_apply_norm` gives
        both, else the output and then its norm."""
        nb, dt = x.shape[0], x.dtype
        # (as _apply_public: x in its own dtype where it needs no promotion to the operator's)
        if (nb and (dt is self._dtype or torch.promote_types(self._dtype, dt) is dt) and not self._composite
                and "parametrizations" not in self._modules):
            both = self._apply_norm(x.reshape(nb, *(self._dimsd if adjoint else self._dims)), adjoint)
            if both is not None:
                return both[0].reshape(nb, self._n if adjoint else self._m), both[1]
        y = self._flat(x, adjoint)
        return y, torch.linalg.vector_norm(y, dim=-1)

    def _apply_norm(self, x: torch.Tensor, adjoint: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(y, the 2-norm of each sample of y)`` for ``x`` of shape ``(B, *in)`` from one kernel
        call, or ``None`` (the default: no such kernel). Operators whose kernels compute the norm
        with the output override it; they return ``None`` wherever the call would need a graph."""
        return None

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """Forward: ``(*batch, *dims)`` -> ``(*batch, *dimsd)``, flat ``(*batch, N)`` -> ``(*batch, M)``."""
        return self._apply_public(x, False)

    def rmatvec(self, x: torch.Tensor) -> torch.Tensor:
        """Adjoint: ``(*batch, *dimsd)`` -> ``(*batch, *dims)``, flat ``(*batch, M)`` -> ``(*batch, N)``
        (the argument is named ``x`` as in PyLops)."""
        return self._apply_public(x, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``Op(x)`` is ``Op.matvec(x)``."""
        return self._apply_public(x, False)

    def matmat(self, X: torch.Tensor) -> torch.Tensor:
        """Apply to the columns of ``X`` of shape ``(N, k)`` (scipy/PyLops semantics)."""
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"{self.name}.matmat: expected a torch.Tensor, got {type(X).__name__}")
        if X.dim() != 2 or X.shape[0] != self._n:
            raise ValueError(f"{self.name}.matmat: expected a ({self._n}, k) tensor, got {tuple(X.shape)}")
        return self._flat(X.transpose(0, 1), False).transpose(0, 1)

    def rmatmat(self, Y: torch.Tensor) -> torch.Tensor:
        """Apply the adjoint to the columns of ``Y`` of shape ``(M, k)``."""
        if not isinstance(Y, torch.Tensor):
            raise TypeError(f"{self.name}.rmatmat: expected a torch.Tensor, got {type(Y).__name__}")
        if Y.dim() != 2 or Y.shape[0] != self._m:
            raise ValueError(f"{self.name}.rmatmat: expected a ({self._m}, k) tensor, got {tuple(Y.shape)}")
        return self._flat(Y.transpose(0, 1), True).transpose(0, 1)

    def dot(self, x: LinearOperator | torch.Tensor | complex) -> LinearOperator | torch.Tensor:
        """PyLops ``dot``: product with an operator, scaling by a number (or 0-d tensor), matvec
        of a vector (or of one model of shape ``dims``), matmat of an ``(N, k)``
        matrix (any ``k``, ``N`` included: its columns are the models, as in PyLops; ``Op @ X``
        and ``matvec`` take rows as a batch), and for N-d ``dims`` of a ``(*dims, k)`` array
        (``k`` models along the last axis, returned as ``(*dimsd, k)``, as PyLops; so too an
        ``(N, k)`` matrix when ``dims`` is 1-D and ``dimsd`` N-d, where ``matmat`` stays flat)."""
        if isinstance(x, LinearOperator):
            return self @ x
        if isinstance(x, torch.Tensor) and tuple(x.shape) == self._dims:
            return self.matvec(x)  # (one model of shape dims, also where dims is (N, 1) or ())
        if isinstance(x, numbers.Number) and not isinstance(x, bool) or isinstance(x, torch.Tensor) and x.dim() == 0:
            return self * x  # (a scalar: the scaled operator, as PyLops)
        if isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[0] == self._n:
            y = self.matmat(x)
            # (1-D dims: the columns are also (*dims, k), and PyLops returns (*dimsd, k))
            return y.reshape(*self._dimsd, x.shape[1]) if len(self._dims) == 1 and len(self._dimsd) > 1 else y
        if isinstance(x, torch.Tensor) and len(self._dims) > 1 and x.dim() == len(self._dims) + 1 \
                and tuple(x.shape[:-1]) == self._dims:
            k = x.shape[-1]
            return self.matmat(x.reshape(self._n, k)).reshape(*self._dimsd, k)
        return self.matvec(x)

    # ------------------------------------------------------------------ algebra
    # NumPy must not take over ``Op @ array`` / ``Op * array`` (it would build object arrays)
    __array_ufunc__ = None

    def _not_an_operand(self, other: Any, op: str) -> TypeError:
        return TypeError(
            f"unsupported operand for {op}: {self.name} and {type(other).__name__} "
            "(operators apply to torch tensors: use torch.as_tensor / torch.from_numpy)"
        )

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, torch.Tensor):
            return self._apply_public(other, False)
        from torchlops import _algebra

        if isinstance(other, LinearOperator):
            return _algebra.ProductOperator(self, other)
        raise self._not_an_operand(other, "@")

    def __rmatmul__(self, other: Any) -> Any:
        return NotImplemented

    def __mul__(self, other: Any) -> Any:
        from torchlops import _algebra

        if isinstance(other, LinearOperator):
            return _algebra.ProductOperator(self, other)
        # (a tensor with dims is an input, even of one element, as an array is in PyLops; a 0-dim
        # tensor or a number scales)
        if isinstance(other, torch.Tensor) and other.dim() > 0:
            return self._apply_public(other, False)
        if _algebra.is_scalar(other):
            return _algebra.ScaledOperator(self, other)
        raise self._not_an_operand(other, "*")

    def __rmul__(self, other: Any) -> Any:
        from torchlops import _algebra

        if _algebra.is_scalar(other):
            return _algebra.ScaledOperator(self, other)
        return NotImplemented

    def __add__(self, other: Any) -> Any:
        from torchlops import _algebra

        if isinstance(other, LinearOperator):
            return _algebra.SumOperator(self, other)
        return NotImplemented

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, LinearOperator):
            return self + (-other)
        return NotImplemented

    def __neg__(self) -> LinearOperator:
        from torchlops import _algebra

        return _algebra.ScaledOperator(self, -1)

    def __pos__(self) -> LinearOperator:
        return self

    def __pow__(self, k: int) -> LinearOperator:
        from torchlops import _algebra

        return _algebra.PowerOperator(self, k)

    def __truediv__(self, y: torch.Tensor) -> torch.Tensor:
        return self.div(y)

    @property
    def H(self) -> LinearOperator:
        """Adjoint operator."""
        from torchlops import _algebra

        return _algebra.AdjointOperator(self)

    @property
    def T(self) -> LinearOperator:
        """Transposed operator (``conj(A^H conj(x))``)."""
        from torchlops import _algebra

        return _algebra.TransposeOperator(self)

    def adjoint(self) -> LinearOperator:
        """Adjoint operator (same as ``.H``)."""
        return self.H

    def transpose(self) -> LinearOperator:
        """Transposed operator (same as ``.T``)."""
        return self.T

    def conj(self) -> LinearOperator:
        """Complex-conjugate operator: ``x -> conj(A conj(x))``."""
        from torchlops import _algebra

        return _algebra.ConjOperator(self)

    def toreal(self, forw: bool = True, adj: bool = True) -> LinearOperator:
        """Operator returning the real part of the forward (``forw``) and/or adjoint (``adj``)."""
        from torchlops import _algebra

        return _algebra.RealImagOperator(self, forw=forw, adj=adj, real=True)

    def toimag(self, forw: bool = True, adj: bool = True) -> LinearOperator:
        """Operator returning the imaginary part of the forward and/or (minus) that of the adjoint."""
        from torchlops import _algebra

        return _algebra.RealImagOperator(self, forw=forw, adj=adj, real=False)

    def apply_columns(self, cols: Any) -> LinearOperator:
        """Operator acting with a subset of the columns (model entries ``cols`` of the flat model)."""
        from torchlops import _algebra

        return _algebra.ColumnOperator(self, cols)

    # ------------------------------------------------------------------ dense / solves / spectra
    def _check_one_matrix(self, what: str) -> None:
        """ValueError when a part tells samples apart by their place in the batch (one filter per
        sample): the columns of a matrix go through as one batch, so it is not one matrix."""
        for m in self.modules():
            if isinstance(m, LinearOperator) and not m._foldable(1):
                raise ValueError(f"{what}: {m.name} applies one filter per sample of the batch "
                                 "(batched_filter=True), so it is not one matrix: build the operator of one "
                                 "sample's filter")

    def _explicit_matrix(self) -> torch.Tensor | None:
        """The operator's own dense ``(M, N)`` matrix ``A`` when it is explicit (``MatrixMult``
        without ``otherdims``), else None."""
        A = getattr(self, "A", None)
        if (self.explicit and isinstance(A, torch.Tensor) and A.layout == torch.strided
                and tuple(A.shape) == (self._m, self._n)):
            return A
        return None

    def todense(self, backend: str = "numpy") -> torch.Tensor:
        """Dense ``(M, N)`` matrix of the operator (built from ``N`` forward applications at once),
        on the operator's device; ``backend`` is accepted as in PyLops (numpy or cupy there)."""
        check_backend(backend)
        A = self._explicit_matrix()
        if A is not None:
            return A.detach().clone()
        self._check_one_matrix("todense")
        dev = self.device
        eye = torch.eye(self._n, dtype=self.dtype, device=dev)
        with torch.no_grad():
            cols = self._flat(eye, False)
        return cols.transpose(0, 1).contiguous()

    def tosparse(self) -> torch.Tensor:
        """Sparse COO ``(M, N)`` matrix of the operator (PyLops: a ``scipy.sparse`` matrix): a sparse
        ``MatrixMult``'s own matrix, else :meth:`todense` without its zeros."""
        A = getattr(self, "A", None)
        if self.explicit and isinstance(A, torch.Tensor) and A.dim() == 2 and A.layout == torch.sparse_coo:
            return A.detach().coalesce().clone()
        return self.todense().to_sparse()

    def div(self, y: torch.Tensor, niter: int = 100, densesolver: str = "torch") -> torch.Tensor:
        """Solve ``A x = y`` (least squares): a dense solve for explicit operators,
        ``niter`` CGLS iterations otherwise. ``y`` may carry leading batch dims."""
        from torchlops.optimization.basic import cgls

        if densesolver not in ("torch", "scipy", "numpy"):
            raise ValueError(f"densesolver must be 'torch', 'scipy' or 'numpy', got {densesolver!r}")
        if self.explicit:
            # (the operator's own dense matrix as it is: a learnable one gets its gradient, as
            # through CGLS; todense detaches)
            A = self._explicit_matrix()
            if A is None:
                A = self.todense()
            yf = self._flat_data(y)
            dt = torch.promote_types(A.dtype, yf.dtype)
            A, yf = A.to(dt), yf.to(dt)
            Y = yf.reshape(math.prod(yf.shape[:-1]), self._m)  # (not -1: an operator may have no rows)
            if A.shape[0] == A.shape[1]:
                x = torch.linalg.solve(A, Y.T).T
            else:
                x = (torch.linalg.pinv(A) @ Y.T).T
            # N-d data gives an N-d model, flat data a flat model (as CGLS)
            k = y.dim() - len(self._dimsd)
            nd = k >= 0 and tuple(y.shape[k:]) == self._dimsd
            return x.reshape(*yf.shape[:-1], *(self._dims if nd else (self._n,)))
        return cgls(self, y, niter=niter, tol=0.0).x

    def _flat_data(self, y: torch.Tensor, what: str = "y") -> torch.Tensor:
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"{self.name}: {what} must be a torch.Tensor, got {type(y).__name__}")
        if not (y.is_floating_point() or y.is_complex()):
            raise TypeError(f"{self.name}: {what} must be a floating or complex tensor, got dtype {y.dtype}")
        if y.dim() >= len(self._dimsd) and tuple(y.shape[y.dim() - len(self._dimsd) :]) == self._dimsd:
            return y.reshape(*y.shape[: y.dim() - len(self._dimsd)], self._m)
        if y.dim() >= 1 and y.shape[-1] == self._m:
            return y
        nd_form = f"(*batch, {', '.join(map(str, self._dimsd))})"
        flat_form = "" if len(self._dimsd) == 1 else f" or (*batch, {self._m})"
        raise ValueError(f"{self.name}: expected data of shape {nd_form}{flat_form}, got {tuple(y.shape)}")

    def eigs(
        self,
        neigs: int | None = None,
        symmetric: bool = False,
        niter: int | None = None,
        uselobpcg: bool = False,
        **kwargs_eig: Any,
    ) -> torch.Tensor:
        """Most significant eigenvalues (Lanczos for ``symmetric=True``, Arnoldi otherwise;
        singular values for rectangular operators), in decreasing order as PyLops returns them
        (``-sort(-vals)``: complex ones by real part, then imaginary part).

        PyLops' arguments, with one difference: ``niter`` is the size of the Krylov space built
        here (``niter`` operator applications, ``(niter + 1) x N`` values held), where PyLops
        passes it to ARPACK as the most restarts (``maxiter``): a PyLops call with a ``niter`` of
        hundreds builds that many vectors here (leave it out, or ask for tens). Without it, an operator of
        up to ``DENSE_LIMIT`` columns (and ``DENSE_LIMIT**2`` entries) is decomposed densely
        (``todense``, then LAPACK: every eigenvalue with its multiplicity, ``eigvalsh`` when the
        matrix is Hermitian); a larger one builds ``max(2 neigs + 1, 64)`` vectors (Ritz
        estimates: pass a larger ``niter`` for more accuracy), all ``N`` when every eigenvalue
        is asked for. ``which`` 'LI' / 'SI' raise for
        a symmetric or rectangular operator (real values, as scipy's ``eigsh``).
        ``kwargs_eig``: ``which`` ('LM' (default), 'SM', 'LA', 'SA', 'LR', 'SR', 'LI', 'SI':
        largest/smallest magnitude, algebraic or real part, imaginary part); with
        ``uselobpcg=True`` (the same Lanczos here; a symmetric or rectangular operator)
        ``largest`` (True: 'LA', False: 'SA'). Other scipy options raise ``TypeError``."""
        from torchlops.optimization.eigs import operator_eigs

        which = kwargs_eig.pop("which", "LM")
        largest = kwargs_eig.pop("largest", None)
        if kwargs_eig:
            raise TypeError(f"eigs: unsupported keyword argument(s) {', '.join(sorted(kwargs_eig))} "
                            "(supported: which, and largest with uselobpcg=True; niter sets the Krylov size)")
        if not isinstance(uselobpcg, bool):
            raise TypeError(f"eigs: uselobpcg must be a bool, got {uselobpcg!r}")
        square = self.shape[0] == self.shape[1]
        if uselobpcg:
            if square and not symmetric and self.dtype.is_complex:
                raise ValueError("eigs: uselobpcg=True needs a symmetric (Hermitian) operator when it is "
                                 "square and complex (as PyLops)")
            if symmetric or not square:
                which = "LA" if largest is None or largest else "SA"
        elif largest is not None:
            raise TypeError("eigs: largest is lobpcg's option: pass uselobpcg=True with it (or which='LA'/'SA')")
        return operator_eigs(self, neigs=neigs, symmetric=symmetric, niter=niter, which=which)

    def cond(self, uselobpcg: bool = False, niter: int | None = None, **kwargs_eig: Any) -> torch.Tensor:
        """2-norm condition number ``sigma_max / sigma_min``: of the dense matrix's singular values
        up to ``DENSE_LIMIT`` columns and ``DENSE_LIMIT**2`` entries without ``niter``, else from
        ``niter`` Lanczos steps on ``A^H A`` (all ``N`` by default; this squares the condition
        number, so a very ill-conditioned operator's is underestimated). PyLops' arguments:
        ``uselobpcg`` is accepted (the same Lanczos either way); no ``kwargs_eig`` apply
        (``TypeError``)."""
        from torchlops.optimization.eigs import operator_cond

        if not isinstance(uselobpcg, bool):
            raise TypeError(f"cond: uselobpcg must be a bool (PyLops' first argument; pass niter= by keyword), "
                            f"got {uselobpcg!r}")
        if kwargs_eig:
            raise TypeError(f"cond: unsupported keyword argument(s) {', '.join(sorted(kwargs_eig))}")
        return operator_cond(self, niter=niter)

    def trace(
        self,
        neval: int | None = None,
        method: str | None = None,
        backend: str | None = None,
        generator: torch.Generator | None = None,
        **kwargs_trace: Any,
    ) -> torch.Tensor:
        """Trace: ``explicit`` (exact), ``hutchinson``, ``hutch++`` (default for implicit operators) or
        ``na-hutch++`` (:mod:`torchlops.utils.trace`); ``kwargs_trace`` go to the estimator as in
        PyLops (``sampler``, ``batch_size``, ``c1``, ``c2``); ``backend`` is accepted as in PyLops."""
        from torchlops.utils.trace import operator_trace

        return operator_trace(self, neval=neval, method=method, backend=backend, generator=generator, **kwargs_trace)


def aslinearoperator(Op: Any) -> LinearOperator:
    """Return ``Op`` as a torchlops operator (a dense tensor becomes a ``MatrixMult``)."""
    if isinstance(Op, LinearOperator):
        return Op
    if isinstance(Op, torch.Tensor):
        from torchlops.basicoperators.matrixmult import MatrixMult

        return MatrixMult(Op)
    if isinstance(Op, numbers.Number):
        raise TypeError("aslinearoperator: a scalar is not an operator")
    raise TypeError(f"aslinearoperator: cannot convert {type(Op).__name__} to a LinearOperator")
