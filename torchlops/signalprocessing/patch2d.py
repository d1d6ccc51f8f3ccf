"""2-D patching operator (windows along both axes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

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

__all__ = ["patch2d_design", "Patch2D"]

logger = logging.getLogger(__name__)

Inends = tuple[torch.Tensor, torch.Tensor]


def _design(
    dimsd: Sequence[int], nwin: Sequence[int], nover: Sequence[int], nop: Sequence[int], ndim: int, verb: bool
) -> tuple:
    """Patches along ``ndim`` axes (shared by ``patch2d_design`` and ``patch3d_design``)."""
    nwin, nover, nop = as_pair(nwin, ndim, "nwin"), as_pair(nover, ndim, "nover"), as_pair(nop, ndim, "nop")
    dwins = tuple(slidingsteps(dimsd[a], nwin[a], nover[a]) for a in range(ndim))
    nwins = tuple(d[0].numel() for d in dwins)
    dims = tuple(nwins[a] * nop[a] for a in range(ndim))
    mwins = tuple(slidingsteps(dims[a], nop[a], 0, "nop") for a in range(ndim))
    if verb:
        logger.info("%s windows required...", "-".join(map(str, nwins)))
        logger.info("Data wins - %s", " / ".join(f"start:{s.tolist()}, end:{e.tolist()}" for s, e in dwins))
        logger.info("Model wins - %s", " / ".join(f"start:{s.tolist()}, end:{e.tolist()}" for s, e in mwins))
    return nwins, dims, mwins, dwins


def patch2d_design(
    dimsd: Sequence[int], nwin: Sequence[int], nover: Sequence[int], nop: Sequence[int], verb: bool = True
) -> tuple[tuple[int, int], tuple[int, int], tuple[Inends, Inends], tuple[Inends, Inends]]:
    """Design the patches of a :class:`Patch2D` operator.

    Parameters
    ----------
    dimsd : :obj:`tuple`
        Data shape.
    nwin : :obj:`tuple`
        Patch shape.
    nover : :obj:`tuple`
        Overlap of consecutive patches along each axis.
    nop : :obj:`tuple`
        Model shape of the inner operator.
    verb : :obj:`bool`, optional
        Log the patches (``logging.INFO``).

    Returns
    -------
    nwins : :obj:`tuple`
        Number of patches along each axis.
    dims : :obj:`tuple`
        Model shape of the patching operator, ``(nwins[0] * nop[0], nwins[1] * nop[1])``.
    mwins_inends : :obj:`tuple`
        Start and end indices of the model patches along each axis.
    dwins_inends : :obj:`tuple`
        Start and end indices of the data patches along each axis.

    Examples
    --------
    >>> from torchlops.signalprocessing.patch2d import patch2d_design
    >>> nwins, dims, _, _ = patch2d_design((20, 13), (6, 5), (2, 1), (6, 3))
    >>> nwins, dims
    ((4, 3), (24, 9))
    """
    return _design(dimsd, nwin, nover, nop, 2, verb)


class _Patch(WindowedOperator):
    """Patching along every axis of an N-d model (the shared body of Patch2D and Patch3D)."""

    _ndim = 2

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
        scalings: Sequence[float] | None = None,
        name: str = "P",
    ) -> None:
        dims, dimsd = to_dims(dims), to_dims(dimsd, "dimsd")
        n = self._ndim
        if len(dims) != n or len(dimsd) != n:
            raise ValueError(f"dims and dimsd must be {n}-D shapes, got dims={dims}, dimsd={dimsd}")
        nwin, nover, nop = as_pair(nwin, n, "nwin"), as_pair(nover, n, "nover"), as_pair(nop, n, "nop")
        check_tapertype(tapertype)
        starts = [slidingsteps(dimsd[a], nwin[a], nover[a])[0] for a in range(n)]
        nwins = tuple(s.numel() for s in starts)
        if any(nwins[a] * nop[a] != dims[a] for a in range(n)):
            raise ValueError(
                f"Model shape (dims={dims}) is not consistent with chosen number of windows "
                f"(nwins={nwins}, nop={nop}). Run patch{n}d_design to identify the correct number "
                "of windows for the current model size..."
            )
        simop = Op.shape[1] == prod(dims)
        nin, nout = (prod(dims), prod(nwins) * prod(nwin)) if simop else (prod(nop), prod(nwin))
        if Op.shape != (nout, nin):
            raise ValueError(f"Op must have shape ({nout}, {nin}) (nwin={nwin}, nop={nop}), got {Op.shape}")
        taps = None
        if tapertype is not None:
            # (as PyLops: a lone window along an axis is tapered as the last one with savetaper,
            # as the first one without, or as PyLops' Patch3D decides: _window_classes)
            single = "end" if savetaper else ("pylops3d" if n == 3 else "start")
            taps = window_tapers(nwins, nwin, nover, tapertype, "mid", single, 0, Op.dtype)
        super().__init__(Op, (*nwins, *nop), dimsd, starts, nwin, taps, simop, name)
        self.nwin, self.nover, self.nop, self.tapertype, self.savetaper = nwin, nover, nop, tapertype, savetaper
        self.scalings = [1.0] * prod(nwins) if scalings is None else scalings
        self.dwins_inends = tuple((s, s + n) for s, n in zip(starts, nwin))


class Patch2D(_Patch):
    r"""2-D patching operator: an inner operator applied to overlapping 2-D patches.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Inner operator, from a ``nop`` model patch to a ``nwin`` data patch; or from the whole
        model to all patches (``Op.shape[1] == prod(dims)``).
    dims : :obj:`tuple`
        Model shape ``(nwins[0] * nop[0], nwins[1] * nop[1])`` (see :func:`patch2d_design`).
    dimsd : :obj:`tuple`
        Data shape.
    nwin : :obj:`tuple`
        Patch shape.
    nover : :obj:`tuple`
        Overlap of consecutive patches along each axis.
    nop : :obj:`tuple`
        Model shape of the inner operator.
    tapertype : :obj:`str` or :obj:`None`, optional
        Taper of the overlaps (``"hanning"``, ``"cosine"``, ``"cosinesquare"``,
        ``"cosinesqrt"`` or ``None``).
    savetaper : :obj:`bool`, optional
        As in PyLops, decides the taper of an axis with a single patch: that of a last patch
        (True) or of a first one (False); the per-patch tapers are always stored.
    scalings : :obj:`list`, optional
        Per-patch scalings; stored as ``self.scalings`` but, as in PyLops 2.8, not applied.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    Patches start at :math:`s^{(a)}_i = i\,(n^{(a)}_{win} - n^{(a)}_{over})` along axis
    :math:`a`. The taper of patch :math:`(i, k)` is :math:`w^{(0)}_i \otimes w^{(1)}_k`, the
    1-D tapers with their outer edge replaced by their middle value on the first and last
    patch of each axis (a single patch along an axis counts as the last one):

    .. math::
        y[s_i + j, s_k + l] \mathrel{+}= w^{(0)}_i[j] w^{(1)}_k[l]\,
        (\mathbf{Op}\,\mathbf{x}_{ik})[j, l], \qquad
        \mathbf{x}_{ik} = \mathbf{Op}^H \bigl(w_{ik} \odot y[\text{patch } ik]\bigr).

    The model has shape ``(nwins[0], nwins[1], nop[0], nop[1])``. One batched pass of ``Op``
    over all patches, then one overlap-add (scatter-add) (the adjoint: one gather, one batched
    ``Op.H``).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.signalprocessing.patch2d import Patch2D
    >>> P = Patch2D(torchlops.Identity(16), (8, 16), (7, 10), (4, 4), (1, 2), (4, 4))
    >>> P.dims, (P @ torch.ones(P.dims)).shape
    ((2, 4, 4, 4), torch.Size([7, 10]))
    """

    _ndim = 2
