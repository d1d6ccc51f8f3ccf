"""2-D sliding-window operator (windows along the first axis)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing._windows import (
    WindowedOperator,
    check_tapertype,
    slidingsteps,
    whole_int,
    window_tapers,
)
from torchlops.utils.checks import prod, to_dims

__all__ = ["sliding2d_design", "Sliding2D"]

logger = logging.getLogger(__name__)


def sliding2d_design(
    dimsd: Sequence[int], nwin: int, nover: int, nop: Sequence[int], verb: bool = True
) -> tuple[int, tuple[int, int], tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Design the windows of a :class:`Sliding2D` operator.

    Parameters
    ----------
    dimsd : :obj:`tuple`
        Data shape ``(nx, nt)``; windows slide along the first axis.
    nwin : :obj:`int`
        Number of samples of a window.
    nover : :obj:`int`
        Number of overlapping samples between consecutive windows.
    nop : :obj:`tuple`
        Model shape of the inner operator.
    verb : :obj:`bool`, optional
        Log the windows (``logging.INFO``).

    Returns
    -------
    nwins : :obj:`int`
        Number of windows.
    dims : :obj:`tuple`
        Model shape of the sliding operator, ``(nwins * nop[0], nop[1])``.
    mwins_inends : :obj:`tuple`
        Start and end indices of the model windows.
    dwins_inends : :obj:`tuple`
        Start and end indices of the data windows.

    Examples
    --------
    >>> from torchlops.signalprocessing.sliding2d import sliding2d_design
    >>> nwins, dims, _, _ = sliding2d_design((20, 11), 6, 2, (5, 11))
    >>> nwins, dims
    (4, (20, 11))
    """
    dwins = slidingsteps(dimsd[0], nwin, nover)
    nwins = dwins[0].numel()
    dims = (nwins * int(nop[0]), int(nop[1]))
    mwins = slidingsteps(dims[0], nop[0], 0, "nop")
    if verb:
        logger.info("%d windows required...", nwins)
        logger.info("Data wins - start:%s, end:%s", dwins[0].tolist(), dwins[1].tolist())
        logger.info("Model wins - start:%s, end:%s", mwins[0].tolist(), mwins[1].tolist())
    return nwins, dims, mwins, dwins


class Sliding2D(WindowedOperator):
    r"""2-D sliding operator: an inner operator applied to overlapping windows along the first axis.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Inner operator, from the model of one window (``dims[0] // nwins * dims[1]``
        samples) to a ``(nwin, dimsd[1])`` data window; or from the whole model to all windows
        (``Op.shape[1] == prod(dims)``).
    dims : :obj:`tuple`
        Model shape ``(nwins * nop[0], nop[1])`` (see :func:`sliding2d_design`).
    dimsd : :obj:`tuple`
        Data shape.
    nwin : :obj:`int`
        Number of samples of a window along the first axis.
    nover : :obj:`int`
        Number of overlapping samples between consecutive windows.
    tapertype : :obj:`str` or :obj:`None`, optional
        Taper of the overlaps (``"hanning"``, ``"cosine"``, ``"cosinesquare"``,
        ``"cosinesqrt"`` or ``None``).
    savetaper : :obj:`bool`, optional
        Accepted for PyLops compatibility (the per-window tapers are always stored).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    Windows start at :math:`s_i = i\,(n_{win} - n_{over})` along the first axis and span the
    whole second axis. With :math:`w_i` the taper of window :math:`i` (its outer edge
    untapered on the first and last window),

    .. math::
        y[s_i + j, t] \mathrel{+}= w_i[j]\, (\mathbf{Op}\, \mathbf{x}_i)[j, t], \qquad
        \mathbf{x}_i = \mathbf{Op}^H \bigl(w_i \odot y[s_i : s_i + n_{win}, :]\bigr).

    The model has shape ``(nwins, dims[0] // nwins, dims[1])``. One batched pass of ``Op`` over
    all windows, then one overlap-add (scatter-add) (the adjoint: one gather, one batched ``Op.H``).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.signalprocessing.sliding2d import Sliding2D
    >>> S = Sliding2D(torchlops.Identity(12), dims=(8, 3), dimsd=(7, 3), nwin=4, nover=1)
    >>> S.dims, (S @ torch.ones(2, 2, 4, 3)).shape
    ((2, 4, 3), torch.Size([2, 7, 3]))
    """

    def __init__(
        self,
        Op: LinearOperator,
        dims: Sequence[int],
        dimsd: Sequence[int],
        nwin: int,
        nover: int,
        tapertype: str | None = "hanning",
        savetaper: bool = True,
        name: str = "S",
    ) -> None:
        dims, dimsd = to_dims(dims), to_dims(dimsd, "dimsd")
        if len(dims) != 2 or len(dimsd) != 2:
            raise ValueError(f"dims and dimsd must be 2-D shapes, got dims={dims}, dimsd={dimsd}")
        check_tapertype(tapertype)
        nwin, nover = whole_int(nwin, "nwin"), whole_int(nover, "nover")
        starts, _ = slidingsteps(dimsd[0], nwin, nover)
        nwins = starts.numel()
        simop = Op.shape[1] == prod(dims)
        if (not simop and nwins * Op.shape[1] != prod(dims)) or dims[0] % nwins:
            raise ValueError(
                f"Model shape (dims={dims}) is not consistent with chosen number of windows "
                f"({nwins} windows of Op.shape[1]={Op.shape[1]}). Run sliding2d_design to identify "
                "the correct number of windows for the current model size..."
            )
        nout = nwin * dimsd[1] * (nwins if simop else 1)
        if Op.shape[0] != nout:
            raise ValueError(
                f"Op must produce {nout} data samples (nwin * dimsd[1] = {nwin} * {dimsd[1]}"
                f"{f' per window, {nwins} windows' if simop else ''}), got Op.shape={Op.shape}"
            )
        taps = None
        if tapertype is not None:
            taps = window_tapers((nwins,), (nwin,), (nover,), tapertype, "one", "start", 1, Op.dtype)
        super().__init__(Op, (nwins, dims[0] // nwins, dims[1]), dimsd, [starts], (nwin,), taps, simop, name)
        self.nwin, self.nover, self.tapertype, self.savetaper = nwin, nover, tapertype, savetaper
        self.dwin_inends = (starts, starts + nwin)
