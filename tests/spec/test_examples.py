"""Every example of the spec runs as written, as a user would run it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent / "examples"


def run(name: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=timeout
    )


def run_until(name: str, expected: str, timeout: float = 60) -> tuple[str, str, int]:
    """Run a blocking example, press ^C once ``expected`` was printed."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if expected in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return "".join(seen) + out, err, proc.returncode


pytestmark = pytest.mark.skipif(os.name == "nt", reason="uses SIGINT")


def test_quickstart():
    out, err, code = run_until("quickstart.py", "Computed 5 + 3 = 8")
    assert code == 0, err
    assert out.splitlines()[:2] == ["Starting workers, ^C to quit", "Computed 5 + 3 = 8"]


def test_periodic_task_example():
    out, err, code = run_until("periodic.py", "Making coffee...")
    assert code == 0, err
    assert "Making coffee..." in out


def test_queues_example_only_runs_the_high_priority_task():
    result = run("queues.py")
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert re.search(r"spinach-worker-1 INFO: Job fast \S+ succeeded in 1\d{3}\.\d ms", log), log
    assert "Job slow" not in log
    assert "Queue 'high-priority' is empty, stopping workers" in log


def test_asyncio_example():
    out, err, code = run_until("asyncio_workers.py", "Computed 2 + 4 = 6")
    assert code == 0, err
    assert "Computed 2 + 4 = 6" in out


def test_asyncio_batch_example():
    result = run("asyncio_batch.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 150
    assert set(lines) == {f"Pokemon #{i} is pokemon-{i}" for i in range(1, 151)}


def test_signals_connect_via_example():
    result = run("signals_connect_via.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum("started on Foo" in line for line in lines) == 1
    assert sum(line.endswith(" started") for line in lines) == 2
