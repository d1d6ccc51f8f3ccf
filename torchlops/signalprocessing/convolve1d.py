"""1-dimensional convolution along an axis."""

from __future__ import annotations

import torch

from torchlops import _ops
from torchlops.functional.convolution import convolve, convolve_adjoint, convolve_filter_vjp
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.convolvend import as_offset, check_filter, conv_engine, keep_spectrum
from torchlops.utils.checks import normalize_axis, operator_tensor, prod, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["Convolve1D"]


class Convolve1D(LinearOperator):
    r"""1D convolution with a filter along ``axis`` (shorter or longer than the signal).

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    h : :obj:`torch.Tensor`
        1-dimensional filter (with ``batched_filter``: ``(Bh, nh)``), or, as PyLops, one filter per
        trace: ``h`` of the model's shape except ``nh`` along ``axis``. A
        :class:`torch.nn.Parameter` is learnt.
    offset : :obj:`int`, optional
        Index of the centre of the filter (a fraction is truncated, as PyLops).
    axis : :obj:`int`, optional
        Axis along which to convolve.
    method : :obj:`str`, optional
        ``"direct"`` (``torch.nn.functional.conv1d``), ``"fft"`` (zero-padded FFTs),
        ``"overlapadd"`` (FFTs of blocks of about ``4 nh`` samples) or ``None``: direct up to
        :data:`torchlops.signalprocessing.convolvend.DIRECT_FFT_CROSSOVER` taps (with the
        compiled kernels, the larger ``DIRECT_FFT_CROSSOVER_EXT`` or, for small models,
        ``DIRECT_FFT_CROSSOVER_EXT_SMALL``), FFT above, where on the CPU a few long signals
        (one of 16384 samples or more, up to four of 65536 or more) run by overlap-add, each
        application by its input (1.5-9x faster there; see
        :func:`torchlops.functional.convolution.fft_or_overlap_add`); see :class:`ConvolveND`.
        Unlike PyLops every method is accepted for any ``dims``; all give the same result.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``h``).
    name : :obj:`str`, optional
        Name.
    batched_filter : :obj:`bool`, optional
        ``h`` is ``(Bh, nh)``: sample ``b`` of the flattened input batch is convolved with
        ``h[b % Bh]``, so an input ``(*lead, Bh, *dims)`` uses ``h[i]`` for ``x[..., i, ...]``
        (the flattened batch must be a multiple of ``Bh``).
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

    Notes
    -----
    With :math:`o` the offset and zeros outside the arrays,

    .. math::
        y[i] = \sum_j h[j]\, x[i + o - j], \qquad
        x[m] = \sum_j \overline{h[j]}\, y[m - o + j],

    the full linear convolution read from sample :math:`o`. A filter no longer than the
    signal (``nh <= n``) keeps the data the model's size and needs ``offset <= nh - 1``; a
    longer filter makes data of ``nh`` samples along ``axis`` and needs
    ``offset <= n - 1`` (PyLops' compact and extended filters; for an N-d model PyLops sets
    ``dimsd = h.shape``, here it is ``dims`` with ``dims[axis]`` replaced by ``nh``). The direct engine reads the
    data once per tap; the FFT engine transforms it once forward and once back (on the CPU the
    filter's spectrum is kept between applications while the filter holds the same values:
    16 x 65536 float32, 513 taps, 1 thread, ``method="fft"``: 11.0 -> 9.5 ms).

    The adjoint correlates with the CONJUGATE filter, so the operator passes the dot test
    with complex filters; PyLops 2.8 correlates with ``h`` itself and fails it.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.convolve1d import Convolve1D
    >>> C = Convolve1D(5, torch.tensor([1.0, 2.0, 3.0]), offset=1)
    >>> C @ torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
    tensor([0., 1., 2., 3., 0.])
    >>> C.H @ torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
    tensor([0., 3., 2., 1., 0.])
    """

    def __init__(
        self,
        dims: InputDimsLike,
        h: TensorLike,
        offset: int = 0,
        axis: int = -1,
        method: str | None = None,
        dtype: DTypeLike = None,
        name: str = "C",
        batched_filter: bool = False,
        engine: str = "auto",
    ) -> None:
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        t, dt = operator_tensor(h, "h", dtype)
        # PyLops' filters per trace: h with the model's other axes (one filter per trace along axis)
        per_trace = t.dim() == len(dims) > 1 and not batched_filter
        if per_trace:
            others = [i for i in range(len(dims)) if i != ax]
            if any(t.shape[i] not in (dims[i], 1) for i in others) or t.numel() == 0:
                raise ValueError(
                    f"h with one filter per trace must have the model's shape {tuple(dims)} (or 1) except along "
                    f"axis {ax} (the filters' length), and no zero size, got {tuple(t.shape)}"
                )
        else:
            check_filter(t, 1, batched_filter)
        offset = as_offset(offset)
        nh, n = (t.shape[ax] if per_trace else t.shape[-1]), dims[ax]
        if nh <= n:
            if offset > nh - 1:
                raise ValueError(f"offset must be at most len(h) - 1 = {nh - 1}, got {offset}")
            dimsd = dims
        else:
            if offset > n - 1:
                raise ValueError(
                    f"offset must be at most dims[axis] - 1 = {n - 1} for a filter longer "
                    f"than the signal, got {offset}"
                )
            dimsd = tuple(nh if i == ax else d for i, d in enumerate(dims))
        super().__init__(dims=dims, dimsd=dimsd, dtype=dt, name=name)
        self.axis = ax
        self.offset = int(offset)
        self.nh = nh
        self.batched_filter = bool(batched_filter)
        self.per_trace = per_trace
        self.method, self._ext_no, self.engine = conv_engine(engine, method, nh, 1, prod(dims))
        self._auto_method = method in (None, "auto")
        self.register_operator_tensor("h", t)

    # per-trace filters: the traces of a (B, *shape) tensor as a (B * ntraces, shape[axis]) batch
    # of per-sample filters (sample b * ntraces + t takes filter t)
    def _traces(self, v: torch.Tensor) -> torch.Tensor:
        return v.movedim(self.axis + 1, -1).reshape(-1, v.shape[self.axis + 1])

    def _untrace(self, v: torch.Tensor, nb: int, shape: tuple[int, ...]) -> torch.Tensor:
        moved = (nb, *(d for i, d in enumerate(shape) if i != self.axis), shape[self.axis])
        return v.reshape(moved).movedim(-1, self.axis + 1)

    def _full_filters_shape(self, h: torch.Tensor) -> tuple[int, ...]:
        # (a size 1 along another axis: the same filters for every trace there, as PyLops broadcasts)
        return tuple(h.shape[i] if i == self.axis else d for i, d in enumerate(self.dims))

    def _trace_filters(self, h: torch.Tensor) -> torch.Tensor:
        h = h.expand(self._full_filters_shape(h))
        return h.movedim(self.axis, -1).reshape(-1, h.shape[self.axis])

    def _apply_traces(self, v: torch.Tensor, adjoint: bool) -> torch.Tensor:
        n_out = self.dims[self.axis] if adjoint else self.dimsd[self.axis]
        vt, ht = self._traces(v), self._trace_filters(self.h)
        if _ops.use_ext(self.engine, self._ext_no, vt):
            yt = _ops.convolve(vt, ht, (0,), (self.offset,), [n_out], adjoint, True)
        elif adjoint:
            yt = convolve_adjoint(vt, ht, (0,), (self.offset,), [n_out], self._run_method(), True,
                                  keep_spectrum(self, True))
        else:
            yt = convolve(vt, ht, (0,), (self.offset,), [n_out], self._run_method(), True, keep_spectrum(self, False))
        return self._untrace(yt, v.shape[0], self.dims if adjoint else self.dimsd)

    def _run_method(self) -> str:
        """The method the kernels run: ``method``, where the automatic choice took FFTs either
        plain FFTs or overlap-add by the input (few long signals: blocks; see
        :func:`torchlops.functional.convolution.fft_or_overlap_add`)."""
        # (an operator saved before the automatic choice could switch has no _auto_method)
        return "auto-fft" if getattr(self, "_auto_method", False) and self.method == "fft" else self.method

    def _sample_period(self) -> int:
        return int(self.h.shape[0]) if self.batched_filter else 1

    # y[b, ..., i, ...] = sum_j h[j] x[b, ..., i + o - j, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_trace and not self._one_trace_filter():
            return self._apply_traces(x, False)
        h, nd = self._plain_filter(), [self.dimsd[self.axis]]
        if _ops.use_ext(self.engine, self._ext_no, x):
            return _ops.convolve(x, h, (self.axis,), (self.offset,), nd, False, self.batched_filter)
        return convolve(x, h, (self.axis,), (self.offset,), nd, self._run_method(), self.batched_filter,
                        keep_spectrum(self, False))

    # x[b, ..., m, ...] = sum_j conj(h[j]) y[b, ..., m - o + j, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if self.per_trace and not self._one_trace_filter():
            return self._apply_traces(y, True)
        h, nm = self._plain_filter(), [self.dims[self.axis]]
        if _ops.use_ext(self.engine, self._ext_no, y):
            return _ops.convolve(y, h, (self.axis,), (self.offset,), nm, True, self.batched_filter)
        return convolve_adjoint(y, h, (self.axis,), (self.offset,), nm, self._run_method(), self.batched_filter,
                                keep_spectrum(self, True))

    def _one_trace_filter(self) -> bool:
        """Per-trace filters of size 1 along every other axis: one filter for every trace."""
        h = self.h
        return all(h.shape[i] == 1 for i in range(h.dim()) if i != self.axis)

    def _plain_filter(self) -> torch.Tensor:
        """The filter as the engines take it: per-trace filters broadcast to every trace (size 1
        along the other axes) as the one filter they are, not one copy of it per trace."""
        return self.h.reshape(-1) if self.per_trace else self.h

    # dL/dh[j] = sum_i g[i] conj(x[i + o - j])   (one FFT cross-correlation, no second pass of autograd)
    def _tensor_vjp(
        self, adjoint: bool, x: torch.Tensor, tensors: tuple, g: torch.Tensor, needs: tuple
    ) -> list:
        """Filter gradient of an application (``x`` its input, ``g`` the output gradient)."""
        if not needs[0]:
            return [None]
        if self.per_trace:
            h = tensors[0]
            gt = convolve_filter_vjp(self._trace_filters(h), self._traces(x), self._traces(g), (0,), (self.offset,),
                                     adjoint, True)
            full = self._full_filters_shape(h)
            moved = (*(d for i, d in enumerate(full) if i != self.axis), full[self.axis])
            return [gt.reshape(moved).movedim(-1, self.axis).sum_to_size(h.shape)]
        return [convolve_filter_vjp(tensors[0], x, g, (self.axis,), (self.offset,), adjoint, self.batched_filter)]
