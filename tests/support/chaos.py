"""A soak test of Spinach on Redis under faults: ``scripts/chaos``.

Worker processes (threaded and asyncio) run thousands of jobs of every kind
(retryable, non-retryable, future, periodic, limited by max_concurrency)
while the harness SIGKILLs and restarts workers, stops some with SIGTERM,
cuts every connection with CLIENT KILL, pauses the server with CLIENT
PAUSE, and crashes and restarts Redis once (AOF, appendfsync always).

Every execution is written by the tasks to a ledger on a separate Redis
server, which faults never touch.  At the end the ledger is checked:

- every retryable job ran at least once;
- no non-retryable job ran twice (one lost with a killed worker is reported
  failed with JobLostError instead);
- no job started before its date;
- no concurrency limit was exceeded;
- the periodic task ran about once per period, never twice for one period;
- every worker that was not killed is still alive.

Jobs are scheduled at a steady pace and spend a few milliseconds working,
so that faults hit work in flight.  Each SIGKILL is aimed: the harness
schedules a retryable and a non-retryable job that wait on a gate, and kills
the worker running the non-retryable one once both have started, so every
kill proves that a lost retryable job runs again and a lost non-retryable
one never does.

It prints those figures and exits with 1 on any violation.  ``--short`` runs
a few thousand jobs with one fault of each kind, for CI.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = HERE.parent / "faults" / "worker_app.py"
sys.path.insert(0, str(HERE))

from redis_server import RedisServer  # noqa: E402

THRESHOLD = 3.0  # broker_dead_threshold_seconds of the workers
PERIOD = 1.0  # of the periodic task
LIMIT = 2  # max_concurrency of the limited task


@dataclass
class Worker:
    process: subprocess.Popen[str]
    kind: str
    killed: bool = False  # SIGKILLed by the harness
    stopped: bool = False  # SIGTERMed by the harness


@dataclass
class Run:
    """What happened during the run."""

    scheduled: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    faults: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)


class Chaos:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.random = random.Random(args.seed)
        self.ledger_server = RedisServer(workdir / "ledger").start()
        self.server = RedisServer(workdir / "broker", appendonly=True, fsync_always=True).start()
        self.ledger = self.ledger_server.client(socket_timeout=None)
        self.key = "chaos"
        self.namespace = "chaos"
        self.logs = workdir / "logs"
        self.logs.mkdir()
        self.workers: list[Worker] = []
        self.run = Run()
        self.fault_engine: Any = None
        self.violations: list[str] = []

    # -- workers -------------------------------------------------------------

    def start_worker(self, kind: str) -> Worker:
        args = [sys.executable, str(APP), "--url", self.server.url,
                "--namespace", self.namespace, "--ledger-url", self.ledger_server.url,
                "--ledger", self.key, "--threshold", str(THRESHOLD),
                "--periodic", str(PERIOD), "--max-concurrency", str(LIMIT)]  # fmt: skip
        args += ["--asyncio", "--threads", "64"] if kind == "asyncio" else ["--threads", "4"]
        args += ["--work-ms", str(self.args.work_ms)]
        log = open(self.logs / f"worker{len(self.workers)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a worker did not start, see {log.name}")
        worker = Worker(process, kind)
        self.workers.append(worker)
        return worker

    def killed_pids(self) -> set[int]:
        return {w.process.pid for w in self.workers if w.killed}

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if not w.killed and not w.stopped]

    # -- jobs ----------------------------------------------------------------

    def engine(self) -> Any:
        from spinach import Engine, Tasks
        from spinach.brokers.redis import RedisBroker

        tasks = Tasks()
        for name, retries in (("record", 20), ("record_once", 0), ("arecord", 20),
                              ("hold", 3), ("hold_once", 0)):  # fmt: skip
            tasks.add(lambda n: None, name=name, max_retries=retries)
        tasks.add(lambda n: None, name="limited", max_retries=20, max_concurrency=LIMIT)
        spin = Engine(RedisBroker.from_url(self.server.url), namespace=self.namespace)
        spin.attach_tasks(tasks)
        return spin

    def schedule(self, total: int, stop: threading.Event) -> None:
        """Schedule ``total`` jobs in batches of 100, spread over the run."""
        from spinach import Batch

        spin = self.engine()
        kinds = ["record"] * 6 + ["record_once"] * 2 + ["limited", "arecord"]
        numbers = list(range(total))
        pause = self.args.schedule_over / max(1, total // 100)
        for start in range(0, total, 100):
            if start and stop.wait(pause):
                return
            batch = Batch()
            for n in numbers[start : start + 100]:
                task = kinds[n % len(kinds)]
                if n % 7 == 0:  # a future job, due within the next seconds
                    delay = timedelta(seconds=self.random.uniform(0.5, self.args.future_spread))
                    batch.schedule_at(task, spin.broker.clock.now() + delay, n)
                else:
                    batch.schedule(task, n)
                self.run.scheduled[task].add(n)
            spin.schedule_batch(batch)
            if start % 1000 == 0:
                spin.schedule("record", total + start)  # some one by one too
                self.run.scheduled["record"].add(total + start)

    # -- faults --------------------------------------------------------------

    def sigkill(self) -> None:
        """Kill the workers running two held jobs, then open the gates."""
        live = self.live_workers()
        if len(live) <= 2:
            return
        if self.fault_engine is None:
            self.fault_engine = self.engine()
        token = self.run.faults["SIGKILL a worker"] + 1
        events = f"{self.key}:events"
        self.ledger.delete(events)
        for task in ("hold", "hold_once"):
            self.fault_engine.schedule(task, token)
            self.run.scheduled[task].add(token)
        started: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while len(started) < 2 and time.monotonic() < deadline:
            popped = self.ledger.blpop([events], timeout=max(0.1, deadline - time.monotonic()))
            if popped:
                event, task, n, pid = popped[1].decode().split()
                if event == "start" and n == str(token):
                    started[task] = int(pid)
        if len(started) < 2:
            self.violations.append(f"held jobs {token} did not start within 30 s")
            victims = [self.random.choice(live)]
        else:  # one worker, or two when the held jobs started on different ones
            victims = [w for w in live if w.process.pid in started.values()]
        for victim in victims:
            victim.process.kill()
            victim.process.wait()
            victim.killed = True
        for _ in range(5):  # enough for every run of the held jobs
            self.ledger.rpush(f"{self.key}:gate:{token}", "go")
        self.run.faults["SIGKILL a worker"] += 1
        for victim in victims:
            self.start_worker(victim.kind)

    def sigterm(self) -> None:
        live = self.live_workers()
        if len(live) <= 2:
            return
        victim = self.random.choice(live)
        victim.stopped = True
        victim.process.send_signal(signal.SIGTERM)
        self.run.faults["SIGTERM a worker"] += 1
        self.start_worker(victim.kind)

    def client_kill(self) -> None:
        admin = self.server.client()
        admin.client_kill_filter(_type="normal", skipme=True)
        admin.client_kill_filter(_type="pubsub", skipme=True)
        self.run.faults["CLIENT KILL every connection"] += 1

    def client_pause(self) -> None:
        self.server.client().execute_command("CLIENT", "PAUSE", 400, "ALL")
        self.run.faults["CLIENT PAUSE 400 ms"] += 1

    def restart_redis(self) -> None:
        self.server.restart(kill=True)
        self.run.faults["Redis crash and restart (AOF)"] += 1

    # -- the run -------------------------------------------------------------

    def records(self) -> list[str]:
        return [r.decode() for r in self.ledger.lrange(self.key, 0, -1)]

    def done(self, records: list[str]) -> bool:
        ran = _events(records, "run")
        ended = ran | _events(records, "failed:JobLostError") | _events(records, "exit")
        ended |= _events(records, "end")
        for task, numbers in self.run.scheduled.items():
            seen = {n for t, n in ended if t == task}
            if not numbers <= seen:
                return False
        return True

    def execute(self) -> int:
        args = self.args
        for i in range(args.workers):
            self.start_worker("asyncio" if i % 2 else "threads")
        errors: list[BaseException] = []

        stop = threading.Event()

        def schedule() -> None:
            try:
                self.schedule(args.jobs, stop)
            except BaseException as exc:  # reported as a violation below
                errors.append(exc)

        scheduler = threading.Thread(target=schedule, name="chaos-scheduler")
        scheduler.start()
        faults = [self.sigkill, self.client_kill, self.client_pause, self.sigterm]
        restarted = False
        deadline = time.monotonic() + args.time_limit
        rounds = 0
        while time.monotonic() < deadline:
            if stop.wait(args.fault_every):  # pacing the faults
                break
            rounds += 1
            if not args.short or rounds <= len(faults):
                faults[(rounds - 1) % len(faults)]()
            if not restarted and rounds == 3:
                self.restart_redis()
                restarted = True
            if not scheduler.is_alive() and self.done(self.records()):
                break
        stop.set()
        scheduler.join()
        if self.fault_engine is not None:
            self.fault_engine.broker.stop()
        self.scheduling_errors = errors
        return self.report(self.records())

    def report(self, records: list[str]) -> int:
        elapsed = time.monotonic() - self.run.started
        violations = list(self.violations)
        ran = [(t, n) for t, n in _pairs(records, "run")]
        counts = Counter(ran)
        lost = _events(records, "failed:JobLostError")
        if not self.done(records):
            violations.append(f"jobs still unfinished after {elapsed:.0f} s (see below)")

        starts = Counter(_pairs(records, "start"))
        ends = _events(records, "end")
        pid_of = {(t, n): pid for t, n, pid in _triples(records, "start")}
        held = self.run.scheduled["hold"]
        held_unfinished = sorted(n for n in held if ("hold", n) not in ends)
        if held_unfinished:
            violations.append(f"held retryable jobs never finished: {held_unfinished}")
        held_rerun = sum(1 for n in held if starts[("hold", n)] > 1)
        killed = self.killed_pids()
        for n in self.run.scheduled["hold_once"]:
            job = ("hold_once", n)
            if starts[job] != 1:
                violations.append(f"held non-retryable job {n} started {starts[job]} times")
            elif pid_of[job] in killed and (job not in lost or job in ends):
                violations.append(f"held non-retryable job {n} of a killed worker not failed")
        early = sorted(set(_pairs(records, "early")))
        if early:
            violations.append(f"{len(early)} jobs started before their date, e.g. {early[:5]}")

        retryable = {("record", n) for n in self.run.scheduled["record"]}
        retryable |= {("arecord", n) for n in self.run.scheduled["arecord"]}
        never = sorted(retryable - set(counts))
        if never:
            violations.append(f"{len(never)} retryable jobs never ran, e.g. {never[:5]}")
        once = self.run.scheduled["record_once"]
        twice = sorted(n for n in once if counts[("record_once", n)] > 1)
        if twice:
            violations.append(f"{len(twice)} non-retryable jobs ran twice, e.g. {twice[:5]}")
        unaccounted = sorted(
            n for n in once if ("record_once", n) not in counts and ("record_once", n) not in lost
        )
        if unaccounted:
            violations.append(f"{len(unaccounted)} non-retryable jobs neither ran nor failed")

        limited_done = {n for t, n in _pairs(records, "exit") if t == "limited"}
        limited_missing = self.run.scheduled["limited"] - limited_done
        if limited_missing:
            violations.append(f"{len(limited_missing)} limited jobs never finished")
        peak = self.peak_concurrency(records)
        if peak > LIMIT:
            violations.append(f"max_concurrency {LIMIT} exceeded: {peak} at once")

        slots = [r.split()[2] for r in records if r.startswith("slot tick_")]
        duplicate_slots = [s for s, c in Counter(slots).items() if c > 1]
        if duplicate_slots:
            violations.append(f"periodic task ran twice for {len(duplicate_slots)} periods")
        periods = elapsed / PERIOD
        if len(set(slots)) < 0.6 * periods - 2:
            violations.append(f"periodic task ran {len(set(slots))} times in {periods:.0f} periods")

        for error in getattr(self, "scheduling_errors", []):
            violations.append(f"scheduling failed: {error!r}")
        dead = [w for w in self.live_workers() if w.process.poll() is not None]
        if dead:
            violations.append(f"{len(dead)} workers that were not killed died")
        stopped = [w for w in self.workers if w.stopped]
        unclean = [w for w in stopped if _exit_code(w.process) != 0]
        if unclean:
            violations.append(f"{len(unclean)} workers stopped with SIGTERM did not exit cleanly")

        total = sum(len(v) for v in self.run.scheduled.values())
        print(f"chaos: {total} jobs, {len(self.workers)} worker processes started, "
              f"{elapsed:.1f} s")  # fmt: skip
        for name, count in sorted(self.run.faults.items()):
            print(f"  fault  {name}: {count}")
        print(f"  retryable jobs: {len(retryable)}, ran at least once: "
              f"{len(retryable) - len(never)}, ran more than once: "
              f"{sum(1 for j in retryable if counts[j] > 1)}")  # fmt: skip
        print(f"  non-retryable jobs: {len(once)}, ran twice: {len(twice)}, "
              f"lost with a killed worker (failed, JobLostError): "
              f"{sum(1 for n in once if ('record_once', n) in lost)}")  # fmt: skip
        held_once = self.run.scheduled["hold_once"]
        held_lost = sum(1 for n in held_once if ("hold_once", n) in lost)
        held_twice = sum(1 for n in held_once if starts[("hold_once", n)] > 1)
        print(f"  SIGKILLed while running a held job: {len(held)} retryable, ran again: "
              f"{held_rerun}; {len(held_once)} non-retryable, failed with JobLostError: "
              f"{held_lost}, started twice: {held_twice}")  # fmt: skip
        print(f"  jobs started before their date: {len(early)}")
        print(f"  limited jobs: {len(self.run.scheduled['limited'])}, peak concurrency: "
              f"{peak} (limit {LIMIT})")  # fmt: skip
        print(f"  periodic task: {len(set(slots))} runs in {periods:.0f} periods, "
              f"{len(duplicate_slots)} periods run twice")  # fmt: skip
        print(f"  workers alive that were not killed: "
              f"{sum(1 for w in self.live_workers() if w.process.poll() is None)}, "
              f"stopped with SIGTERM and exited cleanly: "
              f"{len(stopped) - len(unclean)} of {len(stopped)}")  # fmt: skip
        for violation in violations:
            print(f"  VIOLATION: {violation}")
        print("chaos: OK" if not violations else f"chaos: {len(violations)} violations")
        return 1 if violations else 0

    def peak_concurrency(self, records: list[str]) -> int:
        """Jobs of the limited task running at once, from the ledger's order.

        A job whose worker was SIGKILLed never writes its exit: it is counted
        as ended when its worker died (the broker holds its slot longer, so
        this can only undercount the broker's view, never invent excess).
        """
        killed = self.killed_pids()
        open_by_pid: Counter[str] = Counter()
        peak = 0
        for record in records:
            parts = record.split()
            if len(parts) != 4 or parts[1] != "limited":
                continue
            event, pid = parts[0], parts[3]
            if event == "enter":
                open_by_pid[pid] += 1
            elif event == "exit":
                open_by_pid[pid] -= 1
            running = sum(c for p, c in open_by_pid.items() if int(p) not in killed)
            peak = max(peak, running)
        return peak

    def close(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        self.server.close()
        self.ledger_server.close()


def _pairs(records: list[str], event: str) -> list[tuple[str, int]]:
    pairs = []
    for record in records:
        parts = record.split()
        if len(parts) == 4 and parts[0] == event and parts[2].lstrip("-").isdigit():
            pairs.append((parts[1], int(parts[2])))
    return pairs


def _exit_code(process: subprocess.Popen[str]) -> int | None:
    """The exit code of a worker asked to stop, once it has finished its jobs."""
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return None


def _triples(records: list[str], event: str) -> list[tuple[str, int, int]]:
    """(task, token, pid) of the records of ``event``."""
    triples = []
    for record in records:
        parts = record.split()
        if len(parts) == 4 and parts[0] == event and parts[2].isdigit():
            triples.append((parts[1], int(parts[2]), int(parts[3])))
    return triples


def _events(records: list[str], event: str) -> set[tuple[str, int]]:
    return set(_pairs(records, event))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="a CI run: few jobs, one fault each")
    parser.add_argument("--jobs", type=int, default=None, help="jobs to schedule (20,000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (4)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds at most")
    parser.add_argument("--fault-every", type=float, default=None, help="seconds between faults")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (3000 if args.short else 20_000)
    args.time_limit = args.time_limit or (120 if args.short else 600)
    args.fault_every = args.fault_every or (1.0 if args.short else 2.0)
    args.future_spread = 4.0 if args.short else 15.0
    args.schedule_over = 4.0 if args.short else 90.0
    args.work_ms = 10.0
    with tempfile.TemporaryDirectory(prefix="spinach-chaos-") as workdir:
        chaos = Chaos(args, Path(workdir))
        try:
            return chaos.execute()
        finally:
            chaos.close()


if __name__ == "__main__":
    sys.exit(main())
