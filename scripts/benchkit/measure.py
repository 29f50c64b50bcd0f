"""The measurements, written once for every system (run by the driver process).

Each takes an :class:`~benchkit.adapters.Adapter` and the measurement's
spec, and returns plain figures (JSON).  The orchestrator has already
emptied Redis (``FLUSHALL``) and reset its statistics (``CONFIG RESETSTAT``).

- ``enqueue_serial``: jobs enqueued one by one (jobs/s, commands per job);
- ``enqueue_batch``: one batch of jobs with the library's batch API;
- ``process``: jobs enqueued beforehand (untimed, in batch where possible),
  then ONE worker process started; jobs/s from the moment the worker starts
  consuming until the last job ran, Redis commands per job of that phase
  only, and the worker's peak RSS;
- ``process_roundtrip``, ``process_wait``: the same with jobs that have a
  body: one Redis round trip (``INCR`` on the body server, a connection per
  slot) or a 1 ms wait; the clock stops when the last body has ended.  The
  bodies' commands go to the body server, so the commands per job are the
  queue's own, exactly;
- ``latency``: an idle worker runs; one job is enqueued at a time, and the
  next only once the previous one started: enqueue-to-start times;
- ``future``: jobs all due at one instant T, a few seconds ahead: how late
  they start after T (the first, the median, p99 and the last);
- ``idle``: a worker of 8 threads with nothing to do: Redis commands per
  second over a window that starts once it has settled, and its CPU time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

import redis

from benchkit.adapters import Adapter
from benchkit.common import (
    BODY_KEY,
    Inbox,
    MeasurementError,
    NotSupported,
    command_counts,
    count_difference,
    percentile,
)

#: Longest a worker process may take to be ready (imports, connections).
READY_TIMEOUT = 60.0
#: Pause after each latency sample, so that every job finds the worker idle.
LATENCY_GAP = 0.002
#: The measurements of :func:`process`.
PROCESS_MEASURES = ("process", "process_1", "process_roundtrip", "process_wait", "async_io")


def run(adapter: Adapter, spec: Dict[str, Any]) -> Dict[str, Any]:
    client = redis.Redis.from_url(spec["url"])
    measure = spec["measure"]
    params = spec["params"]
    if measure == "enqueue_serial":
        return enqueue(adapter, client, params["jobs"], batch=False)
    if measure == "enqueue_batch":
        return enqueue(adapter, client, params["jobs"], batch=True)
    if measure in PROCESS_MEASURES:
        return process(adapter, client, spec)
    if measure == "idle":
        return idle(adapter, client, spec)
    if measure == "latency":
        return latency(adapter, spec)
    if measure == "future":
        return future(adapter, spec)
    raise ValueError(f"unknown measurement {measure!r}")


# -- enqueuing -------------------------------------------------------------------


def enqueue(adapter: Adapter, client: Any, jobs: int, batch: bool) -> Dict[str, Any]:
    warmup = min(50, jobs)
    call = adapter.enqueue_batch if batch else adapter.enqueue_serial
    adapter.prepare(warmup + jobs)
    call(warmup)  # connections, scripts, imports: not what is measured
    before = command_counts(client)
    started = time.perf_counter()
    call(jobs)
    seconds = time.perf_counter() - started
    commands = count_difference(command_counts(client), before)
    return {
        "jobs": jobs,
        "seconds": seconds,
        "jobs_per_s": jobs / seconds,
        "commands": commands,
        "commands_per_job": sum(commands.values()) / jobs,
    }


def fill_queue(adapter: Adapter, jobs: int, kind: str) -> Dict[str, Any]:
    """Enqueue ``jobs`` jobs for a processing run, in batch where the library can."""
    adapter.prepare(jobs)
    started = time.perf_counter()
    method = "batch"
    try:
        adapter.enqueue_batch(jobs, kind)
    except NotSupported:
        method = "serial"
        adapter.enqueue_serial(jobs, kind)
    return {"method": method, "seconds": time.perf_counter() - started}


# -- the worker process -------------------------------------------------------------


class WorkerProcess:
    """The system's worker in a process of its own, reporting through a pipe."""

    def __init__(self, spec: Dict[str, Any], **worker_spec: Any) -> None:
        read_fd, write_fd = os.pipe()
        full = {
            "system": spec["system"],
            "url": spec["url"],
            "body_url": spec.get("body_url"),
            **worker_spec,
        }
        env = {**os.environ, "BENCH_FD": str(write_fd)}
        self.log_path = spec["log"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "benchkit.child", "worker", json.dumps(full)],
                pass_fds=(write_fd,),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        os.close(write_fd)
        self.inbox = Inbox(read_fd)
        self._exited = threading.Event()
        self.rusage: Optional[Any] = None
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self) -> None:
        _, status, rusage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self.rusage = rusage
        self._exited.set()

    def wait(self, timeout: float) -> Dict[str, Any]:
        """Wait for the exit; return the worker's peak RSS and CPU time.

        The peak RSS is the worker's own ``VmHWM``, sent as it exits: the
        ``ru_maxrss`` of a child also counts the memory of the process it
        was forked from before ``exec``, here the driver's.
        """
        deadline = time.monotonic() + timeout
        goodbye = self.inbox.get("exit", timeout)
        if not self._exited.wait(max(0.0, deadline - time.monotonic())):
            self.kill()
            raise MeasurementError(f"the worker did not exit within {timeout:.0f} s")
        assert self.rusage is not None
        return {
            "peak_rss_kib": goodbye["vmhwm_kib"],
            "cpu_s": self.rusage.ru_utime + self.rusage.ru_stime,
            "stop_forced": bool(goodbye.get("forced")),
            "stop_error": goodbye.get("stop_error"),
            "exit_code": self.process.returncode,
        }

    def kill(self) -> None:
        if not self._exited.is_set():
            try:
                os.kill(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._exited.wait(10)


# -- processing -----------------------------------------------------------------------


def process(adapter: Adapter, client: Any, spec: Dict[str, Any]) -> Dict[str, Any]:
    params = spec["params"]
    jobs = params["jobs"]
    kind = params.get("kind", "noop")
    filled = fill_queue(adapter, jobs, kind)
    enqueue_commands = command_counts(client)
    client.config_resetstat()
    worker = WorkerProcess(
        spec,
        mode="count",
        expected=jobs,
        concurrency=params["concurrency"],
        workers=params.get("workers", "threads"),
        kind=kind,
    )
    try:
        worker.inbox.get("ready", READY_TIMEOUT)
        done = worker.inbox.get("done", params["timeout"])
        ended = worker.wait(60)
    finally:
        worker.kill()
    commands = command_counts(client)
    bodies = {}
    if kind == "roundtrip":  # every body did its round trip, on the other server
        body_server = redis.Redis.from_url(spec["body_url"])
        bodies["body_round_trips"] = int(body_server.get(BODY_KEY) or 0)
        body_server.close()
    seconds = done["t_last"] - done["t_ready"]
    steady = done["t_last"] - done["t_first"]
    return {
        "jobs": jobs,
        "kind": kind,
        "concurrency": params["concurrency"],
        "workers": params.get("workers", "threads"),
        "fill": filled,
        "enqueue_commands_per_job": sum(enqueue_commands.values()) / jobs,
        "seconds": seconds,
        "jobs_per_s": jobs / seconds,
        "steady_jobs_per_s": (jobs - 1) / steady if steady > 0 else None,
        "first_job_after_s": done["t_first"] - done["t_ready"],
        "commands": commands,
        "commands_per_job": sum(commands.values()) / jobs,
        "cpu_us_per_job": ended["cpu_s"] / jobs * 1e6,
        **bodies,
        **ended,
    }


# -- idle ------------------------------------------------------------------------------


def idle(adapter: Adapter, client: Any, spec: Dict[str, Any]) -> Dict[str, Any]:
    """What a worker with nothing to do costs Redis (and its own CPU).

    Its start-up commands are left out: the window opens ``settle`` seconds
    after it is ready.  It then gets one job, to stop as in every other run.
    """
    params = spec["params"]
    worker = WorkerProcess(
        spec,
        mode="count",
        expected=1,
        concurrency=params["concurrency"],
        workers="threads",
        purpose="idle",
    )
    try:
        worker.inbox.get("ready", READY_TIMEOUT)
        time.sleep(params["settle"])  # a timed window: start-up traffic is over
        before = command_counts(client)
        cpu_before = process_cpu_seconds(worker.process.pid)
        started = time.monotonic()
        time.sleep(params["window"])  # the window itself
        commands = count_difference(command_counts(client), before)
        cpu_after = process_cpu_seconds(worker.process.pid)
        seconds = time.monotonic() - started
        adapter.enqueue_latency_probe()  # its one job: the probe is done, the worker stops
        worker.inbox.get("done", 60)
        ended = worker.wait(60)
    finally:
        worker.kill()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return {
        "concurrency": params["concurrency"],
        "settle_s": params["settle"],
        "window_s": seconds,
        "commands": commands,
        "commands_per_s": sum(commands.values()) / seconds,
        "cpu_ms_per_s": None if cpu is None else cpu / seconds * 1000,
        "peak_rss_kib": ended["peak_rss_kib"],
        "stop_forced": ended["stop_forced"],
        "stop_error": ended["stop_error"],
    }


def process_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU seconds of a running process (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- latency ------------------------------------------------------------------------------


def latency(adapter: Adapter, spec: Dict[str, Any]) -> Dict[str, Any]:
    params = spec["params"]
    samples, warmup, budget = params["samples"], params["warmup"], params["budget"]
    worker = WorkerProcess(
        spec,
        mode="each",
        expected=samples,
        warmup=warmup,
        concurrency=params["concurrency"],
        purpose="latency",
    )
    times: List[float] = []
    try:
        worker.inbox.get("ready", READY_TIMEOUT)
        for _ in range(warmup):
            adapter.enqueue_latency_probe()
            worker.inbox.get("warmup", 30)
        deadline = time.monotonic() + budget
        while len(times) < samples and time.monotonic() < deadline:
            sent = time.time()
            adapter.enqueue_latency_probe()
            started = worker.inbox.get("hit", 30)["t"]
            times.append(started - sent)
            time.sleep(LATENCY_GAP)  # pacing: the next job finds the worker idle
        if len(times) == samples:
            worker.inbox.get("done", 30)
            worker.wait(30)
    finally:
        worker.kill()
    ms = [t * 1000 for t in times]
    return {
        "samples": len(ms),
        "cut_short_by_budget": len(ms) < samples,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "latencies_ms": ms,
    }


# -- future jobs ------------------------------------------------------------------------------


def future(adapter: Adapter, spec: Dict[str, Any]) -> Dict[str, Any]:
    params = spec["params"]
    jobs, warmup = params["jobs"], 3
    worker = WorkerProcess(
        spec,
        mode="collect",
        expected=jobs,
        warmup=warmup,
        concurrency=params["concurrency"],
        workers="threads",
        purpose="future",
    )
    try:
        worker.inbox.get("ready", READY_TIMEOUT)
        for _ in range(warmup):  # the worker is up and idle before anything is scheduled
            adapter.enqueue_latency_probe()
            worker.inbox.get("warmup", 30)
        # A whole second: some libraries take due dates in whole seconds (SAQ).
        due = float(int(time.time() + params["lead"]) + 1)
        started = time.time()
        adapter.enqueue_future(jobs, due)
        enqueued = time.time()
        done = worker.inbox.get("done", due - time.time() + params["timeout"])
        worker.wait(60)
    finally:
        worker.kill()
    late_ms = [(t - due) * 1000 for t in done["starts"]]
    return {
        "jobs": jobs,
        "lead_s": due - started,
        "enqueue_seconds": enqueued - started,
        "enqueued_before_due_ms": (due - enqueued) * 1000,
        "first_ms": late_ms[0],
        "p50_ms": percentile(late_ms, 50),
        "p99_ms": percentile(late_ms, 99),
        "last_ms": late_ms[-1],
        "early": sum(1 for t in late_ms if t < 0),
    }
