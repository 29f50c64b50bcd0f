"""scripts/bench --quick still works: it runs, prints its table and writes its JSON.

This proves the harness, not the speed: no figure is asserted (CI machines
vary; the targets are read from a full run, see the README's Benchmarks).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench"

pytestmark = pytest.mark.redis

MEASURES = {
    "enqueue_serial",
    "enqueue_batch",
    "process",
    "process_1",
    "latency",
    "future",
    "async_io",
    "process_roundtrip",
    "process_wait",
    "idle",
}


def test_quick_benchmark_runs_and_writes_json(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--repeat",
            "1",
            "--jobs",
            "200",
            "--idle-seconds",
            "1",  # the harness, not the figure: a short window
            "--ours-python",
            sys.executable,  # this environment has spinach and redis-py: no virtualenv to build
            "--output",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1, done.stdout[-2000:]
    assert str(files[0]) in done.stdout
    assert "Targets for ours" in done.stdout

    data = json.loads(files[0].read_text())
    assert {"sizes", "systems", "environment", "results", "medians", "targets"} <= set(data)
    assert data["systems"] == ["ours", "raw"]
    ours, raw = data["results"]["ours"], data["results"]["raw"]
    assert set(ours) == MEASURES
    for measure in MEASURES:
        runs = ours[measure]
        assert isinstance(runs, list) and len(runs) == 1, (measure, runs)
        assert "error" not in runs[0], (measure, runs[0])
    assert ours["process"][0]["jobs"] == 200
    assert ours["process"][0]["jobs_per_s"] > 0
    assert ours["process"][0]["commands_per_job"] > 0
    assert ours["process"][0]["peak_rss_kib"] > 0
    assert ours["latency"][0]["samples"] > 0
    assert "early" in ours["future"][0]
    assert raw["future"] == {"na": "a list has no schedule"}
    assert "error" not in raw["process"][0]

    # The realistic workloads: every body ran, and its round trip went to the
    # body server, so the queue's server saw none of the bodies' commands.
    for system in (ours, raw):
        for measure, kind in (("process_roundtrip", "roundtrip"), ("process_wait", "wait")):
            run = system[measure][0]
            assert "error" not in run, run
            assert run["kind"] == kind and run["concurrency"] == 8
            assert run["jobs"] == 200 and run["jobs_per_s"] > 0
            assert "incr" not in run["commands"], run["commands"]
        assert system["process_roundtrip"][0]["body_round_trips"] == 200
    # The idle worker: a count over a window that opened once it had settled.
    for system in (ours, raw):
        idle = system["idle"][0]
        assert "error" not in idle, idle
        assert idle["window_s"] >= 1 and idle["commands_per_s"] >= 0
    assert set(raw["idle"][0]["commands"]) <= {"rpop", "brpop"}
    rows = {
        "process_roundtrip",
        "process_roundtrip_cmds",
        "process_wait",
        "process_wait_cmds",
        "idle",
        "idle_cpu",
    }
    assert rows <= set(data["medians"])
    assert data["paired_ratios"]["process_roundtrip"]["raw"]["pairs"] == 1
    for label in ("jobs of 1 Redis round trip, 8 slots", "jobs waiting 1 ms", "idle worker"):
        assert label in done.stdout
    targets = {t["target"]: t for t in data["targets"]}
    assert targets["idle worker (8 threads) <= 1 Redis command/s"]["pass"] in (True, False)
    assert (
        targets["one-round-trip jobs, 8 slots >= 3x the original (median of paired repetitions)"][
            "detail"
        ]
        == "not measured"
    )  # --quick runs no original
    assert {t["target"] for t in data["targets"]} and all(
        t["pass"] in (True, False, None) for t in data["targets"]
    )
