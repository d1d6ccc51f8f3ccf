"""Operator algebra: adjoint, transpose, conjugate, sum, product, scaling, power, ...

Composite operators are Modules holding their parts; they apply the parts (each
through its own autograd Function) and never bypass them.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import nn

from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import real_dtype

__all__ = [
    "AdjointOperator",
    "TransposeOperator",
    "ConjOperator",
    "SumOperator",
    "ProductOperator",
    "ScaledOperator",
    "PowerOperator",
    "RealImagOperator",
    "ColumnOperator",
    "run",
    "is_scalar",
]


def is_scalar(value: Any) -> bool:
    """A Python/NumPy number or a one-element tensor."""
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def run(op: LinearOperator, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
    """Apply ``op`` (or its adjoint) to a ``(B, ...)`` tensor holding ``B`` inputs of the right size."""
    ins = op._dimsd if adjoint else op._dims
    if x.shape[1:] != ins:
        x = x.reshape(x.shape[0], *ins)
    return op._batched(x, adjoint)


def _shape_of_sum(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The dims (or dimsd) of ``A + B`` as PyLops: ``A``'s, unless they are flat (then ``B``'s)."""
    return b if len(a) == 1 else a


class AdjointOperator(LinearOperator):
    """``A^H``: forward is ``A``'s adjoint and vice versa."""

    _composite = True

    def __init__(self, Op: LinearOperator) -> None:
        super().__init__(dims=Op.dimsd, dimsd=Op.dims, dtype=Op.dtype, clinear=Op.clinear, name=f"{Op.name}^H")
        self.Op = Op

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        return run(self.Op, x, not adjoint)

    @property
    def H(self) -> LinearOperator:
        return self.Op


class TransposeOperator(LinearOperator):
    """``A^T x = conj(A^H conj(x))``."""

    _composite = True

    def __init__(self, Op: LinearOperator) -> None:
        super().__init__(dims=Op.dimsd, dimsd=Op.dims, dtype=Op.dtype, clinear=Op.clinear, name=f"{Op.name}^T")
        self.Op = Op

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        return run(self.Op, x.conj(), not adjoint).conj()

    @property
    def T(self) -> LinearOperator:
        return self.Op


class ConjOperator(LinearOperator):
    """``conj(A) x = conj(A conj(x))``."""

    _composite = True

    def __init__(self, Op: LinearOperator) -> None:
        super().__init__(dims=Op.dims, dimsd=Op.dimsd, dtype=Op.dtype, clinear=Op.clinear, name=f"conj({Op.name})")
        self.Op = Op

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        return run(self.Op, x.conj(), adjoint).conj()


class SumOperator(LinearOperator):
    """``(A + B) x = A x + B x``."""

    _composite = True

    def __init__(self, A: LinearOperator, B: LinearOperator) -> None:
        if A.shape != B.shape:
            raise ValueError(f"cannot add operators of shapes {A.shape} and {B.shape}")
        super().__init__(
            dims=_shape_of_sum(A.dims, B.dims),
            dimsd=_shape_of_sum(A.dimsd, B.dimsd),
            dtype=torch.promote_types(A.dtype, B.dtype),
            clinear=A.clinear and B.clinear,
            name=f"({A.name}+{B.name})",
        )
        self.A = A
        self.B = B

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        out = (x.shape[0], *(self._dims if adjoint else self._dimsd))
        return run(self.A, x, adjoint).reshape(out) + run(self.B, x, adjoint).reshape(out)


class ProductOperator(LinearOperator):
    """``(A B) x = A (B x)``."""

    _composite = True

    def __init__(self, A: LinearOperator, B: LinearOperator) -> None:
        if A.shape[1] != B.shape[0]:
            raise ValueError(
                f"cannot multiply operators of shapes {A.shape} and {B.shape}: "
                f"{A.shape[1]} columns against {B.shape[0]} rows"
            )
        super().__init__(
            dims=B.dims,
            dimsd=A.dimsd,
            dtype=torch.promote_types(A.dtype, B.dtype),
            clinear=A.clinear and B.clinear,
            name=f"{A.name}*{B.name}",
        )
        self.A = A
        self.B = B

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        if adjoint:
            return run(self.B, run(self.A, x, True), True)
        return run(self.A, run(self.B, x, False), False)


def _is_complex_number(v: Any) -> bool:
    """A complex Python or NumPy number (``np.complex64`` is no subclass of ``complex``)."""
    return isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real)


def _scaled_dtype(dt: torch.dtype, scalar: Any) -> torch.dtype:
    """The dtype of ``scalar * A`` for ``A`` of dtype ``dt``: a floating / complex tensor
    scalar promotes it, a complex number makes it complex of its precision."""
    if isinstance(scalar, torch.Tensor):
        sdt = scalar.dtype if (scalar.is_floating_point() or scalar.is_complex()) else dt
    else:
        sdt = torch.complex64 if _is_complex_number(scalar) else dt
    return torch.promote_types(dt, sdt)


class ScaledOperator(LinearOperator):
    """``(a A) x = a (A x)``; the adjoint applies ``conj(a)`` (before ``A^H``, so R-linear
    operators stay exact). ``a`` may be a Python number or a one-element tensor
    (a :class:`torch.nn.Parameter` makes it learnable)."""

    _composite = True

    def __init__(self, Op: LinearOperator, scalar: Any) -> None:
        if not is_scalar(scalar):
            raise TypeError(f"scalar must be a number or a one-element tensor, got {type(scalar).__name__}")
        super().__init__(
            dims=Op.dims, dimsd=Op.dimsd, dtype=_scaled_dtype(Op.dtype, scalar), clinear=Op.clinear,
            name=f"{scalar!r}*{Op.name}" if not isinstance(scalar, torch.Tensor) else f"a*{Op.name}",
        )
        self.Op = Op
        if isinstance(scalar, nn.Parameter):
            self.scalar = scalar
        elif isinstance(scalar, torch.Tensor):
            # (on the operator's device, as a composite's tensors; a learnable one, a Parameter,
            # stays where it is: moving it would cut it off)
            dev = Op.device
            self.register_buffer("scalar", scalar.reshape(()) if dev is None else scalar.reshape(()).to(dev))
        else:
            self.scalar = complex(scalar) if _is_complex_number(scalar) else float(scalar)

    def _dtype_from_parts(self) -> torch.dtype:
        return _scaled_dtype(self.Op.dtype, self.scalar)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        self._check_own_device(x)
        s = self.scalar
        if isinstance(s, torch.Tensor) and s.dim():  # (a learnable one-element tensor of any shape)
            s = s.reshape(())
        # (a 0-d tensor does not promote A x: the input carries the operator's precision)
        pt = torch.promote_types(self.dtype, x.dtype)
        if pt != x.dtype:
            x = x.to(pt)
        if adjoint:
            s = s.conj() if isinstance(s, torch.Tensor) else s.conjugate()
            return run(self.Op, x * s, True)
        return run(self.Op, x, False) * s


class PowerOperator(LinearOperator):
    """``A^k x = A (A (... x))`` for a square ``A`` and an integer ``k >= 0``."""

    _composite = True

    def __init__(self, Op: LinearOperator, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise ValueError(f"power must be a non-negative integer, got {k!r}")
        if Op.shape[0] != Op.shape[1]:
            raise ValueError(f"power needs a square operator, got shape {Op.shape}")
        super().__init__(dims=Op.dims, dimsd=Op.dimsd, dtype=Op.dtype, clinear=Op.clinear, name=f"{Op.name}^{k}")
        self.Op = Op
        self.k = int(k)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        for _ in range(self.k):
            x = run(self.Op, x, adjoint)
        if self.k == 0:  # (the identity: a new tensor, as every operator returns)
            x = x.to(torch.promote_types(self.dtype, x.dtype), copy=True)
        # (each application reads its input in A's own shape: run reshapes; the output takes the
        # power's output shape, A's dimsd forward as in PyLops)
        return x.reshape(x.shape[0], *(self._dims if adjoint else self._dimsd))


class RealImagOperator(LinearOperator):
    """Real (or imaginary) part of the forward and/or adjoint of an operator (PyLops'
    ``toreal``/``toimag``): forward ``Re(A x)``, adjoint ``Re(A^H y)``; for the imaginary
    part, forward ``Im(A x)`` and adjoint ``-Im(A^H y)`` (``Re(A^H (i y))`` for an R-linear
    ``A`` of complex data). With ``forw=adj=True`` it is the exact real operator
    ``R^N -> R^M`` of a complex operator acting on real models, and its adjoint takes the real
    part of complex data first (the adjoint of real data among complex ones)."""

    _composite = True

    def __init__(self, Op: LinearOperator, forw: bool = True, adj: bool = True, real: bool = True) -> None:
        super().__init__(
            dims=Op.dims, dimsd=Op.dimsd, dtype=real_dtype(Op.dtype), clinear=False,
            name=f"{'Re' if real else 'Im'}({Op.name})",
        )
        self.Op = Op
        self.forw = bool(forw)
        self.adj = bool(adj)
        self.real = bool(real)

    def _dtype_from_parts(self) -> torch.dtype:
        return real_dtype(self.Op.dtype)

    def _part(self, y: torch.Tensor, sign: float) -> torch.Tensor:
        if self.real:
            return y.real if y.is_complex() else y
        if y.is_complex():
            return sign * y.imag
        # (real data: zeros, in y's graph so that gradients and tangents reach the input, as zeros)
        return torch.where(torch.zeros((), dtype=torch.bool, device=y.device), y, 0.0)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        if adjoint and self.forw and self.adj and x.is_complex():
            # (its data are real: the adjoint of their embedding among complex data, where a
            # product such as FFT @ A.toreal() applies it, is the real part; PyLops' toreal and
            # toimag apply A^H to the whole complex data, and the product fails its dot test)
            x = x.real
        if adjoint and self.adj and not self.real and not self.Op.clinear and self.Op.dtype.is_complex:
            # <Im(A x), y> = <x, Re(A^H (i y))> in the real inner product; -Im(A^H y), PyLops'
            # adjoint, is the same only where A^H is C-linear (for FFT(real=True) it is zero).
            # (an R-linear A of a real dtype has real data, Im(A x) = 0: the branch below)
            if not x.is_complex():  # (torch.complex takes no bfloat16: at least the operator's precision)
                x = x.to(torch.promote_types(x.dtype, real_dtype(self.Op.dtype)))
            iy = x * 1j if x.is_complex() else torch.complex(torch.zeros_like(x), x)
            y = run(self.Op, iy, True)
            return y.real if y.is_complex() else y
        y = run(self.Op, x, adjoint)
        if adjoint and self.adj:
            return self._part(y, -1.0)
        if not adjoint and self.forw:
            return self._part(y, 1.0)
        return y


class ColumnOperator(LinearOperator):
    """``A[:, cols]``: the operator restricted to some entries of its flat model."""

    _composite = True

    def __init__(self, Op: LinearOperator, cols: Any) -> None:
        raw = torch.as_tensor(cols).reshape(-1)
        if raw.numel() == 0 and not isinstance(cols, torch.Tensor):  # (an empty list: no column)
            raw = raw.to(torch.long)
        if raw.dtype == torch.bool:  # a mask of the columns, as NumPy indexes with one
            if raw.numel() != Op.shape[1]:
                raise ValueError(f"a boolean cols mask must have {Op.shape[1]} entries, got {raw.numel()}")
            raw = raw.nonzero().reshape(-1)
        elif raw.is_floating_point() or raw.is_complex():
            raise TypeError(f"cols must hold integer indices (or be a boolean mask), got dtype {raw.dtype}")
        idx = raw.to(torch.long)
        n = Op.shape[1]
        if idx.numel() and idx.device.type != "meta" and (idx.min() < -n or idx.max() >= n):
            raise ValueError(f"cols must lie in [-{n}, {n}), got values in [{int(idx.min())}, {int(idx.max())}]")
        super().__init__(dims=(idx.numel(),), dimsd=Op.dimsd, dtype=Op.dtype, clinear=Op.clinear, name=f"{Op.name}[:,cols]")
        self.Op = Op
        # (checked where they were given, held on the operator's device: a composite holds its
        # tensors where its parts are)
        idx = idx % max(n, 1)
        self.register_buffer("cols", idx if Op.device is None else idx.to(Op.device))

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        self._check_own_device(x)
        n = self.Op.shape[1]
        if adjoint:
            return run(self.Op, x, True).reshape(x.shape[0], n)[:, self.cols]
        dt = torch.promote_types(self.Op.dtype, x.dtype)
        # (index_add: a repeated column adds up, as A[:, cols] @ x does)
        z = x.new_zeros(x.shape[0], n, dtype=dt).index_add(1, self.cols, x.to(dt))
        return run(self.Op, z, False)
