"""Medians, ratios, targets and the printed table.

Every figure of the table is the median of the repetitions.  Ratios are
always ours divided by the other (for times and counts, below 1x is
better).  Targets are those of DESIGN.md section 4; they are reported,
never asserted.  A "paired" target compares ours with the other system
repetition by repetition (the two figures of a repetition are taken back
to back) and takes the median of those ratios.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchkit.common import median
from benchkit.systems import BY_NAME, PEERS


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    measure: str
    field: str
    unit: str
    higher_is_better: bool
    scale: float = 1.0


def rows(sizes: Dict[str, Any]) -> List[Row]:
    n = {k: f"{v:,}" for k, v in sizes.items() if isinstance(v, int)}
    return [
        Row("enqueue_serial", "enqueue one by one", "enqueue_serial", "jobs_per_s", "jobs/s", True),
        Row("enqueue_serial_cmds", "  Redis commands/job", "enqueue_serial", "commands_per_job",
            "cmd", False),
        Row("enqueue_batch", f"enqueue a batch of {n['enqueue_batch']}", "enqueue_batch",
            "jobs_per_s", "jobs/s", True),
        Row("enqueue_batch_cmds", "  Redis commands/job", "enqueue_batch", "commands_per_job",
            "cmd", False),
        Row("process", f"process {n['process']} no-op, 8 slots", "process", "jobs_per_s",
            "jobs/s", True),
        Row("process_cmds", "  Redis commands/job", "process", "commands_per_job", "cmd", False),
        Row("process_rss", "  worker peak RSS", "process", "peak_rss_kib", "MiB", False,
            1 / 1024),
        Row("process_cpu", "  worker CPU time/job", "process", "cpu_us_per_job", "us", False),
        Row("process_roundtrip", f"process {n['process_roundtrip']} jobs of 1 Redis round trip, "
            "8 slots", "process_roundtrip", "jobs_per_s", "jobs/s", True),
        Row("process_roundtrip_cmds", "  Redis commands/job (bodies' excluded)",
            "process_roundtrip", "commands_per_job", "cmd", False),
        Row("process_wait", f"process {n['process_wait']} jobs waiting 1 ms, 8 slots",
            "process_wait", "jobs_per_s", "jobs/s", True),
        Row("process_wait_cmds", "  Redis commands/job", "process_wait", "commands_per_job",
            "cmd", False),
        Row("process_1", f"process {n['process_1']} no-op, 1 thread", "process_1", "jobs_per_s",
            "jobs/s", True),
        Row("latency_p50", "enqueue-to-start latency p50", "latency", "p50_ms", "ms", False),
        Row("latency_p99", "enqueue-to-start latency p99", "latency", "p99_ms", "ms", False),
        Row("future_first", f"{n['future']} future jobs: first, late by", "future", "first_ms",
            "ms", False),
        Row("future_p50", "  p50 late by", "future", "p50_ms", "ms", False),
        Row("future_p99", "  p99 late by", "future", "p99_ms", "ms", False),
        Row("future_last", "  last, late by", "future", "last_ms", "ms", False),
        Row("async_io", f"async I/O {n['async_io']} jobs of 10 ms, 256 slots", "async_io",
            "jobs_per_s", "jobs/s", True),
        Row("idle", f"idle worker, 8 threads, {sizes.get('idle_s', 0):g} s window", "idle",
            "commands_per_s", "cmd/s", False),
        Row("idle_cpu", "  idle worker CPU time", "idle", "cpu_ms_per_s", "ms/s", False),
    ]  # fmt: skip


# -- medians -------------------------------------------------------------------------

Cell = Tuple[str, Optional[float]]  # ("ok", value) | ("na", None) | ("error", None) | ("-", None)


def cell(results: Dict[str, Any], system: str, row: Row) -> Cell:
    runs = results.get(system, {}).get(row.measure)
    if runs is None:
        return ("-", None)
    if isinstance(runs, dict):  # {"na": reason}
        return ("na", None)
    values = [run.get(row.field) for run in runs if "error" not in run and "na" not in run]
    if not values:
        return ("na", None) if any("na" in run for run in runs) else ("error", None)
    value = median(values)
    return ("ok", None if value is None else value * row.scale)


def medians(results: Dict[str, Any], sizes: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    for row in rows(sizes):
        out[row.key] = {}
        for system in results:
            state, value = cell(results, system, row)
            out[row.key][system] = value if state == "ok" else state
    return out


def paired_ratios(results: Dict[str, Any], sizes: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Per row and system: the median of ours / that system's, repetition by repetition.

    Only repetitions where both figures exist are paired; ``pairs`` says
    how many were.
    """
    out: Dict[str, Dict[str, Any]] = {}
    for row in rows(sizes):
        ours = _by_rep(results, "ours", row)
        if not ours:
            continue
        for system in results:
            if system == "ours":
                continue
            theirs = _by_rep(results, system, row)
            ratios = [ours[rep] / theirs[rep] for rep in ours if theirs.get(rep)]
            if ratios:
                out.setdefault(row.key, {})[system] = {
                    "ratio": median(ratios),
                    "pairs": len(ratios),
                }
    return out


def _by_rep(results: Dict[str, Any], system: str, row: Row) -> Dict[int, float]:
    runs = results.get(system, {}).get(row.measure)
    if not isinstance(runs, list):
        return {}
    return {
        run["rep"]: run[row.field]
        for run in runs
        if "rep" in run and isinstance(run.get(row.field), (int, float))
    }


# -- targets ----------------------------------------------------------------------------

Paired = Dict[str, Dict[str, Any]]
Check = Callable[[Dict[str, Dict[str, Any]], Dict[str, Any], Paired], Tuple[Optional[bool], str]]


@dataclass(frozen=True)
class Target:
    row: str
    short: str
    text: str
    check: Check


def _num(med: Dict[str, Dict[str, Any]], row: str, system: str) -> Optional[float]:
    value = med.get(row, {}).get(system)
    return value if isinstance(value, (int, float)) else None


def _at_least(row: str, other: str, factor: float) -> Check:
    def check(
        med: Dict[str, Dict[str, Any]], sizes: Dict[str, Any], paired: Paired
    ) -> Tuple[Optional[bool], str]:
        ours, theirs = _num(med, row, "ours"), _num(med, row, other)
        if ours is None or theirs is None:
            return None, "not measured"
        return ours >= factor * theirs, f"{ours / theirs:.2f}x {other} (need {factor:g}x)"

    return check


def _paired_at_least(row: str, other: str, factor: float) -> Check:
    def check(
        med: Dict[str, Dict[str, Any]], sizes: Dict[str, Any], paired: Paired
    ) -> Tuple[Optional[bool], str]:
        pair = paired.get(row, {}).get(other)
        if pair is None:
            return None, "not measured"
        ratio = pair["ratio"]
        return ratio >= factor, (
            f"{ratio:.2f}x {other}, median of {pair['pairs']} paired repetitions (need {factor:g}x)"
        )

    return check


def _at_most(row: str, limit: float, unit: str) -> Check:
    def check(
        med: Dict[str, Dict[str, Any]], sizes: Dict[str, Any], paired: Paired
    ) -> Tuple[Optional[bool], str]:
        ours = _num(med, row, "ours")
        if ours is None:
            return None, "not measured"
        return ours <= limit, f"{ours:.2f} {unit} (need <= {limit:g})"

    return check


def _ahead_of_peers(
    med: Dict[str, Dict[str, Any]], sizes: Dict[str, Any], paired: Paired
) -> Tuple[Optional[bool], str]:
    ours = _num(med, "process", "ours")
    peers = {p: _num(med, "process", p) for p in PEERS}
    measured = {p: v for p, v in peers.items() if v is not None}
    if ours is None or not measured:
        return None, "not measured"
    best = max(measured, key=lambda p: measured[p])
    return ours > measured[best], f"best peer {best}: {measured[best]:,.0f} jobs/s"


def _last_future(
    med: Dict[str, Dict[str, Any]], sizes: Dict[str, Any], paired: Paired
) -> Tuple[Optional[bool], str]:
    last, rate = _num(med, "future_last", "ours"), _num(med, "process", "ours")
    jobs = sizes.get("future")
    if last is None or rate is None or not jobs:
        return None, "not measured"
    limit = jobs / rate * 1000 + 100
    return last <= limit, f"{last:.1f} ms (need <= {jobs:,}/rate + 100 = {limit:.1f} ms)"


def _rss(
    med: Dict[str, Dict[str, Any]], sizes: Dict[str, Any], paired: Paired
) -> Tuple[Optional[bool], str]:
    ours, original = _num(med, "process_rss", "ours"), _num(med, "process_rss", "original")
    if ours is None or original is None:
        return None, "not measured"
    return ours <= original, f"{ours:.1f} MiB vs original {original:.1f} MiB"


def _async_target(
    med: Dict[str, Dict[str, Any]], sizes: Dict[str, Any], paired: Paired
) -> Tuple[Optional[bool], str]:
    ours = _num(med, "async_io", "ours")
    if ours is None:
        return None, "not measured"
    return ours >= 5000, f"{ours:,.0f} jobs/s (need >= 5,000)"


TARGETS = [
    Target("enqueue_serial", ">=0.9x raw", "schedule() one by one >= 0.9x a raw LPUSH loop",
           _at_least("enqueue_serial", "raw", 0.9)),
    Target("enqueue_batch", ">=0.5x raw", "schedule_batch() >= 0.5x raw pipelined LPUSH",
           _at_least("enqueue_batch", "raw", 0.5)),
    Target("process", ">=3x orig", "processing >= 3x the original (8 threads)",
           _at_least("process", "original", 3.0)),
    Target("process", "> peers", "processing ahead of every peer measured", _ahead_of_peers),
    Target("process_cmds", "<=1.5", "<= 1.5 Redis commands per processed job",
           _at_most("process_cmds", 1.5, "commands/job")),
    Target("process_rss", "<=orig", "worker peak RSS no higher than the original's", _rss),
    Target("latency_p50", "<=1.2 ms", "latency p50 <= 1.2 ms", _at_most("latency_p50", 1.2, "ms")),
    Target("latency_p99", "<=5 ms", "latency p99 <= 5 ms", _at_most("latency_p99", 5.0, "ms")),
    Target("future_first", "<=20 ms", "first future job <= 20 ms late",
           _at_most("future_first", 20.0, "ms")),
    Target("future_last", "<=N/rate+100", "last future job <= N / processing rate + 100 ms",
           _last_future),
    Target("async_io", ">=5,000/s", "AsyncioWorkers(256), 10 ms jobs >= 5,000 jobs/s",
           _async_target),
    Target("process_roundtrip", ">=3x orig, paired",
           "one-round-trip jobs, 8 slots >= 3x the original (median of paired repetitions)",
           _paired_at_least("process_roundtrip", "original", 3.0)),
    Target("process_roundtrip_cmds", "<=1.5",
           "<= 1.5 Redis commands per one-round-trip job (scripts' commands included)",
           _at_most("process_roundtrip_cmds", 1.5, "commands/job")),
    Target("idle", "<=1 cmd/s", "idle worker (8 threads) <= 1 Redis command/s",
           _at_most("idle", 1.0, "commands/s")),
]  # fmt: skip


def evaluate(results: Dict[str, Any], sizes: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every target, checked against the medians (and paired ratios) of ``results``."""
    med, paired = medians(results, sizes), paired_ratios(results, sizes)
    out = []
    for target in TARGETS:
        passed, detail = target.check(med, sizes, paired)
        out.append({"target": target.text, "row": target.row, "pass": passed, "detail": detail})
    return out


def early_future_jobs(results: Dict[str, Any]) -> Dict[str, int]:
    """Future jobs that started before their due date, per system (should all be 0)."""
    out = {}
    for system, measures in results.items():
        runs = measures.get("future")
        if isinstance(runs, list):
            out[system] = sum(run.get("early", 0) for run in runs if "error" not in run)
    return out


# -- the table ------------------------------------------------------------------------------


def fmt(value: Any, unit: str) -> str:
    if value is None or value == "-":
        return "-"
    if isinstance(value, str):
        return "n/a" if value == "na" else value
    if unit == "jobs/s":
        return f"{value:,.0f}"
    if unit in ("cmd", "cmd/s") and value < 0.1:
        return f"{value:.4f}"
    if unit in ("ms", "cmd", "cmd/s"):
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:.1f}"


def ratio(a: Any, b: Any) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def table(results: Dict[str, Any], sizes: Dict[str, Any], systems: List[str]) -> str:
    med = medians(results, sizes)
    verdicts: Dict[str, List[Tuple[str, Optional[bool]]]] = {}
    for target, item in zip(TARGETS, evaluate(results, sizes)):
        verdicts.setdefault(target.row, []).append((target.short, item["pass"]))
    titles = [BY_NAME[s].title for s in systems]
    header = ["measurement", "unit", *titles, "vs orig", "vs raw", "target", "ours"]
    lines = [header]
    for row in rows(sizes):
        values = med[row.key]
        cells = [row.label, row.unit] + [fmt(values.get(s, "-"), row.unit) for s in systems]
        cells += [ratio(values.get("ours"), values.get("original"))]
        cells += [ratio(values.get("ours"), values.get("raw"))]
        targets = verdicts.get(row.key, [])
        cells += ["; ".join(short for short, _ in targets)]
        cells += ["; ".join(_verdict(p) for _, p in targets)]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        parts = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        parts += [c.rjust(w) for c, w in zip(line[2:-2], widths[2:-2])]
        parts += [line[-2].ljust(widths[-2]), line[-1]]
        out.append("  ".join(parts).rstrip())
        if index == 0:
            out.append("-" * len(out[0]))
    return "\n".join(out)


def _verdict(passed: Optional[bool]) -> str:
    return {True: "PASS", False: "FAIL", None: "?"}[passed]


def notes(
    results: Dict[str, Any],
    systems: List[str],
    reduced: Dict[str, Dict[str, int]],
    budget: float,
) -> str:
    """Why cells are n/a or errors, and how each worker runs."""
    lines = ["How each system's worker runs:"]
    for system in systems:
        lines.append(f"  {BY_NAME[system].title}: {BY_NAME[system].worker}")
    lines.append(
        "Job bodies: a round trip is one INCR to a second redis-server, on a connection of "
        "the worker thread's own (asyncio libraries: a pooled connection per running job), "
        "so the commands per job are the queue's only; 1 ms is time.sleep (asyncio: "
        "asyncio.sleep); the clock stops when the last body ends. The idle window opens "
        "once the worker has settled; it is measured in the first repetition only."
    )
    if reduced:
        lines.append(
            f"Fewer jobs, for systems too slow to run the full count in {budget:g} s "
            "(rate from a pilot run):"
        )
        for system, measures in reduced.items():
            sizes = ", ".join(f"{m} {n:,} jobs" for m, n in measures.items())
            lines.append(f"  {BY_NAME[system].title}: {sizes}")
    problems = []
    for system in systems:
        for measure, runs in results.get(system, {}).items():
            if isinstance(runs, dict) and "na" in runs:
                problems.append(f"  {BY_NAME[system].title} {measure}: n/a, {runs['na']}")
            elif isinstance(runs, list):
                errors = sorted({run["error"] for run in runs if "error" in run})
                for error in errors:
                    problems.append(f"  {BY_NAME[system].title} {measure}: error, {error}")
                cut = [run for run in runs if run.get("cut_short_by_budget")]
                if cut:
                    counts = ", ".join(str(run["samples"]) for run in cut)
                    problems.append(
                        f"  {BY_NAME[system].title} {measure}: time budget reached, "
                        f"samples per repetition: {counts}"
                    )
                stops = sorted({run["stop_error"] for run in runs if run.get("stop_error")})
                for error in stops:
                    problems.append(
                        f"  {BY_NAME[system].title} {measure}: every job ran, but the worker "
                        f"failed to stop: {error}"
                    )
                late = [run for run in runs if run.get("enqueued_before_due_ms", 1) < 0]
                if late:
                    problems.append(
                        f"  {BY_NAME[system].title} {measure}: enqueuing ended after the due "
                        "date in some repetitions: lateness is overstated"
                    )
    if problems:
        lines.append("Not measured, or measured with a caveat:")
        lines.extend(problems)
    early = {s: n for s, n in early_future_jobs(results).items() if n}
    if early:
        lines.append("Future jobs started BEFORE their due date: " + str(early))
    return "\n".join(lines)


def targets_summary(results: Dict[str, Any], sizes: Dict[str, Any]) -> str:
    lines = ["Targets for ours (reported, not asserted):"]
    for item in evaluate(results, sizes):
        lines.append(f"  {_verdict(item['pass']):4}  {item['target']}: {item['detail']}")
    return "\n".join(lines)
