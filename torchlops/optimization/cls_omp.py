r"""Batched orthogonal matching pursuit (and matching pursuit): :class:`OMP`.

Every sample selects its own columns: the selected indices are a ``(B, k)`` index tensor
(with a ``(B, k)`` validity mask: a sample that picks a column it already holds, or that has
stopped, adds an invalid slot). The least-squares re-fit on the selected columns runs for all
samples at once, by LSQR with scipy's stopping rule (``engine="scipy"``) or cgls
(``engine="pylops"``), on the operator restricted to each sample's columns (scatter the
coefficients into the model, apply ``Op``; apply ``Op^H`` and gather).

Host synchronisation: with ``sigma > 0`` the loop asks the host after every outer iteration
whether every sample's residual norm has fallen to ``sigma``; the inner solves read it for
their stopping tests (LSQR's, and cgls' ``tol=1e-4`` as PyLops) every few steps.
"""

from __future__ import annotations

from typing import Any

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import count_arg
from torchlops.optimization._progress import progress_bar
from torchlops.optimization._sparse_helpers import Batch, FlatOperator, SparseSolver, check_engine, now, version_of
from torchlops.optimization.basesolver import logger
from torchlops.optimization.basic import cgls
from torchlops.optimization.cls_leastsquares import _ls

__all__ = ["OMP"]

#: columns per application when computing the column norms
_CHUNK = 256


def _norm(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, dim=-1)


class OMP(SparseSolver):
    r"""Orthogonal matching pursuit (``niter_inner > 0``) or matching pursuit
    (``niter_inner=0``), batched.

    Solves :math:`\min_\mathbf{x} \|\mathbf{x}\|_0` subject to
    :math:`\|\mathbf{Op}\,\mathbf{x} - \mathbf{y}\|_2^2 \le \sigma^2` greedily.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator to invert.
    callbacks : :obj:`list`, optional
        :class:`torchlops.optimization.Callbacks` instances.

    Notes
    -----
    Each outer iteration (one adjoint pass, plus one forward for MP or ``2 niter_inner + 2``
    passes for OMP) picks, per sample, the column :math:`i = \arg\max_j |(\mathbf{Op}^H
    \mathbf{r})_j| / n_j` (:math:`n_j` the column norms when ``normalizecols``, else 1;
    the first maximiser on ties, where PyLops draws one at random). MP then updates
    :math:`x_i \mathrel{+}= c_i`, :math:`\mathbf{r} \mathrel{-}= c_i \mathbf{Op}\,\mathbf{e}_i`
    with :math:`c_i` the (normalised) inner product, or the residual-minimising coefficient
    when ``optimal_coeff``. OMP refits all selected columns from zero as PyLops' ``engine``
    says: LSQR with scipy's stopping rule and ``iter_lim=niter_inner`` (``"scipy"``, the
    default) or ``niter_inner`` cgls steps (``"pylops"``), and sets :math:`\mathbf{r} = \mathbf{y} - \mathbf{Op}_{cols}\mathbf{x}_{cols}`.
    A sample stops once :math:`\|\mathbf{r}\|_2 \le \sigma`. ``step`` and ``run`` return
    ``(x, cols)`` as PyLops, with ``x`` the full (dense) model; the selection is also in
    ``self.cols`` (every slot; ``self.valid`` marks the slots used).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_omp import OMP
    >>> A = torchlops.MatrixMult(torch.eye(4, dtype=torch.float64))
    >>> x, nouter, cost = OMP(A).solve(torch.tensor([0.0, 3.0, 0.0, 1.0], dtype=torch.float64), niter_outer=4)
    >>> x.round(decimals=8), nouter
    (tensor([0., 3., 0., 1.], dtype=torch.float64), 2)
    """

    def _print_setup(self) -> None:
        self._print_solver("(Only MP)" if self.niter_inner == 0 else f" (batch of {self._b.B})", nbar=55)
        logger.info("sigma = %.2e\tniter_outer = %d", self.sigma, self.niter_outer)
        logger.info("niter_inner = %d\tnormalization=%s", self.niter_inner, self.normalizecols)
        logger.info("%s", "-" * 55)
        logger.info("    Itn           x[0]              r2norm   (sample 0)")

    def _print_step(self, x: torch.Tensor) -> None:
        if x.shape[0] == 0:  # (an empty batch: no sample 0 to show)
            return
        x0 = x[0, 0]
        sx = f"{complex(x0):1.2e}   " if x0.is_complex() else f"{float(x0):11.4e}"
        logger.info("%6d        %s         %10.3e", self.iiter, sx, float(self.cost[-1].reshape(-1)[0]))

    def setup(
        self,
        y: torch.Tensor,
        niter_outer: int = 10,
        niter_inner: int = 40,
        sigma: float = 1e-4,
        normalizecols: bool = False,
        Opbasis: LinearOperator | None = None,
        optimal_coeff: bool = False,
        preallocate: bool = False,
        show: bool = False,
    ) -> torch.Tensor:
        """Check the arguments, compute the column norms if asked; returns the zero model."""
        niter_outer, niter_inner = count_arg(niter_outer, "niter_outer"), count_arg(niter_inner, "niter_inner")
        self._b = b = Batch(self.Op, y)
        self.y = b.data(b.y)
        self.niter_outer, self.niter_inner = niter_outer, niter_inner
        self.sigma, self.normalizecols, self.optimal_coeff = float(sigma), normalizecols, optimal_coeff
        self.Opbasis = self.Op if Opbasis is None else Opbasis
        if not isinstance(self.Opbasis, LinearOperator):
            raise TypeError(f"Opbasis must be a torchlops LinearOperator, got {type(self.Opbasis).__name__}")
        if self.Opbasis.shape[1] != b.N:
            raise ValueError(f"Opbasis must have {b.N} columns, got shape {self.Opbasis.shape}")
        if normalizecols:
            n = self.Opbasis.shape[1]
            norms = []
            for i in range(0, n, _CHUNK):
                eye = torch.eye(n, dtype=self.Opbasis.dtype, device=b.y.device)[i : i + _CHUNK]
                norms.append(_norm(self.Opbasis._flat(eye, False)))
            self.norms = torch.cat(norms)
        dev = b.y.device
        self.cols = torch.zeros(b.B, 0, dtype=torch.int64, device=dev)
        self.valid = torch.zeros(b.B, 0, dtype=torch.bool, device=dev)
        self.coef = b.y.new_zeros(b.B, 0)
        self.res = b.y.clone()
        rn = _norm(self.res)
        self.cost = [rn.reshape(b.batch)]
        self.active = rn > self.sigma
        self.iiters = torch.zeros(b.B, dtype=torch.int64, device=dev)
        self.iiter = 0
        self._cols_out = self._selected()
        self._cols_ver = version_of(self._cols_out)
        self.tstart = now()
        if show:
            self._print_setup()
        return b.model(b.y.new_zeros(b.B, b.N))

    def _selected(self) -> torch.Tensor:
        """The selected columns as ``step`` returns them: 1-D in the order of selection for one
        problem (PyLops' ``cols`` list); ``(*batch, k)`` for a batch, with -1 in the slots that
        hold no pick (a column picked again by MP, a sample that had stopped)."""
        if self._b.batch == ():
            return self.cols[0][self.valid[0]]
        k = self.cols.shape[1]
        return torch.where(self.valid, self.cols, -1).reshape(*self._b.batch, k)

    def _step_callback(self, x: torch.Tensor) -> None:
        """``callback(x, cols)`` as PyLops calls it: the (dense) model and the selected columns
        (as ``step`` returns them)."""
        self.callback(x, self._cols_out)

    def _check_cols(self, cols: Any) -> None:
        """``cols`` given to ``step`` / ``run`` must be the selection the solver holds (it keeps
        it itself): None, the ``cols`` the last step returned, or an equal sequence (PyLops'
        ``[]`` before the first step)."""
        if cols is None or (cols is self._cols_out and version_of(cols) == self._cols_ver):
            return
        if isinstance(cols, torch.Tensor):
            given = cols.detach().to("cpu", torch.int64)
        else:
            try:
                given = torch.as_tensor(list(cols), dtype=torch.int64)
            except (TypeError, ValueError, RuntimeError) as err:
                raise TypeError(f"OMP: cols must be the selected columns step returned, got {type(cols).__name__}") \
                    from err
        held = self._selected().to("cpu")
        if given.numel() == 0 and held.numel() == 0:
            return
        if given.shape != held.shape or not torch.equal(given, held):
            raise ValueError(
                "OMP keeps the selected columns itself: cols must be the ones the last step returned "
                f"(or [] / None before the first step), got {given.tolist()} where it holds {held.tolist()}"
            )

    def _dense(self, x: Any) -> torch.Tensor:
        """The flat dense model of ``x``: the model ``setup`` / ``step`` returned, or PyLops'
        list of the selected columns' coefficients (``[]`` before the first step)."""
        b = self._b
        if isinstance(x, torch.Tensor):
            return b.flat_model(x, "x")
        if isinstance(x, (list, tuple)):
            sel = self._selected()
            if b.batch != () or len(x) != sel.numel():
                raise ValueError(
                    f"OMP: a list x is PyLops' coefficients of the selected columns ({sel.numel()} for one "
                    f"problem), got {len(x)} values" + (" for a batch (pass the model step returned)"
                                                          if b.batch != () else "")
                )
            z = b.y.new_zeros(b.B, b.N)
            if len(x):
                z[0, sel] = torch.as_tensor([complex(v) if z.is_complex() else float(v) for v in x],
                                            dtype=z.dtype, device=z.device)
            return z
        raise TypeError(f"OMP: x must be the model step returned (or a list of coefficients), got {type(x).__name__}")

    def _scatter(self, coef: torch.Tensor, cols: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        z = coef.new_zeros(coef.shape[0], self._b.N)
        return z.scatter_add(1, cols, torch.where(valid, coef, torch.zeros_like(coef)))

    def step(self, x: torch.Tensor | list, cols: Any = None, engine: str = "scipy", show: bool = False,
             **kwargs_solver: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """One outer iteration; returns ``(x, cols)`` as PyLops: the new dense model (PyLops
        returns the coefficients of the selected columns, which its ``finalize`` spreads) and
        the selected columns (see ``self.cols``). ``x`` is the model ``setup`` / ``step``
        returned (or PyLops' coefficient list, ``[]`` to start), ``cols`` the columns the last
        step returned (or ``[]`` / None). ``engine`` picks the re-fit as PyLops: LSQR with
        scipy's stopping rule and ``iter_lim=niter_inner`` (``"scipy"``), or ``niter_inner``
        cgls steps (``"pylops"``); ``kwargs_solver`` go to that solver (``damp``, ``atol``, ...)."""
        check_engine(engine)
        if engine == "scipy" and "iter_lim" in kwargs_solver:
            raise TypeError("OMP.step: the re-fit's iter_lim is niter_inner (set in setup), as in PyLops")
        self._check_cols(cols)
        b = self._b
        act = self.active
        xf = self._dense(x)
        cres = self.Op._flat(self.res, True)
        if self.normalizecols:
            cres = cres / self.norms.to(cres.dtype)
        imax = cres.abs().argmax(dim=-1, keepdim=True)  # (B, 1)
        isnew = ~(self.cols == imax).any(dim=-1, keepdim=True)
        c = cres.gather(1, imax)  # (B, 1)
        if self.niter_inner == 0:
            onehot = torch.zeros_like(xf).scatter(1, imax, torch.ones_like(c))
            col = self.Op._flat(onehot, False)
            if self.optimal_coeff:
                c = (col.conj() * self.res).sum(-1, keepdim=True) / (col.conj() * col).sum(-1, keepdim=True)
            c = torch.where(act[:, None], c, torch.zeros_like(c))
            self.res = self.res - c * col
            xn = xf.scatter_add(1, imax, c)
            self.cols = torch.cat([self.cols, imax], dim=1)
            self.valid = torch.cat([self.valid, isnew & act[:, None]], dim=1)
        else:
            cols = torch.cat([self.cols, imax], dim=1)
            valid = torch.cat([self.valid, isnew & act[:, None]], dim=1)
            k = cols.shape[1]
            A = self.Op._explicit_matrix()
            if A is not None:
                # an explicit matrix: the selected columns themselves, (B, k, M) (each re-fit
                # step O(M k), not an application of the whole M x N operator)
                Ac = torch.where(valid[..., None], A.T[cols], 0).to(b.dtype)

                def fw(v: torch.Tensor) -> torch.Tensor:
                    return torch.einsum("bkm,bk->bm", Ac, v.to(b.dtype))

                def ad(r: torch.Tensor) -> torch.Tensor:
                    return torch.einsum("bkm,bm->bk", Ac.conj(), r.to(b.dtype))
            else:

                def fw(v: torch.Tensor) -> torch.Tensor:
                    return self.Op._flat(self._scatter(v, cols, valid), False)

                def ad(r: torch.Tensor) -> torch.Tensor:
                    g = self.Op._flat(r, True).gather(1, cols)
                    return torch.where(valid, g, torch.zeros_like(g))

            Opcol = FlatOperator(k, b.M, fw, ad, b.dtype, name="Op[:,cols]")
            if engine == "pylops":
                coef = cgls(Opcol, b.y, niter=self.niter_inner, **kwargs_solver).x
            else:
                kw = dict(kwargs_solver)
                x0 = kw.pop("x0", None)  # (scipy's lsqr takes a start)
                coef = _ls("scipy", Opcol, b.y, x0, False, False, {"iter_lim": self.niter_inner, **kw})[0]
            coef = coef.reshape(b.B, k)
            old = torch.cat([self.coef, self.coef.new_zeros(b.B, 1)], dim=1)
            self.coef = torch.where(act[:, None], coef, old)
            self.cols, self.valid = cols, valid
            self.res = torch.where(act[:, None], b.y - fw(self.coef), self.res)
            xn = self._scatter(self.coef, cols, valid)
        rn = _norm(self.res)
        self.iiters = self.iiters + act.to(torch.int64)
        self.active = act & (rn > self.sigma)
        self.iiter += 1
        self.cost.append(rn.reshape(b.batch))
        self._cols_out = self._selected()
        self._cols_ver = version_of(self._cols_out)
        if show:
            self._print_step(xn)
        return b.model(xn), self._cols_out

    def run(self, x: torch.Tensor | list, cols: Any = None, engine: str = "scipy", show: bool = False,
            itershow: tuple[int, int, int] = (10, 10, 10)) -> tuple[torch.Tensor, torch.Tensor]:
        """Outer iterations until ``niter_outer`` or every residual norm is at most ``sigma``;
        returns ``(x, cols)`` as PyLops (arguments: see :meth:`step`)."""
        check_engine(engine)
        self._check_cols(cols)
        if not isinstance(x, torch.Tensor):
            x = self._b.model(self._dense(x))
        n = self.niter_outer
        while self.iiter < n:
            if self.sigma > 0 and not bool(self.active.any()):
                break
            k = self.iiter
            showstep = show and (k < itershow[0] or n - k < itershow[1] or k % itershow[2] == 0)
            x, cols = self.step(x, None, engine, showstep)
            if self.should_stop():
                break
        return x, self._cols_out

    def finalize(self, x: torch.Tensor | list | None = None, cols: Any = None, show: bool = False) -> torch.Tensor | None:
        """Stack the cost history into a ``(nouter + 1, *batch)`` tensor; returns the dense
        model of ``x`` as PyLops (``x`` and ``cols`` as :meth:`step` takes them; None when no
        ``x`` is given)."""
        if isinstance(x, bool):  # (finalize(show) of the solvers without a model argument)
            raise TypeError("OMP.finalize(x=None, cols=None, show=False): x is the model step returned")
        xfin = None
        if x is not None:
            self._check_cols(cols)
            xfin = self._b.model(self._dense(x))
        self.telapsed = now() - self.tstart
        self.nouter = self.iiter
        if isinstance(self.cost, list):
            self.cost = torch.stack(self.cost)
        if show:
            self._print_finalize(nbar=55)
        return xfin

    def solve(
        self,
        y: torch.Tensor,
        niter_outer: int = 10,
        niter_inner: int = 40,
        sigma: float = 1e-4,
        normalizecols: bool = False,
        Opbasis: LinearOperator | None = None,
        optimal_coeff: bool = False,
        engine: str = "scipy",
        preallocate: bool = False,
        show: bool = False,
        itershow: tuple[int, int, int] = (10, 10, 10),
        *,
        progress: bool = False,
    ) -> tuple[torch.Tensor, int, torch.Tensor]:
        """``setup``, ``run`` and ``finalize``; returns ``(x, nouter, cost)`` like PyLops
        (``progress=True``: a progress bar over the outer iterations)."""
        check_engine(engine)
        with progress_bar(self, progress, niter_outer):
            x = self.setup(y, niter_outer=niter_outer, niter_inner=niter_inner, sigma=sigma,
                           normalizecols=normalizecols, Opbasis=Opbasis, optimal_coeff=optimal_coeff, show=show)
            x, cols = self.run(x, None, engine, show, itershow)
            x = self.finalize(x, cols, show)
        return x, self.nouter, self.cost
