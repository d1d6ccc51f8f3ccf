"""Dot test: checks that an operator's forward and adjoint agree."""

from __future__ import annotations

import torch

from torchlops.utils.checks import real_dtype

__all__ = ["dottest", "default_tolerance"]

_RTOL = {torch.float64: 1e-8, torch.float32: 1e-4, torch.float16: 5e-2, torch.bfloat16: 5e-2}


def default_tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance of a dot test in ``dtype`` (``1e-8`` float64, ``1e-4`` float32, ``5e-2`` half)."""
    return _RTOL.get(real_dtype(dtype), 1e-4)


def _inner(a: torch.Tensor, b: torch.Tensor, clinear: bool) -> torch.Tensor:
    """Per-sample ``a^H b`` (complex-linear) or ``Re(a)Re(b) + Im(a)Im(b)`` (R-linear)."""
    if clinear:
        return (a.conj() * b).sum(-1)
    if a.is_complex() or b.is_complex():
        ac = a if a.is_complex() else torch.complex(a, torch.zeros_like(a))
        bc = b if b.is_complex() else torch.complex(b, torch.zeros_like(b))
        return (ac.real * bc.real + ac.imag * bc.imag).sum(-1)
    return (a * b).sum(-1)


def dottest(
    Op: torch.nn.Module,
    nr: int | None = None,
    nc: int | None = None,
    rtol: float | None = None,
    atol: float = 1e-21,
    complexflag: int = 0,
    raiseerror: bool = True,
    verb: bool = False,
    backend: str | None = None,
    batch: tuple[int, ...] = (),
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> bool:
    r"""Dot test :math:`(\mathbf{A}\mathbf{u})^H\mathbf{v} = \mathbf{u}^H(\mathbf{A}^H\mathbf{v})`.

    Same semantics as :func:`pylops.utils.dottest`: ``complexflag`` chooses real (0) or
    complex model (1), data (2) or both (3); operators with ``clinear=False`` are tested
    with the real inner product :math:`\Re(\mathbf{a})\cdot\Re(\mathbf{b}) +
    \Im(\mathbf{a})\cdot\Im(\mathbf{b})`.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator to test.
    nr, nc : :obj:`int`, optional
        Number of rows / columns (checked against ``Op.shape``).
    rtol : :obj:`float`, optional
        Relative tolerance of ``|uAv - vAu|`` against ``max(|uAv|, |vAu|)`` (default from the
        dtype: ``1e-8`` float64, ``1e-4`` float32; PyLops' default is ``1e-6`` against
        ``|vAu|`` whatever the dtype, so this test is the stricter one in float64).
    atol : :obj:`float`, optional
        Absolute tolerance.
    complexflag : :obj:`int`, optional
        0, 1, 2 or 3 as above.
    raiseerror : :obj:`bool`, optional
        Raise ``AssertionError`` on failure (else return ``False``).
    verb : :obj:`bool`, optional
        Print both sides.
    backend : :obj:`str`, optional
        Accepted as in PyLops (the vectors are torch tensors on ``device``).
    batch : :obj:`tuple`, optional
        Leading batch shape: every sample of the batch is tested at once.
    dtype : :obj:`torch.dtype`, optional
        Real precision of the random vectors (default: that of ``Op.dtype``).
    device : optional
        Device of the random vectors (default: the operator's).
    generator : :obj:`torch.Generator`, optional
        Random generator.

    Returns
    -------
    passed : :obj:`bool`

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.utils.dottest(torchlops.Flip(5, dtype=torch.float64))
    True
    """
    if not isinstance(Op, torch.nn.Module) or not hasattr(Op, "matvec") or not hasattr(Op, "dims"):
        raise TypeError(f"dottest: Op must be a torchlops LinearOperator, got {type(Op).__module__}."
                        f"{type(Op).__name__} (a PyLops or SciPy operator: torchlops.interop.from_pylops / "
                        "aslinearoperator)")
    if backend is not None and not isinstance(backend, str):  # (batch was the ninth argument once)
        raise TypeError(f"backend must be a string (as PyLops': numpy or cupy; ignored), got {type(backend).__name__}"
                        "; pass batch=, dtype=, device=, generator= by keyword")
    if complexflag not in (0, 1, 2, 3):
        raise ValueError(f"complexflag must be 0, 1, 2 or 3, got {complexflag!r}")
    M, N = Op.shape
    if (nr is not None and nr != M) or (nc is not None and nc != N):
        raise AssertionError(f"Provided nr and nc ({nr}, {nc}) do not match the operator shape {Op.shape}.")
    rdt = real_dtype(dtype if dtype is not None else Op.dtype)
    dev = device if device is not None else (Op.device or "cpu")
    kw = {"dtype": rdt, "device": dev, "generator": generator}
    u = torch.randn(*batch, N, **kw)
    if complexflag in (1, 3):
        u = torch.complex(u, torch.randn(*batch, N, **kw))
    v = torch.randn(*batch, M, **kw)
    if complexflag in (2, 3):
        v = torch.complex(v, torch.randn(*batch, M, **kw))
    with torch.no_grad():
        y = Op.matvec(u).reshape(*batch, M)
        x = Op.rmatvec(v).reshape(*batch, N)
    clinear = getattr(Op, "clinear", True)
    yy = _inner(y, v, clinear)
    xx = _inner(u, x, clinear)
    tol = default_tolerance(rdt) if rtol is None else rtol
    err = (xx - yy).abs()
    scale = torch.maximum(xx.abs(), yy.abs())
    passed = bool((err <= atol + tol * scale).all())
    if (not passed and raiseerror) or verb:
        status = "passed" if passed else "failed"
        msg = f"Dot test {status}, v^H(Opu)={yy.tolist()} - u^H(Op^Hv)={xx.tolist()}"
        if not passed and raiseerror:
            raise AssertionError(msg)
        print(msg)
    return passed
