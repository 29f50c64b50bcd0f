"""Runs the whole benchmark: Redis, virtualenvs, every measurement, the JSON and the table.

Run by ``scripts/bench`` in the virtualenv of ours (it needs redis-py).
Repetitions are interleaved (repetition 1 of every system, then repetition
2...), so that a slow moment of this shared machine does not fall on one
system only.  Before each measurement Redis is emptied (``FLUSHALL``) and
its statistics reset (``CONFIG RESETSTAT``); each measurement runs in a
driver process of its own, in the system's virtualenv, which starts the
worker process it needs.

Redis runs without persistence (``--save "" --appendonly no``): the figures
are those of the task queues, not of the disk.  The "ours AOF" column runs
ours on a second server with ``--appendonly yes --appendfsync everysec``.
The bodies of the realistic jobs (one round trip each) talk to a server of
their own (the "body" server): the queue's server counts the queue's
commands only, with no subtraction to get wrong.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from benchkit import report, venvs
from benchkit.systems import BY_NAME, OURS_AOF, SYSTEMS

ROOT = venvs.ROOT
SCRIPTS = ROOT / "scripts"

#: Sizes of the full run and of --quick.
FULL = {
    "enqueue_serial": 10_000,
    "enqueue_batch": 10_000,
    "process": 20_000,
    "process_1": 20_000,
    "latency": 500,
    "future": 5_000,
    "async_io": 10_000,
    "process_roundtrip": 5_000,
    "process_wait": 5_000,
}
QUICK = {
    "enqueue_serial": 1_000,
    "enqueue_batch": 1_000,
    "process": 2_000,
    "process_1": 1_000,
    "latency": 100,
    "future": 500,
    "async_io": 1_000,
    "process_roundtrip": 1_000,
    "process_wait": 1_000,
}
#: The order of the measurements (each is taken for every system before the next).
MEASURES = [
    "enqueue_serial",
    "enqueue_batch",
    "process",
    "process_roundtrip",
    "process_wait",
    "process_1",
    "latency",
    "future",
    "async_io",
    "idle",
]
#: The idle worker: seconds of the window, and of settling before it opens.
#: A count over a window, not a timing: it is taken in the first repetition only.
IDLE_WINDOW = {"full": 30.0, "quick": 5.0}
IDLE_SETTLE = {"full": 2.0, "quick": 0.5}
LATENCY_WARMUP = 10
#: Seconds a system may spend on its latency samples in one repetition
#: (pollers take up to their poll interval per sample).
LATENCY_BUDGET = {"full": 15.0, "quick": 5.0}
#: Seconds a driver process may take before it is killed.
DRIVER_TIMEOUT = 600
#: Throughput runs whose size a pilot run of this many jobs decides.
PILOT_JOBS = 1_000
TIMED_RUNS = ("process", "process_roundtrip", "process_wait", "process_1", "async_io")


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark Spinach against the original spinach, its peers and raw redis-py.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="ours and raw redis-py only, small sizes (CI)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median; default 3)")
    parser.add_argument(
        "--jobs", type=int, help="use this many jobs in every measurement (latency samples too)"
    )
    parser.add_argument(
        "--systems",
        help="comma-separated systems to run (default: all; --quick: ours,raw); "
        f"known: {', '.join(BY_NAME)}",
    )
    parser.add_argument(
        "--measures", help=f"comma-separated measurements (default: all): {', '.join(MEASURES)}"
    )
    parser.add_argument(
        "--process-budget",
        type=float,
        default=15.0,
        help="seconds a throughput run should last at most: a system too slow to process "
        "the full count in that time gets fewer jobs, from the rate of a pilot run of "
        f"{PILOT_JOBS:,} jobs (default 15; 0: always the full count; not in --quick)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        help="window of the idle-worker row, measured in the first repetition only "
        f"(default {IDLE_WINDOW['full']:g}; --quick: {IDLE_WINDOW['quick']:g})",
    )
    parser.add_argument("--no-aof", action="store_true", help="skip the 'ours AOF' column")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the logs of every process (kept anyway when a measurement failed)",
    )
    parser.add_argument(
        "--output", default=str(ROOT / "bench-results"), help="folder of the JSON results"
    )
    parser.add_argument("--ours-python", help="Python with this checkout's spinach and redis-py")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    if args.idle_seconds is not None and args.idle_seconds <= 0:
        parser.error("--idle-seconds must be more than 0 (leave the row out with --measures)")
    if args.measures:
        unknown = [m for m in args.measures.split(",") if m not in MEASURES]
        if unknown:
            parser.error(f"unknown measurements {unknown}; known: {', '.join(MEASURES)}")
    return args


def load_redis_support() -> types.ModuleType:
    """tests/support/redis_server.py, imported by path (tests/ is not a package)."""
    path = ROOT / "tests" / "support" / "redis_server.py"
    spec = importlib.util.spec_from_file_location("spinach_bench_redis_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.sizes: Dict[str, Any] = dict(QUICK if args.quick else FULL)
        if args.jobs:
            self.sizes = {name: args.jobs for name in self.sizes}
        self.idle_window = args.idle_seconds or IDLE_WINDOW[self.mode]
        self.sizes["idle_s"] = self.idle_window
        default_systems = ["ours", "raw"] if args.quick else [s.name for s in SYSTEMS]
        if not args.quick and not args.no_aof:
            default_systems.append(OURS_AOF.name)
        self.systems = args.systems.split(",") if args.systems else default_systems
        unknown = [s for s in self.systems if s not in BY_NAME]
        if unknown:
            sys.exit(f"unknown systems: {unknown}; known: {list(BY_NAME)}")
        self.measures = args.measures.split(",") if args.measures else MEASURES
        self.stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.work = Path(tempfile.mkdtemp(prefix=f"run-{self.stamp}-", dir=_mkdir(venvs.BENCH_DIR)))
        self.pythons: Dict[str, str] = {}
        self.install_errors: Dict[str, str] = {}
        self.results: Dict[str, Dict[str, Any]] = {s: {} for s in self.systems}
        #: (system, measurement) -> jobs, where the time budget lowered the count
        self.reduced: Dict[str, Dict[str, int]] = {}
        self.servers: Dict[str, Any] = {}
        self.clients: Dict[str, Any] = {}

    # -- set up -------------------------------------------------------------------

    def install(self) -> None:
        ours = self.args.ours_python or sys.executable
        for name in self.systems:
            requirements = BY_NAME[name].requirements
            if requirements is None:
                self.pythons[name] = ours
                continue
            try:
                self.pythons[name] = str(venvs.ensure(name, requirements))
            except venvs.InstallError as exc:
                print(f"[bench] {exc}: {name} is reported as n/a", flush=True)
                self.install_errors[name] = str(exc)

    def start_redis(self) -> None:
        support = load_redis_support()
        self.servers["plain"] = support.RedisServer(self.work / "redis").start()
        # The task bodies' round trips: on a server of their own.
        self.servers["bodies"] = support.RedisServer(self.work / "redis-bodies").start()
        if OURS_AOF.name in self.systems:
            self.servers["aof"] = support.RedisServer(
                self.work / "redis-aof",
                appendonly=True,
                extra=("--appendfsync", "everysec"),
            ).start()
        for name, server in self.servers.items():
            self.clients[name] = server.client()

    def stop_redis(self) -> None:
        for server in self.servers.values():
            server.close()

    def server_of(self, system: str) -> str:
        return "aof" if system == OURS_AOF.name else "plain"

    # -- running ---------------------------------------------------------------------

    def params(self, system: str, measure: str) -> Dict[str, Any]:
        size = self.reduced.get(system, {}).get(measure, self.sizes.get(measure, 0))
        if measure in ("enqueue_serial", "enqueue_batch"):
            return {"jobs": size}
        if measure == "process":
            return {"jobs": size, "concurrency": 8, "timeout": 300 + size / 50}
        if measure in ("process_roundtrip", "process_wait"):
            kind = measure.split("_", 1)[1]
            return {"jobs": size, "concurrency": 8, "kind": kind, "timeout": 300 + size / 20}
        if measure == "idle":
            return {
                "concurrency": 8,
                "window": self.idle_window,
                "settle": IDLE_SETTLE[self.mode],
            }
        if measure == "process_1":
            return {"jobs": size, "concurrency": 1, "timeout": 300 + size / 20}
        if measure == "async_io":
            return {
                "jobs": size,
                "concurrency": 256,
                "workers": "asyncio",
                "kind": "sleep",
                "timeout": 120,
            }
        if measure == "latency":
            return {
                "samples": size,
                "warmup": min(LATENCY_WARMUP, size),
                "concurrency": 8,
                "budget": LATENCY_BUDGET[self.mode],
            }
        if measure == "future":
            return {
                "jobs": size,
                "concurrency": 8,
                "lead": self.future_lead(system),
                "timeout": 120,
            }
        raise ValueError(measure)

    def future_lead(self, system: str) -> float:
        """Seconds ahead to schedule the future jobs: enough to enqueue them all first."""
        runs = self.results[system].get("enqueue_serial")
        rates = [r["jobs_per_s"] for r in runs or [] if isinstance(r, dict) and "jobs_per_s" in r]
        rate = min(rates) if rates else 500.0
        return 1.5 + 1.5 * int(self.sizes["future"]) / float(rate)

    def skip_reason(self, system: str, measure: str) -> Optional[str]:
        if system in self.install_errors:
            return self.install_errors[system]
        return BY_NAME[system].unsupported.get(measure)

    def planned(self, system: str, measure: str) -> bool:
        if measure not in self.measures or self.skip_reason(system, measure) is not None:
            return False
        # Peers: their 8-slot run only, to keep the run short.
        return measure != "process_1" or system in ("ours", "original", "raw")

    def pilot(self) -> None:
        """Size the throughput runs of slow systems to the time budget."""
        budget = self.args.process_budget
        if self.args.quick or budget <= 0:
            return
        for system in self.systems:
            for measure in TIMED_RUNS:
                if not self.planned(system, measure) or self.sizes[measure] <= PILOT_JOBS:
                    continue
                result = self.measure(system, measure, 0, jobs=PILOT_JOBS)
                rate = result.get("steady_jobs_per_s") or result.get("jobs_per_s")
                print(f"[bench] pilot {system:9} {measure:15} {summary(result)}", flush=True)
                if rate and rate * budget < self.sizes[measure]:
                    jobs = max(PILOT_JOBS, int(rate * budget) // 100 * 100)
                    self.reduced.setdefault(system, {})[measure] = jobs

    def run_order(self) -> List[str]:
        """The systems in the order they are measured: ours, then the raw limit, then the rest.

        Each measurement is taken for every system before the next one, and
        the figures that targets compare (ours against raw and the original)
        are taken back to back: on a shared machine, the load of other
        tenants drifts over minutes, and a ratio of figures taken minutes
        apart would measure that drift as much as the code.
        """
        first = [name for name in ("ours", "raw", "original") if name in self.systems]
        return first + [name for name in self.systems if name not in first]

    def run(self) -> None:
        total = self.args.repeat
        for rep in range(1, total + 1):
            for measure in self.measures:
                for system in self.run_order():
                    reason = self.skip_reason(system, measure)
                    if reason is not None:
                        self.results[system][measure] = {"na": reason}
                        continue
                    if not self.planned(system, measure):
                        continue
                    if measure == "idle" and rep > 1:
                        continue  # a count over a long window: once is enough
                    previous = self.results[system].setdefault(measure, [])
                    if isinstance(previous, dict) or any(
                        "error" in r or "na" in r for r in previous
                    ):
                        continue  # failed once: do not spend the time again
                    began = time.monotonic()
                    result = self.measure(system, measure, rep)
                    result["rep"] = rep  # targets compare ours with others repetition by repetition
                    result["elapsed_s"] = round(time.monotonic() - began, 2)
                    previous.append(result)
                    print(
                        f"[bench] {rep}/{total} {system:9} {measure:15} "
                        f"{summary(result)} ({result['elapsed_s']:.0f} s)"
                    )
                    sys.stdout.flush()

    def measure(
        self, system: str, measure: str, rep: int, jobs: Optional[int] = None
    ) -> Dict[str, Any]:
        server = self.server_of(system)
        client = self.clients[server]
        client.flushall()
        client.config_resetstat()
        self.clients["bodies"].flushall()
        params = self.params(system, measure)
        if jobs is not None:
            params["jobs"] = jobs
        spec = {
            "system": system,
            "measure": measure,
            "url": self.servers[server].url,
            "body_url": self.servers["bodies"].url,
            "params": params,
            "log": str(self.work / f"{system}-{measure}-{rep}-worker.log"),
        }
        result_file = self.work / f"{system}-{measure}-{rep}.json"
        log = self.work / f"{system}-{measure}-{rep}-driver.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SCRIPTS), env.get("PYTHONPATH")]))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        command = [self.pythons[system], "-m", "benchkit.child", "driver", json.dumps(spec)]
        with open(log, "wb") as out:
            # A session of its own: the driver and its worker are killed together.
            driver = subprocess.Popen(
                [*command, str(result_file)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            driver.wait(DRIVER_TIMEOUT)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {DRIVER_TIMEOUT} s (logs: {self.work})"}
        finally:
            _kill_group(driver)
        if not result_file.exists():
            tail = log.read_text(errors="replace")[-2000:]
            return {"error": f"the driver wrote no result; its log ends with:\n{tail}"}
        result: Dict[str, Any] = json.loads(result_file.read_text())
        if "error" in result:
            print(log.read_text(errors="replace")[-3000:])
        return result

    # -- output ---------------------------------------------------------------------

    def failed(self) -> bool:
        return any(
            "error" in run
            for measures in self.results.values()
            for runs in measures.values()
            if isinstance(runs, list)
            for run in runs
        )

    def environment(self) -> Dict[str, Any]:
        info = self.clients["plain"].info("server")
        versions = {}
        distributions = {
            "ours": ["spinach-core", "spinach-redis", "redis", "hiredis"],
            "original": ["spinach", "redis", "hiredis"],
            "rq": ["rq", "redis", "hiredis"],
            "dramatiq": ["dramatiq", "redis", "hiredis"],
            "celery": ["celery", "kombu", "redis", "hiredis"],
            "huey": ["huey", "redis", "hiredis"],
            "arq": ["arq", "redis", "hiredis"],
            "saq": ["saq", "redis", "hiredis"],
        }
        for system, python in self.pythons.items():
            names = distributions.get(system, ["redis", "hiredis"])
            versions[system] = venvs.describe(python, names)
        return {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "redis_server": info.get("redis_version"),
            "redis_options": "--save '' --appendonly no (ours AOF: --appendonly yes "
            "--appendfsync everysec); the task bodies' round trips go to a second server",
            "versions": versions,
        }

    def write_json(self, environment: Dict[str, Any]) -> Path:
        folder = _mkdir(Path(self.args.output))
        path = folder / f"{self.stamp}.json"
        data = {
            "created": self.stamp,
            "mode": self.mode,
            "repeat": self.args.repeat,
            "sizes": self.sizes,
            "systems": self.systems,
            "environment": environment,
            "workers": {s: BY_NAME[s].worker for s in self.systems},
            "process_budget_s": self.args.process_budget,
            "idle": {"window_s": self.idle_window, "settle_s": IDLE_SETTLE[self.mode]},
            "reduced_sizes": self.reduced,
            "medians": report.medians(self.results, self.sizes),
            "paired_ratios": report.paired_ratios(self.results, self.sizes),
            "targets": report.evaluate(self.results, self.sizes),
            "results": self.results,
        }
        path.write_text(json.dumps(data, indent=1))
        return path


def summary(result: Dict[str, Any]) -> str:
    if "na" in result:
        return f"n/a: {result['na']}"
    if "error" in result:
        return "ERROR: " + result["error"].splitlines()[0][:200]
    parts = []
    if "jobs_per_s" in result:
        parts.append(f"{result['jobs_per_s']:,.0f} jobs/s")
    if "commands_per_job" in result:
        parts.append(f"{result['commands_per_job']:.2f} cmd/job")
    if "commands_per_s" in result:
        parts.append(f"{result['commands_per_s']:.2f} cmd/s over {result['window_s']:.0f} s")
    if "peak_rss_kib" in result:
        parts.append(f"RSS {result['peak_rss_kib'] / 1024:.1f} MiB")
    if "p50_ms" in result and "first_ms" not in result:
        parts.append(f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    if "first_ms" in result:
        parts.append(
            f"late by: first {result['first_ms']:.1f} ms, p50 {result['p50_ms']:.1f} ms, "
            f"last {result['last_ms']:.1f} ms"
        )
    return ", ".join(parts)


def _kill_group(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """Kill what is left of a driver's process group (its worker, on a failure)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _cpu_model() -> Optional[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    # SIGTERM (or SIGINT, ignored by background jobs) ends the run cleanly:
    # the finally clauses stop the Redis servers and the running measurement.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    bench = Bench(args)
    started = time.monotonic()
    print(
        f"[bench] {bench.mode} run: systems {', '.join(bench.systems)}; "
        f"{args.repeat} repetitions; logs in {bench.work}",
        flush=True,
    )
    bench.install()
    bench.start_redis()
    try:
        bench.pilot()
        bench.run()
        environment = bench.environment()
    finally:
        bench.stop_redis()
    path = bench.write_json(environment)
    print()
    print(
        f"Medians of {args.repeat} repetitions; Redis {environment['redis_server']} without "
        f"persistence; {environment['cpus']} CPUs ({environment['cpu']}); "
        f"Python {environment['python']}"
    )
    print(report.table(bench.results, bench.sizes, bench.systems))
    print()
    print(report.notes(bench.results, bench.systems, bench.reduced, args.process_budget))
    print()
    print(report.targets_summary(bench.results, bench.sizes))
    print()
    if args.keep_logs or bench.failed():
        print(f"Logs of every process: {bench.work}")
    else:
        shutil.rmtree(bench.work, ignore_errors=True)
    print(f"Raw figures (every repetition): {path}")
    print(f"Took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
