"""dottest and the public battery catch broken operators; trace and eigen estimators."""

from __future__ import annotations

import pytest
import torch

import torchlops as tl
from torchlops.utils import testing as T

DT = torch.float64


class _WrongAdjoint(tl.LinearOperator):
    """Forward x -> 2x but adjoint y -> 3y: every adjoint check must reject it."""

    def __init__(self) -> None:
        super().__init__(dims=(5,), dimsd=(5,), dtype=DT)

    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return 3 * y


class _NotConjugated(tl.LinearOperator):
    """Complex diagonal whose adjoint forgets the conjugate."""

    def __init__(self) -> None:
        super().__init__(dims=(4,), dimsd=(4,), dtype=torch.complex128)
        self.register_buffer("d", torch.tensor([1 + 1j, 2 - 1j, 0.5j, 3.0], dtype=torch.complex128))

    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return self.d * x

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return self.d * y


def test_dottest_rejects_wrong_adjoint() -> None:
    with pytest.raises(AssertionError, match="Dot test failed"):
        tl.dottest(_WrongAdjoint())
    assert tl.dottest(_WrongAdjoint(), raiseerror=False) is False


def test_dottest_complex_flags_catch_missing_conjugate() -> None:
    Op = _NotConjugated()
    # the real-vector test cannot see it for a complex diagonal with real parts... but complex vectors do
    with pytest.raises(AssertionError):
        for flag in (0, 1, 2, 3):
            tl.dottest(Op, complexflag=flag)


def test_dottest_passes_and_batches() -> None:
    Op = tl.MatrixMult(torch.randn(6, 4, dtype=DT))
    assert tl.dottest(Op, batch=(3, 2))
    assert tl.dottest(Op, nr=6, nc=4)
    with pytest.raises(AssertionError, match="do not match"):
        tl.dottest(Op, nr=5, nc=4)
    with pytest.raises(ValueError, match="complexflag"):
        tl.dottest(Op, complexflag=4)


def test_dottest_rlinear_inner_product() -> None:
    # Conj is only R-linear: the complex inner product would fail, the real one passes
    assert tl.dottest(tl.Conj(6), complexflag=3)


def test_check_operator_rejects_wrong_adjoint() -> None:
    with pytest.raises(AssertionError):
        T.check_operator(_WrongAdjoint())
    with pytest.raises(AssertionError):
        T.check_grad_is_adjoint(_WrongAdjoint())


def test_check_operator_report() -> None:
    report = T.check_operator(tl.Roll((3, 4), axis=0, shift=1, dtype=DT))
    assert set(report) == {"dottest", "dottest_float64", "grad_is_adjoint", "gradcheck", "batch", "forms", "dtypes",
                           "linearity", "vmap", "jvp"}
    assert all(report.values())


class _Widens(tl.LinearOperator):
    """A float32 operator with a right adjoint that widens every result to double precision."""

    def __init__(self) -> None:
        super().__init__(dims=(5,), dimsd=(5,), dtype=torch.float32)

    def _matvec(self, x):
        return (2 * x).to(torch.complex128 if x.is_complex() else torch.float64)

    def _rmatvec(self, y):
        return (2 * y).to(torch.complex128 if y.is_complex() else torch.float64)


class _Clips(tl.LinearOperator):
    """Linear on standard normal vectors only: it saturates at 50."""

    def __init__(self) -> None:
        super().__init__(dims=(5,), dimsd=(5,), dtype=DT)

    def _matvec(self, x):
        if x.is_complex():
            return torch.complex(x.real.clamp(-50, 50), x.imag.clamp(-50, 50))
        return x.clamp(-50, 50)

    def _rmatvec(self, y):
        return self._matvec(y)


def test_check_operator_catches_wrong_dtypes_and_saturation() -> None:
    """Operators with right adjoints on small vectors, which the other checks pass: one widens a
    float32 input to float64, one saturates."""
    with pytest.raises(AssertionError, match="expected torch.float32"):
        T.check_operator(_Widens())
    with pytest.raises(AssertionError, match="linearity"):
        T.check_operator(_Clips())


class _ClipsComplexOnly(tl.LinearOperator):
    """A real operator (2x) whose complex-input path saturates at 50."""

    def __init__(self) -> None:
        super().__init__(dims=(5,), dimsd=(5,), dtype=DT)

    def _matvec(self, x):
        if x.is_complex():
            return torch.complex((2 * x.real).clamp(-50, 50), (2 * x.imag).clamp(-50, 50))
        return 2 * x

    def _rmatvec(self, y):
        return self._matvec(y)


class _ClobbersInput(tl.LinearOperator):
    """A restriction to entries 1..4 that zeroes entry 0 of the caller's tensor."""

    def __init__(self) -> None:
        super().__init__(dims=(5,), dimsd=(4,), dtype=DT)

    def _matvec(self, x):
        y = x[:, 1:].clone()
        x[:, 0] = 0
        return y

    def _rmatvec(self, y):
        return torch.cat([torch.zeros_like(y[:, :1]), y], 1)


def test_check_operator_catches_complex_saturation_and_changed_inputs() -> None:
    """A real operator saturating on complex vectors (which it takes) and one that changes its
    input in place: both passed the whole battery before."""
    with pytest.raises(AssertionError, match=r"linearity of the forward \(scale 100.0, torch.complex128\)"):
        T.check_operator(_ClipsComplexOnly())
    with pytest.raises(AssertionError, match="the forward changed its input in place"):
        T.check_forms(_ClobbersInput())

    class _ClobbersComplexInput(_ClobbersInput):  # (only a complex input, which a real operator takes)
        def _matvec(self, x):
            return super()._matvec(x) if x.is_complex() else x[:, 1:].clone()

    T.check_forms(_ClobbersComplexInput())

    class _Views(tl.LinearOperator):  # (reshapes with view: fails on a non-contiguous input)
        def __init__(self) -> None:
            super().__init__(dims=(3, 4), dimsd=(12,), dtype=DT)

        def _matvec(self, x):
            return x.view(x.shape[0], 12) * 2

        def _rmatvec(self, y):
            return y.view(y.shape[0], 3, 4) * 2

    with pytest.raises(RuntimeError, match="view"):
        T.check_forms(_Views())
    with pytest.raises(AssertionError, match="the forward changed its torch.complex128 input in place"):
        T.check_dtypes(_ClobbersComplexInput())


def test_trace_takes_numpy_ints_and_bench_help_is_bench_s(capsys) -> None:
    """neval as a NumPy int (as PyLops; a TypeError before); `python -m torchlops bench --help`
    shows bench's options (it showed the demo's)."""
    import numpy as np

    from torchlops.__main__ import main

    D = tl.Diagonal(torch.arange(1.0, 6.0, dtype=DT))
    assert float(D.trace(method="hutchinson", neval=np.int64(9))) == pytest.approx(15.0)
    with pytest.raises(TypeError, match="neval must be an int"):
        D.trace(method="hutchinson", neval=9.0)
    from torchlops.__main__ import _load_bench

    if _load_bench() is None:  # (an installation without the source tree's benchmarks/)
        return
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--repeat" in out and "--rounds" in out and "--eps-lap" not in out


def test_trace_estimators() -> None:
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(60, 60, dtype=DT, generator=g))
    ev = torch.linspace(1, 10, 60, dtype=DT) ** 2
    A = (Q * ev) @ Q.T
    Op = tl.MatrixMult(A, otherdims=(1,))  # implicit: not explicit
    exact = ev.sum()
    assert torch.isclose(Op.trace(method="explicit"), exact, rtol=1e-12)
    hutch = Op.trace(method="hutchinson", neval=2000, generator=g)
    hpp = Op.trace(method="hutch++", neval=60, generator=g)
    assert abs(hutch - exact) / exact < 0.05
    # with neval >= 3 * rank-revealing probes Hutch++ is far more accurate than Hutchinson's budget
    assert abs(hpp - exact) / exact < 0.02


def test_trace_pylops_estimator_arguments() -> None:
    """PyLops' kwargs_trace: sampler (rademacher, gaussian, rayleigh, and unitvector for
    Hutchinson), batch_size (probes applied in chunks: the same draws as one batch), and
    backend accepted; clear errors for what does not apply."""
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    A = torch.randn(40, 40, dtype=DT, generator=g())
    M = tl.MatrixMult(A, otherdims=(1,))
    exact = float(A.trace())
    # every unit vector once: the exact trace, whatever the chunks
    for bs in (None, 9, 40):
        tr = M.trace(method="hutchinson", neval=40, sampler="unitvector", batch_size=bs, generator=g())
        assert abs(float(tr) - exact) < 1e-12
    one = M.trace(method="hutchinson", neval=30, generator=g())
    chunked = M.trace(method="hutchinson", neval=30, batch_size=7, backend="numpy", generator=g())
    assert abs(float(one - chunked)) < 1e-12
    # each sampler is unbiased: the mean of many estimates of a diagonal's trace
    d = torch.linspace(1.0, 5.0, 20, dtype=DT)
    D = tl.MatrixMult(torch.diag(d), otherdims=(1,))
    gen = torch.Generator().manual_seed(1)
    for sampler in ("gaussian", "rayleigh"):
        ests = torch.stack([D.trace(method="hutchinson", neval=5, sampler=sampler, generator=gen) for _ in range(400)])
        assert abs(float(ests.mean()) - float(d.sum())) <= 4 * float(ests.std()) / 20
    # (rademacher probes give a diagonal's trace exactly)
    assert abs(float(D.trace(method="hutchinson", neval=3, generator=gen)) - float(d.sum())) < 1e-12
    # a rank-3 operator: Hutch++ and NA-Hutch++ are exact with any sampler
    U = torch.randn(40, 3, dtype=DT, generator=g())
    L = tl.MatrixMult(U @ U.T, otherdims=(1,))
    for sampler in ("rademacher", "gaussian", "rayleigh"):
        for method in ("hutch++", "na-hutch++"):
            tr = L.trace(method=method, neval=30, sampler=sampler, generator=g())
            assert abs(float(tr) - float((U * U).sum())) < 1e-9 * float((U * U).sum())
    with pytest.raises(TypeError, match="explicit' takes no estimator arguments"):
        M.trace(method="explicit", sampler="gaussian")
    with pytest.raises(ValueError, match="sampler must be one of"):
        M.trace(method="hutch++", sampler="unitvector")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        M.trace(method="hutchinson", batch_size=0)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        M.trace(method="hutchinson", c1=0.2)
    # (a generator where the third argument was one is refused, not ignored)
    with pytest.raises(TypeError, match="pass generator= by keyword"):
        M.trace(30, "hutchinson", g())


def test_dottest_pylops_positions_and_foreign_operators() -> None:
    """dottest takes PyLops' positional arguments (backend ninth) and names the fix for a
    PyLops / SciPy operator."""
    pl = pytest.importorskip("pylops")
    import numpy as np

    Op = tl.Flip(5, dtype=DT)
    assert tl.utils.dottest(Op, 5, 5, 1e-6, 1e-21, 0, True, False, "numpy")
    with pytest.raises(TypeError, match="from_pylops"):
        tl.utils.dottest(pl.MatrixMult(np.eye(3)))
    with pytest.raises(TypeError, match="pass batch=, dtype=, device=, generator= by keyword"):
        tl.utils.dottest(Op, 5, 5, None, 1e-21, 0, True, False, (2,))


def test_eigs_and_cond_against_dense() -> None:
    g = torch.Generator().manual_seed(1)
    A = torch.randn(8, 8, dtype=DT, generator=g)
    S = A + A.T
    Op = tl.MatrixMult(S, otherdims=(1,))
    ev = torch.linalg.eigvalsh(S)
    top = ev[torch.argsort(ev.abs(), descending=True)][:3]  # (the 3 largest in magnitude, in decreasing value)
    assert torch.allclose(Op.eigs(neigs=3, symmetric=True), top.sort(descending=True).values, rtol=1e-10)
    R = tl.MatrixMult(torch.randn(9, 5, dtype=DT, generator=g))
    sv = torch.linalg.svdvals(R.A)
    assert torch.allclose(R.eigs(), sv, rtol=1e-10)
    assert torch.isclose(R.cond(), sv[0] / sv[-1], rtol=1e-8)


def test_power_iteration() -> None:
    d = torch.tensor([1.0, -4.0, 2.0, 3.0], dtype=DT)
    maxeig, b, it = tl.power_iteration(tl.Diagonal(d), niter=200, rtol=1e-12, generator=torch.Generator().manual_seed(0))
    assert abs(abs(float(maxeig)) - 4.0) < 1e-6
    assert it <= 200


def test_dtype_names_follow_numpy():
    """"float" is float64 and "complex" complex128, as NumPy and PyLops read them."""
    import numpy as np

    from torchlops.utils.checks import to_torch_dtype

    assert to_torch_dtype("float") == torch.float64
    assert to_torch_dtype("complex") == torch.complex128
    assert to_torch_dtype("float32") == torch.float32
    # any byte order (as PyLops; torch raised about the byte order of a NumPy array)
    assert to_torch_dtype(">f8") == to_torch_dtype("<f8") == torch.float64
    assert to_torch_dtype(np.dtype(">c8")) == torch.complex64
    assert tl.Diagonal(torch.ones(3), dtype=">f8").dtype == torch.float64


def test_check_operator_runs_operators_with_one_filter_per_sample() -> None:
    """Operators with k per-sample filters take batches of multiples of k: the battery scales its
    batches by k and compares chunks of k samples (it raised a ValueError on a single sample),
    and still catches such an operator whose samples take the wrong filters."""
    from torchlops.signalprocessing.convolve1d import Convolve1D
    from torchlops.signalprocessing.convolve2d import Convolve2D

    g = torch.Generator().manual_seed(0)
    C1 = Convolve1D(9, torch.randn(3, 5, dtype=DT, generator=g), offset=2, batched_filter=True)
    C2 = Convolve2D((6, 7), torch.randn(2, 3, 3, dtype=DT, generator=g), offset=(1, 1), batched_filter=True)
    for Op, k in ((C1, 3), (C2, 2), (C1.H @ C1, 3), (2.0 * C1 + tl.FirstDerivative(9, dtype=DT), 3)):
        assert T.sample_period(Op) == k
        assert all(T.check_operator(Op, gradgrad=False).values())

    class _Shuffled(tl.LinearOperator):
        """Sample b takes filter (b + 1) % 3 in the forward but b % 3 in the adjoint."""

        def __init__(self) -> None:
            super().__init__(dims=(9,), dimsd=(9,), dtype=DT)
            self.C = C1

        def _sample_period(self) -> int:
            return 3

        def _matvec(self, x):
            return self.C.matvec(x.roll(1, 0)).roll(-1, 0)

        def _rmatvec(self, y):
            return self.C.rmatvec(y)

    with pytest.raises(AssertionError):
        T.check_dottest(_Shuffled())
