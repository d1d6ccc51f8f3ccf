"""3-D patching operator (windows along all three axes)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.signalprocessing.patch2d import _design, _Patch

__all__ = ["patch3d_design", "Patch3D"]


Inends = tuple[torch.Tensor, torch.Tensor]


def patch3d_design(
    dimsd: Sequence[int], nwin: Sequence[int], nover: Sequence[int], nop: Sequence[int], verb: bool = True
) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[Inends, Inends, Inends], tuple[Inends, Inends, Inends]]:
    """Design the patches of a :class:`Patch3D` operator.

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
        Model shape of the patching operator, ``nwins[a] * nop[a]`` along each axis.
    mwins_inends : :obj:`tuple`
        Start and end indices of the model patches along each axis.
    dwins_inends : :obj:`tuple`
        Start and end indices of the data patches along each axis.

    Examples
    --------
    >>> from torchlops.signalprocessing.patch3d import patch3d_design
    >>> nwins, dims, _, _ = patch3d_design((9, 7, 11), (5, 4, 5), (1, 1, 2), (3, 3, 4))
    >>> nwins, dims
    ((2, 2, 3), (6, 6, 12))
    """
    return _design(dimsd, nwin, nover, nop, 3, verb)


class Patch3D(_Patch):
    r"""3-D patching operator: an inner operator applied to overlapping 3-D patches.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Inner operator, from a ``nop`` model patch to a ``nwin`` data patch; or from the whole
        model to all patches (``Op.shape[1] == prod(dims)``).
    dims : :obj:`tuple`
        Model shape, ``nwins[a] * nop[a]`` along each axis (see :func:`patch3d_design`).
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
    As :class:`torchlops.signalprocessing.patch2d.Patch2D` along three axes: the taper of
    patch :math:`(i, k, n)` is :math:`w^{(0)}_i \otimes w^{(1)}_k \otimes w^{(2)}_n` and

    .. math::
        y[s_i + j, s_k + l, s_n + m] \mathrel{+}= w_{ikn}[j, l, m]\,
        (\mathbf{Op}\,\mathbf{x}_{ikn})[j, l, m].

    The model has shape ``(*nwins, *nop)``. One batched pass of ``Op`` over all patches, then
    one overlap-add (scatter-add) (the adjoint: one gather, one batched ``Op.H``).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.signalprocessing.patch3d import Patch3D
    >>> P = Patch3D(torchlops.Identity(27), (6, 6, 6), (5, 5, 5), (3, 3, 3), (1, 1, 1), (3, 3, 3))
    >>> P.dims, (P @ torch.ones(P.dims)).shape
    ((2, 2, 2, 3, 3, 3), torch.Size([5, 5, 5]))
    """

    _ndim = 3
