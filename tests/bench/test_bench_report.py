"""The report of scripts/bench: rows, paired ratios and targets, on made-up figures.

No Redis and no timing: the figures are written here, so each verdict is
known in advance.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from benchkit import report
from benchkit.orchestrator import FULL, MEASURES, QUICK

SIZES = {**QUICK, "idle_s": 5.0}


def runs(*values: float, field: str = "jobs_per_s", **extra: float) -> list:
    return [{"rep": rep, field: value, **extra} for rep, value in enumerate(values, 1)]


def target(results: dict, text_start: str) -> dict:
    matches = [t for t in report.evaluate(results, SIZES) if t["target"].startswith(text_start)]
    assert len(matches) == 1, [t["target"] for t in report.evaluate(results, SIZES)]
    return matches[0]


def test_every_measurement_has_a_row_and_a_size():
    measured = {row.measure for row in report.rows(SIZES)}
    assert measured == set(MEASURES)
    assert set(FULL) == set(QUICK) == set(MEASURES) - {"idle"}


def test_new_rows_reach_the_table_and_the_medians():
    results = {
        "ours": {
            "process_roundtrip": runs(3000, commands_per_job=2.0),
            "process_wait": runs(2500, commands_per_job=3.0),
            "idle": runs(4.0, field="commands_per_s", cpu_ms_per_s=0.3),
        },
        "raw": {
            "process_roundtrip": runs(4000, commands_per_job=0.4),
            "process_wait": runs(3500, commands_per_job=0.5),
            "idle": runs(2.0, field="commands_per_s", cpu_ms_per_s=None),
        },
    }
    med = report.medians(results, SIZES)
    assert med["process_roundtrip"] == {"ours": 3000, "raw": 4000}
    assert med["process_roundtrip_cmds"] == {"ours": 2.0, "raw": 0.4}
    assert med["process_wait"]["ours"] == 2500
    assert med["idle"] == {"ours": 4.0, "raw": 2.0}
    assert med["idle_cpu"] == {"ours": 0.3, "raw": None}  # no figure where /proc is missing
    lines = report.table(results, SIZES, ["ours", "raw"]).splitlines()

    def cells(label: str) -> list:
        line = next(line for line in lines if line.startswith(label))
        return re.split(r"\s{2,}", line.strip())

    # label, unit, ours, raw, vs orig, vs raw, target, verdict
    assert cells("process 1,000 jobs of 1 Redis round trip, 8 slots")[1:] == [
        "jobs/s", "3,000", "4,000", "-", "0.75x", ">=3x orig, paired", "?",
    ]  # fmt: skip
    assert cells("  Redis commands/job (bodies' excluded)")[1:] == [
        "cmd", "2.00", "0.40", "-", "5.00x", "<=1.5", "FAIL",
    ]  # fmt: skip
    assert cells("process 1,000 jobs waiting 1 ms, 8 slots")[1:] == [
        "jobs/s", "2,500", "3,500", "-", "0.71x",
    ]  # fmt: skip
    assert cells("idle worker, 8 threads, 5 s window")[1:] == [
        "cmd/s", "4.00", "2.00", "-", "2.00x", "<=1 cmd/s", "FAIL",
    ]  # fmt: skip


def test_paired_ratio_is_the_median_of_ratios_by_repetition():
    # Medians of the columns: 300 / 100 = 3x; by repetition: 2x, 4x, 2.5x -> 2.5x.
    results = {
        "ours": {"process_roundtrip": runs(200, 400, 300)},
        "original": {"process_roundtrip": runs(100, 100, 120)},
    }
    pair = report.paired_ratios(results, SIZES)["process_roundtrip"]["original"]
    assert pair == {"ratio": 2.5, "pairs": 3}
    verdict = target(results, "one-round-trip jobs, 8 slots >= 3x the original")
    assert verdict["pass"] is False
    assert "2.50x original, median of 3 paired repetitions" in verdict["detail"]


def test_paired_ratio_skips_repetitions_missing_on_either_side():
    results = {
        "ours": {"process_roundtrip": runs(400, 300, 330)},
        "original": {"process_roundtrip": [{"rep": 1, "jobs_per_s": 100}, {"error": "boom"}]},
    }
    assert report.paired_ratios(results, SIZES)["process_roundtrip"]["original"] == {
        "ratio": 4.0,
        "pairs": 1,
    }
    assert target(results, "one-round-trip jobs")["pass"] is True


def test_round_trip_and_idle_targets_unmeasured_without_figures():
    results = {"ours": {}, "raw": {}}
    assert target(results, "one-round-trip jobs")["pass"] is None
    assert target(results, "<= 1.5 Redis commands per one-round-trip job")["pass"] is None
    assert target(results, "idle worker")["pass"] is None


@pytest.mark.parametrize(("commands_per_job", "passed"), [(1.5, True), (1.51, False), (0.2, True)])
def test_round_trip_commands_target(commands_per_job, passed):
    results = {"ours": {"process_roundtrip": runs(1000, commands_per_job=commands_per_job)}}
    verdict = target(results, "<= 1.5 Redis commands per one-round-trip job")
    assert verdict["pass"] is passed


@pytest.mark.parametrize(("per_second", "passed"), [(0.0, True), (1.0, True), (4.03, False)])
def test_idle_target(per_second, passed):
    results = {"ours": {"idle": runs(per_second, field="commands_per_s")}}
    verdict = target(results, "idle worker (8 threads) <= 1 Redis command/s")
    assert verdict["pass"] is passed
    assert f"{per_second:.2f} commands/s" in verdict["detail"]
