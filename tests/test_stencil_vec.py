"""The vector path of the CUDA stencil kernels (csrc/stencil_vec.h), run on the CPU.

Its per-thread bodies are plain C++: tests/cpp/stencil_vec_emu.cpp calls them for every
group in turn with every memory access checked (inside the buffers, 16-byte aligned), and
here the stencil operators are routed through that emulation (in place of the C++ CPU
kernels) and compared with the torch engine. What a GPU adds (the launch, the hardware's
loads) is checked by the CUDA tests with TORCHLOPS_STENCIL_VEC=1 (benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import torchlops as tl
from torchlops import _ops

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    cxx = next((c for c in (os.environ.get("CXX"), "g++", "c++", "clang++") if c and shutil.which(c)), None)
    if cxx is None:
        if os.environ.get("TORCHLOPS_REQUIRE_EXT") == "1":
            raise RuntimeError("TORCHLOPS_REQUIRE_EXT=1 but no C++ compiler is found for the emulation")
        pytest.skip("no C++ compiler")
    so = tmp_path_factory.mktemp("emu") / "stencil_vec_emu.so"
    res = subprocess.run(
        [cxx, "-O1", "-std=c++17", "-ffp-contract=off", "-shared", "-fPIC",
         f"-I{ROOT / 'csrc'}", str(ROOT / "tests" / "cpp" / "stencil_vec_emu.cpp"), "-o", str(so)],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, f"building the emulation failed:\n{res.stderr}"
    dll = ctypes.CDLL(str(so))
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    dll.tl_emu_stencil.restype = ctypes.c_int
    dll.tl_emu_stencil.argtypes = [ctypes.c_int, p, i64, p, i64, i64, ctypes.c_int, p, ctypes.c_int, p, p, p]
    dll.tl_emu_stencil_norm.restype = ctypes.c_int
    dll.tl_emu_stencil_norm.argtypes = [ctypes.c_int, p, i64, p, i64, ctypes.c_int, p, ctypes.c_int, p, p, p, p]
    dll.tl_emu_norm_slices.restype = ctypes.c_int32
    dll.tl_emu_norm_slices.argtypes = [i64, i64]
    dll.tl_emu_fastdiv.restype = None
    dll.tl_emu_fastdiv.argtypes = [i64, p, p, i64]
    return dll


MODES = {"forward": 0, "adjoint": 1, "split": 2, "merge": 3}


def emulate(lib: ctypes.CDLL, mode: str, x: torch.Tensor, axes, scales, spec) -> tuple[torch.Tensor | None, int]:
    """The vector path's result (``None`` when it does not take the case) and its access errors."""
    assert x.dtype == torch.float32 and x.is_contiguous()
    axes, nt = [int(a) for a in axes], len(list(axes))
    if mode == "split":
        out = torch.full((x.shape[0], nt, *x.shape[1:]), float("nan"))
        dims = x.shape[1:]
    elif mode == "merge":
        out = torch.full((x.shape[0], *x.shape[2:]), float("nan"))
        dims = x.shape[2:]
    else:
        out = torch.full_like(x, float("nan"))
        dims = x.shape[1:]
    dims_a = (ctypes.c_int64 * len(dims))(*dims)
    axes_a = (ctypes.c_int64 * nt)(*axes)
    scales_a = (ctypes.c_double * nt)(*scales)
    spec_a = (ctypes.c_double * len(spec))(*spec)
    rc = lib.tl_emu_stencil(MODES[mode], x.data_ptr(), x.numel(), out.data_ptr(), out.numel(), x.shape[0],
                            len(dims), dims_a, nt, axes_a, scales_a, spec_a)
    return (None, 0) if rc == -1 else (out, rc)


def emulate_norm(lib: ctypes.CDLL, adjoint: bool, x: torch.Tensor, axes, scales, spec):
    """The norm kernel's ``(y, per-sample norms (float64))``, ``(None, None)`` when the vector
    path does not take the case, and its access errors."""
    assert x.dtype == torch.float32 and x.is_contiguous()
    axes, nt = [int(a) for a in axes], len(list(axes))
    out = torch.full_like(x, float("nan"))
    norms = torch.full((x.shape[0],), float("nan"), dtype=torch.float64)
    dims = x.shape[1:]
    rc = lib.tl_emu_stencil_norm(MODES["adjoint" if adjoint else "forward"], x.data_ptr(), x.numel(), out.data_ptr(),
                                 x.shape[0], len(dims), (ctypes.c_int64 * len(dims))(*dims), nt,
                                 (ctypes.c_int64 * nt)(*axes), (ctypes.c_double * nt)(*scales),
                                 (ctypes.c_double * len(spec))(*spec), norms.data_ptr())
    return (None, None, 0) if rc == -1 else (out, norms, rc)


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch, lib: ctypes.CDLL) -> list[str]:
    """Route the operators' float32 kernel calls through the emulation; the list records the
    calls it took (and fails on any access error)."""
    taken: list[str] = []
    band, split, merge = _ops.band, _ops.band_split, _ops.band_merge

    def run(mode: str, x: torch.Tensor, axes, scales, spec) -> torch.Tensor | None:
        out, err = emulate(lib, mode, x.contiguous(), axes, scales, spec)
        assert err == 0, f"{mode}: the vector path accessed memory out of bounds or misaligned (bits {err})"
        if out is not None:
            taken.append(mode)
        return out

    def band_(x, axes, scales, spec, adjoint, weights=None):  # noqa: ANN001, ANN202
        out = None
        if weights is None and x.dtype == torch.float32:
            out = run("adjoint" if adjoint else "forward", x, axes, scales, spec)
        return band(x, axes, scales, spec, adjoint, weights) if out is None else out

    def split_(x, axes, scales, spec):  # noqa: ANN001, ANN202
        out = run("split", x, axes, scales, spec) if x.dtype == torch.float32 else None
        return split(x, axes, scales, spec) if out is None else out

    def merge_(y, axes, scales, spec):  # noqa: ANN001, ANN202
        out = run("merge", y, axes, scales, spec) if y.dtype == torch.float32 else None
        return merge(y, axes, scales, spec) if out is None else out

    monkeypatch.setattr(_ops, "band", band_)
    monkeypatch.setattr(_ops, "band_split", split_)
    monkeypatch.setattr(_ops, "band_merge", merge_)
    return taken


@pytest.fixture
def routed_norm(monkeypatch: pytest.MonkeyPatch, lib: ctypes.CDLL) -> list[bool]:
    """Route the stencil-and-norm calls the operators make (``_ops.band_with_norm``, float32)
    through the emulated norm kernel; the list records the calls it took."""
    taken: list[bool] = []
    real = _ops.band_with_norm

    def band_with_norm_(engine, supported, x, axes, scales, spec, adjoint):  # noqa: ANN001, ANN202
        both = real(engine, supported, x, axes, scales, spec, adjoint)  # (the same eligibility)
        if both is None or x.dtype != torch.float32:
            return both
        y, norms, err = emulate_norm(lib, adjoint, x.contiguous(), axes, scales, spec)
        assert err == 0, f"the norm kernel accessed memory out of bounds or misaligned (bits {err})"
        if y is None:
            return both
        taken.append(adjoint)
        return y, norms.to(torch.float32)

    monkeypatch.setattr(_ops, "band_with_norm", band_with_norm_)
    return taken


# ---------------------------------------------------------------------------- the operators
KINDS = [("forward", False), ("centered", False), ("centered", True), ("backward", True), ("forward", True)]


def _cases() -> list:
    """(make(engine) -> float32 operator, dims, whether the vector path takes it), with ids."""
    f32 = torch.float32
    out = []
    for (kind, edge, order), axis in itertools.product(
        [(k, e, 3) for k, e in KINDS] + [("centered", False, 5), ("centered", True, 5)], (0, 1, 2)
    ):
        dims = (7, 6, 16)
        out.append(pytest.param(
            lambda e, dims=dims, kind=kind, edge=edge, order=order, axis=axis: tl.FirstDerivative(
                dims, axis=axis, sampling=0.7, kind=kind, edge=edge, order=order, dtype=f32, engine=e),
            dims, True, id=f"first-{kind}-{edge}-{order}-axis{axis}"))
    for (kind, edge), (dims, axis) in itertools.product(
        KINDS, [((6, 5, 8), 0), ((6, 5, 8), 1), ((6, 5, 8), 2), ((20,), 0), ((3, 12), 1)]
    ):
        out.append(pytest.param(
            lambda e, dims=dims, kind=kind, edge=edge, axis=axis: tl.SecondDerivative(
                dims, axis=axis, sampling=1.3, kind=kind, edge=edge, dtype=f32, engine=e),
            dims, True, id=f"second-{kind}-{edge}-{dims}-axis{axis}"))
    lap = [((12, 16), (0, 1)), ((9, 4), (0, 1)), ((4, 8), (0, 1)), ((6, 5, 8), (0, 2)), ((5, 7, 12), (0, 1, 2)),
           ((5, 7, 12), (1, 0)), ((8, 8), (1, 1))]
    for (kind, edge), (dims, axes) in itertools.product(KINDS, lap):
        out.append(pytest.param(
            lambda e, dims=dims, axes=axes, kind=kind, edge=edge: tl.Laplacian(
                dims, axes=axes, weights=tuple(1.0 + 0.5 * i for i in range(len(axes))),
                sampling=tuple(0.8 + 0.3 * i for i in range(len(axes))), kind=kind, edge=edge, dtype=f32,
                engine=e),
            dims, True, id=f"laplacian-{kind}-{edge}-{dims}-{axes}"))
    for (kind, edge), dims in itertools.product(KINDS, [(16,), (9, 12), (4, 6, 8), (3, 5, 4)]):
        out.append(pytest.param(
            lambda e, dims=dims, kind=kind, edge=edge: tl.Gradient(
                dims, sampling=tuple(0.5 + i for i in range(len(dims))), kind=kind, edge=edge, dtype=f32, engine=e),
            dims, True, id=f"gradient-{kind}-{edge}-{dims}"))
    # taps within +-4 along the contiguous axis take the window, longer ones the scalar kernels
    for nsmooth, axis, expect in [(3, 1, True), (9, 1, True), (11, 1, False), (13, 0, True)]:
        out.append(pytest.param(
            lambda e, nsmooth=nsmooth, axis=axis: tl.Smoothing1D(nsmooth, (20, 24), axis=axis, dtype=f32, engine=e),
            (20, 24), expect, id=f"smoothing-{nsmooth}-axis{axis}"))
    # the last axis not a multiple of 4: not taken
    for dims in [(6, 7), (5, 10), (4, 6, 9)]:
        out.append(pytest.param(
            lambda e, dims=dims: tl.Laplacian(dims, axes=(0, 1), dtype=f32, engine=e),
            dims, False, id=f"laplacian-not-taken-{dims}"))
    return out


def _check(make, dims: tuple[int, ...], device: str = "cpu", batch: tuple[int, ...] = (3,), norms: bool = False) -> None:
    """Forward and adjoint with engine='ext' == engine='torch' (float32); with ``norms``, also
    the outputs and norms of ``_flat_norm`` (the norm kernel where the vector path takes it)."""
    E, T = make("ext").to(device), make("torch").to(device)
    assert E.engine == "ext"
    gen = torch.Generator().manual_seed(len(dims) + sum(dims))
    x = torch.randn(*batch, *dims, generator=gen).to(device)
    y = torch.randn(*batch, *E.dimsd, generator=gen).to(device)
    for got, want in ((E @ x, T @ x), (E.H @ y, T.H @ y)):
        assert not got.isnan().any()
        err = (got - want).abs().max() / want.abs().max().clamp_min(1.0)
        assert err <= 2e-6, f"ext vs torch engine: max relative error {err:.3g}"
    if not norms:
        return
    nb = math.prod(batch)
    for adjoint, v in ((False, x), (True, y)):
        got, n = E._flat_norm(v.reshape(nb, -1), adjoint)
        want = T._flat(v.reshape(nb, -1), adjoint)
        assert not got.isnan().any() and n.shape == (nb,)
        err = (got - want).abs().max() / want.abs().max().clamp_min(1.0)
        assert err <= 2e-6, f"_flat_norm vs torch engine: max relative error {err:.3g}"
        torch.testing.assert_close(n.double(), torch.linalg.vector_norm(got.double(), dim=-1), rtol=1e-6, atol=0)


@pytest.mark.parametrize("make,dims,expect", _cases())
def test_emulated(routed: list[str], make, dims: tuple, expect: bool) -> None:
    """The emulated vector path == the torch engine, and it took exactly the cases it should."""
    _check(make, dims, batch=(2, 2))
    assert len(routed) == (2 if expect else 0), routed


@pytest.mark.cuda
@pytest.mark.parametrize("make,dims,expect", _cases())
def test_cuda(make, dims: tuple, expect: bool) -> None:
    """The same cases on the GPU: the vector path with TORCHLOPS_STENCIL_VEC=1, else the scalar kernels."""
    if not (torch.cuda.is_available() and "cuda" in _ops.EXT_DEVICES):
        pytest.skip("no CUDA device or no CUDA kernels")
    _check(make, dims, device="cuda", batch=(2, 2))


@pytest.mark.cuda
@pytest.mark.parametrize("which", ["laplacian", "gradient", "first-axis0", "first-axis1"])
def test_cuda_many_groups(which: str) -> None:
    """A size where the grid-stride loops wrap: 2 x 4100 x 8200 elements, 16.81 M groups of 4 (and
    of the scalar kernels' 4 per thread), more than the 65536 x 256 threads of one launch (and
    than the norm kernel's 1024 x 256 lanes per sample)."""
    if not (torch.cuda.is_available() and "cuda" in _ops.EXT_DEVICES):
        pytest.skip("no CUDA device or no CUDA kernels")
    dims = (4100, 8200)
    make = {
        "laplacian": lambda e: tl.Laplacian(dims, kind="forward", edge=True, dtype=torch.float32, engine=e),
        "gradient": lambda e: tl.Gradient(dims, edge=True, dtype=torch.float32, engine=e),
        "first-axis0": lambda e: tl.FirstDerivative(dims, axis=0, order=5, edge=True, dtype=torch.float32, engine=e),
        "first-axis1": lambda e: tl.FirstDerivative(dims, axis=1, order=5, edge=True, dtype=torch.float32, engine=e),
    }[which]
    _check(make, dims, device="cuda", batch=(2,), norms=which != "gradient")


# ---------------------------------------------------------------------------- the plan
def test_misaligned_buffers_are_not_taken(lib: ctypes.CDLL) -> None:
    Op = tl.FirstDerivative((4, 8), axis=1, dtype=torch.float32, engine="ext")
    base = torch.randn(1 + 4 * 8)
    spec = Op._spec
    out, _ = emulate(lib, "forward", base[:32].reshape(1, 4, 8), (1,), (1.0,), spec)
    assert out is not None  # (aligned: taken)
    out, _ = emulate(lib, "forward", base[1:].reshape(1, 4, 8), (1,), (1.0,), spec)
    assert out is None


def test_fastdiv_is_exact(lib: ctypes.CDLL) -> None:
    """The kernels' multiply-shift division equals integer division for v < 2^31."""
    gen = torch.Generator().manual_seed(0)
    divisors = torch.cat([torch.arange(1, 1025), torch.randint(1, 2**31 - 1, (4000,), generator=gen),
                          torch.tensor([2**31 - 1, 2**30, 2**30 + 1, 3 * 2**20, 65535, 65537])])
    for d in divisors.tolist():
        v = torch.cat([torch.randint(0, 2**31 - 1, (256,), generator=gen),
                       torch.tensor([0, 1, d - 1, d, d + 1, 2 * d - 1, 2**31 - 1]).clamp(0, 2**31 - 1)])
        v = v.to(torch.int64).numpy().astype("uint32")
        q = v.copy()
        lib.tl_emu_fastdiv(d, v.ctypes.data, q.ctypes.data, len(v))
        assert (q == v // d).all(), d


# ---------------------------------------------------------------------------- the norm kernel
NORM_CASES = [c for c in _cases() if c.id.startswith(("first", "second", "laplacian"))]


@pytest.mark.parametrize("make,dims,expect", NORM_CASES)
def test_emulated_norm(routed_norm: list[bool], make, dims: tuple, expect: bool) -> None:
    """The norm kernel (emulated) through the operators' ``_flat_norm``: each output equals the
    torch engine's and each norm the norm of that output; it takes the cases the vector path
    takes (forward and adjoint)."""
    E, T = make("ext"), make("torch")
    gen = torch.Generator().manual_seed(sum(dims))
    for adjoint in (False, True):
        x = torch.randn(3, E.shape[0] if adjoint else E.shape[1], generator=gen)
        y, norms = E._flat_norm(x, adjoint)
        want = T._flat(x, adjoint)
        assert y.shape == want.shape and norms.shape == (3,) and norms.dtype == torch.float32
        err = (y - want).abs().max() / want.abs().max().clamp_min(1.0)
        assert err <= 2e-6, f"norm kernel vs torch engine: max relative error {err:.3g}"
        torch.testing.assert_close(norms.double(), torch.linalg.vector_norm(y.double(), dim=-1), rtol=1e-6, atol=0)
    assert routed_norm == ([False, True] if expect else [])


@pytest.mark.parametrize("B,dims,axes", [(1, (1030, 1040), (1,)), (3, (840, 840), (0, 1)), (7, (3, 5, 8), (2,))])
def test_emulated_norm_every_group_once(lib: ctypes.CDLL, B: int, dims: tuple, axes: tuple) -> None:
    """Sizes where a lane takes several groups of its row (more groups than the launch's lanes)
    and one with a single short row per slice: every output written, each norm summed once."""
    Q = math.prod(dims) // 4
    G = lib.tl_emu_norm_slices(B, Q)  # (the launch's slices per row, from the kernel's own function)
    assert 1 <= G <= 1024 and (Q > G * 256) == (dims[0] > 10)  # (the first two wrap)
    Op = (tl.FirstDerivative(dims, axis=axes[0], kind="centered", order=5, edge=True, dtype=torch.float32, engine="torch")
          if len(axes) == 1 else tl.Laplacian(dims, axes=axes, edge=True, dtype=torch.float32, engine="torch"))
    x = torch.randn(B, *dims, generator=torch.Generator().manual_seed(B))
    E = tl.FirstDerivative(dims, axis=axes[0], kind="centered", order=5, edge=True) if len(axes) == 1 else \
        tl.Laplacian(dims, axes=axes, edge=True)
    scales = [1.0] * len(axes)
    for adjoint in (False, True):
        y, norms, err = emulate_norm(lib, adjoint, x, axes, scales, E._spec)
        assert err == 0 and y is not None
        want = Op.H @ x if adjoint else Op @ x
        assert not y.isnan().any()
        torch.testing.assert_close(y, want, rtol=2e-6, atol=2e-6 * float(want.abs().max()))
        torch.testing.assert_close(norms, torch.linalg.vector_norm(want.double().reshape(B, -1), dim=-1), rtol=1e-6,
                                   atol=0)


def test_emulated_norm_in_cgls(routed_norm: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """CGLS on a float32 Laplacian batch with A c, A^H s and their norms from the emulated norm
    kernel equals CGLS with the norms computed apart (TORCHLOPS_FUSED_NORMS=0)."""
    L = tl.Laplacian((24, 32), edge=True, dtype=torch.float32, engine="ext")
    y = L @ torch.randn(2, 24, 32, generator=torch.Generator().manual_seed(1))
    fused = tl.cgls(L, y, niter=8, tol=0)
    assert routed_norm == [True, False] * 8  # (A^H s, then A c: each step)
    monkeypatch.setattr(_ops, "FUSED_NORMS", False)
    plain = tl.cgls(L, y, niter=8, tol=0)
    assert routed_norm == [True, False] * 8
    torch.testing.assert_close(fused.x, plain.x, rtol=1e-4, atol=1e-4 * float(plain.x.abs().max()))
    torch.testing.assert_close(fused.cost, plain.cost, rtol=1e-4, atol=0)


@pytest.mark.cuda
@pytest.mark.parametrize("make,dims,expect", NORM_CASES)
def test_cuda_norm(make, dims: tuple, expect: bool) -> None:
    """_flat_norm on the GPU: the norm kernel with TORCHLOPS_STENCIL_VEC=1 where the vector path
    takes the case, else the stencil kernels and then the norms."""
    if not (torch.cuda.is_available() and "cuda" in _ops.EXT_DEVICES):
        pytest.skip("no CUDA device or no CUDA kernels")
    _check(make, dims, device="cuda", batch=(2, 2), norms=True)
