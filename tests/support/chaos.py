"""A soak test of Spinach on Redis under faults: ``scripts/chaos``.

Worker processes (threaded and asyncio) run thousands of jobs of every kind
(retryable, non-retryable, future, periodic, cron, limited by max_concurrency,
long) while the harness SIGKILLs and restarts workers, stops some with
SIGTERM, cuts every connection with CLIENT KILL, pauses the server with
CLIENT PAUSE, and crashes and restarts Redis once (AOF, appendfsync always).
It also runs Spinach the ways real deployments do (DESIGN.md, section 7):

- producers forked from the harness after it has built and used its Engine
  (as gunicorn --preload does) schedule part of the jobs, one by one and in
  batches, and tell the harness which;
- long jobs, working for three times the dead-worker threshold, are drained
  by a SIGTERM aimed at the workers running them;
- a CLIENT PAUSE two and a half times the threshold stops Redis while jobs
  of every kind, long ones included, run;
- two workers run with skewed clocks, one 30 s ahead and one 30 s behind.

Every execution is written by the tasks to a ledger on a separate Redis
server, which faults never touch; the harness adds a marker when it kills a
worker, and workers record their broker id and the workers they declare
dead.  The order of the ledger is the order of events, so the checks judge
who was alive when.  At the end the ledger is checked:

- every retryable job ran at least once, those of forked producers too;
- no non-retryable job ran twice (one lost with a killed worker is reported
  failed with JobLostError instead);
- no job ran again, or failed as lost, while the worker running it was
  alive (neither SIGKILLed nor exited yet);
- each long job drained by SIGTERM started once and finished, and its
  worker exited with 0;
- no worker was declared dead while it was alive, skewed ones included;
- no future job started before the date it was scheduled for, and no
  periodic job before its slot, by the machine's true clock;
- no concurrency limit was exceeded;
- the periodic task ran about once per period while Redis was not paused,
  never twice for one period, and the cron task (ticking as often) about
  once per tick, never twice for one tick;
- every worker that was not killed is still alive.

Jobs are scheduled at a steady pace and spend a few milliseconds working,
so that faults hit work in flight.  Each SIGKILL is aimed: the harness
schedules a retryable and a non-retryable job that wait on a gate, and kills
the worker running the non-retryable one once both have started, so every
kill proves that a lost retryable job runs again and a lost non-retryable
one never does.  The long SIGTERM and the long pause are aimed the same way
at a retryable and a non-retryable long job.

It prints those figures and exits with 1 on any violation.  ``--short`` runs
a few thousand jobs with one fault of each kind, for CI; ``--skip`` leaves a
new fault out, to see the others' violations alone.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
APP = HERE.parent / "faults" / "worker_app.py"
sys.path.insert(0, str(HERE))

from redis_server import RedisServer  # noqa: E402

THRESHOLD = 3.0  # broker_dead_threshold_seconds of the workers
PERIOD = 1.0  # of the periodic task
LIMIT = 2  # max_concurrency of the limited task
UNIQUE_KEYS = 5  # of the unique task: most of its jobs are refused as duplicates
RATE = "5/s"  # of the rate-limited task (worker_app.py's)
#: Starts of the rate-limited task are written by the task, a little after the
#: fetch that counted them: a window of the ledger's starts may be that shorter.
RATE_SLACK = 0.25


def unique_key(n: int) -> str:
    """The key of a job of the unique task (worker_app.py's, the same function)."""
    return f"k{n % UNIQUE_KEYS}"


LONG_SECONDS = 3 * THRESHOLD  # how long the long jobs work
LONG_PAUSE_MS = int(2.5 * THRESHOLD * 1000)  # the CLIENT PAUSE longer than the threshold
SHORT_PAUSE_MS = 400
SKEW = 30.0  # seconds the skewed workers' clocks are ahead and behind
FORKED_CHILDREN = 3  # producers forked per round
FORKED_ONE_BY_ONE = 20  # jobs each of them schedules one by one, then in batches:
FORKED_BATCHES = (40, 40)
BURST = 300  # jobs scheduled before the long pause, so that every kind runs during it
# Job numbers, apart from those of the steady scheduler (below 2 x --jobs).
FORKED_BASE = 10_000_000
BURST_BASE = 20_000_000

# The faults as printed; tests/chaos/test_chaos.py looks for these names.
SIGKILL = "SIGKILL a worker"
SIGTERM = "SIGTERM a worker"
CLIENT_KILL = "CLIENT KILL every connection"
CLIENT_PAUSE = f"CLIENT PAUSE {SHORT_PAUSE_MS} ms"
RESTART = "Redis crash and restart (AOF)"
FORK = "fork producers from a used Engine"
LONG_SIGTERM = "SIGTERM the workers running long jobs"
LONG_PAUSE = f"CLIENT PAUSE {LONG_PAUSE_MS} ms, longer than the threshold"
AHEAD = f"worker clock {SKEW:g} s ahead"
BEHIND = f"worker clock {SKEW:g} s behind"
#: The new faults that ``--skip`` can leave out.
OPTIONAL = ("fork", "long-sigterm", "long-pause", "skew")

Job = tuple[str, int]  # (task name, number) as the ledger names a job


@dataclass
class Worker:
    process: subprocess.Popen[str]
    kind: str
    skew: float = 0.0  # seconds its clock is ahead of the true time
    killed: bool = False  # SIGKILLed by the harness
    stopped: bool = False  # SIGTERMed by the harness


@dataclass
class Producer:
    """A producer process forked from the harness; it reports on a pipe."""

    pid: int
    fd: int
    output: bytes = b""


@dataclass
class Run:
    """What happened during the run."""

    scheduled: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    #: The date each future job was scheduled for, by the harness's true clock.
    due: dict[Job, float] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    paused: float = 0.0  # seconds Redis was paused
    forked: set[Job] = field(default_factory=set)  # jobs scheduled by forked producers
    forked_one_by_one: int = 0
    forked_processes: int = 0
    producer_errors: list[str] = field(default_factory=list)
    #: Tokens of the long jobs drained by SIGTERM, and of those run through the long pause.
    drained: list[int] = field(default_factory=list)
    draining: list[Worker] = field(default_factory=list)  # SIGTERMed while running them
    paused_long: list[int] = field(default_factory=list)
    #: The ids of the tracked jobs, and what cancel() answered for those cancelled.
    tracked: dict[Job, Any] = field(default_factory=dict)
    cancelled: dict[Job, str] = field(default_factory=dict)
    #: Jobs of the unique task refused because a live job held their key.
    duplicates: int = 0


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
        self.producer_engine: Any = None
        self.producers: list[Producer] = []
        self.long_tokens = itertools.count(1)
        self.violations: list[str] = []

    # -- workers -------------------------------------------------------------

    def start_worker(self, kind: str, skew: float = 0.0) -> Worker:
        args = [sys.executable, str(APP), "--url", self.server.url,
                "--namespace", self.namespace, "--ledger-url", self.ledger_server.url,
                "--ledger", self.key, "--threshold", str(THRESHOLD),
                "--periodic", str(PERIOD), "--cron-every", str(PERIOD),
                "--max-concurrency", str(LIMIT),
                "--chaos-records"]  # fmt: skip
        args += ["--asyncio", "--threads", "64"] if kind == "asyncio" else ["--threads", "4"]
        args += ["--work-ms", str(self.args.work_ms)]
        if skew:
            args += ["--skew", str(skew)]
        name = f"worker{len(self.workers)}" + (f"-skew{skew:+g}" if skew else "")
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a worker did not start, see {log.name}")
        worker = Worker(process, kind, skew)
        self.workers.append(worker)
        return worker

    def killed_pids(self) -> set[int]:
        return {w.process.pid for w in self.workers if w.killed}

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if not w.killed and not w.stopped]

    def kill(self, worker: Worker) -> None:
        """SIGKILL a worker, and mark its death in the ledger's order of events."""
        worker.process.kill()
        worker.process.wait()
        worker.killed = True
        self.ledger.rpush(self.key, f"killed worker - {worker.process.pid}")

    # -- jobs ----------------------------------------------------------------

    def engine(self) -> Any:
        from spinach import Engine, Tasks
        from spinach.brokers.redis import RedisBroker

        tasks = Tasks()
        for name, retries in (("record", 20), ("record_once", 0), ("arecord", 20),
                              ("hold", 3), ("hold_once", 0)):  # fmt: skip
            tasks.add(lambda n: None, name=name, max_retries=retries)
        tasks.add(lambda n: None, name="limited", max_retries=20, max_concurrency=LIMIT)
        tasks.add(lambda n: None, name="tracked", max_retries=20, track=True, store_result=True)
        tasks.add(lambda n: None, name="tracked_once", max_retries=0, track=True)
        tasks.add(lambda n: None, name="unique_record", max_retries=20, unique=unique_key)
        tasks.add(lambda n: None, name="rated", max_retries=20, rate_limit=RATE)
        tasks.add(lambda n, seconds: None, name="long", max_retries=3)
        tasks.add(lambda n, seconds: None, name="long_once", max_retries=0)
        spin = Engine(RedisBroker.from_url(self.server.url), namespace=self.namespace)
        spin.attach_tasks(tasks)
        return spin

    def schedule(self, total: int, stop: threading.Event) -> None:
        """Schedule ``total`` jobs in batches of 100, spread over the run."""
        spin = self.engine()
        numbers = list(range(total))
        pause = self.args.schedule_over / max(1, total // 100)
        for start in range(0, total, 100):
            if start and stop.wait(pause):
                return
            self.schedule_mix(spin, numbers[start : start + 100], self.args.future_spread)
            if start % 1000 == 0:
                spin.schedule("record", total + start)  # some one by one too
                self.run.scheduled["record"].add(total + start)

    def schedule_mix(self, spin: Any, numbers: list[int], spread: float) -> None:
        """Schedule one batch of jobs of every kind; every 7th is due within ``spread`` s."""
        from spinach import Batch

        kinds = ["record"] * 6 + ["record_once"] * 2 + ["limited", "arecord"]
        kinds += ["tracked", "tracked_once"]
        batch = Batch()
        for n in numbers:
            task = "unique_record" if n % 11 == 5 else kinds[n % len(kinds)]
            task = "rated" if n % 61 == 3 else task
            if n % 7 == 0:  # a future job, due within the next seconds
                delay = timedelta(seconds=self.random.uniform(0.5, spread))
                batch.schedule_at(task, spin.broker.clock.now() + delay, n)
            else:
                batch.schedule(task, n)
        jobs = spin.schedule_batch(batch)
        for job, n in zip(jobs, numbers):
            if job.duplicate:  # a live job holds its key: nothing was scheduled
                self.run.duplicates += 1
                continue
            self.run.scheduled[job.task_name].add(n)
            if n % 7 == 0:
                self.run.due[(job.task_name, n)] = job.at_timestamp
            if job.track:
                self.run.tracked[(job.task_name, n)] = job.id
        # Cancel some tracked jobs at once, queued or due later: one cancelled
        # before it started must never run, whatever the faults.
        doomed = [
            job for job, n in zip(jobs, numbers) if job.track and n % 13 == 0 and not job.duplicate
        ]
        for job, status in zip(doomed, spin.cancel_jobs(doomed) if doomed else []):
            self.run.cancelled[(job.task_name, job.task_args[0])] = status.name

    def wait_for_starts(
        self, tasks: tuple[str, ...], token: int, run: Callable[[str, int], bool] | None = None
    ) -> dict[str, int] | None:
        """The pids of the workers that started ``tasks`` with ``token``.

        With ``run``, also wait for one "run" record for which it is true.
        None if that did not happen within 30 s.
        """
        events = f"{self.key}:events"
        started: dict[str, int] = {}
        waiting_run = run is not None
        deadline = time.monotonic() + 30
        while (len(started) < len(tasks) or waiting_run) and time.monotonic() < deadline:
            popped = self.ledger.blpop([events], timeout=max(0.1, deadline - time.monotonic()))
            if not popped:
                continue
            event, task, n, pid = popped[1].decode().split()
            if event == "start" and task in tasks and n == str(token):
                started[task] = int(pid)
            elif event == "run" and run is not None and n.isdigit() and run(task, int(n)):
                waiting_run = False
        if len(started) < len(tasks) or waiting_run:
            return None
        return started

    def fault_spin(self) -> Any:
        if self.fault_engine is None:
            self.fault_engine = self.engine()
        return self.fault_engine

    # -- faults --------------------------------------------------------------

    def sigkill(self) -> None:
        """Kill the workers running two held jobs, then open the gates."""
        live = self.live_workers()
        if len(live) <= 2:
            return
        spin = self.fault_spin()
        token = self.run.faults[SIGKILL] + 1
        self.ledger.delete(f"{self.key}:events")
        for task in ("hold", "hold_once"):
            spin.schedule(task, token)
            self.run.scheduled[task].add(token)
        started = self.wait_for_starts(("hold", "hold_once"), token)
        if started is None:
            self.violations.append(f"held jobs {token} did not start within 30 s")
            victims = [self.random.choice(live)]
        else:  # one worker, or two when the held jobs started on different ones
            victims = [w for w in live if w.process.pid in started.values()]
        for victim in victims:
            self.kill(victim)
        for _ in range(5):  # enough for every run of the held jobs
            self.ledger.rpush(f"{self.key}:gate:{token}", "go")
        self.run.faults[SIGKILL] += 1
        for victim in victims:
            self.start_worker(victim.kind, victim.skew)

    def sigterm(self) -> None:
        live = self.live_workers()
        if len(live) <= 2:
            return
        victim = self.random.choice(live)
        victim.stopped = True
        victim.process.send_signal(signal.SIGTERM)
        self.run.faults[SIGTERM] += 1
        self.start_worker(victim.kind, victim.skew)

    def client_kill(self) -> None:
        admin = self.server.client()
        admin.client_kill_filter(_type="normal", skipme=True)
        admin.client_kill_filter(_type="pubsub", skipme=True)
        self.run.faults[CLIENT_KILL] += 1

    def client_pause(self) -> None:
        self.server.client().execute_command("CLIENT", "PAUSE", SHORT_PAUSE_MS, "ALL")
        self.run.paused += SHORT_PAUSE_MS / 1000
        self.run.faults[CLIENT_PAUSE] += 1

    def restart_redis(self) -> None:
        self.server.restart(kill=True)
        self.run.faults[RESTART] += 1

    def start_long_jobs(self, burst: range | None = None) -> tuple[int, dict[str, int] | None]:
        """Schedule a retryable and a non-retryable long job; wait until both run.

        With ``burst``, also schedule jobs of every kind numbered from it
        (every 7th due within 3 s), and wait until one of them has run.
        """
        spin = self.fault_spin()
        token = next(self.long_tokens)
        self.ledger.delete(f"{self.key}:events")
        for task in ("long", "long_once"):
            spin.schedule(task, token, LONG_SECONDS)
            self.run.scheduled[task].add(token)
        if burst is None:
            return token, self.wait_for_starts(("long", "long_once"), token)
        self.schedule_mix(spin, list(burst), spread=3.0)
        return token, self.wait_for_starts(("long", "long_once"), token, lambda t, n: n in burst)

    def long_sigterm(self) -> None:
        """SIGTERM the workers running long jobs: they must finish them, then exit 0."""
        live = self.live_workers()
        if len(live) <= 2:
            return
        token, started = self.start_long_jobs()
        if started is None:
            self.violations.append(f"long jobs {token} did not start within 30 s")
            return
        victims = [w for w in live if w.process.pid in started.values()]
        for victim in victims:
            victim.stopped = True
            victim.process.send_signal(signal.SIGTERM)
        self.run.drained.append(token)
        self.run.draining += victims
        self.run.faults[LONG_SIGTERM] += 1
        for victim in victims:
            self.start_worker(victim.kind, victim.skew)

    def long_pause(self) -> None:
        """Pause Redis for longer than the threshold while jobs of every kind run.

        Two long jobs run through it; a burst of jobs of every kind, some due
        during the pause, is being worked on when it starts.
        """
        first = BURST_BASE + self.run.faults[LONG_PAUSE] * 10_000
        token, started = self.start_long_jobs(burst=range(first, first + BURST))
        if started is None:
            self.violations.append(f"long jobs {token} did not start within 30 s")
            return
        self.server.client().execute_command("CLIENT", "PAUSE", LONG_PAUSE_MS, "ALL")
        self.run.paused += LONG_PAUSE_MS / 1000
        self.run.paused_long.append(token)
        self.run.faults[LONG_PAUSE] += 1

    # -- forked producers ----------------------------------------------------

    def fork_producers(self) -> None:
        """Fork producers from an Engine the harness has built and used.

        As with gunicorn --preload: the parent builds the Engine and uses it
        (its broker has connected and counted calls), then forks children
        that schedule with it, one by one and in batches; the parent goes on
        using it too.  Each child reports every job it scheduled on a pipe.
        """
        if self.producer_engine is None:
            self.producer_engine = self.engine()
        spin = self.producer_engine
        base = FORKED_BASE + self.run.faults[FORK] * 10_000
        self.schedule_forked(spin, [base])  # used before the fork
        sys.stdout.flush()
        sys.stderr.flush()
        for child in range(FORKED_CHILDREN):
            first = base + 1 + child * 1000
            numbers = list(range(first, first + FORKED_ONE_BY_ONE + sum(FORKED_BATCHES)))
            read_fd, write_fd = os.pipe()
            with warnings.catch_warnings():
                # Forking a process that runs threads is what is being tested.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: never returns, never runs the parent's clean-ups
                status = 1
                try:
                    os.close(read_fd)
                    self.produce(spin, numbers, write_fd)
                    status = 0
                except BaseException as exc:
                    os.write(write_fd, f"error {exc!r}\n".encode())
                finally:
                    os._exit(status)
            os.close(write_fd)
            self.producers.append(Producer(pid, read_fd))
            self.run.forked_processes += 1
        self.schedule_forked(spin, [base + 999])  # and after it
        self.run.faults[FORK] += 1

    def produce(self, spin: Any, numbers: list[int], fd: int) -> None:
        """In a forked child: schedule ``numbers``, reporting each job once accepted."""
        from spinach import Batch

        rng = random.Random(numbers[0])

        def report(jobs: list[Any], numbers: list[int]) -> None:
            lines = (f"{job.task_name} {n} {job.at_timestamp!r}\n" for job, n in zip(jobs, numbers))
            os.write(fd, "".join(lines).encode())

        def when(n: int) -> Any:
            delay = timedelta(seconds=rng.uniform(0.5, 3.0))
            return spin.broker.clock.now() + delay if _forked_future(n) else None

        one_by_one = numbers[:FORKED_ONE_BY_ONE]
        for n in one_by_one:
            task = _forked_task(n)
            at = when(n)
            job = spin.schedule(task, n) if at is None else spin.schedule_at(task, at, n)
            report([job], [n])
        start = FORKED_ONE_BY_ONE
        for size in FORKED_BATCHES:
            chunk = numbers[start : start + size]
            start += size
            batch = Batch()
            for n in chunk:
                at = when(n)
                if at is None:
                    batch.schedule(_forked_task(n), n)
                else:
                    batch.schedule_at(_forked_task(n), at, n)
            report(spin.schedule_batch(batch), chunk)

    def schedule_forked(self, spin: Any, numbers: list[int]) -> None:
        """The parent's own use of the producers' Engine."""
        for n in numbers:
            job = spin.schedule(_forked_task(n), n)
            self.note_forked(job.task_name, n, None, one_by_one=True)

    def note_forked(self, task: str, n: int, at: float | None, one_by_one: bool) -> None:
        self.run.scheduled[task].add(n)
        self.run.forked.add((task, n))
        if one_by_one:
            self.run.forked_one_by_one += 1
        if at is not None:
            self.run.due[(task, n)] = at

    def collect_producers(self, timeout: float) -> None:
        """Read what the producers reported; reap those that have exited."""
        deadline = time.monotonic() + timeout
        while self.producers:
            by_fd = {p.fd: p for p in self.producers}
            wait = max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select(list(by_fd), [], [], wait)
            if not readable:
                return
            for fd in readable:
                producer = by_fd[fd]
                data = os.read(fd, 65536)
                if data:
                    producer.output += data
                    continue
                os.close(fd)  # end of file: the child has exited
                _, status = os.waitpid(producer.pid, 0)
                self.producers.remove(producer)
                self.merge_producer(producer, os.waitstatus_to_exitcode(status))

    def merge_producer(self, producer: Producer, code: int) -> None:
        for i, line in enumerate(producer.output.decode().splitlines()):
            if line.startswith("error "):
                self.run.producer_errors.append(f"forked producer {producer.pid}: {line[6:]}")
                continue
            task, n, at = line.split()
            number = int(n)
            due = float(at) if _forked_future(number) else None
            self.note_forked(task, number, due, one_by_one=i < FORKED_ONE_BY_ONE)
        if code != 0:
            self.run.producer_errors.append(f"forked producer {producer.pid} exited with {code}")

    def end_producers(self) -> None:
        self.collect_producers(timeout=60)
        for producer in self.producers:
            self.violations.append(f"forked producer {producer.pid} did not finish within 60 s")
            os.kill(producer.pid, signal.SIGKILL)
            os.waitpid(producer.pid, 0)
            os.close(producer.fd)
        self.producers = []

    # -- the run -------------------------------------------------------------

    def records(self) -> list[str]:
        return [r.decode() for r in self.ledger.lrange(self.key, 0, -1)]

    def done(self, records: list[str]) -> bool:
        if self.producers:
            return False
        ran = _events(records, "run")
        ended = ran | _events(records, "failed:JobLostError") | _events(records, "exit")
        ended |= _events(records, "end")
        ended |= {job for job, status in self.run.cancelled.items() if status == "CANCELLED"}
        for task, numbers in self.run.scheduled.items():
            seen = {n for t, n in ended if t == task}
            if not numbers <= seen:
                return False
        return True

    def execute(self) -> int:
        args = self.args
        for i in range(args.workers):
            self.start_worker("asyncio" if i % 2 else "threads")
        if "skew" not in args.skip:
            self.start_worker("threads", SKEW)
            self.run.faults[AHEAD] += 1
            self.start_worker("asyncio", -SKEW)
            self.run.faults[BEHIND] += 1
        errors: list[BaseException] = []

        stop = threading.Event()

        def schedule() -> None:
            try:
                self.schedule(args.jobs, stop)
            except BaseException as exc:  # reported as a violation below
                errors.append(exc)

        scheduler = threading.Thread(target=schedule, name="chaos-scheduler")
        scheduler.start()
        optional = {
            self.fork_producers: "fork",
            self.long_pause: "long-pause",
            self.long_sigterm: "long-sigterm",
        }
        faults = [self.sigkill, self.fork_producers, self.client_kill, self.long_pause,
                  self.client_pause, self.sigterm, self.long_sigterm]  # fmt: skip
        faults = [f for f in faults if optional.get(f) not in args.skip]
        adding = {self.sigkill, self.fork_producers, self.long_pause, self.long_sigterm}
        restarted = False
        deadline = time.monotonic() + args.time_limit
        rounds = 0
        while time.monotonic() < deadline:
            if stop.wait(args.fault_every):  # pacing the faults
                break
            rounds += 1
            fault = faults[(rounds - 1) % len(faults)]
            if rounds <= len(faults):
                fault()  # each fault at least once
            elif not args.short and (scheduler.is_alive() or fault not in adding):
                fault()  # once the scheduling is over, no new jobs: let the run end
            if not restarted and fault == self.client_kill:
                self.restart_redis()
                restarted = True
            self.collect_producers(timeout=0)
            if not scheduler.is_alive() and self.done(self.records()):
                break
        stop.set()
        scheduler.join()
        self.end_producers()
        for spin in (self.fault_engine, self.producer_engine):
            if spin is not None:
                spin.broker.stop()
        self.scheduling_errors = errors
        return self.report(self.records())

    # -- the checks ----------------------------------------------------------

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
        early, periodic_early, redated = self.early_starts()
        if early:
            violations.append(f"{len(early)} jobs started before their date, e.g. {early[:5]}")
        if periodic_early:
            violations.append(f"{len(periodic_early)} periodic jobs started before their slot, "
                              f"e.g. {periodic_early[:3]}")  # fmt: skip

        forked = self.run.forked
        retryable = {("record", n) for n in self.run.scheduled["record"]}
        retryable |= {("arecord", n) for n in self.run.scheduled["arecord"]}
        never = sorted(retryable - set(counts) - forked)
        if never:
            violations.append(f"{len(never)} retryable jobs never ran, e.g. {never[:5]}")
        once = self.run.scheduled["record_once"]
        twice = sorted(n for n in once if counts[("record_once", n)] > 1)
        if twice:
            violations.append(f"{len(twice)} non-retryable jobs ran twice, e.g. {twice[:5]}")
        unaccounted = sorted(
            n for n in once if ("record_once", n) not in counts and ("record_once", n) not in lost
        )
        forked_unaccounted = [n for n in unaccounted if ("record_once", n) in forked]
        unaccounted = [n for n in unaccounted if ("record_once", n) not in forked]
        if unaccounted:
            violations.append(f"{len(unaccounted)} non-retryable jobs neither ran nor failed")
        forked_never = sorted(j for j in forked & retryable if j not in counts)
        forked_never += [("record_once", n) for n in forked_unaccounted]
        if forked_never:
            violations.append(f"{len(forked_never)} of the {len(forked)} jobs scheduled by forked "
                              f"producers never ran, e.g. {forked_never[:5]}")  # fmt: skip
        violations += self.run.producer_errors

        unique = {("unique_record", n) for n in self.run.scheduled["unique_record"]}
        unique_never = sorted(unique - set(counts) - set(self.run.cancelled))
        if unique_never:
            violations.append(f"{len(unique_never)} unique jobs never ran, e.g. {unique_never[:5]}")
        keys_left = self.server.client(socket_timeout=10).hlen(f"{{{self.namespace}}}:unique")
        if keys_left and self.done(records):
            violations.append(f"{keys_left} unique keys left behind by jobs that all ended")

        rated = self.run.scheduled["rated"]
        rated_never = sorted(n for n in rated if ("rated", n) not in counts)
        if rated_never:
            violations.append(f"{len(rated_never)} rate-limited jobs never ran")
        rated_starts = sorted(float(r.split()[1]) for r in records if r.startswith("rated_at "))
        most_in_a_second = max(
            (sum(1 for t in rated_starts[i:] if t - start < 1 - RATE_SLACK)
             for i, start in enumerate(rated_starts)),
            default=0,
        )  # fmt: skip
        if most_in_a_second > 5:
            violations.append(f"rate limit {RATE} exceeded: {most_in_a_second} starts in a second")

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
        periods = (elapsed - self.run.paused) / PERIOD  # no job runs while Redis is paused
        if len(set(slots)) < 0.6 * periods - 2:
            violations.append(f"periodic task ran {len(set(slots))} times in {periods:.0f} periods")
        ticks = [r.split()[2] for r in records if r.startswith("slot cron_")]
        duplicate_ticks = [t for t, c in Counter(ticks).items() if c > 1]
        if duplicate_ticks:
            violations.append(f"cron task ran twice for {len(duplicate_ticks)} ticks")
        if len(set(ticks)) < 0.6 * periods - 2:
            violations.append(f"cron task ran {len(set(ticks))} times in {periods:.0f} ticks")

        timeline = Timeline(records)
        taken, lost_alive = timeline.taken_over()
        if taken:
            violations.append(f"{len(taken)} jobs ran again while the worker that ran them was "
                              f"alive (taken over), e.g. {taken[:5]}")  # fmt: skip
        if lost_alive:
            violations.append(f"{len(lost_alive)} jobs failed with JobLostError while their "
                              f"worker was alive, e.g. {lost_alive[:5]}")  # fmt: skip
        declared = timeline.declared_dead_alive()
        if declared:
            skewed = {w.process.pid: w.skew for w in self.workers if w.skew}
            named = [f"{pid}" + (f" (clock {skewed[pid]:+g} s)" if pid in skewed else "")
                     for pid in sorted(declared)]  # fmt: skip
            times = sum(declared.values())
            violations.append(f"{len(declared)} workers declared dead while alive ({times} "
                              f"times): {', '.join(named[:8])}")  # fmt: skip
        if killed and lost and not timeline.deaths:
            violations.append("killed workers' jobs were recovered but no worker recorded "
                              "declaring one dead: worker_app's DeathWatch no longer matches "
                              "the broker's log line")  # fmt: skip

        record_figures, record_violations = self.check_records(counts, lost)
        violations += record_violations
        long_figures, long_violations = self.check_long_jobs(records)
        violations += long_violations
        stranded = self.stranded_jobs(timeline)

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
              f"{sum(1 for j in retryable if j in counts)}, "
              f"ran more than once: {sum(1 for j in retryable if counts[j] > 1)}")  # fmt: skip
        print(f"  non-retryable jobs: {len(once)}, ran twice: {len(twice)}, "
              f"failed with JobLostError: "
              f"{sum(1 for n in once if ('record_once', n) in lost)}")  # fmt: skip
        held_once = self.run.scheduled["hold_once"]
        held_lost = sum(1 for n in held_once if ("hold_once", n) in lost)
        held_twice = sum(1 for n in held_once if starts[("hold_once", n)] > 1)
        print(f"  SIGKILLed while running a held job: {len(held)} retryable, ran again: "
              f"{held_rerun}; {len(held_once)} non-retryable, failed with JobLostError: "
              f"{held_lost}, started twice: {held_twice}")  # fmt: skip
        print(f"  forked producers: {self.run.forked_processes} processes, "
              f"{len(forked)} jobs scheduled ({self.run.forked_one_by_one} one by one, "
              f"{len(forked) - self.run.forked_one_by_one} in batches), "
              f"never ran: {len(forked_never)}")  # fmt: skip
        for line in record_figures + long_figures:
            print(f"  {line}")
        print(f"  jobs taken over from a live worker: {len(taken)}, failed with "
              f"JobLostError while their worker was alive: {len(lost_alive)}")  # fmt: skip
        skewed_workers = [w for w in self.workers if w.skew]
        skewed_dead = sum(1 for w in skewed_workers if w.process.pid in declared)
        print(f"  workers declared dead while alive: {len(declared)} "
              f"({skewed_dead} of the {len(skewed_workers)} with a skewed clock); "
              f"declared dead without a known identity: {timeline.unknown_deaths()}")  # fmt: skip
        print(f"  jobs left running on workers that are no longer registered (never "
              f"recovered): {sum(stranded.values())}"
              + (f", by pid: {dict(stranded)}" if stranded else ""))  # fmt: skip
        print(f"  jobs started before their date: {len(early)}, periodic jobs before their "
              f"slot: {len(periodic_early)} (not counted: {redated} jobs dated 'now' by the "
              f"skewed clock of a worker that enqueued them again)")  # fmt: skip
        print(f"  limited jobs: {len(self.run.scheduled['limited'])}, peak concurrency: "
              f"{peak} (limit {LIMIT})")  # fmt: skip
        print(f"  periodic task: {len(set(slots))} runs in {periods:.0f} periods "
              f"(Redis paused {self.run.paused:.1f} s), "
              f"{len(duplicate_slots)} periods run twice")  # fmt: skip
        print(f"  cron task: {len(set(ticks))} runs in {periods:.0f} ticks, "
              f"{len(duplicate_ticks)} ticks run twice")  # fmt: skip
        print(f"  rate-limited jobs ({RATE}): {len(rated)}, never ran: {len(rated_never)}, "
              f"most starts in a second: {most_in_a_second}")  # fmt: skip
        print(f"  unique jobs: {len(unique)} accepted, {self.run.duplicates} refused as "
              f"duplicates, never ran: {len(unique_never)}, keys left: {keys_left}")  # fmt: skip
        print(f"  workers alive that were not killed: "
              f"{sum(1 for w in self.live_workers() if w.process.poll() is None)}, "
              f"stopped with SIGTERM and exited cleanly: "
              f"{len(stopped) - len(unclean)} of {len(stopped)}")  # fmt: skip
        for violation in violations:
            print(f"  VIOLATION: {violation}")
        print("chaos: OK" if not violations else f"chaos: {len(violations)} violations")
        return 1 if violations else 0

    def stranded_jobs(self, timeline: Timeline) -> Counter[int | str]:
        """Jobs recorded as running on a worker missing from the namespace's workers.

        Nobody ever recovers them: a worker taken for dead (and removed) that
        goes on fetching, then dies, leaves its jobs there.  By pid, or by
        broker id if the ledger does not name it.
        """
        broker = self.server.client(socket_timeout=10)
        prefix = f"{{{self.namespace}}}:"
        registered = {m.decode() for m in broker.zrange(f"{prefix}brokers", 0, -1)}
        stranded: Counter[int | str] = Counter()
        for key in broker.scan_iter(match=f"{prefix}running:*", count=1000):
            broker_id = key.decode()[len(f"{prefix}running:") :]
            if broker_id not in registered:
                owner = timeline.identity.get(broker_id[:8], broker_id[:8])
                stranded[owner] += broker.hlen(key)
        return stranded

    def early_starts(self) -> tuple[list[Job], list[str], int]:
        """Jobs started before their date, by the machine's true clock.

        Workers record every job starting before the date in its payload.
        A job the harness (or a forked producer) scheduled for a date is
        early if it started before that date; a periodic job if it started
        before its slot.  Other dates are "now" as seen by whichever process
        enqueued the job again (e.g. a worker adopting the jobs of a dead
        one): a skewed clock makes such a date later than the true time, but
        the job was due at once, so it is counted apart, not as a violation.
        """
        early: set[Job] = set()
        periodic: list[str] = []
        redated = 0
        for raw in self.ledger.lrange(f"{self.key}:early", 0, -1):
            task, token, at, started, _pid = raw.decode().split()
            if task.startswith(("tick_", "cron_")):
                if float(started) < float(at) - 0.001:
                    periodic.append(f"{task} at {float(at) - float(started):.1f} s before")
                continue
            due = self.run.due.get((task, int(token))) if token.isdigit() else None
            if due is None:
                redated += 1
            elif float(started) < due - 0.001:
                early.add((task, int(token)))
        return sorted(early), periodic, redated

    def check_records(self, counts: Counter[Job], lost: set[Job]) -> tuple[list[str], list[str]]:
        """Every tracked job's record says what the ledger says happened to it."""
        from spinach import JobStatus

        spin = self.engine()
        wrong: list[str] = []
        cancelled_ran = []
        statuses: Counter[str] = Counter()
        for job, job_id in sorted(self.run.tracked.items()):
            record = spin.get_job(job_id)
            if record is None:
                wrong.append(f"{job}: no record")
                continue
            statuses[record.status.name] += 1
            answer = self.run.cancelled.get(job)
            if answer == "CANCELLED":
                if counts[job]:
                    cancelled_ran.append(job)
                elif record.status is not JobStatus.CANCELLED:
                    wrong.append(f"{job}: cancelled, record says {record.status.name}")
                continue
            if job in lost and job[0] == "tracked_once":
                failed = spin.get_failed_job(job_id)
                if record.status is not JobStatus.FAILED or record.error is None:
                    wrong.append(f"{job}: lost with its worker, record says {record.status.name}")
                elif record.error.type != "spinach.exc.JobLostError" or failed is None:
                    wrong.append(f"{job}: lost, but error {record.error.type}, failed entry "
                                 f"{failed is not None}")  # fmt: skip
                continue
            if not counts[job]:
                if record.status is not JobStatus.CANCELLED:  # a cancel that came in time
                    wrong.append(f"{job}: never ran, record says {record.status.name}")
                continue
            if record.status is not JobStatus.SUCCEEDED:
                wrong.append(f"{job}: ran, record says {record.status.name}")
            elif job[0] == "tracked" and record.result(timeout=0) != job[1]:
                wrong.append(f"{job}: its stored result is not {job[1]}")
        violations = []
        if wrong:
            violations.append(f"{len(wrong)} job records disagree with the ledger, e.g. "
                              f"{wrong[:5]}")  # fmt: skip
        if cancelled_ran:
            violations.append(f"{len(cancelled_ran)} jobs cancelled before they started ran "
                              f"anyway, e.g. {cancelled_ran[:5]}")  # fmt: skip
        answers = Counter(self.run.cancelled.values())
        figures = [
            f"tracked jobs: {len(self.run.tracked)}, records by status: "
            f"{dict(sorted(statuses.items()))}, disagreeing with the ledger: {len(wrong)}",
            f"cancelled: {len(self.run.cancelled)} ({dict(sorted(answers.items()))}), "
            f"ran after CANCELLED: {len(cancelled_ran)}",
        ]
        return figures, violations

    def check_long_jobs(self, records: list[str]) -> tuple[list[str], list[str]]:
        """Long jobs: those drained by SIGTERM, and those run through the long pause.

        Every long job must finish (a non-retryable one may fail with
        JobLostError only if its worker was killed: see Timeline); a job
        drained by SIGTERM must start once and finish, and its worker exit 0.
        """
        starts = Counter(_pairs(records, "start"))
        ends = _events(records, "end")
        lost = _events(records, "failed:JobLostError")
        violations: list[str] = []
        for n in sorted(self.run.scheduled["long"]):
            if ("long", n) not in ends:
                violations.append(f"long retryable job {n} never finished")
        for n in sorted(self.run.scheduled["long_once"]):
            job = ("long_once", n)
            if job not in ends and job not in lost:
                violations.append(f"long non-retryable job {n} neither finished nor failed")
            if starts[job] > 1:
                violations.append(f"long non-retryable job {n} started {starts[job]} times")

        def once_and_finished(job: Job) -> bool:
            return starts[job] == 1 and job in ends and job not in lost

        drained = [(task, n) for n in self.run.drained for task in ("long", "long_once")]
        for job in drained:
            if not once_and_finished(job):
                violations.append(f"{job[0]} job {job[1]} drained by SIGTERM started "
                                  f"{starts[job]} times, finished: {job in ends}, failed "
                                  f"with JobLostError: {job in lost}")  # fmt: skip
        codes = [_exit_code(w.process) for w in self.run.draining]
        if any(code != 0 for code in codes):
            violations.append(f"workers draining long jobs exited with {codes}")
        paused = [(task, n) for n in self.run.paused_long for task in ("long", "long_once")]
        figures = [
            f"long jobs ({LONG_SECONDS:g} s, threshold {THRESHOLD:g} s) drained by SIGTERM: "
            f"{len(drained)}, started once and finished: "
            f"{sum(map(once_and_finished, drained))}, their workers exited with 0: "
            f"{codes.count(0)} of {len(codes)}",
            f"long jobs run through the long pause: {len(paused)}, started once and finished: "
            f"{sum(map(once_and_finished, paused))}",
        ]
        return figures, violations

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

    def dump(self, folder: Path) -> None:
        """Write the ledger and the broker's keys next to the worker logs."""
        (folder / "ledger.txt").write_text("\n".join(self.records()) + "\n")
        early = [r.decode() for r in self.ledger.lrange(f"{self.key}:early", 0, -1)]
        (folder / "early.txt").write_text("\n".join(early) + "\n")
        broker = self.server.client(socket_timeout=10)
        lines = []
        for key in sorted(broker.scan_iter(match="*", count=1000)):
            kind = broker.type(key).decode()
            size = {"hash": broker.hlen, "list": broker.llen, "zset": broker.zcard}.get(kind)
            lines.append(f"{key.decode()} {kind} {size(key) if size else ''}")
            if key.endswith(b":brokers"):
                for member, score in broker.zrange(key, 0, -1, withscores=True):
                    lines.append(f"    {member.decode()} {score!r}")
        (folder / "broker-keys.txt").write_text("\n".join(lines) + "\n")
        print(f"chaos: logs, ledger and broker keys kept in {folder}")

    def close(self) -> None:
        for producer in self.producers:
            os.kill(producer.pid, signal.SIGKILL)
            os.waitpid(producer.pid, 0)
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        self.server.close()
        self.ledger_server.close()


class Timeline:
    """Who was alive when, in the ledger's order of events.

    A worker is alive from its first record until the harness's "killed"
    marker or its own "exit" record (written once its workers stopped).
    """

    #: The record that each kind of task writes once per execution.
    EXECUTION = {"run", "start", "enter"}

    def __init__(self, records: list[str]) -> None:
        self.length = len(records)
        self.death: dict[int, int] = {}  # pid -> index of its death
        self.identity: dict[str, int] = {}  # broker id[:8] -> pid
        self.deaths: list[tuple[int, str]] = []  # (index, broker id[:8]) declared dead
        self.executions: dict[Job, list[tuple[int, int]]] = defaultdict(list)  # (index, pid)
        self.losses: dict[Job, list[int]] = defaultdict(list)  # indexes of JobLostError
        for index, record in enumerate(records):
            parts = record.split()
            if len(parts) != 4:
                continue
            event, task, token, pid = parts
            if task == "worker":
                if event in ("killed", "exit"):
                    self.death.setdefault(int(pid), index)
                elif event == "identity":
                    self.identity[token] = int(pid)
                elif event == "dead":
                    self.deaths.append((index, token))
            elif token.isdigit():
                if event in self.EXECUTION:
                    self.executions[(task, int(token))].append((index, int(pid)))
                elif event == "failed:JobLostError":
                    self.losses[(task, int(token))].append(index)

    def alive(self, pid: int, index: int) -> bool:
        return self.death.get(pid, self.length) > index

    def taken_over(self) -> tuple[list[Job], list[Job]]:
        """Jobs run again, and jobs failed as lost, while the worker running them was alive.

        A job runs again legitimately only once the worker that ran it died
        (SIGKILLed: its retryable jobs run again, its non-retryable ones
        fail with JobLostError); every execution record is written by a
        worker while it runs the job, so a worker that wrote one is alive
        until its death in the ledger.
        """
        taken = []
        for job, runs in self.executions.items():
            if any(self.alive(p1, i2) for (_, p1), (i2, _) in zip(runs, runs[1:])):
                taken.append(job)
        lost_alive = []
        for job, indexes in self.losses.items():
            runners = {pid for _, pid in self.executions.get(job, [])}
            if any(self.alive(pid, i) for i in indexes for pid in runners):
                lost_alive.append(job)
        return sorted(taken), sorted(lost_alive)

    def declared_dead_alive(self) -> Counter[int]:
        """Pids of the workers declared dead while alive, with how many times."""
        declared: Counter[int] = Counter()
        for index, broker in self.deaths:
            pid = self.identity.get(broker)
            if pid is not None and self.alive(pid, index):
                declared[pid] += 1
        return declared

    def unknown_deaths(self) -> int:
        """Declarations of death naming a broker id that no worker recorded as its own."""
        return sum(1 for _, broker in self.deaths if broker not in self.identity)


def _forked_task(n: int) -> str:
    return "record_once" if n % 4 == 0 else "record"


def _forked_future(n: int) -> bool:
    return n % 5 == 0


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
    parser.add_argument(
        "--workers", type=int, default=4, help="workers with a true clock (4), besides 2 skewed"
    )
    parser.add_argument("--time-limit", type=float, default=None, help="seconds at most")
    parser.add_argument("--fault-every", type=float, default=None, help="seconds between faults")
    parser.add_argument(
        "--skip", action="append", default=[], choices=OPTIONAL, help="leave out a new fault"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keep", action="store_true", help="keep the logs, the ledger and the broker's keys"
    )
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (3000 if args.short else 20_000)
    args.time_limit = args.time_limit or (120 if args.short else 600)
    args.fault_every = args.fault_every or (1.0 if args.short else 2.0)
    args.future_spread = 4.0 if args.short else 15.0
    args.schedule_over = 4.0 if args.short else 90.0
    args.work_ms = 10.0
    if args.keep:
        workdir = tempfile.mkdtemp(prefix="spinach-chaos-")
        return run_in(args, Path(workdir))
    with tempfile.TemporaryDirectory(prefix="spinach-chaos-") as workdir:
        return run_in(args, Path(workdir))


def run_in(args: argparse.Namespace, workdir: Path) -> int:
    chaos = Chaos(args, workdir)
    try:
        return chaos.execute()
    finally:
        if args.keep:
            chaos.dump(workdir)
        chaos.close()


if __name__ == "__main__":
    sys.exit(main())
