"""The demo of the README runs, ends by itself and shows every kind of job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_runs_every_kind_of_job():
    result = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=15)
    assert result.returncode == 0, result.stderr
    log = result.stderr
    for expected in (
        "compute: 5 + 3 = 8",
        "scheduled a batch of 5 jobs in one call",
        "flaky_api: succeeded on attempt 3",
        "reminder: 3 seconds have passed",
        "heartbeat #3",
        "demo finished: every kind of job ran",
    ):
        assert expected in log, expected
    assert log.count("will be retried at") == 2
