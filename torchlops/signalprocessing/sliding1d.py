"""1-D sliding-window operator."""

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
from torchlops.utils.checks import to_dims

__all__ = ["sliding1d_design", "Sliding1D"]

logger = logging.getLogger(__name__)


def sliding1d_design(
    dimd: int, nwin: int, nover: int, nop: int, verb: bool = True
) -> tuple[int, int, tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Design the windows of a :class:`Sliding1D` operator.

    Parameters
    ----------
    dimd : :obj:`int`
        Number of data samples.
    nwin : :obj:`int`
        Number of samples of a window.
    nover : :obj:`int`
        Number of overlapping samples between consecutive windows.
    nop : :obj:`int`
        Size of the model of the inner operator.
    verb : :obj:`bool`, optional
        Log the windows (``logging.INFO``).

    Returns
    -------
    nwins : :obj:`int`
        Number of windows.
    dim : :obj:`int`
        Size of the model of the sliding operator (``nwins * nop``).
    mwins_inends : :obj:`tuple`
        Start and end indices of the model windows.
    dwins_inends : :obj:`tuple`
        Start and end indices of the data windows.

    Examples
    --------
    >>> from torchlops.signalprocessing.sliding1d import sliding1d_design
    >>> nwins, dim, _, (starts, ends) = sliding1d_design(20, 6, 2, 8)
    >>> nwins, dim, starts.tolist()
    (4, 32, [0, 4, 8, 12])
    """
    dwins = slidingsteps(dimd, nwin, nover)
    nwins = dwins[0].numel()
    dim = nwins * int(nop)
    mwins = slidingsteps(dim, nop, 0, "nop")
    if verb:
        logger.info("%d windows required...", nwins)
        logger.info("Data wins - start:%s, end:%s", dwins[0].tolist(), dwins[1].tolist())
        logger.info("Model wins - start:%s, end:%s", mwins[0].tolist(), mwins[1].tolist())
    return nwins, dim, mwins, dwins


class Sliding1D(WindowedOperator):
    r"""1-D sliding operator: an inner operator applied to overlapping windows of a 1-D signal.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Inner operator, from the model of one window (``dim // nwins`` samples) to the window's
        ``nwin`` data samples; or from the whole model to all windows (``Op.shape[1] == dim``).
    dim : :obj:`int` or :obj:`tuple`
        Model size (``nwins * Op.shape[1]``, see :func:`sliding1d_design`).
    dimd : :obj:`int` or :obj:`tuple`
        Data size.
    nwin : :obj:`int`
        Number of samples of a window.
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
    Windows start at :math:`s_i = i\,(n_{win} - n_{over})`. With :math:`\mathbf{w}_i` the taper
    of window :math:`i` (its outer edge untapered on the first and last window),

    .. math::
        y[s_i + j] \mathrel{+}= w_i[j]\, (\mathbf{Op}\, \mathbf{x}_i)[j], \qquad
        \mathbf{x}_i = \mathbf{Op}^H \bigl(\mathbf{w}_i \odot y[s_i : s_i + n_{win}]\bigr).

    The model has shape ``(nwins, dim // nwins)``. The inner operator sees every window of
    every sample in one batch (one pass), then the tapered windows are overlap-added (one
    scatter-add); the adjoint gathers the windows, tapers them and applies ``Op.H`` in one batch.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.signalprocessing.sliding1d import Sliding1D
    >>> S = Sliding1D(torchlops.Identity(4), dim=12, dimd=10, nwin=4, nover=1, tapertype=None)
    >>> S.dims, S.dimsd
    ((3, 4), (10,))
    >>> S @ torch.ones(3, 4)
    tensor([1., 1., 1., 2., 1., 1., 2., 1., 1., 1.])
    """

    def __init__(
        self,
        Op: LinearOperator,
        dim: int | Sequence[int],
        dimd: int | Sequence[int],
        nwin: int,
        nover: int,
        tapertype: str | None = "hanning",
        savetaper: bool = True,
        name: str = "S",
    ) -> None:
        dim, dimd = to_dims(dim, "dim"), to_dims(dimd, "dimd")
        if len(dim) != 1 or len(dimd) != 1:
            raise ValueError(f"dim and dimd must be single sizes, got dim={dim}, dimd={dimd}")
        check_tapertype(tapertype)
        nwin, nover = whole_int(nwin, "nwin"), whole_int(nover, "nover")
        starts, _ = slidingsteps(dimd[0], nwin, nover)
        nwins = starts.numel()
        simop = Op.shape[1] == dim[0]
        if (not simop and nwins * Op.shape[1] != dim[0]) or dim[0] % nwins:
            raise ValueError(
                f"Model shape (dim={dim}) is not consistent with chosen number of windows "
                f"({nwins} windows of Op.shape[1]={Op.shape[1]}). Run sliding1d_design to identify "
                "the correct number of windows for the current model size..."
            )
        nout = nwin * (nwins if simop else 1)
        if Op.shape[0] != nout:
            raise ValueError(f"Op must produce {nout} data samples (nwin={nwin}), got Op.shape={Op.shape}")
        taps = None
        if tapertype is not None:
            taps = window_tapers((nwins,), (nwin,), (nover,), tapertype, "one", "start", 0, Op.dtype)
        super().__init__(Op, (nwins, dim[0] // nwins), dimd, [starts], (nwin,), taps, simop, name)
        self.nwin, self.nover, self.tapertype, self.savetaper = nwin, nover, tapertype, savetaper
        self.dwin_inends = (starts, starts + nwin)
