"""Without redis-server, Redis tests fail with how to install it; they never skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest_without_redis_server(tmp_path, *args):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    # Only what this run needs: other suites of the session set variables
    # (DJANGO_SETTINGS_MODULE) that would configure plugins of the child run.
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", str(tmp_path))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:django", "-q", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_redis_server_is_a_failure_with_instructions(tmp_path):
    result = _pytest_without_redis_server(
        tmp_path, "tests/contract/test_jobs.py", "-k", "fifo and redis"
    )
    assert result.returncode != 0
    assert "apt-get install -y redis-server" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]


def test_redis_tests_can_be_deselected(tmp_path):
    result = _pytest_without_redis_server(
        tmp_path, "tests/contract", "tests/e2e", "-m", "not redis"
    )
    assert result.returncode == 0, result.stdout[-2000:]
