"""N-dimensional convolution along chosen axes."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch

from torchlops import _ops
from torchlops.functional.convolution import Keep, convolve, convolve_adjoint, convolve_filter_vjp
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import as_int, normalize_axis, operator_tensor, prod, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = [
    "ConvolveND",
    "DIRECT_FFT_CROSSOVER",
    "DIRECT_FFT_CROSSOVER_EXT",
    "DIRECT_FFT_CROSSOVER_EXT_SMALL",
    "DIRECT_FFT_SMALL_SIZE",
    "choose_method",
    "conv_engine",
]

#: Filters with at most this many taps use the direct engine when the method is chosen
#: automatically, longer ones the FFT engine. Measured by ``benchmarks/bench_convolve.py``
#: (2048 x 2048 float32 along the last axis, CPU, 1 thread, two runs on a shared machine): the
#: direct engine was faster up to 11 and up to 15 taps, the FFT engine from 15 and from 19 taps.
DIRECT_FFT_CROSSOVER = 15

#: The same crossover when the compiled kernels run the direct method (``engine`` "auto" or
#: "ext" with ``torchlops._C`` built), in taps, by number of convolution axes (1, 2, or 3).
#: Measured by ``benchmarks/bench_convolve.py`` on 2048 x 2048 float32, CPU, 2 threads: 1-D along
#: the last axis, direct 10.2 / 12.6 / 15.1 ms vs FFT 10-12.9 ms at 127 / 159 / 191 taps; 2-D,
#: direct 30.6 / 38.6 ms vs FFT 29.7-32.3 ms at 19x19 / 21x21 taps; 3-D (1 thread, 64^3, 100^3
#: and 160^3 float32), direct 5.9 / 17 / 51 ms vs FFT 6.7 / 23 / 87 ms at 5x5x5 taps, 15 / 38 /
#: 118 ms vs 8.7 / 24 / 89 ms at 7x7x7.
DIRECT_FFT_CROSSOVER_EXT = {1: 127, 2: 361, 3: 125}

#: The crossover with the kernels on models of at most :data:`DIRECT_FFT_SMALL_SIZE` samples,
#: whose FFTs stay in cache (``bench_convolve.py`` crossover table, CPU, 1 thread: 256 x 256 and
#: 512 x 512 float32, 1-D direct 0.27 / 0.81 ms vs FFT 0.25 / 1.08 ms at 63 taps, FFT faster
#: from 95; 2-D 13 x 13 direct 0.75 / 2.46 ms vs FFT 0.74 / 2.48 ms, FFT faster from 15 x 15;
#: float64 256 x 256, 15 x 15: direct 1.41 ms vs FFT 1.06 ms).
DIRECT_FFT_CROSSOVER_EXT_SMALL = {1: 63, 2: 169, 3: 125}
DIRECT_FFT_SMALL_SIZE = 512 * 512

#: With the kernels, small problems use the direct method whatever the filter length: up to
#: this many multiply-adds (model size x taps) the FFT path's fixed cost dominates (float64,
#: 1 thread: 512 samples x 41 taps 28 vs 68 us, 8192 x 41: 91 vs 399 us, 64 x 64 with 9 x 9:
#: 123 vs 147 us; 64 x 512 x 41 taps: 285 vs 219 us).
DIRECT_SMALL_WORK_EXT = 1 << 19

_METHODS = ("direct", "fft", "overlapadd", "auto")


def choose_method(method: str | None, ntaps: int, naxes: int, ext: bool = False, size: int = 0) -> str:
    """Resolve ``method`` into ``"direct"``, ``"fft"`` or ``"overlapadd"`` (``None``/``"auto"``:
    direct or FFT by filter size; ``ext``: the direct method runs the compiled kernels, on
    models of ``size`` samples)."""
    if method is not None and method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS} or None, got {method!r}")
    if method in (None, "auto"):
        if naxes > 3:
            return "fft"
        if ext:
            small = size * ntaps <= DIRECT_SMALL_WORK_EXT
            table = DIRECT_FFT_CROSSOVER_EXT_SMALL if 0 < size <= DIRECT_FFT_SMALL_SIZE else DIRECT_FFT_CROSSOVER_EXT
            return "direct" if small or ntaps <= table[naxes] else "fft"
        return "direct" if ntaps <= DIRECT_FFT_CROSSOVER else "fft"
    if method == "direct" and naxes > 3:
        raise ValueError(f"method='direct' convolves along at most 3 axes, got {naxes}; use method='fft'")
    return method


def conv_engine(engine: str, method: str | None, ntaps: int, naxes: int, size: int = 0) -> tuple[str, str | None, str]:
    """Resolve ``(method, why the kernels cannot run it or None, engine)``: the kernels compute
    the direct method, which ``engine="ext"`` selects when ``method`` is automatic."""
    if engine == "ext" and method in (None, "auto"):
        method = "direct"
    resolved = choose_method(method, ntaps, naxes, ext=engine != "torch" and _ops.ext_available(), size=size)
    why = None if resolved == "direct" else f"method={resolved!r} (the kernels compute method='direct')"
    return resolved, why, _ops.check_engine(engine, why)


def keep_spectrum(op: LinearOperator, adjoint: bool) -> Keep:
    """The FFT engines' filter spectra, kept on the operator ``op`` for its next applications
    (one for the forward, one for the adjoint: a solver applies both, and deriving one from the
    other cost a fifth of the adjoint's time; see :meth:`~torchlops.LinearOperator._kept`)."""
    return partial(op._kept, "spectrum_adjoint" if adjoint else "spectrum")


def check_filter(t: torch.Tensor, nfilt: int, batched: bool) -> None:
    """ValueError unless the filter has ``nfilt`` dims (plus one leading per-sample dim)."""
    want = nfilt + int(bool(batched))
    if t.dim() != want:
        extra = " (one leading dim of per-sample filters)" if batched else ""
        raise ValueError(f"h must have {want} dimension(s){extra}, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"h must not be empty, got shape {tuple(t.shape)}")


class ConvolveND(LinearOperator):
    r"""N-dimensional convolution with a compact filter along ``axes``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model (and data) shape.
    h : :obj:`torch.Tensor`
        Filter, one dimension per axis in ``axes``, its dimension ``i`` along ``axes[i]`` (PyLops
        2.8 reshapes such a filter instead, which scrambles it for decreasing ``axes``). A filter
        with one dimension per model dimension convolves along all of them, dimension ``i``
        along model axis ``i``, whatever ``axes`` says (as PyLops). A
        :class:`torch.nn.Parameter` is learnt.
    offset : :obj:`tuple`, optional
        Index of the centre of the filter along each of its dimensions (zeros by default; fractions
        truncated, as PyLops).
    axes : :obj:`tuple`, optional
        Model axes to convolve along (``None``: all of them).
    method : :obj:`str`, optional
        ``"fft"`` (zero-padded FFTs), ``"direct"`` (``torch.nn.functional.conv1d/2d/3d``,
        at most 3 axes), ``"auto"`` or ``None`` (the default: direct up to
        :data:`DIRECT_FFT_CROSSOVER` taps, or :data:`DIRECT_FFT_CROSSOVER_EXT` with the compiled
        kernels, FFT above) or ``"overlapadd"`` (FFTs of blocks of about ``4 nh`` samples, added
        with their overlaps; a plain FFT along short axes). All give the same result; PyLops
        defaults to ``"fft"``, here the automatic choice takes the faster one (a 5 x 5 filter
        on a 1024 x 1024 float32 image: 1.6 ms direct, 11 ms FFT).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``h``).
    name : :obj:`str`, optional
        Name.
    batched_filter : :obj:`bool`, optional
        ``h`` carries one extra LEADING dimension of ``Bh`` per-sample filters: sample ``b``
        of the flattened input batch uses filter ``b % Bh``, so an input of shape
        ``(*lead, Bh, *dims)`` convolves ``x[..., i, ...]`` with ``h[i]`` (the flattened
        batch must be a multiple of ``Bh``, else ``ValueError``).
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

    Notes
    -----
    With :math:`\mathbf{o}` the offsets and zeros outside the arrays,

    .. math::
        y[\mathbf{i}] = \sum_{\mathbf{j}} h[\mathbf{j}]\, x[\mathbf{i} + \mathbf{o} - \mathbf{j}],
        \qquad
        x[\mathbf{m}] = \sum_{\mathbf{j}} \overline{h[\mathbf{j}]}\, y[\mathbf{m} - \mathbf{o} + \mathbf{j}],

    i.e. the full linear convolution read from sample :math:`\mathbf{o}` (PyLops pads the
    filter to centre it on the offset; the result is the same). The adjoint is a
    correlation with the conjugate filter. The FFT engine reads and writes the data once
    each plus one forward and one inverse FFT of size ``n + nh - 1`` (rounded up to a
    5-smooth size) per axis; the direct engine reads the data once per tap. Both are
    differentiable with respect to ``h``. On the CPU the FFT engine keeps the filter's spectrum
    (the size of one transformed sample, another for the adjoint's filter) while
    the filter holds the same values, so that an operator applied again, as in a solver,
    transforms only its input and output (1024 x 1024 float32, 41 x 41 filter, 1 thread:
    15.4 -> 11.1 ms).

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.convolvend import ConvolveND
    >>> C = ConvolveND((3, 4, 5), torch.ones(3, 3, dtype=torch.float64), offset=(1, 1), axes=(1, 2))
    >>> (C @ torch.ones(3, 4, 5, dtype=torch.float64))[0]
    tensor([[4., 6., 6., 6., 4.],
            [6., 9., 9., 9., 6.],
            [6., 9., 9., 9., 6.],
            [4., 6., 6., 6., 4.]], dtype=torch.float64)
    """

    def __init__(
        self,
        dims: InputDimsLike,
        h: TensorLike,
        offset: InputDimsLike | None = None,
        axes: Sequence[int] | None = (-2, -1),
        method: str | None = None,
        dtype: DTypeLike = None,
        name: str = "C",
        batched_filter: bool = False,
        engine: str = "auto",
    ) -> None:
        dims = to_dims(dims)
        ax = list(range(len(dims))) if axes is None else [normalize_axis(a, len(dims), "axes") for a in to_dims_axes(axes)]
        if len(set(ax)) != len(ax):
            raise ValueError(f"axes must be distinct, got {tuple(axes)}")
        t, dt = operator_tensor(h, "h", dtype)
        if t.dim() - int(bool(batched_filter)) == len(dims):
            # PyLops: a filter with one dim per model dim convolves along all of them, its dim i
            # along model axis i, whatever the order of axes
            ax = list(range(len(dims)))
        check_filter(t, len(ax), batched_filter)
        hshape = tuple(t.shape[t.dim() - len(ax):])
        off = (0,) * len(ax) if offset is None else to_offsets(offset, len(ax))
        super().__init__(dims=dims, dimsd=dims, dtype=dt, name=name)
        self.axes = tuple(ax)
        self.offset = off
        self.nh = hshape
        self.batched_filter = bool(batched_filter)
        self.method, self._ext_no, self.engine = conv_engine(engine, method, prod(hshape), len(ax), prod(dims))
        self.register_operator_tensor("h", t)

    def _nout(self, adjoint: bool) -> list[int]:
        d = self.dims if adjoint else self.dimsd
        return [d[a] for a in self.axes]

    def _sample_period(self) -> int:
        return int(self.h.shape[0]) if self.batched_filter else 1

    # y[b, ..., i, ...] = sum_j h[j] x[b, ..., i + o - j, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return _ops.convolve(x, self.h, self.axes, self.offset, self._nout(False), False, self.batched_filter)
        return convolve(x, self.h, self.axes, self.offset, self._nout(False), self.method, self.batched_filter,
                        keep_spectrum(self, False))

    # x[b, ..., m, ...] = sum_j conj(h[j]) y[b, ..., m - o + j, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return _ops.convolve(y, self.h, self.axes, self.offset, self._nout(True), True, self.batched_filter)
        return convolve_adjoint(y, self.h, self.axes, self.offset, self._nout(True), self.method,
                                self.batched_filter, keep_spectrum(self, True))

    # dL/dh[j] = sum_i g[i] conj(x[i + o - j])   (one FFT cross-correlation, no second pass of autograd)
    def _tensor_vjp(
        self, adjoint: bool, x: torch.Tensor, tensors: tuple, g: torch.Tensor, needs: tuple
    ) -> list:
        """Filter gradient of an application (``x`` its input, ``g`` the output gradient)."""
        if not needs[0]:
            return [None]
        return [convolve_filter_vjp(tensors[0], x, g, self.axes, self.offset, adjoint, self.batched_filter)]


def to_dims_axes(axes: Sequence[int] | int) -> tuple[int, ...]:
    """Axes as a tuple of (possibly negative) ints."""
    if np.ndim(axes) == 0:
        return (as_int(axes, "axes"),)
    try:
        items = list(axes)
    except TypeError:
        raise TypeError(f"axes must be an int or a sequence of ints, got {axes!r}") from None
    return tuple(as_int(a, "each of axes") for a in items)


def as_offset(value: object) -> int:
    """An offset as an int: a finite fraction is truncated towards zero, as PyLops does
    (``int(offset)``; its gallery passes ``len(h) / 2``); bools and non-numbers are a TypeError."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) \
            and not isinstance(value, numbers.Integral) and math.isfinite(value):
        return int(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point() \
            and math.isfinite(float(value)):
        return int(float(value))
    return as_int(value, "offset")


def to_offsets(offset: InputDimsLike, n: int) -> tuple[int, ...]:
    """Offsets as ``n`` ints (an int is used for every axis; fractions truncated as PyLops)."""
    try:
        if np.ndim(offset) == 0:
            return (as_offset(offset),) * n
        off = tuple(as_offset(o) for o in offset)
    except (TypeError, ValueError):  # (NumPy: a ragged nesting is a ValueError)
        raise TypeError(f"offset must be an int or a sequence of ints, got {offset!r}") from None
    if len(off) != n:
        raise ValueError(f"offset must have one entry per filter dimension ({n}), got {off}")
    return off
