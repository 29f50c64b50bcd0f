"""The Redis broker: the broker contract on one Redis server or a Redis Cluster."""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import random
import re
import socket
import threading
import time
from datetime import datetime
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, ResponseError, TimeoutError
from redis.retry import Retry
from spinach.brokers.base import (
    DEFAULT_DEAD_THRESHOLD,
    FETCH_MAX_BYTES,
    Broker,
    Queues,
    queue_names,
)
from spinach.clock import Clock
from spinach.codec import REWRITE_SLACK
from spinach.cron import CronPlan
from spinach.exc import (
    BrokerConnectionError,
    BrokerError,
    BrokerUnavailableError,
    JobLostError,
    SpinachError,
)
from spinach.failures import UNREADABLE, FailedJob, parse_history, unreadable_job
from spinach.inspection import LimitInfo, QueueInfo, WorkerInfo
from spinach.job import Job, JobError, JobStatus
from spinach.outcome import Outcome, decode_outcome
from spinach.task import Task
from spinach.utils import from_timestamp

from ._version import __version__
from .clock import ServerClock
from .errors import retry_advice
from .keys import Keys, task_token
from .scripts import Scripts
from .subscriber import Subscriber

__all__ = ["RedisBroker"]

logger = logging.getLogger("spinach.broker.redis")

T = TypeVar("T")

#: How long a producer's last sequence number is kept for idempotent retries.
IDEMPOTENCY_TTL_MS = 120_000
#: Most future jobs moved to their queue by one call.
MOVE_BATCH = 1000
#: Most jobs acknowledged in one call (scripts take their arguments on the stack).
ACK_BATCH = 1000
#: Most jobs, and bytes of payloads, staged in one call of a large batch
#: (see enqueue_jobs), so that no call keeps Redis busy for long whatever the
#: batch's size. A batch of up to twice as much goes in one call (enqueuing
#: costs Redis less per job than staging and moving: 10,000 jobs block other
#: clients about 10 ms).
BATCH_CHUNK_JOBS = 5000
BATCH_CHUNK_BYTES = 2 * 1024 * 1024
#: How long the staged chunks of an uncommitted batch are kept.
STAGING_TTL_MS = 3_600_000

#: Options of the clients the broker creates itself.  Retries are the
#: broker's business (with backoff, jitter and idempotency), not the client's.
DEFAULT_CLIENT_OPTIONS: Dict[str, Any] = {
    "socket_timeout": 30,
    "socket_connect_timeout": 10,
    "socket_keepalive": True,
    "health_check_interval": 30,
    "retry": Retry(NoBackoff(), 0),
}

_BROKER_OPTIONS = ("broker_dead_threshold_seconds", "clock", "connection_attempts", "functions")


class RedisBroker(Broker):
    """Broker storing jobs in Redis.

    Every transition is one Lua script, so it is atomic, and every key of a
    namespace shares the hash tag ``{namespace}``, so it runs unchanged on
    Redis Cluster.  Redis 6.2 or newer is required.

    Time is the Redis server's: the scripts read ``TIME`` to decide whether
    a job is due or a worker dead, so machines whose clocks disagree never
    start a job early nor declare a live worker dead.

    :arg redis: a ready ``redis.Redis`` or ``redis.cluster.RedisCluster``
        client; by default one connecting to localhost:6379.  Use
        :meth:`from_url` for a URL (password, TLS, database).  A client of
        your own should have a ``socket_timeout`` (the broker's own are 30 s),
        ``socket_keepalive=True``, a ``health_check_interval`` and no
        retries of its own (``retry=Retry(NoBackoff(), 0)``): the broker
        retries with idempotency.
    :arg broker_dead_threshold_seconds: how long a worker may stay silent
        before its jobs are recovered (default 60 s)
    :arg clock: for tests: a :class:`~spinach.clock.Clock` (such as
        :class:`~spinach.clock.ManualClock`) used instead of the server's
        time, in the scripts too
    :arg functions: run the scripts as Redis 7 functions (``FCALL``) rather
        than with ``EVALSHA``: the workers' ACL user then needs ``+fcall`` and
        no ``+eval``, so its credentials cannot run Lua of their own.  The
        library of this version is loaded on first use if the user may
        (``FUNCTION LOAD``), else by :meth:`install_functions`.
    :arg connection_attempts: attempts of each call of a producer before
        :class:`~spinach.exc.BrokerConnectionError` (unreachable) or
        :class:`~spinach.exc.BrokerUnavailableError` (out of memory,
        read-only, missing permission...) is raised, with exponential
        backoff and jitter in between, about 5 s in all; workers retry for
        as long as it takes
    """

    def __init__(
        self,
        redis: Any = None,
        *,
        broker_dead_threshold_seconds: float = DEFAULT_DEAD_THRESHOLD,
        clock: Optional[Clock] = None,
        connection_attempts: int = 8,
        functions: bool = False,
    ) -> None:
        self._server_clock = ServerClock() if clock is None else None
        super().__init__(
            broker_dead_threshold_seconds=broker_dead_threshold_seconds,
            clock=clock if clock is not None else self._server_clock,
        )
        if connection_attempts < 1:
            raise ValueError("connection_attempts must be 1 or more")
        self._redis = redis if redis is not None else _default_client()
        self._attempts = connection_attempts
        self._scripts = Scripts(self._redis, functions=functions)
        self._keys: Optional[Keys] = None
        self._init_process_state()

    def copy(self) -> RedisBroker:
        """A broker on the same Redis client, bound to no namespace; see :meth:`Broker.copy`."""
        return RedisBroker(
            self._redis,
            broker_dead_threshold_seconds=self.broker_dead_threshold_seconds,
            clock=None if self._server_clock is not None else self.clock,
            connection_attempts=self._attempts,
            functions=self._scripts.functions,
        )

    def _init_process_state(self) -> None:
        """What belongs to this process and must be renewed in a forked child."""
        self._producer = threading.local()  # idempotency token and sequence, per thread
        # The runs this broker handed out, by job id: a job may run twice in
        # one process (taken over, then fetched again), so runs are told apart
        # by their Job object, never by id alone.
        self._held: Dict[str, Job] = {}
        self._held_lock = threading.Lock()
        self._discarded: Dict[str, Job] = {}  # runs taken over when declared dead
        self._incarnation: Optional[str] = None  # when this worker was (re)registered
        self._subscriber: Optional[Subscriber] = None
        self._queue_notes: Optional[FrozenSet[bytes]] = None
        self._started = False
        self._periodic_tokens: List[str] = []
        self._periodic_args: List[Any] = []
        self._limited_tokens: List[str] = []
        self._rates = ""  # this worker's rate limits, as fetch.lua reads them
        self._heartbeat_now = threading.Event()
        self._episode_lock = threading.Lock()
        self._episode: Optional[float] = None  # monotonic start of a run of errors

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._init_process_state()
        self._scripts.after_fork()
        if self._server_clock is not None:
            self._server_clock.after_fork()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisBroker:
        """Create a broker from a Redis URL.

        ``redis://[:password@]host[:port][/db]``, ``rediss://`` for TLS, or
        ``unix://``.  Keyword arguments of :class:`RedisBroker` are taken
        out; the others go to ``redis.Redis.from_url`` (e.g. ``ssl_ca_certs``,
        ``ssl_certfile``, ``ssl_keyfile`` for TLS client certificates).
        """
        options = {name: kwargs.pop(name) for name in _BROKER_OPTIONS if name in kwargs}
        client = redis.Redis.from_url(url, **{**DEFAULT_CLIENT_OPTIONS, **kwargs})
        return cls(client, **options)

    @classmethod
    def install_functions(cls, client: Any) -> str:
        """Load this version's scripts as Redis 7 functions, with an admin's client.

        For brokers made with ``functions=True`` whose ACL user may not run
        ``FUNCTION LOAD``: run it once per version (and after a server lost
        its functions), e.g. in a deploy step.  Returns the library's name.
        On Redis Cluster, a ``RedisCluster`` client loads it on every
        primary.
        """
        return Scripts().load_library(client)

    @property
    def redis(self) -> Any:
        """The Redis client in use."""
        return self._redis

    @property
    def keys(self) -> Keys:
        """The Redis keys of the namespace."""
        if self._keys is None:
            self._keys = Keys(self.namespace)
        return self._keys

    # -- plumbing ---------------------------------------------------------

    def _now_arg(self) -> str:
        """The time the scripts use: '' for the server's own, or the test clock's."""
        return "" if self._server_clock is not None else repr(self.clock.time())

    def _retrying(self, operation: str, call: Callable[[int], T], forever: bool = False) -> T:
        """Run ``call(attempt)``, retrying what :func:`retry_advice` says can be retried.

        Producers give up after ``connection_attempts`` with
        :class:`~spinach.exc.BrokerConnectionError`; worker machinery
        (``forever``) gives up only when the arbiter's own backoff takes
        over.  The first error of an episode is logged at WARNING with what
        to do, the next ones at DEBUG, and the recovery at WARNING.
        """
        attempt = 0
        while True:
            try:
                result = call(attempt)
            except Exception as exc:
                advice = retry_advice(exc)
                if advice is None:
                    if isinstance(exc, ResponseError):
                        raise BrokerError(f"Redis refused to {operation}: {exc}") from exc
                    raise
                attempt += 1
                self._log_error(operation, exc, advice)
                if attempt >= self._attempts and not forever:
                    unreachable = isinstance(exc, (ConnectionError, TimeoutError))
                    error = BrokerConnectionError if unreachable else BrokerUnavailableError
                    raise error(
                        f"could not {operation} on Redis after {attempt} attempts: {exc} ({advice})"
                    ) from exc
                if attempt >= self._attempts:
                    raise  # the arbiter backs off and tries again
                delay = min(2.0, 0.05 * 2 ** min(attempt, 10)) * random.uniform(0.5, 1.0)
                threading.Event().wait(delay)  # pacing a retry, not synchronisation
                continue
            self._log_recovered()
            return result

    def _log_error(self, operation: str, exc: BaseException, advice: str) -> None:
        with self._episode_lock:
            first = self._episode is None
            if first:
                self._episode = time.monotonic()
        if first:
            logger.warning(
                "Redis error while trying to %s: %s. %s. Retrying with backoff (logged once "
                "until it works again).",
                operation,
                str(exc).rstrip("."),
                advice[0].upper() + advice[1:],
            )
        else:
            logger.debug("Redis error while trying to %s: %s", operation, exc)

    def _log_recovered(self) -> None:
        if self._episode is None:
            return
        with self._episode_lock:
            since, self._episode = self._episode, None
        if since is not None:
            logger.warning("Redis works again after %.1f s of errors", time.monotonic() - since)

    def _run(
        self,
        operation: str,
        script: str,
        keys: Sequence[str],
        args: Sequence[Any],
        forever: bool = False,
    ) -> Any:
        return self._retrying(
            operation, lambda _: self._scripts.run(self._redis, script, keys, args), forever
        )

    def _timed_run(
        self,
        operation: str,
        script: str,
        keys: Sequence[str],
        args: Sequence[Any],
        forever: bool = True,
    ) -> Any:
        """Run a script that returns the server's time first, and learn the clock offset."""

        def call(_: int) -> Any:
            sent = time.time()
            reply = self._scripts.run(self._redis, script, keys, args)
            if self._server_clock is not None:
                self._server_clock.observe(float(reply[0]), sent, time.time())
            return reply

        return self._retrying(operation, call, forever)

    def _sync_clock(self) -> None:
        """Measure the server's clock (producers: once every few minutes)."""
        if self._server_clock is None or not self._server_clock.needs_sync():
            return

        def call(_: int) -> None:
            sent = time.time()
            seconds, micros = self._redis.time()
            assert self._server_clock is not None
            self._server_clock.observe(seconds + micros / 1e6, sent, time.time())

        try:
            self._retrying("read the server's time", call)
        except BrokerError as exc:  # TIME may be refused by an ACL: keep the local clock
            logger.debug("Could not read the Redis server's time: %s", exc)

    # -- lifecycle --------------------------------------------------------

    def start(self, queue: Optional[Queues] = None) -> None:
        """Subscribe to the namespace's notifications and register as a live worker."""
        keys = self.keys
        self._queue_notes = (
            frozenset(f"q:{name}".encode() for name in queue_names(queue)) if queue else None
        )
        self._warn_if_keys_can_be_evicted()
        subscriber = Subscriber(
            self._redis,
            keys.notify,
            f"{keys.notify}:{self.id}",
            self._on_notification,
            self.notify_future_changed,
            name=f"{self.namespace}-redis-subscriber",
        )
        self._retrying("subscribe to notifications", lambda _: subscriber.start())
        self._subscriber = subscriber
        self._register(queue)
        self.notify_future_changed()

    def _register(self, queue: Optional[Queues]) -> None:
        keys = self.keys
        info = [
            "host", socket.gethostname(), "pid", os.getpid(),
            "queue", ",".join(queue_names(queue)) if queue else "",
            "version", __version__,
        ]  # fmt: skip
        if self.worker_slots is not None:  # a record without it reads as None: older versions
            info += ["slots", self.worker_slots]
        reply = self._timed_run(
            "register the worker",
            "register",
            [keys.brokers, keys.worker(self.id)],
            [
                keys.prefix,
                self._now_arg(),
                self.id,
                self.failed_jobs_kept,
                self.failed_jobs_ttl,
                *info,
            ],
            forever=False,
        )
        self._incarnation = _text(reply[0])
        self._started = True

    def stop(self) -> None:
        """Stop listening; leave the namespace unless jobs still run here."""
        if self._subscriber is not None:
            self._subscriber.stop()
            self._subscriber = None
        keys = self.keys
        try:
            self._run(
                "unregister the worker",
                "unregister",
                [keys.brokers, keys.running(self.id), keys.worker(self.id), keys.adopted(self.id)],
                [keys.prefix, self._now_arg(), self.id],
            )
        except BrokerError as exc:
            logger.warning("Could not unregister from Redis (%s): others will after a while", exc)
        self._scripts.close()
        self._started = False

    def _on_notification(self, data: bytes) -> None:
        for part in data.split():
            if part.startswith(b"x:"):  # a cancel request: for the worker running the job
                with self._held_lock:
                    job = self._held.get(part[2:].decode("ascii", "replace"))
                self._cancel_requested_here(job)
            elif part == b"f":
                self.notify_future_changed()
            elif self._queue_notes is None or part in self._queue_notes:
                self.notify()

    def _warn_if_keys_can_be_evicted(self) -> None:
        try:
            policy = self._redis.config_get("maxmemory-policy").get("maxmemory-policy", "")
        except Exception:  # CONFIG is often disabled on managed Redis
            return
        if isinstance(policy, bytes):
            policy = policy.decode()
        if policy.startswith("allkeys"):
            logger.warning(
                "Redis maxmemory-policy is %r: Redis may evict Spinach's keys and lose jobs "
                "when memory runs low; use noeviction on the Redis server of a task queue",
                policy,
            )

    # -- client side ------------------------------------------------------

    def _next_sequence(self) -> tuple[str, int]:
        """This thread's idempotency token and its next sequence number.

        The token is random per thread and renewed in a forked child, so
        it never collides between processes or threads.
        """
        local = self._producer
        token = getattr(local, "token", None)
        if token is None:
            token = local.token = os.urandom(12).hex()
            local.sequence = itertools.count(1)
        return token, next(local.sequence)

    def enqueue_jobs(self, jobs: Sequence[Job]) -> None:
        """Enqueue jobs atomically; see :meth:`Broker.enqueue_jobs`.

        Jobs with a date are queued at once or kept for later by the script,
        with the server's clock: a producer whose clock is off never makes a
        job start early.  Up to ``2 * BATCH_CHUNK_JOBS`` jobs (and twice
        ``BATCH_CHUNK_BYTES``) go in one round trip; a larger batch is
        staged in chunks, invisible to workers, then committed in one atomic
        step, after which it is moved to its queues in bounded calls: all of
        it is enqueued, or (if staging fails or the producer dies first)
        none of it.  A batch holding jobs of unique tasks must go in one
        round trip (their keys are taken in the same atomic step), or
        :class:`~spinach.exc.SpinachError` is raised and nothing is sent.
        """
        if not jobs:
            return
        entries: List[Any] = []
        size = 0
        unique = False
        for job in jobs:
            payload = self.codec.encode(job)
            size += len(payload)
            unique = unique or job.unique is not None
            if job.asap:
                entries += ("q", job.queue, payload)
            else:  # the script decides with the server's clock
                entries += ("a", repr(job.at_timestamp), payload)
        at_once = len(jobs) <= 2 * BATCH_CHUNK_JOBS and size <= 2 * BATCH_CHUNK_BYTES
        if unique and not at_once:
            raise SpinachError(
                f"a batch holding jobs of unique tasks is enqueued in one atomic call: at most "
                f"{2 * BATCH_CHUNK_JOBS} jobs and {2 * BATCH_CHUNK_BYTES} bytes of payloads "
                f"(this one: {len(jobs)} jobs, {size} bytes); split it, nothing was scheduled"
            )
        self._sync_clock()
        holders: List[Any] = []
        if at_once:
            statuses, holders = self._enqueue_at_once(entries)
        else:
            statuses = self._enqueue_staged(entries)
        now = self.clock.time()
        for index, job in enumerate(jobs):
            if index < len(statuses):
                status = statuses[index]
                if status in _HELD:
                    job._id_hex, job._id = _text(holders.pop(0)), None
                    job.status, job.duplicate = _HELD[status], True
                    continue
                queued = status == "q"
            else:  # a retry whose first attempt was applied, or moved by a worker
                queued = job.asap or job.at_timestamp <= now
            job.status = JobStatus.QUEUED if queued else JobStatus.WAITING
        if unique and not statuses:
            self._find_holders(jobs)

    def _find_holders(self, jobs: Sequence[Job]) -> None:
        """Tell the duplicates among unique jobs, after a retried enqueue applied at first.

        The first attempt's reply was lost; a unique job whose key is held
        by another live job was a duplicate of it (or ended since, and its
        key was taken by a newer job: that one is then the live one).
        """
        unique = [job for job in jobs if job.unique is not None]
        keys = self.keys

        def read(attempt: int) -> List[Any]:
            holders = self._redis.hmget(keys.unique, [job.unique for job in unique])
            others = [
                (job, _text(holder))
                for job, holder in zip(unique, holders)
                if holder is not None and _text(holder) != job.id_hex
            ]
            pipe = self._redis.pipeline(transaction=False)
            for _, holder in others:
                pipe.hget(keys.job(holder), "status")
            return list(zip(others, pipe.execute() if others else []))

        for (duplicate, holder), status in self._retrying("read unique keys", read):
            held = _HELD.get(_RECORD_LETTERS.get(_text(status) if status else "", ""))
            if held is not None:
                duplicate._id_hex, duplicate._id = holder, None
                duplicate.status, duplicate.duplicate = held, True

    def _enqueue_at_once(self, entries: List[Any]) -> Tuple[str, List[Any]]:
        keys = self.keys
        producer, sequence = self._next_sequence()
        args = [keys.prefix, self._now_arg(), producer, sequence, IDEMPOTENCY_TTL_MS, *entries]

        def call(attempt: int) -> Any:
            reply = self._scripts.run(self._redis, "enqueue", [keys.future], args)
            if reply == 0 and attempt == 0:
                # Never sent before, yet recorded as applied: the token was
                # reused. Saying "queued" would lose these jobs silently.
                raise BrokerError(
                    "Redis says these jobs were enqueued already, though this is the first "
                    f"attempt (idempotency token {producer} reused?); nothing was enqueued"
                )
            return reply

        reply = self._retrying("enqueue jobs", call)
        if reply == 0:
            return "", []
        if isinstance(reply, list):  # duplicates of unique jobs: their holders follow
            return _text(reply[0]), list(reply[1:])
        return _text(reply), []

    def _enqueue_staged(self, entries: List[Any]) -> str:
        keys = self.keys
        batch_id = os.urandom(12).hex()
        staging, record = keys.batch(batch_id), keys.batch_record(batch_id)
        chunks = list(_chunks(entries))
        try:
            for index, chunk in enumerate(chunks):
                self._run(
                    "stage a batch",
                    "stage_batch",
                    [staging, record],
                    [keys.prefix, self._now_arg(), index, STAGING_TTL_MS, *chunk],
                )
        except BaseException:
            try:  # nothing was committed: nothing of the batch is enqueued
                self._redis.delete(staging, record)
            except Exception:  # it expires anyway
                logger.debug("Could not delete the staged batch %s", batch_id, exc_info=True)
            raise
        statuses = []
        commit_keys = [staging, record, keys.future, keys.batches]
        commit_args = [keys.prefix, self._now_arg(), batch_id, len(chunks), BATCH_CHUNK_JOBS]
        committed = False
        while True:
            try:
                left, moved = self._run("commit a batch", "commit_batch", commit_keys, commit_args)
            except BrokerError:
                if not committed:
                    raise  # maybe committed, maybe not: as any call whose reply is lost
                logger.warning(
                    "Could not move the rest of committed batch %s to its queues; the "
                    "workers will (it is stored, nothing is lost)",
                    batch_id,
                )
                break
            if int(left) < 0:
                raise BrokerError(
                    "the staged batch expired before it was committed: nothing was enqueued"
                )
            committed = True
            statuses.append(_text(moved))
            if int(left) == 0:
                break
        return "".join(statuses)

    # -- worker side ------------------------------------------------------

    def register_periodic_tasks(self, tasks: Iterable[Task]) -> None:
        """Declare periodic tasks; see :meth:`Broker.register_periodic_tasks`."""
        keys = self.keys
        args: List[Any] = []
        tokens = []
        for task in tasks:
            if task.periodicity is not None:
                period = task.periodicity.total_seconds()
                token = task_token(task.name)
                tokens.append(token)
                args += (token, repr(period), task.queue, task.max_retries)
        self._periodic_tokens = tokens
        self._periodic_args = args
        self._run(
            "register periodic tasks",
            "register_periodic",
            [keys.periodic, keys.periodic_defs, keys.periodic_seen, keys.periodic_retired],
            [keys.prefix, self._now_arg(), *args],
        )

    def plan_cron_runs(self, runs: Sequence[Job], planned_at: float) -> CronPlan:
        """Plan the next ticks of cron tasks; see :meth:`Broker.plan_cron_runs`."""
        keys = self.keys
        args: List[Any] = [keys.prefix, self._now_arg(), repr(planned_at)]
        names = {}
        for job in runs:
            token = task_token(job.task_name)
            names[token] = job.task_name
            args += (token, repr(job.at_timestamp), job.queue, self.codec.encode(job))
        reply = self._run("plan cron runs", "plan_cron", [keys.future, keys.cron], args)
        last: Dict[str, Optional[float]] = {}
        for i in range(1, len(reply), 2):
            name = names.get(_text(reply[i]))
            if name is not None:
                value = _text(reply[i + 1])
                last[name] = float(value) if value else None
        return CronPlan(float(reply[0]), last)

    def set_concurrency_keys(self, tasks: Iterable[Task]) -> None:
        """Record concurrency limits; see :meth:`Broker.set_concurrency_keys`."""
        keys = self.keys
        args: List[Any] = [keys.prefix, self._now_arg()]
        limited: List[str] = []
        rates: List[str] = []
        for task in tasks:
            limit = "" if task.max_concurrency is None else task.max_concurrency
            args += (task_token(task.name), limit)
            if task.max_concurrency is not None:
                limited.append(task_token(task.name))
            if task.rate_limit is not None:
                most, period = task.rate_limit
                rates += (task_token(task.name), str(most), repr(period))
        self._limited_tokens = limited
        # Sent with every fetch: each worker enforces the limits it knows.
        self._rates = "\x01".join(rates)
        if len(args) > 2:
            self._run(
                "set concurrency limits",
                "set_concurrency",
                [keys.max_concurrency, keys.max_concurrency_seen],
                args,
            )

    def _fetch_args(self, names: Tuple[str, ...], max_jobs: int) -> List[Any]:
        keys = self.keys
        budget = max(100, 10 * max_jobs)
        largest = self.codec.limits.max_bytes + REWRITE_SLACK
        return [
            keys.prefix, self._now_arg(), self.id, max_jobs, " ".join(names), budget,
            FETCH_MAX_BYTES, largest, self._rates,
        ]  # fmt: skip

    def get_jobs_from_queue(self, queue: Queues, max_jobs: int) -> List[Job]:
        """Fetch up to ``max_jobs`` jobs in one call; see :meth:`Broker.get_jobs_from_queue`."""
        if not self._started:
            self._register(None)  # what it fetches must be recoverable
        keys = self.keys
        names = queue_names(queue)
        jobs: List[Job] = []
        while True:
            result = self._run(
                "fetch jobs",
                "fetch",
                [keys.queue(names[0]), keys.running(self.id), keys.brokers]
                + [keys.queue(name) for name in names[1:]],
                self._fetch_args(names, max_jobs - len(jobs)),
                forever=True,
            )
            fetched, set_aside = self._fetched(result, names)
            jobs += fetched
            # Payloads set aside here took places of this fetch, and the queue
            # may hold more: fewer jobs than free slots would tell the worker
            # the queue is empty, and it would sleep until its next heartbeat
            # while jobs wait. Each round takes what it set aside out of the queue.
            if not set_aside or len(jobs) >= max_jobs:
                return jobs

    def acknowledge_and_fetch(
        self, finished: Sequence[Job], queue: Queues, max_jobs: int
    ) -> List[Job]:
        """Acknowledge finished jobs and fetch new ones in one call.

        See :meth:`Broker.acknowledge_and_fetch`.
        """
        if not finished:
            return self.get_jobs_from_queue(queue, max_jobs) if max_jobs > 0 else []
        if len(finished) > ACK_BATCH:
            self.acknowledge(finished[ACK_BATCH:])
            finished = finished[:ACK_BATCH]
        keys = self.keys
        names = queue_names(queue)
        args = self._fetch_args(names, max_jobs)
        args += [self.failed_jobs_kept, self.failed_jobs_ttl, *self._outcomes(finished)]
        result = self._run(
            "acknowledge and fetch jobs",
            "exchange",
            [keys.queue(names[0]), keys.running(self.id), keys.future, keys.brokers]
            + [keys.queue(name) for name in names[1:]],
            args,
            forever=True,
        )
        self._release_held(finished)
        jobs, set_aside = self._fetched(result, names)
        if set_aside and len(jobs) < max_jobs:  # as get_jobs_from_queue does
            jobs += self.get_jobs_from_queue(queue, max_jobs - len(jobs))
        return jobs

    def wants_heartbeat(self) -> bool:
        """Whether a heartbeat is needed now (this worker found itself unregistered)."""
        return self._heartbeat_now.is_set()

    def _fetched(self, result: List[Any], names: Tuple[str, ...]) -> Tuple[List[Job], int]:
        """Jobs out of a fetch reply {rejected count, payloads...}, and how many were set aside."""
        if result[0] == -1:
            # Declared dead: fetch nothing until the heartbeat registers again.
            self._heartbeat_now.set()
            self.notify()
            return [], 0
        if result[0]:
            self._log_rejected(int(result[0]), f"queue {' or '.join(names)!r}")
        jobs = []
        set_aside = 0
        for payload in result[1:]:
            try:
                jobs.append(self.codec.decode(payload, JobStatus.RUNNING))
            except Exception as exc:  # whatever it is, one payload never stops a worker
                self._reject_running(payload, exc)
                set_aside += 1
        with self._held_lock:
            self._held.update((job.id_hex, job) for job in jobs)
        return jobs, set_aside

    def _release_held(self, jobs: Sequence[Job]) -> None:
        with self._held_lock:
            for job in jobs:
                if self._held.get(job.id_hex) is job:
                    del self._held[job.id_hex]
                if self._discarded.get(job.id_hex) is job:
                    del self._discarded[job.id_hex]

    def _log_rejected(self, count: int, where: str) -> None:
        logger.error(
            "Set aside %d unreadable payloads found in %s of namespace %r; they are kept "
            "in the Redis list %s",
            count,
            where,
            self.namespace,
            self.keys.rejected,
        )

    def _reject_adopted(self, payload: bytes | str, exc: Exception) -> None:
        self._reject_running(payload, exc, self.keys.adopted(self.id))

    def _reject_running(
        self, payload: bytes | str, exc: Exception, records: Optional[str] = None
    ) -> None:
        raw = payload.encode() if isinstance(payload, str) else payload
        job_id = raw[7:39].decode("ascii", "replace")
        logger.error(
            "Set aside job %s of namespace %r: its payload cannot be read (%s)",
            job_id,
            self.namespace,
            exc,
        )
        keys = self.keys
        why = JobError(UNREADABLE, f"its payload was set aside as unreadable: {exc}")
        self._run(
            "set aside a payload",
            "reject_running",
            [records or keys.running(self.id)],
            [keys.prefix, self._now_arg(), job_id, why.to_json()],
            forever=True,
        )

    def acknowledge(self, jobs: Sequence[Job]) -> None:
        """Record outcomes, ``ACK_BATCH`` jobs per call at most; see :meth:`Broker.acknowledge`."""
        self._acknowledge(jobs, self.keys.running(self.id))

    def _acknowledge(self, jobs: Sequence[Job], records: str) -> None:
        """Record outcomes of jobs recorded in the hash ``records`` (running or adopted)."""
        keys = self.keys
        for start in range(0, len(jobs), ACK_BATCH):
            batch = jobs[start : start + ACK_BATCH]
            args: List[Any] = [
                keys.prefix, self._now_arg(), self.id, self.failed_jobs_kept,
                self.failed_jobs_ttl, *self._outcomes(batch),
            ]  # fmt: skip
            self._run("acknowledge jobs", "ack", [records, keys.future], args, forever=True)
            self._release_held(batch)

    def _outcomes(self, jobs: Sequence[Job]) -> List[Any]:
        """(job id, outcome, target, payload, error) of each finished job, for the scripts."""
        now = self.clock.time()
        args: List[Any] = []
        discarded = self._discarded
        for job in jobs:
            if discarded and discarded.get(job.id_hex) is job:
                # This run was taken over: another worker settled it, and a new
                # run of the same job may be recorded here now. Send nothing
                # (it is forgotten once a call succeeds: see _release_held).
                logger.warning(
                    "Job %s of task %r ended as %s on a worker that had been declared dead: "
                    "it was settled by another worker, this outcome is discarded",
                    job.id,
                    job.task_name,
                    job.status.name,
                )
            elif job.handed_back_until is not None:
                job.status = JobStatus.WAITING
                delay = max(0.0, job.handed_back_until - now)
                args += (job.id_hex, "h", repr(delay), "", "")
            elif job.status in (JobStatus.WAITING, JobStatus.QUEUED):
                at = job.at_timestamp
                job.status = JobStatus.QUEUED if at <= now else JobStatus.WAITING
                args += (job.id_hex, "f", repr(at), self.codec.encode(job), _error(job))
            else:
                result = job._result if job.status is JobStatus.SUCCEEDED else None
                args += (job.id_hex, _FINAL.get(job.status, "d"), "", result or "", _error(job))
        return args

    def move_future_jobs(self) -> Optional[float]:
        """Queue due jobs and periodic tasks; see :meth:`Broker.move_future_jobs`."""
        keys = self.keys
        rejected, next_due = self._run(
            "move future jobs",
            "move_future",
            [keys.future, keys.periodic, keys.periodic_defs],
            [keys.prefix, self._now_arg(), MOVE_BATCH],
            forever=True,
        )
        if rejected:
            self._log_rejected(int(rejected), "the future jobs")
        return None if next_due is None else float(next_due)

    def check_dead_workers(self) -> List[Job]:
        """Heartbeat and settle the jobs of dead workers; see :meth:`Broker.check_dead_workers`.

        The jobs of a dead worker are adopted atomically by this broker, then
        settled like finished jobs: retryable ones are enqueued again,
        non-retryable ones fail.  Jobs recorded as running here but unknown
        to this process (a fetch whose reply was lost) go back to their queue.
        """
        self._heartbeat_now.clear()
        keys = self.keys
        reply = self._timed_run(
            "heartbeat",
            "heartbeat",
            [
                keys.brokers, keys.running(self.id), keys.worker(self.id), keys.periodic,
                keys.periodic_defs, keys.periodic_seen, keys.adopted(self.id),
                keys.periodic_retired, keys.max_concurrency, keys.max_concurrency_seen,
            ],
            [
                keys.prefix, self._now_arg(), self.id, self.broker_dead_threshold_seconds,
                2 * self.heartbeat_interval, len(self._periodic_tokens),
                *self._periodic_tokens, *self._limited_tokens,
            ],
        )  # fmt: skip
        now_text, incarnation, dead, adopted, own, retired, missing, cancelled = reply
        now = float(now_text)
        incarnation = _text(incarnation)
        own_ids = {_text(i) for i in own}
        if self._incarnation is not None and incarnation != self._incarnation:
            # Registered again since this worker last knew: declared dead (even
            # if the reply that said so was lost).
            self._declared_dead(own_ids)
        self._incarnation = incarnation
        self._started = True
        for broker_id in _text(dead).split():
            logger.warning(
                "Worker %s of namespace %r is dead (no heartbeat for %.0f s): adopting its jobs",
                broker_id[:8],
                self.namespace,
                self.broker_dead_threshold_seconds,
            )
        for name in retired:
            logger.info(
                "Periodic task %s of namespace %r retired: no live worker declares it any more",
                _text(name),
                self.namespace,
            )
        if missing and self._periodic_args:
            self._run(
                "register periodic tasks",
                "register_periodic",
                [keys.periodic, keys.periodic_defs, keys.periodic_seen, keys.periodic_retired],
                [keys.prefix, self._now_arg(), *self._periodic_args],
                forever=True,
            )
        for job_id in cancelled:
            with self._held_lock:
                job = self._held.get(_text(job_id))
            self._cancel_requested_here(job)
        failed = self._settle_adopted(adopted, now)
        orphans = self._orphans(own_ids)
        if orphans:
            with self._held_lock:
                self._held.update((job.id_hex, job) for job in orphans)
            self.acknowledge(orphans)
        return failed

    def _settle_adopted(self, entries: Sequence[bytes], now: float) -> List[Job]:
        """Settle the jobs adopted from dead workers: retried, or failed (returned)."""
        settle = []
        for entry in entries:
            payload = entry[1:]
            try:
                job = self.codec.decode(payload)
            except Exception as exc:  # whatever it is, one payload never stops a worker
                self._reject_adopted(payload, exc)
                continue
            job.error = JobError(
                f"{JobLostError.__module__}.{JobLostError.__qualname__}",
                "the worker running it died",
            )
            if job.retryable:
                job.retries += 1
                job.at = from_timestamp(now)
                job.status = JobStatus.QUEUED
            else:
                job.status = JobStatus.FAILED
            settle.append(job)
        if settle:
            self._acknowledge(settle, self.keys.adopted(self.id))
        return [job for job in settle if job.status is JobStatus.FAILED]

    def _declared_dead(self, still_recorded: Set[str]) -> None:
        # The runs still recorded as running here were not taken over (the
        # registration was lost some other way, e.g. by flush()): kept.
        with self._held_lock:
            taken = {i: job for i, job in self._held.items() if i not in still_recorded}
            for job_id in taken:
                del self._held[job_id]
        self._discarded.update(taken)
        logger.error(
            "This worker (%s) of namespace %r was declared dead by another worker (or Redis "
            "lost its data): it was silent for more than %.0f s. The %d jobs it is running were "
            "settled by that worker (retryable ones run again elsewhere, non-retryable ones were "
            "reported failed); their outcome here will be discarded. It registers again and "
            "goes on. If this happens often, raise broker_dead_threshold_seconds or find what "
            "froze this process.",
            self.id[:8],
            self.namespace,
            self.broker_dead_threshold_seconds,
            len(taken),
        )

    def _orphans(self, recorded: Set[str]) -> List[Job]:
        with self._held_lock:
            orphan_ids = sorted(recorded - self._held.keys())
        if not orphan_ids:
            return []
        entries = self._retrying(
            "read orphan jobs",
            lambda _: self._redis.hmget(self.keys.running(self.id), orphan_ids),
            forever=True,
        )
        jobs = []
        for entry in entries:
            if entry is None:
                continue
            try:
                job = self.codec.decode(entry[1:])
            except Exception as exc:  # whatever it is, one payload never stops a worker
                self._reject_running(entry[1:], exc)
                continue
            job.status = JobStatus.QUEUED  # never started: back to the queue as it was
            jobs.append(job)
        if jobs:
            logger.warning(
                "Returning %d jobs to their queue: they were fetched but the reply was lost",
                len(jobs),
            )
        return jobs

    # -- job records --------------------------------------------------------

    def get_job(self, job_id: str) -> Optional[Job]:
        """The record of a tracked job, or ``None``; see :meth:`Broker.get_job`."""
        key = self.keys.job(job_id)
        record = self._retrying("read a job record", lambda _: self._redis.hgetall(key))
        fields = {_text(name): value for name, value in record.items()}
        try:
            status = JobStatus(int(fields["status"]))
            payload = fields["payload"]
        except (KeyError, ValueError):
            return None  # no record, or not one (a foreign write)
        job = self.codec.decode(payload, status)
        job.enqueued_at = _date(fields.get("enqueued_at"))
        job.started_at = _date(fields.get("started_at"))
        job.finished_at = _date(fields.get("finished_at"))
        worker = fields.get("worker")
        job.worker_id = None if worker is None else _text(worker)
        error = fields.get("error")
        job.error = None if error is None else JobError.from_json(error)
        job.cancel_requested = fields.get("cancel") == b"1"
        return job

    def wait_result(self, job_id: str, timeout: Optional[float]) -> Optional[Outcome]:
        """Block until the job's outcome is stored; see :meth:`Broker.wait_result`.

        ``BLMOVE key key RIGHT RIGHT`` waits on the server and leaves the
        outcome where it is, for every waiter; long waits are cut into
        blocking calls shorter than the client's socket timeout.
        """
        key = self.keys.result(job_id)
        longest = self._result_wait_step()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = longest if deadline is None else deadline - time.monotonic()
            step = max(0.0, min(left, longest))
            # 0 would block for ever: the last step of a wait is at least 1 ms.
            text = self._retrying(
                "wait for a job's result",
                functools.partial(self._block_on, key, max(step, 0.001)),
            )
            if text is not None:
                return decode_outcome(text)
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def _block_on(self, key: str, seconds: float, attempt: int) -> Optional[bytes]:
        reply: Optional[bytes] = self._redis.blmove(key, key, seconds, "RIGHT", "RIGHT")
        return reply

    def _result_wait_step(self) -> float:
        """Longest blocking call: well within the client's socket timeout."""
        pool = getattr(self._redis, "connection_pool", None)
        timeout = getattr(pool, "connection_kwargs", {}).get("socket_timeout")
        if not timeout:
            return RESULT_WAIT_STEP
        return max(0.05, min(RESULT_WAIT_STEP, float(timeout) / 2))

    # -- failed jobs --------------------------------------------------------

    def _read_failed(self, ids: Sequence[Any]) -> List[FailedJob]:
        keys = self.keys

        def call(_: int) -> List[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(
                    keys.failed_job(_text(job_id)), "payload", "error", "failed_at", "worker",
                    "history",
                )  # fmt: skip
            return list(pipe.execute())

        found = []
        for fields in self._retrying("read failed jobs", call) if ids else []:
            payload, error, failed_at, worker, history = fields
            if payload is None or failed_at is None:
                continue  # expired meanwhile
            raw: Optional[bytes] = None
            try:
                job: Optional[Job] = self.codec.decode(payload, JobStatus.FAILED)
            except Exception:  # set aside as unreadable: its head says what it was
                job = unreadable_job(payload, JobStatus.FAILED)
                raw = payload if isinstance(payload, bytes) else payload.encode()
            if job is None:
                continue
            found.append(
                FailedJob(
                    job,
                    None if error is None else JobError.from_json(error),
                    from_timestamp(float(failed_at)),
                    _text(worker) if worker else None,
                    parse_history(history),
                    raw,
                )
            )
        return found

    def failed_jobs(self, start: int = 0, count: Optional[int] = None) -> List[FailedJob]:
        """Failed jobs, newest first; see :meth:`Broker.failed_jobs`."""
        if count is not None and count <= 0:
            return []
        oldest = self.clock.time() - self.failed_jobs_ttl
        ids = self._retrying(
            "list failed jobs",
            lambda _: self._redis.zrevrangebyscore(
                self.keys.failed, "+inf", oldest, start=start, num=-1 if count is None else count
            ),
        )
        return self._read_failed(ids)

    def failed_jobs_count(self) -> int:
        """How many failed jobs the registry holds (not expired)."""
        oldest = self.clock.time() - self.failed_jobs_ttl
        return int(
            self._retrying(
                "count failed jobs",
                lambda _: self._redis.zcount(self.keys.failed, oldest, "+inf"),
            )
        )

    def get_failed_job(self, job_id: str) -> Optional[FailedJob]:
        """A failed job of the registry, or ``None``."""
        listed = self._retrying(
            "read a failed job", lambda _: self._redis.zscore(self.keys.failed, job_id)
        )
        if listed is None or float(listed) < self.clock.time() - self.failed_jobs_ttl:
            return None
        found = self._read_failed([job_id])
        return found[0] if found else None

    def requeue_failed(self, jobs: Sequence[Tuple[FailedJob, Job]]) -> List[str]:
        """Requeue failed jobs in one atomic script; see :meth:`Broker.requeue_failed`."""
        if not jobs:
            return []
        keys = self.keys
        args: List[Any] = [keys.prefix, self._now_arg()]
        for failed, job in jobs:
            args += (
                failed.job.id_hex, repr(failed.failed_at.timestamp()), job.queue,
                self.codec.encode(job),
            )  # fmt: skip
        moved = [
            _text(i)
            for i in self._run("requeue failed jobs", "requeue_failed", [keys.failed], args)
        ]
        done = set(moved)
        for _, job in jobs:
            if job.id_hex in done:
                job.status = JobStatus.QUEUED
        return moved

    def purge_failed(self, job_ids: Sequence[str]) -> int:
        """Forget failed jobs; see :meth:`Broker.purge_failed`."""
        if not job_ids:
            return 0
        keys = self.keys
        args = [keys.prefix, self._now_arg(), *job_ids]
        return int(self._run("purge failed jobs", "purge_failed", [keys.failed], args))

    def cancel_jobs(self, job_ids: Sequence[str]) -> List[Optional[JobStatus]]:
        """Cancel tracked jobs in one atomic script; see :meth:`Broker.cancel_jobs`."""
        keys = self.keys
        statuses = self._run(
            "cancel jobs", "cancel", [keys.future], [keys.prefix, self._now_arg(), *job_ids]
        )
        return [JobStatus(int(s)) if s else None for s in statuses]

    # -- inspection and maintenance ---------------------------------------

    def queue_length(self, queue: str) -> int:
        """Number of jobs waiting in ``queue``, parked ones included."""
        keys = self.keys

        def call(_: int) -> int:
            pipe = self._redis.pipeline(transaction=False)
            pipe.llen(keys.queue(queue))
            pipe.hget(keys.parked_count, queue)
            length, parked = pipe.execute()
            return _waiting(length, parked)

        return self._retrying("read a queue length", call)

    def future_jobs_count(self) -> int:
        """Number of jobs waiting for their start date."""
        return int(
            self._retrying("count future jobs", lambda _: self._redis.zcard(self.keys.future))
        )

    def queue_names(self) -> List[str]:
        """Names of the queues that ever held a job; see :meth:`Broker.queue_names`."""
        names = self._retrying("list queues", lambda _: self._redis.smembers(self.keys.queues))
        return sorted(_text(name) for name in names)

    def queue_info(self, queue: str) -> QueueInfo:
        """Length and oldest job of ``queue``, in one round trip; see :meth:`Broker.queue_info`."""
        keys = self.keys

        def call(_: int) -> Tuple[Any, Any, Any]:
            pipe = self._redis.pipeline(transaction=False)
            pipe.llen(keys.queue(queue))
            pipe.hget(keys.parked_count, queue)
            pipe.lindex(keys.queue(queue), 0)
            length, parked, head = pipe.execute()
            return length, parked, head

        length, parked, head = self._retrying("inspect a queue", call)
        total = _waiting(length, parked)
        oldest = self._readable([head], JobStatus.QUEUED) if head is not None else []
        at = oldest[0].at_timestamp if oldest else None
        return QueueInfo(
            queue,
            total,
            None if at is None else from_timestamp(at),
            0.0 if at is None else max(0.0, self.clock.time() - at),
        )

    def _readable(self, payloads: Sequence[Any], status: JobStatus) -> List[Job]:
        jobs = []
        for payload in payloads:
            try:
                jobs.append(self.codec.decode(payload, status))
            except Exception:  # set aside by the fetch that finds it; listing goes on
                continue
        return jobs

    def queue_jobs(self, queue: str, start: int, count: int) -> List[Job]:
        """A page of the jobs of ``queue`` (one LRANGE); see :meth:`Broker.queue_jobs`."""
        key = self.keys.queue(queue)
        page = self._retrying(
            "list the jobs of a queue", lambda _: self._redis.lrange(key, start, start + count - 1)
        )
        jobs = self._readable(page, JobStatus.QUEUED)
        tracked = [job for job in jobs if job.track]
        if tracked:  # one more round trip, only for a page holding tracked jobs
            keys = self.keys

            def call(_: int) -> List[Any]:
                pipe = self._redis.pipeline(transaction=False)
                for job in tracked:
                    pipe.hget(keys.job(job.id_hex), "cancel")
                return list(pipe.execute())

            for job, mark in zip(tracked, self._retrying("read cancel marks", call)):
                if mark is not None and _text(mark) == "1":  # dropped by the next fetch
                    job.status, job.cancel_requested = JobStatus.CANCELLED, True
        return jobs

    def future_jobs_summary(self) -> Tuple[int, Optional[float]]:
        """Count and next due of the future jobs; see :meth:`Broker.future_jobs_summary`."""
        key = self.keys.future

        def call(_: int) -> Tuple[int, Optional[float]]:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            count, first = pipe.execute()
            return int(count), (float(first[0][1]) if first else None)

        return self._retrying("inspect the future jobs", call)

    def future_jobs(self, start: int, count: int) -> List[Job]:
        """A page of the future jobs, soonest first (one ZRANGE); see :meth:`Broker.future_jobs`."""
        key = self.keys.future
        page = self._retrying(
            "list the future jobs", lambda _: self._redis.zrange(key, start, start + count - 1)
        )
        return self._readable(page, JobStatus.WAITING)

    def workers(self) -> List[WorkerInfo]:
        """The registered workers (two round trips); see :meth:`Broker.workers`."""
        keys = self.keys

        def call(_: int) -> List[WorkerInfo]:
            registered = self._redis.zrange(keys.brokers, 0, -1, withscores=True)
            pipe = self._redis.pipeline(transaction=False)
            for worker, _score in registered:
                pipe.hgetall(keys.worker(_text(worker)))
                pipe.hlen(keys.running(_text(worker)))
            replies = pipe.execute() if registered else []
            found = []
            for index, (worker, seen) in enumerate(registered):
                info = {_text(k): _text(v) for k, v in replies[2 * index].items()}
                queues = tuple(q for q in info.get("queue", "").split(",") if q)
                started = info.get("started")
                pid = info.get("pid", "")
                slots = info.get("slots", "")
                found.append(
                    WorkerInfo(
                        _text(worker),
                        info.get("host") or None,
                        int(pid) if pid.isdigit() else None,
                        queues,
                        info.get("version") or None,
                        from_timestamp(float(started)) if started else None,
                        from_timestamp(float(seen)),
                        int(replies[2 * index + 1]),
                        int(slots) if slots.isdigit() else None,
                    )
                )
            return sorted(found, key=lambda w: w.id)

        return self._retrying("list workers", call)

    def _worker_ids(self) -> List[str]:
        ids = self._retrying("list workers", lambda _: self._redis.zrange(self.keys.brokers, 0, -1))
        return [_text(i) for i in ids]

    def running_jobs(self) -> List[Job]:
        """Jobs recorded as running on any worker of the namespace."""
        keys = self.keys

        def call(_: int) -> List[Job]:
            jobs = []
            for worker in self._worker_ids():
                for entry in self._redis.hvals(keys.running(worker)):
                    jobs.append(self.codec.decode(entry[1:], JobStatus.RUNNING))
            return jobs

        return self._retrying("list running jobs", call)

    def periodic_tasks(self) -> List[tuple[str, float]]:
        """``(task name, next due timestamp)`` of each periodic task, soonest first."""
        entries = self._retrying(
            "list periodic tasks",
            lambda _: self._redis.zrange(self.keys.periodic, 0, -1, withscores=True),
        )
        return [(json.loads(f'"{_text(token)}"'), float(score)) for token, score in entries]

    def cron_next_runs(self, names: Sequence[str]) -> Dict[str, float]:
        """The ticks planned still to come (one HMGET); see :meth:`Broker.cron_next_runs`.

        Past or future is told by the server's time.
        """
        if not names:
            return {}
        tokens = [task_token(name) for name in names]
        self._sync_clock()
        ticks = self._retrying(
            "read the cron ticks planned", lambda _: self._redis.hmget(self.keys.cron, tokens)
        )
        now = self.clock.time()
        found = {}
        for name, tick in zip(names, ticks):
            at = _number(tick)
            if at is not None and at > now:
                found[name] = at
        return found

    def limits(self, tasks: Sequence[Task]) -> List[LimitInfo]:
        """The state of limits of ``tasks``, in one round trip; see :meth:`Broker.limits`.

        Counters are read as they are (HGET, LLEN) and rate windows counted
        by date (ZCOUNT), with the server's time: nothing is read whole.
        """
        if not tasks:
            return []
        keys = self.keys
        self._sync_clock()
        now = self.clock.time()

        def call(_: int) -> List[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for task in tasks:
                token = task_token(task.name)
                if task.max_concurrency is not None:
                    pipe.hget(keys.current_concurrency, token)
                    pipe.llen(keys.parked(token))
                if task.rate_limit is not None:
                    window = keys.rate(token)
                    pipe.zcount(window, f"({now - task.rate_limit[1]!r}", repr(now))
                    pipe.zcount(window, f"({now!r}", "+inf")
            return list(pipe.execute(raise_on_error=False))

        replies = iter(self._retrying("inspect the limits", call))
        found = []
        for task in tasks:
            running = parked = started = waiting = None
            if task.max_concurrency is not None:
                current = _number(next(replies))
                running = 0 if current is None else max(0, int(current))
                parked = _count(next(replies))
            if task.rate_limit is not None:
                started, waiting = _count(next(replies)), _count(next(replies))
            found.append(
                LimitInfo(
                    task.name,
                    task.max_concurrency,
                    running,
                    parked,
                    task.rate_limit,
                    started,
                    waiting,
                )
            )
        return found

    def rejected(self, start: int = 0, count: Optional[int] = None) -> List[bytes]:
        """Payloads set aside, oldest first; see :meth:`Broker.rejected`."""
        end = -1 if count is None else start + count - 1
        if count is not None and count <= 0:
            return []
        entries = self._retrying(
            "list rejected payloads", lambda _: self._redis.lrange(self.keys.rejected, start, end)
        )
        return [e if isinstance(e, bytes) else e.encode() for e in entries]

    def flush(self) -> None:
        """Delete every key of the namespace, found through its registries (no SCAN).

        Idempotency records of producers are left to expire (two minutes).
        """
        keys = self.keys

        def call(_: int) -> None:
            client = self._redis
            names = [_text(q) for q in client.smembers(keys.queues)]
            workers = self._worker_ids()
            tasks = {_text(t) for t in client.hkeys(keys.max_concurrency)}
            tasks |= {_text(t) for t in client.hkeys(keys.current_concurrency)}
            doomed = [
                keys.future, keys.periodic, keys.periodic_defs, keys.periodic_seen,
                keys.brokers, keys.queues, keys.max_concurrency, keys.current_concurrency,
                keys.parked_count, keys.rejected,
            ]  # fmt: skip
            batches = [_text(b) for b in client.zrange(keys.batches, 0, -1)]
            doomed += [keys.batches] + [keys.batch(b) for b in batches]
            doomed += [keys.batch_record(b) for b in batches]
            doomed += [keys.queue(name) for name in names]
            doomed += [keys.running(w) for w in workers] + [keys.worker(w) for w in workers]
            doomed += [keys.adopted(w) for w in workers] + [keys.periodic_retired]
            doomed += [keys.max_concurrency_seen, keys.cron, keys.unique, keys.rate_tasks]
            doomed += [keys.rate(_text(t)) for t in client.smembers(keys.rate_tasks)]
            doomed += [keys.parked(task) for task in tasks]
            failed = [_text(i) for i in client.zrange(keys.failed, 0, -1)]
            doomed += [keys.failed, keys.failed_bounds] + [keys.failed_job(i) for i in failed]
            found, tracked = self._job_ids(doomed, workers)
            doomed += [keys.job(i) for i in tracked] + [keys.failed_job(i) for i in found]
            doomed += [keys.result(i) for i in found | set(failed)]
            for start in range(0, len(doomed), 500):
                client.delete(*doomed[start : start + 500])

        self._retrying("flush the namespace", call)
        with self._held_lock:
            self._held.clear()

    def _job_ids(self, doomed: List[str], workers: List[str]) -> Tuple[Set[str], Set[str]]:
        """Ids of the jobs not finished yet, found where they wait or run, and the tracked ones.

        No registry of job records is kept (it would cost a command per
        job) and SCAN is not used (a least-privilege ACL user has no right
        to it): records and results of finished jobs are left to expire.
        """
        keys, client = self.keys, self._redis
        kinds = tuple(keys.prefix + kind for kind in ("queue:", "parked:", "batch:"))
        lists = [key for key in doomed if key.startswith(kinds)]
        found: List[bytes] = []
        for key in lists:
            for start in itertools.count(0, 1000):
                page = _or_empty(client.lrange, key, start, start + 999)
                found += page
                if len(page) < 1000:
                    break
        found += _or_empty(client.zrange, keys.future, 0, -1)
        for worker in workers:
            for key in (keys.running(worker), keys.adopted(worker)):
                found += [entry[1:] for entry in _or_empty(client.hvals, key)]
        ids, tracked = set(), set()
        for raw in found:
            payload = raw if isinstance(raw, bytes) else raw.encode()
            start = payload.find(b'{"id":"')  # a staged entry starts with kind|target|
            if start < 0:
                continue
            job_id = payload[start + 7 : start + 39].decode("ascii", "replace")
            ids.add(job_id)
            if _TRACKED_TAIL.search(payload[-200:]):
                tracked.add(job_id)
        return ids, tracked

    def inject_raw_payload(self, queue: str, payload: str | bytes) -> None:
        """Put a raw payload at the end of ``queue``, bypassing every check.

        Meant for tests of how workers cope with corrupted or foreign data.
        """
        keys = self.keys
        self._redis.rpush(keys.queue(queue), payload)
        self._redis.sadd(keys.queues, queue)
        self._redis.publish(keys.notify, f"q:{queue}")


def _chunks(entries: List[Any]) -> Iterable[List[Any]]:
    """Split (kind, target, payload) triples into chunks of bounded count and size."""
    chunk: List[Any] = []
    size = 0
    for start in range(0, len(entries), 3):
        payload = entries[start + 2]
        if chunk and (
            len(chunk) >= 3 * BATCH_CHUNK_JOBS or size + len(payload) > BATCH_CHUNK_BYTES
        ):
            yield chunk
            chunk, size = [], 0
        chunk += entries[start : start + 3]
        size += len(payload)
    if chunk:
        yield chunk


def _waiting(length: Any, parked: Any) -> int:
    """Jobs waiting in a queue: its list's length and its count of parked jobs."""
    try:
        return int(length) + max(0, int(parked or 0))
    except ValueError:  # not a number: repaired by the next fetch that parks
        return int(length)


def _number(value: Any) -> Optional[float]:
    """A number stored as text, or ``None`` (missing, or not a number: a foreign write)."""
    if value is None or isinstance(value, Exception):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _count(value: Any) -> int:
    """What a count command answered; 0 for a key of another type (a foreign write)."""
    return int(value) if isinstance(value, int) else 0


def _default_client() -> Any:
    return redis.Redis(host="localhost", port=6379, **DEFAULT_CLIENT_OPTIONS)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: enqueue.lua's status of a unique job not enqueued: what the live job holding its key is.
_HELD = {"W": JobStatus.WAITING, "Q": JobStatus.QUEUED, "R": JobStatus.RUNNING}
#: A record's status field, as the letter enqueue.lua would give it.
_RECORD_LETTERS = {"1": "W", "2": "Q", "3": "R"}


#: Longest single blocking call while waiting for a result (seconds).
RESULT_WAIT_STEP = 5.0

#: The end of a tracked job's payload (see track_of() in _common.lua).
_TRACKED_TAIL = re.compile(rb',"track":[0-9]+(?:,"result":[0-9]+)?(?:,"sig":"[0-9a-f]+")?}$')

#: The outcome letter of a finished job, for the scripts (acknowledge() in _common.lua).
_FINAL = {JobStatus.SUCCEEDED: "s", JobStatus.FAILED: "x", JobStatus.CANCELLED: "c"}


def _error(job: Job) -> str:
    """The error of a job's last attempt, where it is kept ('' if none or not kept).

    Every failed job's error goes to the registry of failed jobs; the error
    of another attempt only to the record of a tracked job, or to the
    stored outcome of a job whose task stores results.
    """
    if job.error is None:
        return ""
    kept = job.track or job.result_ttl or job.status is JobStatus.FAILED
    return job.error.to_json() if kept else ""


def _date(value: Optional[bytes]) -> Optional[datetime]:
    return None if value is None else from_timestamp(float(value))


def _or_empty(read: Callable[..., List[bytes]], *args: Any) -> List[bytes]:
    """What ``read(*args)`` returns, or nothing if the key holds another type (a foreign write)."""
    try:
        return list(read(*args))
    except ResponseError as exc:
        if "WRONGTYPE" not in str(exc):
            raise
        return []
