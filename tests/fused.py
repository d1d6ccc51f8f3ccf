"""Shared by the tests of the fused solver kernels (tests/test_ext.py, tests/test_fused_cgls.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torchlops import _ops


def fused_vs_plain(monkeypatch: Any, run: Callable[[], Any], ops: Sequence[str], switch: str) -> tuple:
    """``run()`` with the fused kernels ``ops`` of ``torchlops._ops`` (their calls counted), then
    with the eligibility test ``switch`` forced to False (the tensor ops); returns ``(fused,
    plain, calls)`` and undoes the patches."""
    calls = dict.fromkeys(ops, 0)
    real = {k: getattr(_ops, k) for k in ops}

    def counted(name: str) -> Callable:
        def f(*a: Any) -> Any:
            calls[name] += 1
            return real[name](*a)
        return f

    for k in ops:
        monkeypatch.setattr(_ops, k, counted(k))
    fused = run()
    n = dict(calls)
    monkeypatch.setattr(_ops, switch, lambda *a: False)
    plain = run()
    monkeypatch.undo()
    return fused, plain, n
