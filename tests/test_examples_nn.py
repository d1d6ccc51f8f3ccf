"""The deep-learning examples run end to end in their ``--quick`` mode (each asserts its own claims)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["03_unrolled_deconvolution.py", "04_data_consistency_deblurring.py"])
def test_example_quick(script: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    fig = tmp_path / "figure.png"
    res = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), "--quick", "--figure", str(fig)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, f"{script} failed:\n{res.stdout}\n{res.stderr}"
    assert "SNR" in res.stdout or "PSNR" in res.stdout
