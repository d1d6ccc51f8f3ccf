"""Operator from a pair of functions."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Any

import torch

from torchlops.linearoperator import LinearOperator

__all__ = ["FunctionOperator"]


class FunctionOperator(LinearOperator):
    r"""Operator defined by a forward function ``f`` and an adjoint function ``fc``.

    Call forms as in PyLops: ``FunctionOperator(f, n)``, ``FunctionOperator(f, n, m)``,
    ``FunctionOperator(f, fc, n)``, ``FunctionOperator(f, fc, n, m)`` (``n`` rows, ``m`` columns).

    Parameters
    ----------
    f : :obj:`callable`
        Forward: maps a ``(B, m)`` tensor to a ``(B, n)`` tensor.
    fc : :obj:`callable`, optional
        Adjoint: maps ``(B, n)`` to ``(B, m)``. Without it the adjoint raises ``TypeError``.
    n : :obj:`int`
        Number of rows (the size of ``f``'s output).
    m : :obj:`int`, optional
        Number of columns (the size of ``f``'s input); ``n`` when not given (a square operator).
    vectorized : :obj:`bool`, optional (keyword)
        ``True`` (default): ``f``/``fc`` act on a batch ``(B, m)``. ``False``: they act on one
        flat vector and are vectorised with :func:`torch.vmap`.
    autograd : :obj:`bool`, optional (keyword)
        ``False`` (default): backward applies ``fc`` (the adjoint) and ``f`` is a black box
        (NumPy inside is fine); tensors ``f`` closes over get gradients only where the input
        requires none. ``True``: autograd differentiates ``f`` and ``fc`` as the torch code
        they are, so tensors they close over (a learnable weight, an operator's parameters)
        receive gradients whatever the input; they must then be differentiable torch code.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional (keyword)
        Operator dtype.
    name : :obj:`str`, optional (keyword)
        Name.

    Notes
    -----
    The pair must be adjoint to each other for gradients to be right: backward applies
    ``fc`` (unless ``autograd=True``). Check it with :func:`torchlops.utils.dottest`. With
    ``autograd=True``, ``implicit=True`` solves and ``DataConsistency`` over the operator
    differentiate through their iterations (the tensors the functions close over are no
    parameters or buffers that an implicit backward could reach).

    Examples
    --------
    >>> import torch, torchlops
    >>> F = torchlops.FunctionOperator(lambda x: 2 * x, lambda y: 2 * y, 3)
    >>> F @ torch.ones(3)
    tensor([2., 2., 2.])
    """

    def __init__(self, f: Callable, *args: Any, **kwargs: Any) -> None:
        fc: Callable | None = None
        if len(args) == 1:
            shape = (args[0], args[0])
        elif len(args) == 2:
            if isinstance(args[0], Integral):
                shape = (args[0], args[1])
            else:
                fc, shape = args[0], (args[1], args[1])
        elif len(args) == 3:
            fc, shape = args[0], (args[1], args[2])
        else:
            raise TypeError("FunctionOperator(f, [fc,] n[, m]): expected 1 to 3 positional arguments after f")
        if not callable(f) or (fc is not None and not callable(fc)):
            raise TypeError("f and fc must be callables")
        unknown = set(kwargs) - {"dtype", "name", "vectorized", "autograd"}
        if unknown:
            raise TypeError(f"FunctionOperator got unexpected keyword arguments {sorted(unknown)}")
        super().__init__(shape=tuple(int(s) for s in shape), dtype=kwargs.get("dtype"), name=kwargs.get("name", "F"))
        # (the functions as given, vmapped at each call: the operator pickles when they do)
        self.f = f
        self.fc = fc
        self.vectorized = bool(kwargs.get("vectorized", True))
        self._autograd_through_kernels = bool(kwargs.get("autograd", False))

    def _call(self, fun: Callable, x: torch.Tensor) -> object:
        return fun(x) if self.vectorized else torch.vmap(fun)(x)

    # y = f(x)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return self._checked(self._call(self.f, x), x, self._m, "f")

    # x = fc(y)
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if self.fc is None:
            raise TypeError(f"{self.name}: no adjoint function fc was given")
        return self._checked(self._call(self.fc, y), y, self._n, "fc")

    def _checked(self, out: object, inp: torch.Tensor, n: int, which: str) -> torch.Tensor:
        """``out`` of ``(B, n)`` for an input of ``(B, ...)``, or a clear error (as PyLops' dimension mismatch)."""
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != inp.shape[0] or out.shape[1] != n:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"{self.name}: {which} must return ({inp.shape[0]}, {n}) for an input of "
                             f"{tuple(inp.shape)}, got {got}")
        return out
