"""``python -m torchlops`` (the demo) and the examples run end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path, timeout: float = 240) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{args} exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("argv", [[], ["demo"]], ids=["default", "demo"])
def test_demo(tmp_path: Path, argv: list[str]) -> None:
    out = tmp_path / "demo.png"
    stdout = _run(["-m", "torchlops", *argv, "--device", "cpu", "--out", str(out)], cwd=tmp_path)
    assert "post-stack deconvolution" in stdout
    rows = {}
    for name in ("CGLS + Laplacian", "FISTA L1"):
        line = next((ln for ln in stdout.splitlines() if ln.strip().startswith(name)), None)
        assert line is not None, f"no {name!r} row in\n{stdout}"
        it, seconds, snr = line.split()[-3:]
        rows[name] = (int(it), float(seconds), float(snr))
    assert rows["CGLS + Laplacian"][0] == 100 and rows["FISTA L1"][0] == 300
    # sparsity pays off on a blocky model: FISTA is far closer to the true reflectivity
    assert rows["FISTA L1"][2] > 15.0 and rows["FISTA L1"][2] > rows["CGLS + Laplacian"][2] + 10.0
    if _has_matplotlib():
        assert "figure written to" in stdout and out.stat().st_size > 10_000
    else:
        assert "matplotlib is not installed" in stdout and not out.exists()


def test_demo_options_and_info(tmp_path: Path) -> None:
    stdout = _run(["-m", "torchlops", "--device", "cpu", "--niter", "5", "--niter-fista", "7", "--out", ""],
                  cwd=tmp_path)
    assert re.search(r"CGLS \+ Laplacian.*\s5\s", stdout) and re.search(r"FISTA L1.*\s7\s", stdout)
    assert "figure" not in stdout and not list(tmp_path.iterdir())
    assert "torch threads" in _run(["-m", "torchlops", "info"], cwd=tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    bad = subprocess.run([sys.executable, "-m", "torchlops", "--niter", "-1"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--niter must be non-negative" in bad.stderr


def test_example_quickstart(tmp_path: Path) -> None:
    stdout = _run([str(ROOT / "examples" / "01_quickstart.py"), "--quick", "--device", "cpu"], cwd=tmp_path)
    assert "torchlops cgls on 4 signals of 128 samples" in stdout
    try:
        import pylops  # noqa: F401
    except ImportError:
        assert "skipping the PyLops half" in stdout
    else:
        assert "torchlops and pylops agree" in stdout


def test_example_learn_wavelet(tmp_path: Path) -> None:
    out = tmp_path / "wavelet.png"
    stdout = _run([str(ROOT / "examples" / "02_learn_wavelet.py"), "--quick", "--device", "cpu", "--out",
                   str(out)], cwd=tmp_path)
    m = re.search(r"relative error of the learned wavelet: (\S+)", stdout)
    assert m is not None and float(m.group(1)) < 1e-2
    assert "learned wavelet matches the true one" in stdout
    assert out.exists() == _has_matplotlib()
