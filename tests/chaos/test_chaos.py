"""scripts/chaos, in its short mode: every fault once, every guarantee checked."""

from __future__ import annotations

import re
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
                  "CLIENT PAUSE 400 ms", "Redis crash and restart (AOF)",
                  "fork producers from a used Engine", "SIGTERM the workers running long jobs",
                  "CLIENT PAUSE 7500 ms, longer than the threshold",
                  "worker clock 30 s ahead", "worker clock 30 s behind"):  # fmt: skip
        assert f"fault  {fault}: 1" in out, out
    # The cron task ran through every fault, never twice for one tick.
    assert re.search(r"cron task: [1-9]\d* runs in \d+ ticks, 0 ticks run twice\n", out), out
    # The rate-limited task: every job ran, never more than 5 starts in a second.
    assert re.search(
        r"rate-limited jobs \(5/s\): [1-9]\d*, never ran: 0, most starts in a second: [1-5]\n",
        out,
    ), out
    # Unique jobs: duplicates refused, every accepted one ran, every key freed.
    assert re.search(
        r"unique jobs: [1-9]\d* accepted, [1-9]\d* refused as duplicates, never ran: 0, "
        r"keys left: 0\n",
        out,
    ), out
    # The kill hit a retryable and a non-retryable job in flight.
    assert "1 retryable, ran again: 1; 1 non-retryable, failed with JobLostError: 1" in out, out
    # Three forked producers (and their parent) scheduled jobs, and every one ran.
    assert "forked producers: 3 processes, 302 jobs scheduled" in out, out
    assert re.search(r"forked producers: .*, never ran: 0\n", out), out
    # Both long jobs ran through the SIGTERM and through the long pause, once each.
    assert re.search(
        r"long jobs \(9 s, threshold 3 s\) drained by SIGTERM: 2, started once and "
        r"finished: 2, their workers exited with 0: (\d) of \1\n",
        out,
    ), out
    assert "long jobs run through the long pause: 2, started once and finished: 2" in out, out
    assert "jobs taken over from a live worker: 0, failed with JobLostError while" in out, out
    # Tracked jobs: every record says what happened, and no cancelled job ran.
    assert re.search(
        r"tracked jobs: \d+, records by status: .*, disagreeing with the ledger: 0\n", out
    ), out
    assert re.search(r"cancelled: [1-9]\d* .*, ran after CANCELLED: 0\n", out), out
    assert "workers declared dead while alive: 0 " in out, out
    assert "jobs started before their date: 0, periodic jobs before their slot: 0 " in out, out
