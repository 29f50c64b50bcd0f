"""scripts/chaos, in its short mode: every fault once, every guarantee checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]

CHAOS = Path(__file__).resolve().parents[1] / "support" / "chaos.py"


def test_chaos_short_run():
    result = subprocess.run(
        [sys.executable, str(CHAOS), "--short"], capture_output=True, text=True, timeout=280
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert out.rstrip().endswith("chaos: OK"), out
    for fault in ("SIGKILL a worker", "SIGTERM a worker", "CLIENT KILL every connection",
                  "CLIENT PAUSE 400 ms", "Redis crash and restart (AOF)"):  # fmt: skip
        assert f"fault  {fault}: 1" in out, out
    # The kill hit a retryable and a non-retryable job in flight.
    assert "1 retryable, ran again: 1; 1 non-retryable, failed with JobLostError: 1" in out, out
