"""The property battery as public helpers: validate an operator in one call.

>>> import torch, torchlops
>>> from torchlops.utils.testing import check_operator
>>> report = check_operator(torchlops.Flip((3, 4), axis=0))
>>> sorted(report)
['batch', 'dottest', 'dottest_float64', 'dtypes', 'forms', 'grad_is_adjoint', 'gradcheck', 'jvp', 'linearity', 'vmap']
>>> all(report.values())
True
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from torchlops.utils.checks import complex_dtype, real_dtype
from torchlops.utils.dottest import default_tolerance, dottest

__all__ = [
    "to_double",
    "random_input",
    "assert_close",
    "check_dottest",
    "check_grad_is_adjoint",
    "check_gradcheck",
    "check_batch",
    "check_forms",
    "check_dtypes",
    "check_linearity",
    "check_vmap",
    "check_jvp",
    "check_operator",
    "sample_period",
]


def _promote(t: torch.Tensor) -> torch.Tensor:
    if t.is_complex():
        return t.to(torch.complex128)
    if t.is_floating_point():
        return t.to(torch.float64)
    return t


def to_double(Op: torch.nn.Module) -> torch.nn.Module:
    """A float64/complex128 copy of ``Op`` (real tensors stay real, complex stay complex)."""
    Op2 = copy.deepcopy(Op)
    Op2._apply(_promote)
    return Op2


def sample_period(Op: torch.nn.Module) -> int:
    """The batch sizes ``Op`` takes are the multiples of this: 1, or for operators with one filter
    per sample (``batched_filter=True``, sample ``b`` taking filter ``b % k``) the number of
    filters ``k`` (the least common multiple over the parts of a composite). The checks scale
    their batches by it, and compare batches with chunks of ``k`` samples rather than single ones."""
    return Op._batch_period() if hasattr(Op, "_batch_period") else 1


def _model_dtype(Op: torch.nn.Module, dtype: torch.dtype | None) -> torch.dtype:
    base = dtype if dtype is not None else Op.dtype
    return complex_dtype(base) if Op.dtype.is_complex else base


def random_input(
    Op: torch.nn.Module,
    batch: tuple[int, ...] = (),
    adjoint: bool = False,
    dtype: torch.dtype | None = None,
    generator: torch.Generator | None = None,
    requires_grad: bool = False,
) -> torch.Tensor:
    """Random ``(*batch, *dims)`` model (or data when ``adjoint``) in the operator's dtype
    (complex for complex operators, including the R-linear ``Real``/``Imag``/``Conj``)."""
    dt = _model_dtype(Op, dtype)
    shape = (*batch, *(Op.dimsd if adjoint else Op.dims))
    dev = Op.device or "cpu"
    x = torch.randn(shape, dtype=real_dtype(dt), device=dev, generator=generator)
    if dt.is_complex:
        x = torch.complex(x, torch.randn(shape, dtype=real_dtype(dt), device=dev, generator=generator))
    return x.requires_grad_(requires_grad)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float, what: str) -> None:
    """Relative closeness in the 2-norm: ``||a - e|| <= rtol * max(||e||, tiny)``."""
    a, e = actual.detach(), expected.detach()
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {tuple(a.shape)} != expected {tuple(e.shape)}")
    den = torch.linalg.vector_norm(e.to(torch.complex128 if e.is_complex() else torch.float64))
    num = torch.linalg.vector_norm((a.to(e.dtype) - e).to(torch.complex128 if e.is_complex() else torch.float64))
    bound = rtol * max(float(den), 1e-30)
    if float(num) > bound:
        raise AssertionError(f"{what}: relative error {float(num) / max(float(den), 1e-30):.3e} > {rtol:.1e}")


def check_dottest(Op: torch.nn.Module, dtype: torch.dtype | None = None, batch: tuple[int, ...] | None = None) -> None:
    """Dot tests in every complexflag the operator supports: all four for complex operators,
    real and complex (model and data) vectors for real C-linear ones, real only for R-linear
    ones (``batch``: ``(2 k,)`` by default, ``k`` the :func:`sample_period`)."""
    batch = (2 * sample_period(Op),) if batch is None else batch
    flags = (0, 1, 2, 3) if Op.dtype.is_complex else (0, 3) if getattr(Op, "clinear", True) else (0,)
    for flag in flags:
        dottest(Op, complexflag=flag, batch=batch, dtype=dtype)


def check_grad_is_adjoint(Op: torch.nn.Module, rtol: float | None = None) -> None:
    """The registered adjoint equals the vector-Jacobian product of the forward.

    For an operator with its own kernels, autograd differentiates the forward kernel
    ``_matvec`` directly (its torch ops, not the operator Function) and the gradient of
    ``Re<g, A x>`` must equal ``Op.rmatvec(g)``; a wrong adjoint formula fails here. For
    composites (and kernels torch cannot differentiate) the gradient through the public
    application is compared instead, which checks the wiring of the parts.
    """
    x = random_input(Op, batch=(2 * sample_period(Op),), requires_grad=True)
    with torch.no_grad():
        y0 = Op.matvec(x)
    g = torch.randn_like(y0)
    y = None
    if not getattr(Op, "_composite", True):
        try:
            y = Op._matvec(x.to(torch.promote_types(Op.dtype, x.dtype)))
        except RuntimeError:
            y = None
        if y is not None and not y.requires_grad:
            y = None
    if y is None:
        y = Op.matvec(x)
    (gx,) = torch.autograd.grad((g.conj() * y.reshape(g.shape)).real.sum(), x, allow_unused=True)
    if gx is None:
        gx = torch.zeros_like(x)
    expected = Op.rmatvec(g)
    if not x.is_complex() and expected.is_complex():
        expected = expected.real
    tol = rtol if rtol is not None else 10 * default_tolerance(Op.dtype)
    assert_close(gx, expected.to(gx.dtype), tol, "autograd gradient of the forward vs adjoint")


def check_gradcheck(Op: torch.nn.Module, gradgrad: bool = True) -> None:
    """``torch.autograd.gradcheck`` (and ``gradgradcheck``) of forward and adjoint in float64
    (an operator that computes in single precision whatever it is converted to, as a wrapped
    float32 PyLops operator: float64 inputs, with finite differences and tolerances for its
    precision)."""
    Od = to_double(Op)
    single = real_dtype(Od.dtype) != torch.float64
    tol = {"eps": 1e-3, "atol": 1e-3, "rtol": 1e-2} if single else {"eps": 1e-6, "atol": 1e-6, "rtol": 1e-5}
    for adjoint in (False, True):
        x = random_input(Od, batch=(2 * sample_period(Od),), adjoint=adjoint, dtype=torch.float64,
                         requires_grad=True)
        fn: Callable = Od.rmatvec if adjoint else Od.matvec
        torch.autograd.gradcheck(fn, (x,), **tol)
        if gradgrad:
            torch.autograd.gradgradcheck(fn, (x,), **tol)


def check_batch(Op: torch.nn.Module, batch: tuple[int, ...] = (2, 3)) -> None:
    """A ``(*batch, *dims)`` application equals the per-sample applications (both directions;
    with one filter per sample, ``k`` of them: the last batch dim is scaled by ``k`` and the
    batch equals its chunks of ``k`` samples)."""
    tol = 10 * default_tolerance(Op.dtype)
    k = sample_period(Op)
    if k > 1:
        batch = (*batch[:-1], batch[-1] * k) if batch else (k,)
    for adjoint in (False, True):
        x = random_input(Op, batch=batch, adjoint=adjoint)
        apply = Op.rmatvec if adjoint else Op.matvec
        with torch.no_grad():
            y = apply(x)
            flat = x.flatten(0, len(batch) - 1) if batch else x[None]  # (not -1: a sample may be empty)
            if k == 1:
                ref = torch.stack([apply(xi) for xi in flat]).reshape(y.shape)
            else:
                ref = torch.cat([apply(flat[i : i + k]) for i in range(0, flat.shape[0], k)]).reshape(y.shape)
        assert_close(y, ref, tol, f"batched vs per-sample ({'adjoint' if adjoint else 'forward'})")


def check_forms(Op: torch.nn.Module) -> None:
    """Flat ``(*batch, N)`` and N-d ``(*batch, *dims)`` inputs give the same values; flat in gives flat out;
    the output is a new tensor, never a view of the input (changing one in place leaves the other),
    the input is left as it was, and a non-contiguous input gives the same values."""
    tol = 10 * default_tolerance(Op.dtype)
    k = sample_period(Op)
    n = 2 * k
    for adjoint in (False, True):
        x = random_input(Op, batch=(n,), adjoint=adjoint)
        x_before = x.clone()
        apply = Op.rmatvec if adjoint else Op.matvec
        with torch.no_grad():
            y = apply(x)
            yf = apply(x.reshape(n, -1))
            # (one sample unbatched; with one filter per sample, the first k as their own batch)
            y1 = apply(x[0]) if k == 1 else apply(x[:k])
            # (the same values, not contiguous: the inner dims in reverse order in memory, every
            # other element of a larger tensor)
            perm = (0, *range(x.dim() - 1, 0, -1))
            xp = x.permute(perm)
            x2 = xp.new_zeros(*xp.shape[:-1], 2 * xp.shape[-1])
            x2[..., ::2] = xp
            yn = apply(x2[..., ::2].permute(perm))
        if not torch.equal(x, x_before):
            raise AssertionError(f"the {'adjoint' if adjoint else 'forward'} changed its input in place")
        ins, outs = (Op.dimsd, Op.dims) if adjoint else (Op.dims, Op.dimsd)
        # a 1-D input shape is both forms: the output is then N-d
        flat_out = (n, *outs) if len(ins) == 1 else (n, y[0].numel())
        if tuple(y.shape) != (n, *outs) or tuple(yf.shape) != flat_out:
            raise AssertionError(f"output shapes {tuple(y.shape)} / {tuple(yf.shape)} for outputs of shape {outs}")
        assert_close(yf.reshape(n, -1), y.reshape(n, -1), tol, "flat vs N-d input")
        assert_close(y1, y[0] if k == 1 else y[:k], tol, "unbatched vs batched input")
        assert_close(yn, y, tol, "non-contiguous vs contiguous input")
        for out in (y, yf, y1):
            if out.numel() and out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
                raise AssertionError(f"the {'adjoint' if adjoint else 'forward'} returned (a view of) its input")


def check_dtypes(Op: torch.nn.Module) -> None:
    """The result dtype is ``torch.promote_types(Op.dtype, x.dtype)`` for single- and
    double-precision inputs (and complex ones of a real C-linear operator), forward and adjoint:
    a float64 input is never cut to float32, a float32 one not widened. R-linear operators
    (``clinear=False``: real outputs by construction, as ``Real``) are held to the precision only."""
    clinear = getattr(Op, "clinear", True)
    for adjoint in (False, True):
        apply = Op.rmatvec if adjoint else Op.matvec
        dts = [torch.float32, torch.float64]
        if clinear and not Op.dtype.is_complex:
            dts += [torch.complex64, torch.complex128]
        for dt in dts:
            x = random_input(Op, batch=(2 * sample_period(Op),), adjoint=adjoint, dtype=dt)
            x_before = x.clone()
            with torch.no_grad():
                y = apply(x)
            if not torch.equal(x, x_before):
                raise AssertionError(f"the {'adjoint' if adjoint else 'forward'} changed its {x.dtype} input in place")
            want = torch.promote_types(Op.dtype, x.dtype)
            if (y.dtype != want) if clinear else (real_dtype(y.dtype) != real_dtype(want)):
                raise AssertionError(f"{'adjoint' if adjoint else 'forward'} of a {x.dtype} input gave {y.dtype}, "
                                     f"expected {want} (promote_types of the operator's {Op.dtype} and the input's)")


def check_linearity(Op: torch.nn.Module, scale: float = 100.0) -> None:
    """``A(a x + z) = a A(x) + A(z)`` with a large ``a`` (the other checks probe with standard normal
    vectors only, which an operator that clips or saturates passes), forward and adjoint; for
    C-linear complex operators also with ``a`` imaginary, and for real C-linear ones also on
    complex vectors (which they take too)."""
    tol = 100 * default_tolerance(Op.dtype)
    clinear = getattr(Op, "clinear", True)
    scales = [scale, -scale / 3]
    if clinear and Op.dtype.is_complex:
        scales.append(1j * scale)
    dtypes = [None]
    if clinear and not Op.dtype.is_complex:
        dtypes.append(complex_dtype(Op.dtype))
    b = (2 * sample_period(Op),)
    for adjoint in (False, True):
        apply = Op.rmatvec if adjoint else Op.matvec
        for dt in dtypes:
            x = random_input(Op, batch=b, adjoint=adjoint, dtype=dt)
            z = random_input(Op, batch=b, adjoint=adjoint, dtype=dt)
            sc = scales + ([1j * scale] if dt is not None else [])  # (complex vectors of a real C-linear one)
            with torch.no_grad():
                ax, az = apply(x), apply(z)
                for a in sc:
                    assert_close(apply(a * x + z), a * ax + az, tol,
                                 f"linearity of the {'adjoint' if adjoint else 'forward'} (scale {a}, {x.dtype})")


def check_vmap(Op: torch.nn.Module) -> None:
    """``torch.func.vmap`` over the operator equals the batched application."""
    tol = 10 * default_tolerance(Op.dtype)
    for adjoint in (False, True):
        x = random_input(Op, batch=(3, 2 * sample_period(Op)), adjoint=adjoint)
        apply = Op.rmatvec if adjoint else Op.matvec
        with torch.no_grad():
            assert_close(torch.func.vmap(apply)(x), apply(x), tol, "vmap vs batched")


def check_jvp(Op: torch.nn.Module) -> None:
    """``torch.func.jvp`` of a linear operator returns ``(A x, A t)``, of its adjoint
    ``(A^H y, A^H s)``, and a vmapped batch of tangents (as ``jacfwd`` / ``hessian`` make)
    gives ``A t`` for each."""
    tol = 10 * default_tolerance(Op.dtype)
    k = sample_period(Op)
    b = (2 * k,)
    x = random_input(Op, batch=b)
    t = random_input(Op, batch=b)
    y, yt = torch.func.jvp(Op.matvec, (x,), (t,))
    yb = random_input(Op, batch=b, adjoint=True)
    s = random_input(Op, batch=b, adjoint=True)
    xb, xs = torch.func.jvp(Op.rmatvec, (yb,), (s,))
    # (tangents of one sample; with one filter per sample, of the first k as their own batch)
    ts = random_input(Op, batch=(3,) if k == 1 else (3, k))
    x0 = x[0] if k == 1 else x[:k]
    yts = torch.func.vmap(lambda tt: torch.func.jvp(Op.matvec, (x0,), (tt,))[1])(ts)
    # forward over reverse (a Hessian-vector product): the gradient of 0.5 ||A x||^2 is
    # A^H A x, whose tangent along t is A^H A t, without create_graph too
    fwad = torch.autograd.forward_ad
    hvps = []
    for create_graph in (False, True):
        with fwad.dual_level():
            xd = fwad.make_dual(x, t).requires_grad_()
            yd = Op.matvec(xd)
            loss = 0.5 * (torch.view_as_real(yd) if yd.is_complex() else yd).square().sum()
            (gd,) = torch.autograd.grad(loss, xd, create_graph=create_graph)
            hvps.append(fwad.unpack_dual(gd).tangent)
    with torch.no_grad():
        assert_close(y, Op.matvec(x), tol, "jvp primal")
        assert_close(yt, Op.matvec(t), tol, "jvp tangent")
        assert_close(xb, Op.rmatvec(yb), tol, "jvp primal (adjoint)")
        assert_close(xs, Op.rmatvec(s), tol, "jvp tangent (adjoint)")
        assert_close(yts, Op.matvec(ts), tol, "vmap(jvp) tangents")
        ref = Op.rmatvec(Op.matvec(t))
        for h, what in zip(hvps, ("forward over reverse", "forward over reverse, create_graph")):
            assert h is not None, f"{what}: the tangent of the gradient was dropped"
            common = torch.promote_types(h.dtype, ref.dtype)  # (an imaginary part must match too)
            assert_close(h.to(common), ref.to(common), tol, what)


def check_operator(Op: torch.nn.Module, gradgrad: bool = True) -> dict[str, bool]:
    """Run the whole battery on ``Op``; raises ``AssertionError`` on the first failure and
    returns ``{property: True}`` otherwise."""
    report: dict[str, bool] = {}
    check_dottest(Op)
    report["dottest"] = True
    check_dottest(to_double(Op))
    report["dottest_float64"] = True
    check_grad_is_adjoint(Op)
    report["grad_is_adjoint"] = True
    check_gradcheck(Op, gradgrad=gradgrad)
    report["gradcheck"] = True
    check_batch(Op)
    report["batch"] = True
    check_forms(Op)
    report["forms"] = True
    check_dtypes(Op)
    report["dtypes"] = True
    check_linearity(Op)
    report["linearity"] = True
    check_vmap(Op)
    report["vmap"] = True
    check_jvp(Op)
    report["jvp"] = True
    return report
