"""Build torchlops: pure Python always; the optional extension torchlops._C when it can be built.

The compiled kernels (C++ on CPU, CUDA when torch is a CUDA build and a toolkit is found)
are optional: installation never fails for lack of a compiler or of CUDA. Switches:
TORCHLOPS_EXT=0 skips the extension, TORCHLOPS_CUDA=0/1 forces the CUDA part off/on.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _is_toolkit(root: str | None) -> bool:
    """Whether ``root`` is a CUDA toolkit: ``bin/nvcc`` and ``include/cuda_runtime.h``."""
    return bool(root) and all(
        os.path.isfile(os.path.join(root, *part)) for part in (("bin", "nvcc"), ("include", "cuda_runtime.h"))
    )


def _cuda_home() -> str | None:
    """The CUDA toolkit root: ``CUDA_HOME`` (or ``CUDA_PATH``) when set, else the toolkit of the
    ``nvcc`` on PATH (followed through symlinks, or through a wrapper script naming the real
    ``.../bin/nvcc``), else ``/usr/local/cuda``; ``None`` when no toolkit is found."""
    env = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if env:
        return env if _is_toolkit(env) else None
    nvcc = shutil.which("nvcc")
    if nvcc:
        root = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
        if _is_toolkit(root):
            return root
        try:  # a small wrapper script: `exec /path/to/cuda/bin/nvcc "$@"`
            with open(nvcc, encoding="utf-8", errors="ignore") as fh:
                text = fh.read(65536)
        except OSError:
            text = ""
        for match in re.finditer(r"(/[^\s'\"=:;]+)/bin/nvcc\b", text):
            if _is_toolkit(match.group(1)):
                return match.group(1)
    return "/usr/local/cuda" if _is_toolkit("/usr/local/cuda") else None


def _want_cuda() -> bool:
    """Build the CUDA kernels? ``TORCHLOPS_CUDA=0``: no; ``=1``: yes (error when impossible);
    unset: when torch is a CUDA build and a toolkit is found. Sets ``CUDA_HOME`` for torch's
    build helpers (never decided on whether a GPU is visible)."""
    mode = os.environ.get("TORCHLOPS_CUDA", "")
    if mode == "0":
        return False
    import torch

    home = _cuda_home()
    reason = None
    if torch.version.cuda is None:
        reason = f"torch {torch.__version__} is not a CUDA build"
    elif home is None:
        reason = "no CUDA toolkit found (set CUDA_HOME to a folder with bin/nvcc and include/cuda_runtime.h)"
    elif not glob.glob(os.path.join("csrc", "cuda", "*.cu")):
        reason = "no CUDA sources under csrc/cuda"
    if reason is not None:
        if mode == "1":
            raise SystemExit(f"torchlops: TORCHLOPS_CUDA=1 but the CUDA kernels cannot be built: {reason}")
        return False
    os.environ["CUDA_HOME"] = home
    if "torch.utils.cpp_extension" in sys.modules:  # imported earlier: its guess is already made
        sys.modules["torch.utils.cpp_extension"].CUDA_HOME = home
    if not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        try:
            visible = torch.cuda.device_count() > 0
        except Exception:  # noqa: BLE001 - no driver
            visible = False
        if not visible:  # torch's arch guess needs a device: Volta to Hopper, PTX for newer
            os.environ["TORCH_CUDA_ARCH_LIST"] = "7.0;8.0;8.6;8.9;9.0+PTX"
    return True


def _extensions() -> tuple[list, dict]:
    """The extension modules and cmdclass, or nothing when there are no sources / no torch."""
    if os.environ.get("TORCHLOPS_EXT", "1") == "0":
        return [], {}
    sources = sorted(glob.glob(os.path.join("csrc", "**", "*.cpp"), recursive=True))
    if not sources:
        return [], {}
    try:
        import torch  # noqa: F401
    except ImportError:  # torch missing at build time: pure Python install
        return [], {}
    cuda = _want_cuda()
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    include_dirs = [os.path.join(ROOT, "csrc")]
    # -ffp-contract=off: products rounded one by one, never fused into a multiply-add (the kernels'
    # sums then give the same bits on every path and CPU, and taps of opposite sign cancel exactly;
    # an -march with FMA, or aarch64's default, would fuse them); csrc/cpu/simd_probe.cpp opts out
    cxx_flags = ["-O3", "-g0", "-ffp-contract=off"]
    link_flags: list[str] = []
    if sys.platform.startswith("linux"):
        # at::parallel_for is OpenMP in torch's Linux builds: without -fopenmp it runs serially
        cxx_flags.append("-fopenmp")
        link_flags.append("-fopenmp")
    if cuda:
        ext = CUDAExtension(
            "torchlops._C",
            sources + sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu"))),
            include_dirs=include_dirs,
            extra_link_args=link_flags,
            extra_compile_args={
                "cxx": cxx_flags,
                # exact IEEE arithmetic (no --use_fast_math); no host debug info (a much smaller .so)
                "nvcc": ["-O3", "-Xcompiler", "-g0", "--expt-relaxed-constexpr"],
            },
        )
    else:
        ext = CppExtension(
            "torchlops._C",
            sources,
            include_dirs=include_dirs,
            extra_compile_args={"cxx": cxx_flags},
            extra_link_args=link_flags,
        )
    return [ext], {"build_ext": BuildExtension.with_options(no_python_abi_suffix=True)}


class _OptionalBuild:
    """Wrap build_ext so a failed compile leaves a working pure-Python install."""

    @staticmethod
    def wrap(cmdclass: dict) -> dict:
        if "build_ext" not in cmdclass:
            return cmdclass
        base = cmdclass["build_ext"]

        class OptionalBuildExt(base):  # type: ignore[misc, valid-type]
            def run(self) -> None:
                try:
                    super().run()
                except Exception as err:  # noqa: BLE001 - any compiler failure
                    if os.environ.get("TORCHLOPS_CUDA") == "1":  # CUDA demanded: fail loudly
                        raise
                    print(f"torchlops: the extension was not built ({err}); the pure-torch engine will be used")

            def build_extension(self, ext) -> None:
                # a failing part should not cost the rest: retry without the CUDA sources, then
                # without OpenMP, before giving up on the extension
                err: Exception | None = None
                for attempt in ("full", "no-cuda", "no-openmp"):
                    if attempt == "no-cuda":
                        if os.environ.get("TORCHLOPS_CUDA") == "1" and err is not None:
                            raise err
                        cu = [src for src in ext.sources if src.endswith(".cu")]
                        if not cu:
                            continue
                        ext.sources = [src for src in ext.sources if not src.endswith(".cu")]
                    elif attempt == "no-openmp":
                        ext.extra_compile_args["cxx"] = [f for f in ext.extra_compile_args["cxx"] if f != "-fopenmp"]
                        ext.extra_link_args = [f for f in ext.extra_link_args if f != "-fopenmp"]
                    try:
                        super().build_extension(ext)
                        if attempt != "full":
                            print(f"torchlops: {ext.name} built {attempt} after a failure ({err})")
                        return
                    except Exception as e:  # noqa: BLE001 - any compiler failure
                        err = e
                print(f"torchlops: {ext.name} was not built ({err}); the pure-torch engine will be used")

        return {"build_ext": OptionalBuildExt}


ext_modules, cmdclass = _extensions()

with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
    long_description = fh.read()

setup(
    name="torchlops",
    version="0.1.0",
    description="PyLops-style linear operators for inverse problems, native in PyTorch, with autograd",
    long_description=long_description,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["torchlops", "torchlops.*"]),
    python_requires=">=3.10",
    install_requires=["torch>=2.4", "numpy", "scipy"],
    extras_require={
        "test": ["pytest", "pylops==2.8.0"],
        "plot": ["matplotlib"],
        "dev": ["pytest", "pylops==2.8.0", "ruff", "matplotlib"],
    },
    ext_modules=ext_modules,
    cmdclass=_OptionalBuild.wrap(cmdclass),
    zip_safe=False,
)
