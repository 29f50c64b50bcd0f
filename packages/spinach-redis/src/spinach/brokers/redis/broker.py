"""The Redis broker: the broker contract on one Redis server or a Redis Cluster."""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)
from redis.retry import Retry
from spinach.brokers.base import DEFAULT_DEAD_THRESHOLD, Broker
from spinach.clock import Clock
from spinach.exc import BrokerConnectionError, BrokerError, SerializationError
from spinach.job import Job, JobStatus
from spinach.task import Task
from spinach.utils import from_timestamp

from .keys import Keys, task_token
from .scripts import Scripts
from .subscriber import Subscriber

__all__ = ["RedisBroker"]

logger = logging.getLogger("spinach.broker.redis")

T = TypeVar("T")

_TRANSIENT = (ConnectionError, TimeoutError, ClusterDownError, TryAgainError)

#: How long a producer's last sequence number is kept for idempotent retries.
IDEMPOTENCY_TTL_MS = 120_000
#: Most future jobs moved to their queue by one call.
MOVE_BATCH = 1000

#: Options of the clients the broker creates itself.  Retries are the
#: broker's business (with backoff, jitter and idempotency), not the client's.
DEFAULT_CLIENT_OPTIONS: Dict[str, Any] = {
    "socket_timeout": 30,
    "socket_connect_timeout": 10,
    "socket_keepalive": True,
    "health_check_interval": 30,
    "retry": Retry(NoBackoff(), 0),
}

_BROKER_OPTIONS = ("broker_dead_threshold_seconds", "clock", "connection_attempts")


class RedisBroker(Broker):
    """Broker storing jobs in Redis.

    Every transition is one Lua script, so it is atomic, and every key of a
    namespace shares the hash tag ``{namespace}``, so it runs unchanged on
    Redis Cluster.  Redis 6.2 or newer is required.

    :arg redis: a ready ``redis.Redis`` or ``redis.cluster.RedisCluster``
        client; by default one connecting to localhost:6379.  Use
        :meth:`from_url` for a URL (password, TLS, database).
    :arg broker_dead_threshold_seconds: how long a worker may stay silent
        before its jobs are recovered (default 60 s)
    :arg clock: source of time, see :mod:`spinach.clock`
    :arg connection_attempts: attempts of each call before
        :class:`~spinach.exc.BrokerConnectionError` is raised (with
        exponential backoff and jitter in between, about 5 s in all)
    """

    def __init__(
        self,
        redis: Any = None,
        *,
        broker_dead_threshold_seconds: float = DEFAULT_DEAD_THRESHOLD,
        clock: Optional[Clock] = None,
        connection_attempts: int = 8,
    ) -> None:
        super().__init__(broker_dead_threshold_seconds=broker_dead_threshold_seconds, clock=clock)
        if connection_attempts < 1:
            raise ValueError("connection_attempts must be 1 or more")
        self._redis = redis if redis is not None else _default_client()
        self._attempts = connection_attempts
        self._scripts = Scripts(self._redis)
        self._keys: Optional[Keys] = None
        self._sequence = itertools.count(1)
        self._held: Set[str] = set()  # ids of the jobs this broker handed out
        self._held_lock = threading.Lock()
        self._unsettled: List[Job] = []  # adopted jobs not acknowledged yet
        self._subscriber: Optional[Subscriber] = None
        self._queue_note: Optional[bytes] = None

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

    def _retrying(self, operation: str, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except _TRANSIENT as exc:
                attempt += 1
                if attempt >= self._attempts:
                    raise BrokerConnectionError(
                        f"could not {operation} on Redis after {attempt} attempts: {exc}"
                    ) from exc
                delay = min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                logger.warning(
                    "Redis error while trying to %s (%s), retrying in %.2f s", operation, exc, delay
                )
                threading.Event().wait(delay)  # pacing a retry, not synchronisation
            except ResponseError as exc:
                raise BrokerError(f"Redis refused to {operation}: {exc}") from exc

    def _run(self, operation: str, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._retrying(operation, lambda: self._scripts.run(self._redis, script, keys, args))

    # -- lifecycle --------------------------------------------------------

    def start(self, queue: Optional[str] = None) -> None:
        """Subscribe to the namespace's notifications and register as a live worker."""
        keys = self.keys
        self._queue_note = f"q:{queue}".encode() if queue else None
        self._warn_if_keys_can_be_evicted()
        subscriber = Subscriber(
            self._redis,
            keys.notify,
            f"{keys.notify}:{self.id}",
            self._on_notification,
            self.notify_future_changed,
            name=f"{self.namespace}-redis-subscriber",
        )
        self._retrying("subscribe to notifications", subscriber.start)
        self._subscriber = subscriber
        self._retrying(
            "register the worker",
            lambda: self._redis.zadd(keys.brokers, {self.id: repr(self.clock.time())}),
        )
        self.notify_future_changed()

    def stop(self) -> None:
        """Stop listening; leave the namespace unless jobs still run here."""
        if self._subscriber is not None:
            self._subscriber.stop()
            self._subscriber = None
        self._scripts.close()
        keys = self.keys
        try:
            if not self._redis.hlen(keys.running(self.id)):
                self._redis.zrem(keys.brokers, self.id)
        except _TRANSIENT as exc:
            logger.warning("Could not unregister from Redis (%s): others will after a while", exc)

    def _on_notification(self, data: bytes) -> None:
        for part in data.split():
            if part == b"f":
                self.notify_future_changed()
            elif self._queue_note is None or part == self._queue_note:
                self.notify()

    def _warn_if_keys_can_be_evicted(self) -> None:
        try:
            policy = self._redis.config_get("maxmemory-policy").get("maxmemory-policy", "")
        except (ResponseError, *_TRANSIENT):
            return  # CONFIG is often disabled on managed Redis
        if isinstance(policy, bytes):
            policy = policy.decode()
        if policy.startswith("allkeys"):
            logger.warning(
                "Redis maxmemory-policy is %r: Redis may evict Spinach's keys and lose jobs "
                "when memory runs low; use noeviction on the Redis server of a task queue",
                policy,
            )

    # -- client side ------------------------------------------------------

    def enqueue_jobs(self, jobs: Sequence[Job]) -> None:
        """Enqueue jobs atomically in one round trip; see :meth:`Broker.enqueue_jobs`."""
        if not jobs:
            return
        keys = self.keys
        now = self.clock.time()
        producer = f"{self.id}:{threading.get_ident()}"
        args: List[Any] = [keys.prefix, producer, next(self._sequence), IDEMPOTENCY_TTL_MS]
        statuses = []
        for job in jobs:
            payload = job.serialize()
            at = job.at_timestamp
            if at <= now:
                args += ("q", job.queue, payload)
                statuses.append(JobStatus.QUEUED)
            else:
                args += ("f", repr(at), payload)
                statuses.append(JobStatus.WAITING)
        self._run("enqueue jobs", "enqueue", [keys.future], args)
        for job, status in zip(jobs, statuses):
            job.status = status

    # -- worker side ------------------------------------------------------

    def register_periodic_tasks(self, tasks: Iterable[Task]) -> None:
        """Make ``tasks`` the periodic tasks; see :meth:`Broker.register_periodic_tasks`."""
        keys = self.keys
        args: List[Any] = [keys.prefix, repr(self.clock.time())]
        for task in tasks:
            if task.periodicity is not None:
                period = task.periodicity.total_seconds()
                args += (task_token(task.name), repr(period), task.queue, task.max_retries)
        self._run(
            "register periodic tasks",
            "register_periodic",
            [keys.periodic, keys.periodic_defs],
            args,
        )

    def set_concurrency_keys(self, tasks: Iterable[Task]) -> None:
        """Record concurrency limits; see :meth:`Broker.set_concurrency_keys`."""
        keys = self.keys
        args: List[Any] = [keys.prefix]
        for task in tasks:
            limit = "" if task.max_concurrency is None else task.max_concurrency
            args += (task_token(task.name), limit)
        if len(args) > 1:
            self._run("set concurrency limits", "set_concurrency", [keys.max_concurrency], args)

    def get_jobs_from_queue(self, queue: str, max_jobs: int) -> List[Job]:
        """Fetch up to ``max_jobs`` jobs in one call; see :meth:`Broker.get_jobs_from_queue`."""
        keys = self.keys
        result = self._run(
            "fetch jobs",
            "fetch",
            [keys.queue(queue), keys.running(self.id)],
            [keys.prefix, max_jobs, queue, max(100, 10 * max_jobs)],
        )
        return self._fetched(result, queue)

    def acknowledge_and_fetch(
        self, finished: Sequence[Job], queue: str, max_jobs: int
    ) -> List[Job]:
        """Acknowledge finished jobs and fetch new ones in one call.

        See :meth:`Broker.acknowledge_and_fetch`.
        """
        if not finished:
            return self.get_jobs_from_queue(queue, max_jobs) if max_jobs > 0 else []
        keys = self.keys
        args: List[Any] = [keys.prefix, max_jobs, queue, max(100, 10 * max_jobs)]
        args += self._outcomes(finished)
        result = self._run(
            "acknowledge and fetch jobs",
            "exchange",
            [keys.queue(queue), keys.running(self.id), keys.future],
            args,
        )
        self._release_held(finished)
        return self._fetched(result, queue)

    def _fetched(self, result: List[Any], queue: str) -> List[Job]:
        """Jobs out of a fetch reply {rejected count, payloads...}."""
        if result[0]:
            self._log_rejected(int(result[0]), f"queue {queue!r}")
        jobs = []
        for payload in result[1:]:
            try:
                jobs.append(Job.deserialize(payload, JobStatus.RUNNING))
            except SerializationError as exc:
                self._reject_running(payload, exc)
        with self._held_lock:
            self._held.update(job.id_hex for job in jobs)
        return jobs

    def _release_held(self, jobs: Sequence[Job]) -> None:
        with self._held_lock:
            self._held.difference_update(job.id_hex for job in jobs)

    def _log_rejected(self, count: int, where: str) -> None:
        logger.error(
            "Set aside %d unreadable payloads found in %s of namespace %r; they are kept "
            "in the Redis list %s",
            count,
            where,
            self.namespace,
            self.keys.rejected,
        )

    def _reject_running(self, payload: bytes | str, exc: Exception) -> None:
        raw = payload.encode() if isinstance(payload, str) else payload
        job_id = raw[7:39].decode("ascii", "replace")
        logger.error(
            "Set aside job %s of namespace %r: its payload cannot be read (%s)",
            job_id,
            self.namespace,
            exc,
        )
        keys = self.keys
        self._run(
            "set aside a payload",
            "reject_running",
            [keys.running(self.id)],
            [keys.prefix, job_id],
        )

    def acknowledge(self, jobs: Sequence[Job]) -> None:
        """Record outcomes in one call; see :meth:`Broker.acknowledge`."""
        if not jobs:
            return
        keys = self.keys
        args: List[Any] = [keys.prefix, *self._outcomes(jobs)]
        self._run("acknowledge jobs", "ack", [keys.running(self.id), keys.future], args)
        self._release_held(jobs)

    def _outcomes(self, jobs: Sequence[Job]) -> List[Any]:
        """(job id, outcome, target, payload) of each finished job, for the scripts."""
        now = self.clock.time()
        args: List[Any] = []
        for job in jobs:
            if job.status in (JobStatus.WAITING, JobStatus.QUEUED):
                at = job.at_timestamp
                if at <= now:
                    job.status = JobStatus.QUEUED
                    args += (job.id_hex, "q", job.queue, job.serialize())
                else:
                    job.status = JobStatus.WAITING
                    args += (job.id_hex, "f", repr(at), job.serialize())
            else:
                args += (job.id_hex, "d", "", "")
        return args

    def move_future_jobs(self) -> Optional[float]:
        """Queue due jobs and periodic tasks; see :meth:`Broker.move_future_jobs`."""
        keys = self.keys
        rejected, next_due = self._run(
            "move future jobs",
            "move_future",
            [keys.future, keys.periodic],
            [keys.prefix, repr(self.clock.time()), MOVE_BATCH],
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
        keys = self.keys
        now = self.clock.time()
        dead, adopted, own = self._run(
            "heartbeat",
            "adopt_dead",
            [keys.brokers, keys.running(self.id)],
            [keys.prefix, self.id, repr(now), self.broker_dead_threshold_seconds],
        )
        for broker_id in _text(dead).split():
            logger.warning(
                "Worker %s of namespace %r is dead (no heartbeat for %.0f s): adopting its jobs",
                broker_id[:8],
                self.namespace,
                self.broker_dead_threshold_seconds,
            )
        settle = list(self._unsettled)
        adopted_ids = set()
        for entry in adopted:
            payload = entry[1:]
            try:
                job = Job.deserialize(payload)
            except SerializationError as exc:
                self._reject_running(payload, exc)
                continue
            adopted_ids.add(job.id_hex)
            if job.retryable:
                job.retries += 1
                job.at = from_timestamp(now)
                job.status = JobStatus.QUEUED
            else:
                job.status = JobStatus.FAILED
            settle.append(job)
        settle += self._orphans({_text(i) for i in own} - adopted_ids)
        if not settle:
            return []
        with self._held_lock:
            self._held.update(job.id_hex for job in settle)
        self._unsettled = settle
        self.acknowledge(settle)
        self._unsettled = []
        return [job for job in settle if job.status is JobStatus.FAILED]

    def _orphans(self, recorded: Set[str]) -> List[Job]:
        with self._held_lock:
            orphan_ids = sorted(recorded - self._held)
        if not orphan_ids:
            return []
        entries = self._retrying(
            "read orphan jobs", lambda: self._redis.hmget(self.keys.running(self.id), orphan_ids)
        )
        jobs = []
        for entry in entries:
            if entry is None:
                continue
            try:
                job = Job.deserialize(entry[1:])
            except SerializationError as exc:
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

    def is_queue_empty(self, queue: str) -> bool:
        """Whether ``queue`` holds no job; see :meth:`Broker.is_queue_empty`."""
        return self.queue_length(queue) == 0

    # -- inspection and maintenance ---------------------------------------

    def queue_length(self, queue: str) -> int:
        """Number of jobs waiting in ``queue``, parked ones included."""
        keys = self.keys

        def call() -> int:
            pipe = self._redis.pipeline(transaction=False)
            pipe.llen(keys.queue(queue))
            pipe.hget(keys.parked_count, queue)
            length, parked = pipe.execute()
            return int(length) + int(parked or 0)

        return self._retrying("read a queue length", call)

    def future_jobs_count(self) -> int:
        """Number of jobs waiting for their start date."""
        return int(self._retrying("count future jobs", lambda: self._redis.zcard(self.keys.future)))

    def running_jobs(self) -> List[Job]:
        """Jobs recorded as running on any worker of the namespace."""
        pattern = _glob_escape(self.keys.prefix) + "running:*"

        def call() -> List[Job]:
            jobs = []
            for key in self._redis.scan_iter(match=pattern, count=500):
                for entry in self._redis.hvals(key):
                    jobs.append(Job.deserialize(entry[1:], JobStatus.RUNNING))
            return jobs

        return self._retrying("list running jobs", call)

    def periodic_tasks(self) -> List[tuple[str, float]]:
        """``(task name, next due timestamp)`` of each periodic task, soonest first."""
        entries = self._retrying(
            "list periodic tasks",
            lambda: self._redis.zrange(self.keys.periodic, 0, -1, withscores=True),
        )
        return [(json.loads(f'"{_text(token)}"'), float(score)) for token, score in entries]

    def rejected(self) -> List[bytes]:
        """Payloads set aside because they could not be read as jobs."""
        entries = self._retrying(
            "list rejected payloads", lambda: self._redis.lrange(self.keys.rejected, 0, -1)
        )
        return [e if isinstance(e, bytes) else e.encode() for e in entries]

    def flush(self) -> None:
        """Delete every key of the namespace."""
        pattern = _glob_escape(self.keys.prefix) + "*"

        def call() -> None:
            batch = []
            for key in self._redis.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) == 500:
                    self._redis.delete(*batch)
                    batch = []
            if batch:
                self._redis.delete(*batch)

        self._retrying("flush the namespace", call)
        with self._held_lock:
            self._held.clear()

    def inject_raw_payload(self, queue: str, payload: str | bytes) -> None:
        """Put a raw payload at the end of ``queue``, bypassing every check.

        Meant for tests of how workers cope with corrupted or foreign data.
        """
        keys = self.keys
        self._redis.rpush(keys.queue(queue), payload)
        self._redis.publish(keys.notify, f"q:{queue}")


def _default_client() -> Any:
    return redis.Redis(host="localhost", port=6379, **DEFAULT_CLIENT_OPTIONS)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]" else c for c in text)
