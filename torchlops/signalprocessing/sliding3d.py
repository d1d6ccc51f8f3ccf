"""3-D sliding-window operator (windows along the first two axes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing._windows import (
    WindowedOperator,
    as_pair,
    check_tapertype,
    slidingsteps,
    window_tapers,
)
from torchlops.utils.checks import prod, to_dims

__all__ = ["sliding3d_design", "Sliding3D"]

logger = logging.getLogger(__name__)

Inends = tuple[torch.Tensor, torch.Tensor]


def sliding3d_design(
    dimsd: Sequence[int], nwin: Sequence[int], nover: Sequence[int], nop: Sequence[int], verb: bool = True
) -> tuple[tuple[int, int], tuple[int, int, int], tuple[Inends, Inends], tuple[Inends, Inends]]:
    """Design the windows of a :class:`Sliding3D` operator.

    Parameters
    ----------
    dimsd : :obj:`tuple`
        Data shape ``(ny, nx, nt)``; windows slide along the first two axes.
    nwin : :obj:`tuple`
        Window shape along the first two axes.
    nover : :obj:`tuple`
        Overlap of consecutive windows along the first two axes.
    nop : :obj:`tuple`
        Model shape of the inner operator (three sizes).
    verb : :obj:`bool`, optional
        Log the windows (``logging.INFO``).

    Returns
    -------
    nwins : :obj:`tuple`
        Number of windows along the first two axes.
    dims : :obj:`tuple`
        Model shape of the sliding operator, ``(nwins[0] * nop[0], nwins[1] * nop[1], nop[2])``.
    mwins_inends : :obj:`tuple`
        Start and end indices of the model windows along the first two axes.
    dwins_inends : :obj:`tuple`
        Start and end indices of the data windows along the first two axes.

    Examples
    --------
    >>> from torchlops.signalprocessing.sliding3d import sliding3d_design
    >>> nwins, dims, _, _ = sliding3d_design((13, 11, 9), (5, 5), (1, 2), (4, 3, 9))
    >>> nwins, dims
    ((3, 3), (12, 9, 9))
    """
    nwin, nover, nop = as_pair(nwin, 2, "nwin"), as_pair(nover, 2, "nover"), as_pair(nop, 3, "nop")
    dwins = tuple(slidingsteps(dimsd[a], nwin[a], nover[a]) for a in range(2))
    nwins = tuple(d[0].numel() for d in dwins)
    dims = (nwins[0] * nop[0], nwins[1] * nop[1], nop[2])
    mwins = tuple(slidingsteps(dims[a], nop[a], 0, "nop") for a in range(2))
    if verb:
        logger.info("%d-%d windows required...", *nwins)
        logger.info("Data wins - start:%s, end:%s / start:%s, end:%s",
                    *(v.tolist() for d in dwins for v in d))
        logger.info("Model wins - start:%s, end:%s / start:%s, end:%s",
                    *(v.tolist() for d in mwins for v in d))
    return nwins, dims, mwins, dwins


class Sliding3D(WindowedOperator):
    r"""3-D sliding operator: an inner operator applied to overlapping windows along the first two axes.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Inner operator, from the model of one window to a ``(nwin[0], nwin[1], dimsd[2])`` data
        window; or from the whole model to all windows (``Op.shape[1] == prod(dims)``).
    dims : :obj:`tuple`
        Model shape ``(nwins[0] * nop[0], nwins[1] * nop[1], nop[2])`` (see
        :func:`sliding3d_design`).
    dimsd : :obj:`tuple`
        Data shape.
    nwin : :obj:`tuple`
        Window shape along the first two axes.
    nover : :obj:`tuple`
        Overlap of consecutive windows along the first two axes.
    nop : :obj:`tuple`
        Model shape of the inner operator (its window sizes along the first two axes are used; a
        2-tuple of them is enough, as in PyLops).
    tapertype : :obj:`str` or :obj:`None`, optional
        Taper of the overlaps (``"hanning"``, ``"cosine"``, ``"cosinesquare"``,
        ``"cosinesqrt"`` or ``None``).
    savetaper : :obj:`bool`, optional
        As in PyLops, decides the taper of an axis with a single window: that of a last window
        (True) or of a first one (False); the per-window tapers are always stored.
    nproc : :obj:`int`, optional
        Accepted for PyLops compatibility (all windows go through ``Op`` as one batch).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    As :class:`torchlops.signalprocessing.patch2d.Patch2D` over the first two axes, each window
    spanning the whole third axis (the taper is constant along it):

    .. math::
        y[s_i + j, s_k + l, t] \mathrel{+}= w^{(0)}_i[j] w^{(1)}_k[l]\,
        (\mathbf{Op}\,\mathbf{x}_{ik})[j, l, t].

    The model has shape ``(nwins[0], nwins[1], dims[0] // nwins[0], dims[1] // nwins[1],
    dims[2])``. One batched pass of ``Op`` over all windows, then one overlap-add (scatter-add).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.signalprocessing.sliding3d import Sliding3D
    >>> S = Sliding3D(torchlops.Identity(50), (10, 10, 2), (9, 9, 2), (5, 5), (1, 1), (5, 5, 2))
    >>> S.dims, (S @ torch.ones(S.dims)).shape
    ((2, 2, 5, 5, 2), torch.Size([9, 9, 2]))
    """

    def __init__(
        self,
        Op: LinearOperator,
        dims: Sequence[int],
        dimsd: Sequence[int],
        nwin: Sequence[int],
        nover: Sequence[int],
        nop: Sequence[int],
        tapertype: str | None = "hanning",
        savetaper: bool = True,
        nproc: int = 1,
        name: str = "P",
    ) -> None:
        dims, dimsd = to_dims(dims), to_dims(dimsd, "dimsd")
        if len(dims) != 3 or len(dimsd) != 3:
            raise ValueError(f"dims and dimsd must be 3-D shapes, got dims={dims}, dimsd={dimsd}")
        nwin, nover = as_pair(nwin, 2, "nwin"), as_pair(nover, 2, "nover")
        # (the model's window sizes along the two windowed axes: a third entry, as sliding3d_design
        # takes, is allowed and unused, as in PyLops)
        nop = as_pair(nop, 2 if np.ndim(nop) == 1 and len(nop) == 2 else 3, "nop")
        check_tapertype(tapertype)
        starts = [slidingsteps(dimsd[a], nwin[a], nover[a])[0] for a in range(2)]
        nwins = tuple(s.numel() for s in starts)
        simop = Op.shape[1] == prod(dims)
        if (not simop and prod(nwins) * Op.shape[1] != prod(dims)) or dims[0] % nwins[0] or dims[1] % nwins[1]:
            raise ValueError(
                f"Model shape (dims={dims}) is not consistent with chosen number of windows "
                f"(nwins={nwins}, Op.shape[1]={Op.shape[1]}). Run sliding3d_design to identify the "
                "correct number of windows for the current model size..."
            )
        nout = prod(nwin) * dimsd[2] * (prod(nwins) if simop else 1)
        if Op.shape[0] != nout:
            raise ValueError(
                f"Op must produce {nout} data samples (nwin[0] * nwin[1] * dimsd[2] = "
                f"{nwin[0]} * {nwin[1]} * {dimsd[2]}{' per window' if simop else ''}), got Op.shape={Op.shape}"
            )
        taps = None
        if tapertype is not None:
            # (as PyLops: a lone window along an axis is tapered as the last one with savetaper,
            # as the first one without)
            taps = window_tapers(nwins, nwin, nover, tapertype, "mid", "end" if savetaper else "start", 1, Op.dtype)
        mdims = (*nwins, dims[0] // nwins[0], dims[1] // nwins[1], dims[2])
        super().__init__(Op, mdims, dimsd, starts, nwin, taps, simop, name)
        self.nwin, self.nover, self.nop, self.tapertype, self.savetaper = nwin, nover, nop, tapertype, savetaper
        self.nproc = nproc
        self.dwins_inends = tuple((s, s + n) for s, n in zip(starts, nwin))
