"""Bridges between torchlops and the NumPy/CuPy world: PyLops and SciPy operators.

* :func:`from_pylops` wraps any :class:`pylops.LinearOperator` as a torchlops
  operator (batched, differentiable, usable inside solvers and networks);
* :func:`to_pylops` wraps a torchlops operator as a :class:`pylops.LinearOperator`
  (NumPy or CuPy in, same out), so PyLops' solvers and utilities run on it;
* :func:`to_scipy` wraps a torchlops operator as a
  :class:`scipy.sparse.linalg.LinearOperator` (NumPy in/out);
* :func:`aslinearoperator` turns tensors, arrays, sparse matrices, SciPy and PyLops
  operators into torchlops operators.
"""

from __future__ import annotations

import functools
import importlib
import types
from typing import Any

import numpy as np
import torch

from torchlops.linearoperator import LinearOperator
from torchlops.linearoperator import aslinearoperator as _aslinearoperator
from torchlops.utils.checks import to_torch_dtype

__all__ = ["PyLopsOperator", "from_pylops", "to_pylops", "to_scipy", "aslinearoperator"]

_BACKENDS = ("auto", "numpy", "cupy")


def _cupy() -> Any:
    """The ``cupy`` module, or ``None`` when it cannot be imported."""
    try:
        return importlib.import_module("cupy")
    except Exception:  # a missing or broken CuPy means "no CuPy"
        return None


def _holds_cupy(obj: Any, depth: int = 3) -> bool:
    """Whether ``obj`` (a PyLops operator) keeps CuPy arrays among its attributes,
    looking ``depth`` levels into nested operators and lists of operators."""
    cp = _cupy()
    if cp is None:
        return False
    seen: set[int] = set()

    def walk(o: Any, d: int) -> bool:
        if id(o) in seen or d < 0:
            return False
        seen.add(id(o))
        if isinstance(o, cp.ndarray):
            return True
        if isinstance(o, (list, tuple)):
            return any(walk(v, d - 1) for v in o)
        attrs = getattr(o, "__dict__", None)
        if not attrs:
            return False
        return any(walk(v, d - 1) for v in attrs.values())

    return walk(obj, depth)


def _to_array(x: torch.Tensor, backend: str) -> Any:
    """``x`` as a NumPy array (on the host) or a CuPy array (sharing the GPU memory)."""
    x = x.detach().resolve_conj().resolve_neg().contiguous()
    if backend == "cupy":
        cp = _cupy()
        if cp is None:
            raise ValueError("from_pylops: backend='cupy' needs CuPy, which cannot be imported")
        if x.device.type != "cuda":
            x = x.cuda()
        return cp.from_dlpack(x)
    return x.cpu().numpy()


def _to_tensor(a: Any, device: torch.device) -> torch.Tensor:
    """A NumPy or CuPy array as a tensor on ``device`` (no copy where none is needed)."""
    if isinstance(a, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(a))
    else:  # CuPy (or any DLPack producer)
        t = torch.from_dlpack(a)
    return t.to(device)


def _out_dtype(xdtype: torch.dtype, odtype: torch.dtype) -> torch.dtype:
    """Result dtype: the input's precision, complex when PyLops' result is (a real result of
    a complex input, as from ``pylops.Real``, stays real)."""
    if odtype.is_complex and not xdtype.is_complex:
        return xdtype.to_complex()
    if xdtype.is_complex and not odtype.is_complex:
        return xdtype.to_real()
    return xdtype


class PyLopsOperator(LinearOperator):
    r"""A :class:`pylops.LinearOperator` as a torchlops operator.

    Built by :func:`from_pylops`, which documents the arguments.

    Notes
    -----
    Forward and adjoint are PyLops' ``matmat``/``rmatmat`` applied to the batch
    transposed into columns, :math:`\mathbf{Y} = \mathbf{A}\,[\mathbf{x}_1, \dots,
    \mathbf{x}_B]` and :math:`\mathbf{X} = \mathbf{A}^H [\mathbf{y}_1, \dots,
    \mathbf{y}_B]` (one pass over the batch), or one ``matvec``/``rmatvec`` per sample
    when the PyLops operator does not support ``matmat``. The data cross to NumPy on
    the host, or to CuPy through DLPack without leaving the GPU. Autograd goes
    through torchlops' operator Function, so the gradient of :math:`\mathbf{A}\mathbf{x}`
    is PyLops' ``rmatvec``; the computation itself runs outside torch (it is not
    captured by ``torch.compile`` and synchronises with the host on NumPy).
    """

    def __init__(self, op: Any, backend: str = "auto", name: str | None = None) -> None:
        shape = getattr(op, "shape", None)
        if not (hasattr(op, "matvec") and hasattr(op, "rmatvec")) or shape is None or len(shape) != 2:
            raise TypeError(
                f"from_pylops: expected a pylops.LinearOperator (with shape, matvec and rmatvec), "
                f"got {type(op).__name__}"
            )
        if backend not in _BACKENDS:
            raise ValueError(f"from_pylops: backend must be one of {_BACKENDS}, got {backend!r}")
        m, n = int(shape[0]), int(shape[1])
        dims = tuple(int(d) for d in np.atleast_1d(getattr(op, "dims", (n,))))
        dimsd = tuple(int(d) for d in np.atleast_1d(getattr(op, "dimsd", (m,))))
        if int(np.prod(dims)) != n:
            dims = (n,)
        if int(np.prod(dimsd)) != m:
            dimsd = (m,)
        dtype = to_torch_dtype(getattr(op, "dtype", None), default=torch.float64)
        if not dtype.is_complex:
            cplx, funcs, parts = _inspect(op)
            if (cplx or funcs) and _answers_complex(op, m, n, parts):
                # (PyLops keeps the default float64 of an operator built from complex arrays, e.g.
                # Diagonal(d) of a complex d: it is a complex operator, whose real inputs are
                # promoted and whose gradients for them are real parts, as for any complex operator)
                dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        super().__init__(
            dims=dims,
            dimsd=dimsd,
            dtype=dtype,
            clinear=bool(getattr(op, "clinear", True)),
            # (explicit: its matrix is at hand, so trace / todense are exact as in PyLops)
            explicit=bool(getattr(op, "explicit", False)),
            name=name or getattr(op, "name", None) or type(op).__name__,
        )
        self.pylops_op = op
        if backend == "auto":
            backend = "cupy" if _holds_cupy(op) else "numpy"
        self.backend = backend
        self._use_matmat = True

    def extra_repr(self) -> str:
        return f"{type(self.pylops_op).__name__}, {super().extra_repr()}, backend={self.backend!r}"

    def _apply(self, fn: Any, recurse: bool = True) -> PyLopsOperator:
        # PyLops computes in its operator's own dtype, which a conversion cannot change: the
        # dtype stays (a relabelled float32 operator would claim float64 results it does not
        # compute); results follow promote_types of it and the input's, as for any operator
        dt = self._dtype
        super()._apply(fn, recurse)
        self._dtype = dt
        return self

    def _apply_np(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        if x.is_complex() and not self.dtype.is_complex and self.clinear:
            # a real C-linear operator on complex vectors: its real and imaginary parts as one
            # batch (NumPy operators of a real dtype cannot take complex input)
            nb = x.shape[0]
            y = self._apply_np(torch.cat([x.real, x.imag]), adjoint)
            re, im = y[:nb], y[nb:]
            # (an operator PyLops declares real may still answer complex, e.g. Diagonal of a
            # complex vector with the default dtype: its parts then combine as they are)
            return torch.complex(re, im) if not re.is_complex() else re + 1j * im
        nb = x.shape[0]
        nout = self._n if adjoint else self._m
        outs = self._dims if adjoint else self._dimsd
        if nb == 0:  # an empty batch: one zero sample gives the result's dtype
            ins = self._dimsd if adjoint else self._dims
            return self._apply_np(x.new_zeros(1, *ins), adjoint)[:0]
        if x.numel() == 0:  # empty samples: nothing to hand PyLops
            return x.new_zeros(nb, *outs, dtype=_out_dtype(x.dtype, self.dtype))
        cols = _to_array(x.reshape(nb, -1), self.backend).T  # (n_in, B) columns
        op = self.pylops_op
        Y = None
        failed = False
        if self._use_matmat:
            try:
                Y = op.rmatmat(cols) if adjoint else op.matmat(cols)
            except MemoryError:  # (a batch too large for memory says so; the next may fit)
                raise
            except Exception:  # some operators only implement matvec/rmatvec
                failed = True
        if Y is None:
            fn = op.rmatvec if adjoint else op.matvec
            ys = [fn(cols[:, b]).reshape(-1) for b in range(nb)]
            Y = (np if isinstance(ys[0], np.ndarray) else _cupy()).stack(ys, 1)
            if failed:  # (matmat failed where matvec works: columns one at a time from now on)
                self._use_matmat = False
        y = _to_tensor(Y.T.reshape(nb, nout), x.device)
        return y.to(_out_dtype(x.dtype, y.dtype)).reshape(nb, *outs)

    # Y[:, b] = A x[b]  (PyLops matmat on the batch as columns)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply_np(x, adjoint=False)

    # X[:, b] = A^H y[b]  (PyLops rmatmat on the batch as columns)
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply_np(y, adjoint=True)


_COUNTERS = ("matvec_count", "rmatvec_count", "matmat_count", "rmatmat_count")


#: modules whose functions an operator may hold without hiding anything (``convfunc``, ...)
_LIBRARIES = ("numpy", "scipy", "pylops", "cupy", "builtins", "math", "torch")


def _inspect(op: Any, depth: int = 16) -> tuple[bool, bool, list[Any]]:
    """What a PyLops operator (and the operators it is built of, ``depth`` down) holds, read from
    its attributes without applying it: ``(complex values, something it cannot see through,
    every operator reached)``. Values with a complex ``dtype`` (arrays, sparse matrices) and
    complex numbers are seen in attributes, containers, objects and function closures; a user
    function (a ``FunctionOperator``'s, which may read globals) or the depth limit count as
    opaque. Bound methods are followed to their object; library functions are not opaque."""
    seen: set[int] = set()
    found = {"complex": False, "opaque": False}
    ops: list[Any] = []

    def scan(obj: Any, level: int) -> None:
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, bool, int, float, types.ModuleType, type)):
            return
        if level > depth:
            found["opaque"] = True
            return
        seen.add(id(obj))
        if isinstance(obj, (complex, np.complexfloating)) or "complex" in str(getattr(obj, "dtype", "")):
            found["complex"] = True
            return
        if isinstance(obj, np.ndarray) or hasattr(obj, "__array_namespace__"):
            return
        if isinstance(obj, (list, tuple, set, frozenset)):  # (a container is not a level)
            for o in obj:
                scan(o, level)
        elif isinstance(obj, dict):
            for o in obj.values():
                scan(o, level)
        elif isinstance(obj, types.MethodType):
            scan(obj.__self__, level)
        elif callable(obj) and not hasattr(obj, "__dict__") or isinstance(obj, (types.FunctionType, functools.partial)):
            module = (getattr(obj, "__module__", None) or "").split(".")[0]
            if module not in _LIBRARIES:
                found["opaque"] = True
            for c in getattr(obj, "__closure__", None) or ():
                if _filled(c):
                    scan(c.cell_contents, level + 1)
            if isinstance(obj, functools.partial):
                scan((obj.func, obj.args, obj.keywords), level + 1)
        elif hasattr(obj, "__dict__"):
            if hasattr(obj, "matvec") and hasattr(obj, "shape"):
                ops.append(obj)
            elif callable(obj) and type(obj).__module__.split(".")[0] not in _LIBRARIES:
                found["opaque"] = True  # (a callable object of the user's)
            for v in vars(obj).values():
                scan(v, level + 1)

    scan(op, 0)
    return found["complex"], found["opaque"], ops


def _answers_complex(op: Any, m: int, n: int, parts: list[Any]) -> bool:
    """Whether an operator declared real answers a real vector with a complex one, in either
    direction (``Real * Diagonal(complex)`` answers real forward, complex adjoint): one
    ``matvec`` and one ``rmatvec`` of zeros, with the call counts of every operator reached put
    back (NumPy operators; others are taken as declared)."""
    counts = [(p, {c: getattr(p, c) for c in _COUNTERS if hasattr(p, c)}) for p in parts]
    try:
        return bool(np.iscomplexobj(op.matvec(np.zeros(n))) or np.iscomplexobj(op.rmatvec(np.zeros(m))))
    except Exception:  # (a CuPy operator, or one that refuses the probe, is taken as declared)
        return False
    finally:
        for p, saved in counts:
            for c, v in saved.items():
                setattr(p, c, v)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # (an empty cell)
        return False
    return True


def from_pylops(op: Any, backend: str = "auto", name: str | None = None) -> PyLopsOperator:
    r"""Wrap a PyLops operator as a batched, differentiable torchlops operator.

    Parameters
    ----------
    op : :obj:`pylops.LinearOperator`
        Any PyLops (or SciPy-like: ``shape``, ``matvec``, ``rmatvec``) operator.
    backend : :obj:`str`, optional
        ``"numpy"`` (data cross to the host), ``"cupy"`` (data stay on the GPU, shared
        through DLPack: for PyLops operators built on CuPy arrays) or ``"auto"`` (CuPy
        when ``op`` holds CuPy arrays).
    name : :obj:`str`, optional
        Name (defaults to the PyLops operator's).

    Returns
    -------
    Op : :class:`PyLopsOperator`
        ``dims``, ``dimsd``, ``dtype`` and ``clinear`` are those of ``op`` (a dtype PyLops
        declares real for an operator that answers complex, as ``Diagonal`` of a complex
        vector by default, is the complex one: where the operator holds complex values or
        functions of its own, one ``matvec`` and one ``rmatvec`` of zeros tell, their call
        counts put back). The dtype stays through ``.double()`` / ``.to(dtype)``:
        PyLops computes in its operator's own.

    Notes
    -----
    A batch :math:`\mathbf{x}_1, \dots, \mathbf{x}_B` goes to PyLops as the columns of
    one matrix (``matmat``/``rmatmat``); the backward of :math:`\mathbf{y} = \mathbf{A}
    \mathbf{x}` is :math:`\mathbf{A}^H \mathbf{g}`, PyLops' ``rmatvec``, so the wrapped
    operator trains inside networks and runs in every torchlops solver.

    Examples
    --------
    >>> import numpy as np, torch, pylops
    >>> from torchlops.interop import from_pylops
    >>> Op = from_pylops(pylops.Diagonal(np.arange(1.0, 4.0)))
    >>> Op @ torch.ones(2, 3, dtype=torch.float64)
    tensor([[1., 2., 3.],
            [1., 2., 3.]], dtype=torch.float64)
    """
    return PyLopsOperator(op, backend=backend, name=name)


def _check_op(op: Any, fname: str) -> LinearOperator:
    if not isinstance(op, LinearOperator):
        raise TypeError(f"{fname}: expected a torchlops.LinearOperator, got {type(op).__name__}")
    return op


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.zeros(0, dtype=dtype).numpy().dtype


def _run_torch(op: LinearOperator, X: Any, adjoint: bool, batched: bool) -> Any:
    """Apply ``op`` (or its adjoint) to the NumPy/CuPy vector or columns ``X``; same kind out."""
    is_np = isinstance(X, np.ndarray) or not hasattr(X, "__dlpack__")
    dev = op.device or torch.device("cpu")
    if is_np:
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(X))).to(dev)
    else:
        t = torch.from_dlpack(X)
        if op.device is not None:
            t = t.to(dev)
    if not (t.is_floating_point() or t.is_complex()):
        t = t.to(op.dtype)
    with torch.no_grad():
        if batched:  # (n_in, K) columns -> (K, n_in) batch
            out = op._flat(t.transpose(0, 1), adjoint).transpose(0, 1)
        else:
            out = op._flat(t.reshape(1, -1), adjoint).reshape(-1)
    out = out.contiguous()
    if is_np:
        return out.cpu().numpy()
    return importlib.import_module("cupy").from_dlpack(out)


def to_pylops(op: LinearOperator) -> Any:
    r"""Wrap a torchlops operator as a :class:`pylops.LinearOperator`.

    NumPy arrays go in and out (CuPy arrays share the GPU memory through DLPack); the
    computation runs in torch, on the operator's device, without autograd. PyLops'
    solvers, ``dottest`` and operator algebra work on the result.

    Parameters
    ----------
    op : :class:`torchlops.LinearOperator`
        Operator to wrap.

    Returns
    -------
    Op : :obj:`pylops.LinearOperator`
        Same ``dims``, ``dimsd``, ``clinear`` and (NumPy) ``dtype``; ``matmat`` applies
        the torch operator to all columns at once.

    Examples
    --------
    >>> import numpy as np, torch, torchlops, pylops
    >>> from torchlops.interop import to_pylops
    >>> P = to_pylops(torchlops.FirstDerivative(5, dtype=torch.float64))
    >>> P @ np.arange(5.0)
    array([0., 1., 1., 1., 0.])
    >>> bool(pylops.utils.dottest(P))
    True
    """
    op = _check_op(op, "to_pylops")
    op._check_one_matrix("to_pylops")
    import pylops

    class _TorchlopsPyLops(pylops.LinearOperator):
        def __init__(self) -> None:
            super().__init__(
                dtype=_numpy_dtype(op.dtype),
                dims=op.dims,
                dimsd=op.dimsd,
                clinear=op.clinear,
                explicit=False,
                name=op.name,
            )
            self.torch_op = op

        def _matvec(self, x: Any) -> Any:
            return _run_torch(op, x, False, False)

        def _rmatvec(self, y: Any) -> Any:
            return _run_torch(op, y, True, False)

        def _matmat(self, X: Any) -> Any:
            return _run_torch(op, X, False, True)

        def _rmatmat(self, Y: Any) -> Any:
            return _run_torch(op, Y, True, True)

        def __reduce__(self) -> tuple:  # (pickles as the call that builds it)
            return to_pylops, (self.torch_op,)

    return _TorchlopsPyLops()


def to_scipy(op: LinearOperator) -> Any:
    r"""Wrap a torchlops operator as a :class:`scipy.sparse.linalg.LinearOperator`.

    NumPy vectors (``(N,)`` or ``(N, 1)``) and matrices ``(N, K)`` go in and out;
    ``matmat`` applies the torch operator to the ``K`` columns at once.

    Examples
    --------
    >>> import numpy as np, torch, torchlops
    >>> from scipy.sparse.linalg import lsqr
    >>> from torchlops.interop import to_scipy
    >>> A = to_scipy(torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)))
    >>> lsqr(A, np.array([1.0, 1.0, 1.0]), atol=1e-12, btol=1e-12)[0]
    array([1.  , 0.5 , 0.25])
    """
    op = _check_op(op, "to_scipy")
    op._check_one_matrix("to_scipy")
    from scipy.sparse.linalg import LinearOperator as ScipyLinearOperator

    class _TorchlopsScipy(ScipyLinearOperator):
        def __init__(self) -> None:
            super().__init__(dtype=_numpy_dtype(op.dtype), shape=op.shape)
            self.torch_op = op

        def _matvec(self, x: np.ndarray) -> np.ndarray:
            return _run_torch(op, np.asarray(x).reshape(-1), False, False)

        def _rmatvec(self, y: np.ndarray) -> np.ndarray:
            return _run_torch(op, np.asarray(y).reshape(-1), True, False)

        def _matmat(self, X: np.ndarray) -> np.ndarray:
            return _run_torch(op, np.asarray(X), False, True)

        def _rmatmat(self, Y: np.ndarray) -> np.ndarray:
            return _run_torch(op, np.asarray(Y), True, True)

        def __reduce__(self) -> tuple:  # (pickles as the call that builds it)
            return to_scipy, (self.torch_op,)

    return _TorchlopsScipy()


def aslinearoperator(Op: Any) -> LinearOperator:
    """Any operator-like object as a torchlops operator.

    torchlops operators are returned as they are; a tensor, NumPy array or SciPy sparse
    matrix becomes a :class:`~torchlops.MatrixMult`; PyLops and SciPy operators are
    wrapped with :func:`from_pylops`.

    Examples
    --------
    >>> import numpy as np
    >>> from torchlops.interop import aslinearoperator
    >>> aslinearoperator(np.eye(2)).shape
    (2, 2)
    """
    if isinstance(Op, (LinearOperator, torch.Tensor)):
        return _aslinearoperator(Op)
    if isinstance(Op, np.ndarray):
        if Op.ndim != 2:
            raise ValueError(f"aslinearoperator: expected a 2-D array, got shape {Op.shape}")
        return _aslinearoperator(torch.from_numpy(np.ascontiguousarray(Op)))
    try:
        import scipy.sparse as sps

        if sps.issparse(Op):  # (kept sparse: a torch COO matrix)
            coo = Op.tocoo()
            idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
            vals = torch.from_numpy(np.asarray(coo.data))
            if not (vals.is_floating_point() or vals.is_complex()):  # (integer / bool entries)
                vals = vals.to(torch.get_default_dtype())
            A = torch.sparse_coo_tensor(idx, vals, coo.shape, check_invariants=True).coalesce()
            return _aslinearoperator(A)
    except ImportError:  # pragma: no cover - scipy is a dependency of pylops
        pass
    if hasattr(Op, "matvec") and hasattr(Op, "rmatvec") and hasattr(Op, "shape"):
        return from_pylops(Op)
    return _aslinearoperator(Op)
