"""The in-memory broker, for development, tests and embedded use.

It keeps the whole broker contract, dead-worker recovery and concurrency
limits included, so code tested on it behaves the same on Redis.  Jobs are
stored as their JSON payload, exactly as Redis stores them: a task never
sees its arguments shared with the caller.

Several ``MemoryBroker`` built on one :class:`MemoryStore` behave like
worker processes sharing one Redis server, which is how the contract tests
model several workers.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import re
import socket
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from .._version import __version__ as spinach_version
from ..clock import Clock
from ..cron import CronPlan
from ..exc import JobLostError, SerializationError
from ..failures import UNREADABLE, FailedAttempt, FailedJob, unreadable_job
from ..inspection import LimitInfo, QueueInfo, WorkerInfo
from ..job import Job, JobError, JobStatus, has_job_head, periodic_job_id, read_job_head
from ..outcome import Outcome, decode_outcome, encode_outcome
from ..task import Task
from ..utils import from_timestamp
from .base import DEFAULT_DEAD_THRESHOLD, FETCH_MAX_BYTES, Broker, Queues, queue_names

__all__ = ["REJECTED_KEPT", "MemoryBroker", "MemoryStore"]

#: How many rejected payloads are kept, the newest.
REJECTED_KEPT = 10_000
#: Seconds a record of a job cancelled in its queue is kept, past its TTL,
#: for the fetch that finds the job to drop it (as the Redis scripts do).
SAFETY = 30 * 86400
# The tail of a tracked job's payload: its record's TTL, its result's TTL.
_TRACKED = re.compile(
    r'(?:,"unique":"([0-9a-fA-F]{40})")?'
    r'(?:,"track":([0-9]+))?(?:,"result":([0-9]+))?(?:,"sig":"[0-9a-f]+")?}$'
)
#: Statuses of a job that holds its unique key.
_LIVE = (JobStatus.WAITING, JobStatus.QUEUED, JobStatus.RUNNING)

logger = logging.getLogger("spinach.broker")


@dataclass
class _Periodic:
    period: float
    queue: str
    max_retries: int
    next_at: float


@dataclass
class _Record:
    """What a tracked job's record holds (the Redis broker's job hash)."""

    payload: str
    status: JobStatus
    enqueued_at: float
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    worker: Optional[str] = None
    error: Optional[JobError] = None
    cancel: bool = False
    expires: Optional[float] = None


@dataclass
class _Failed:
    """An entry of the registry of failed jobs (the Redis broker's failed:<id> hash)."""

    payload: str
    error: Optional[JobError]
    failed_at: float
    worker: str
    history: Tuple[FailedAttempt, ...]
    requeued_at: Optional[float] = None
    listed: bool = True


@dataclass
class _Namespace:
    queues: Dict[str, Deque[str]] = field(default_factory=dict)
    future: List[Tuple[float, int, str]] = field(default_factory=list)
    # broker id -> job id -> (counted against a concurrency limit, payload)
    running: Dict[str, Dict[str, Tuple[bool, str]]] = field(default_factory=dict)
    # broker id -> last heartbeat; broker id -> start of its run of heartbeats
    heartbeats: Dict[str, float] = field(default_factory=dict)
    streaks: Dict[str, float] = field(default_factory=dict)
    max_concurrency: Dict[str, int] = field(default_factory=dict)
    # task name -> when a live worker last declared its limit
    max_concurrency_seen: Dict[str, float] = field(default_factory=dict)
    current_concurrency: Dict[str, int] = field(default_factory=dict)
    # task name -> queue name -> payloads waiting for a concurrency slot
    parked: Dict[str, Dict[str, Deque[str]]] = field(default_factory=dict)
    periodic: Dict[str, _Periodic] = field(default_factory=dict)
    # periodic task name -> when a live worker last declared it
    periodic_seen: Dict[str, float] = field(default_factory=dict)
    # retired periodic task name -> its next due date when retired
    periodic_retired: Dict[str, float] = field(default_factory=dict)
    # cron task name -> the timestamp of the last tick planned
    cron_planned: Dict[str, float] = field(default_factory=dict)
    # broker id -> (host, pid, queues, started, slots), for inspection
    worker_info: Dict[str, Tuple[str, int, Tuple[str, ...], float, Optional[int]]] = field(
        default_factory=dict
    )
    rejected: List[bytes] = field(default_factory=list)
    # job id -> record, for tracked jobs; (expiry, job id) of finished ones
    records: Dict[str, _Record] = field(default_factory=dict)
    expiries: List[Tuple[float, str]] = field(default_factory=list)
    # unique key digest -> the id of the job that holds it (unique tasks)
    unique: Dict[str, str] = field(default_factory=dict)
    # task name -> attempt -> date: the starts of its jobs in the last period,
    # and the dates reserved by the attempts refused (rate limits)
    rate_windows: Dict[str, Dict[str, float]] = field(default_factory=dict)
    # job id -> (expiry, stored outcome), for jobs whose task stores results
    # job id -> failed job, in the order they failed (listed or requeued since)
    failed: Dict[str, _Failed] = field(default_factory=dict)
    results: Dict[str, Tuple[float, str]] = field(default_factory=dict)
    result_expiries: List[Tuple[float, str]] = field(default_factory=list)
    listeners: weakref.WeakSet[MemoryBroker] = field(default_factory=weakref.WeakSet)


class MemoryStore:
    """State shared by the :class:`MemoryBroker` built on it, like one Redis server."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: Notified (under ``lock``) when an outcome is stored.
        self.outcome_stored = threading.Condition(self.lock)
        self._namespaces: Dict[str, _Namespace] = {}
        self._sequence = itertools.count()

    def _space(self, namespace: str) -> _Namespace:
        space = self._namespaces.get(namespace)
        if space is None:
            space = self._namespaces[namespace] = _Namespace()
        return space

    def _flush(self, namespace: str) -> None:
        listeners = self._space(namespace).listeners
        self._namespaces[namespace] = _Namespace(listeners=listeners)


class MemoryBroker(Broker):
    """Broker keeping its jobs in the memory of the process.

    :arg store: state to share with other brokers (default: a new one)
    :arg broker_dead_threshold_seconds: see :class:`~spinach.brokers.base.Broker`
    :arg clock: source of time, see :mod:`spinach.clock`
    """

    def __init__(
        self,
        *,
        store: Optional[MemoryStore] = None,
        broker_dead_threshold_seconds: float = DEFAULT_DEAD_THRESHOLD,
        clock: Optional[Clock] = None,
    ) -> None:
        super().__init__(broker_dead_threshold_seconds=broker_dead_threshold_seconds, clock=clock)
        self.store = store if store is not None else MemoryStore()
        self._started = False
        self._queues: Tuple[str, ...] = ()  # served by this worker, for inspection
        self._declared: List[str] = []  # the periodic tasks this worker declared
        self._limited: List[str] = []  # the tasks whose limit this worker declared
        self._rates: Dict[str, Tuple[int, float]] = {}  # the rate limits this worker knows
        # Runs handed out, and runs taken over when declared dead: told apart
        # by their Job object, since one job may be fetched again here.
        self._held: Dict[str, Job] = {}
        self._discarded: Dict[str, Job] = {}

    def copy(self) -> MemoryBroker:
        """A broker on the same store, bound to no namespace; see :meth:`Broker.copy`."""
        return MemoryBroker(
            store=self.store,
            broker_dead_threshold_seconds=self.broker_dead_threshold_seconds,
            clock=self.clock,
        )

    @property
    def _ns(self) -> _Namespace:
        return self.store._space(self.namespace)

    # -- lifecycle ----------------------------------------------------

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._started = False
        self._held, self._discarded = {}, {}

    def start(self, queue: Optional[Queues] = None) -> None:
        """Join the namespace: receive its notifications and heartbeat."""
        self._queues = queue_names(queue) if queue else ()
        with self.store.lock:
            space = self._ns
            space.listeners.add(self)
            self._register(space)
        self.notify_future_changed()

    def _register(self, space: _Namespace) -> None:
        now = self.clock.time()
        space.heartbeats[self.id] = now
        space.streaks[self.id] = now
        space.worker_info[self.id] = (
            socket.gethostname(), os.getpid(), self._queues, now, self.worker_slots,
        )  # fmt: skip
        self._started = True

    def stop(self) -> None:
        """Leave the namespace, unless jobs are still recorded as running here."""
        with self.store.lock:
            space = self._ns
            space.listeners.discard(self)
            if not space.running.get(self.id):
                space.running.pop(self.id, None)
                space.heartbeats.pop(self.id, None)
                space.streaks.pop(self.id, None)
                space.worker_info.pop(self.id, None)
            self._started = False

    # -- client side --------------------------------------------------

    def _read(self, payload: str, status: JobStatus = JobStatus.NOT_SET) -> Job:
        """Read a stored payload as the Redis broker does: head first, then strictly."""
        if not has_job_head(payload):
            raise SerializationError("the payload does not start like a Spinach job")
        return self.codec.decode(payload, status)

    def enqueue_jobs(self, jobs: Sequence[Job]) -> None:
        """Enqueue jobs atomically; see :meth:`Broker.enqueue_jobs`."""
        payloads = [(job, self.codec.encode(job)) for job in jobs]
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            for job, payload in payloads:
                if job.unique is not None and self._holds_key(space, job, now):
                    continue
                self._store(space, job, payload, now)
            self._notify(space, [job for job in jobs if not job.duplicate])

    def _holds_key(self, space: _Namespace, job: Job, now: float) -> bool:
        """Whether a live job holds ``job``'s unique key (then ``job`` stands for it).

        If none does, ``job`` takes the key.
        """
        assert job.unique is not None
        holder = space.unique.get(job.unique)
        if holder is not None and holder != job.id_hex:
            record = self._record(space, holder, now)
            if record is not None and record.status in _LIVE:
                job._id_hex, job._id = holder, None
                job.status, job.duplicate = record.status, True
                return True
        space.unique[job.unique] = job.id_hex
        return False

    def plan_cron_runs(self, runs: Sequence[Job], planned_at: float) -> CronPlan:
        """Plan the next ticks of cron tasks; see :meth:`Broker.plan_cron_runs`."""
        payloads = [(job, self.codec.encode(job)) for job in runs]
        last: Dict[str, Optional[float]] = {}
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            if planned_at > now:
                return CronPlan(now, {job.task_name: None for job in runs})
            stored = []
            for job, payload in payloads:
                tick = job.at_timestamp
                planned = space.cron_planned.get(job.task_name)
                if planned is None or tick > planned:
                    space.cron_planned[job.task_name] = planned = tick
                    self._store(space, job, payload, now)
                    stored.append(job)
                last[job.task_name] = planned
            if stored:
                self._notify(space, stored)
        return CronPlan(now, last)

    def _store(self, space: _Namespace, job: Job, payload: str, now: float) -> None:
        at = job.due_timestamp
        if at <= now:
            space.queues.setdefault(job.queue, deque()).append(payload)
            job.status = JobStatus.QUEUED
        else:
            heapq.heappush(space.future, (at, next(self.store._sequence), payload))
            job.status = JobStatus.WAITING
        if job.track:
            record = self._record(space, job.id_hex, now)
            if record is None:
                record = space.records[job.id_hex] = _Record(payload, job.status, now)
            record.payload, record.status, record.expires = payload, job.status, None
            if job.error is not None:
                record.error = job.error

    # -- job records ----------------------------------------------------

    def _record(self, space: _Namespace, job_id: str, now: float) -> Optional[_Record]:
        """The live record of a job; expired ones are forgotten on the way."""
        expiries = space.expiries
        while expiries and expiries[0][0] <= now:
            _, expired = heapq.heappop(expiries)
            record = space.records.get(expired)
            if record is not None and record.expires is not None and record.expires <= now:
                del space.records[expired]
        return space.records.get(job_id)

    def _finish_record(
        self,
        space: _Namespace,
        job: Job,
        status: JobStatus,
        now: float,
        error: Optional[JobError] = None,
    ) -> None:
        if job.result_ttl:
            expiries = space.result_expiries
            while expiries and expiries[0][0] <= now:  # forget the expired ones
                _, expired = heapq.heappop(expiries)
                kept = space.results.get(expired)
                if kept is not None and kept[0] <= now:
                    del space.results[expired]
            outcome = encode_outcome(status, job._result, error)
            space.results[job.id_hex] = (now + job.result_ttl, outcome)
            heapq.heappush(expiries, (now + job.result_ttl, job.id_hex))
            self.store.outcome_stored.notify_all()
        if job.unique is not None and space.unique.get(job.unique) == job.id_hex:
            del space.unique[job.unique]
        record = self._record(space, job.id_hex, now) if job.track else None
        if record is None:
            return
        record.status, record.finished_at = status, now
        if error is not None:
            record.error = error
        record.expires = now + job.track
        heapq.heappush(space.expiries, (record.expires, job.id_hex))

    # -- failed jobs ------------------------------------------------------

    def _keep_failed(
        self, space: _Namespace, job_id: str, payload: str, error: Optional[JobError], now: float
    ) -> None:
        before = space.failed.pop(job_id, None)
        history: Tuple[FailedAttempt, ...] = ()
        if before is not None:
            earlier = FailedAttempt(
                before.error, from_timestamp(before.failed_at), _date(before.requeued_at)
            )
            history = (*before.history, earlier)[-20:]
        space.failed[job_id] = _Failed(payload, error, now, self.id, history)
        self._trim_failed(space, now)

    def _trim_failed(self, space: _Namespace, now: float) -> None:
        limit = now - self.failed_jobs_ttl
        for job_id in [i for i, f in space.failed.items() if f.failed_at < limit]:
            del space.failed[job_id]
        listed = [i for i, f in space.failed.items() if f.listed]
        for job_id in listed[: max(0, len(listed) - self.failed_jobs_kept)]:
            del space.failed[job_id]

    def _failed_job(self, job_id: str, entry: _Failed) -> Optional[FailedJob]:
        raw: Optional[bytes] = None
        try:
            job: Optional[Job] = self.codec.decode(entry.payload, JobStatus.FAILED)
        except SerializationError:  # set aside as unreadable: its head says what it was
            job = unreadable_job(entry.payload, JobStatus.FAILED)
            raw = entry.payload.encode("utf-8", "surrogateescape")
        if job is None:
            return None
        return FailedJob(
            job, entry.error, from_timestamp(entry.failed_at), entry.worker, entry.history, raw
        )

    def failed_jobs(self, start: int = 0, count: Optional[int] = None) -> List[FailedJob]:
        """Failed jobs, newest first; see :meth:`Broker.failed_jobs`."""
        with self.store.lock:
            space = self._ns
            self._trim_failed(space, self.clock.time())
            listed = [(i, f) for i, f in reversed(space.failed.items()) if f.listed]
            page = listed[start:] if count is None else listed[start : start + count]
            found = [self._failed_job(i, f) for i, f in page]
            return [failed for failed in found if failed is not None]

    def failed_jobs_count(self) -> int:
        """How many failed jobs the registry holds."""
        with self.store.lock:
            space = self._ns
            self._trim_failed(space, self.clock.time())
            return sum(1 for f in space.failed.values() if f.listed)

    def get_failed_job(self, job_id: str) -> Optional[FailedJob]:
        """A failed job of the registry, or ``None``."""
        with self.store.lock:
            space = self._ns
            self._trim_failed(space, self.clock.time())
            entry = space.failed.get(job_id)
            return None if entry is None or not entry.listed else self._failed_job(job_id, entry)

    def requeue_failed(self, jobs: Sequence[Tuple[FailedJob, Job]]) -> List[str]:
        """Requeue failed jobs atomically; see :meth:`Broker.requeue_failed`."""
        moved: List[str] = []
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            for failed, job in jobs:
                job_id = failed.job.id_hex
                entry = space.failed.get(job_id)
                if entry is None or not entry.listed:
                    continue  # requeued or purged meanwhile
                if abs(entry.failed_at - failed.failed_at.timestamp()) > 1e-5:
                    continue  # failed again since it was read
                if job.unique is not None:  # only if it can take its key: see the Redis broker
                    holder = space.unique.get(job.unique)
                    live = holder not in (None, job_id) and self._record(space, holder, now)
                    if live and live.status in _LIVE:
                        continue
                    space.unique[job.unique] = job_id
                payload = self.codec.encode(job)
                space.queues.setdefault(job.queue, deque()).append(payload)
                job.status = JobStatus.QUEUED
                entry.listed, entry.requeued_at = False, now
                space.results.pop(job_id, None)
                record = self._record(space, job_id, now) if job.track else None
                if record is not None:
                    record.payload, record.status, record.expires = payload, job.status, None
                    record.finished_at = None
                moved.append(job_id)
            if moved:
                self._notify(space, [j for _, j in jobs if j.id_hex in set(moved)])
        return moved

    def purge_failed(self, job_ids: Sequence[str]) -> int:
        """Forget failed jobs; see :meth:`Broker.purge_failed`."""
        with self.store.lock:
            space = self._ns
            purged = 0
            for job_id in job_ids:
                entry = space.failed.pop(job_id, None)
                purged += entry is not None and entry.listed
            return purged

    def wait_result(self, job_id: str, timeout: Optional[float]) -> Optional[Outcome]:
        """Wait for a stored outcome; see :meth:`Broker.wait_result`."""
        with self.store.lock:
            space = self._ns

            def stored() -> Optional[str]:
                kept = space.results.get(job_id)
                if kept is None:
                    return None
                if kept[0] <= self.clock.time():
                    del space.results[job_id]
                    return None
                return kept[1]

            # The condition's own wait: no polling.
            if not self.store.outcome_stored.wait_for(lambda: stored() is not None, timeout):
                return None
            text = stored()
        return None if text is None else decode_outcome(text)

    def get_job(self, job_id: str) -> Optional[Job]:
        """The record of a tracked job, or ``None``; see :meth:`Broker.get_job`."""
        with self.store.lock:
            record = self._record(self._ns, job_id, self.clock.time())
            if record is None:
                return None
            job = self.codec.decode(record.payload, record.status)
            job.enqueued_at = from_timestamp(record.enqueued_at)
            job.started_at = _date(record.started_at)
            job.finished_at = _date(record.finished_at)
            job.worker_id, job.error = record.worker, record.error
            job.cancel_requested = record.cancel
            return job

    def cancel_jobs(self, job_ids: Sequence[str]) -> List[Optional[JobStatus]]:
        """Cancel tracked jobs atomically; see :meth:`Broker.cancel_jobs`."""
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            records = [self._record(space, job_id, now) for job_id in job_ids]
            if any(record is None for record in records):
                return [None if record is None else record.status for record in records]
            statuses: List[Optional[JobStatus]] = []
            for job_id, record in zip(job_ids, records):
                assert record is not None
                if record.status in (JobStatus.QUEUED, JobStatus.WAITING):
                    # As on Redis: a future job leaves the future jobs; one in a
                    # queue (or parked, or on its way) is marked, and the fetch
                    # that finds it drops it.
                    job = self._read(record.payload)
                    removed = self._remove_future(space, job.id_hex)
                    self._finish_record(space, job, JobStatus.CANCELLED, now)
                    if not removed:
                        record.cancel = True
                        record.expires = now + job.track + SAFETY
                        heapq.heappush(space.expiries, (record.expires, job_id))
                elif record.status is JobStatus.RUNNING:
                    record.cancel = True
                    for listener in list(space.listeners):
                        listener._cancel_requested_here(listener._held.get(job_id))
                statuses.append(record.status)
            return statuses

    def _remove_future(self, space: _Namespace, job_id: str) -> bool:
        """Remove a job from the future jobs; return whether it was there."""
        head = '{"id":"' + job_id
        for index, entry in enumerate(space.future):
            if entry[2].startswith(head):
                space.future[index] = space.future[-1]
                space.future.pop()
                heapq.heapify(space.future)
                return True
        return False

    def _cancelled_parked(self, space: _Namespace, payload: str) -> bool:
        """Whether a parked payload is a job cancelled while it waited (it is dropped)."""
        try:
            job = self._read(payload)
        except SerializationError:
            return False  # set aside by the fetch that finds it
        return self._cancelled_in_queue(space, job)

    def _cancelled_in_queue(self, space: _Namespace, job: Job) -> bool:
        """Whether a tracked job taken from a queue was cancelled while it waited."""
        record = self._record(space, job.id_hex, self.clock.time()) if job.track else None
        if record is None or not record.cancel:
            return False
        if record.status is not JobStatus.CANCELLED:
            self._finish_record(space, job, JobStatus.CANCELLED, self.clock.time())
        return True

    def _notify(self, space: _Namespace, jobs: Iterable[Job]) -> None:
        statuses = {job.status for job in jobs}
        for listener in list(space.listeners):
            if JobStatus.WAITING in statuses:
                listener.notify_future_changed()
            elif statuses:
                listener.notify()

    # -- worker side --------------------------------------------------

    def register_periodic_tasks(self, tasks: Iterable[Task]) -> None:
        """Declare periodic tasks; see :meth:`Broker.register_periodic_tasks`."""
        wanted = {t.name: t for t in tasks if t.periodicity is not None}
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            for name, task in wanted.items():
                assert task.periodicity is not None
                period = task.periodicity.total_seconds()
                old = space.periodic.get(name)
                retired_at = space.periodic_retired.pop(name, None)
                if old is None and retired_at is not None:
                    next_at = min(retired_at, now + period)  # it keeps its grid
                elif old is None:
                    next_at = now
                elif old.period != period:
                    next_at = min(old.next_at, now + period)
                else:
                    next_at = old.next_at
                space.periodic[name] = _Periodic(period, task.queue, task.max_retries, next_at)
                space.periodic_seen[name] = now
            self._declared = list(wanted)
            for listener in list(space.listeners):
                listener.notify_future_changed()

    def set_concurrency_keys(self, tasks: Iterable[Task]) -> None:
        """Record concurrency limits; see :meth:`Broker.set_concurrency_keys`."""
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            self._limited = []
            tasks = list(tasks)
            # Each worker enforces the rate limits it knows (see the Redis broker).
            self._rates = {t.name: t.rate_limit for t in tasks if t.rate_limit is not None}
            for task in tasks:
                # No limit here does not lift another version's: it retires once
                # no live worker declares it (see check_dead_workers).
                if task.max_concurrency is not None:
                    space.max_concurrency[task.name] = task.max_concurrency
                    space.max_concurrency_seen[task.name] = now
                    self._limited.append(task.name)
                self._unpark(space, task.name)

    def get_jobs_from_queue(self, queue: Queues, max_jobs: int) -> List[Job]:
        """Fetch up to ``max_jobs`` jobs; see :meth:`Broker.get_jobs_from_queue`."""
        jobs: List[Job] = []
        with self.store.lock:
            space = self._ns
            if not self._started:
                self._register(space)  # what it fetches must be recoverable
            elif self.id not in space.heartbeats:
                # Declared dead: what it fetched now would never be recovered.
                # Its next heartbeat registers it again.
                return jobs
            taken = 0
            for name in queue_names(queue):
                if len(jobs) >= max_jobs or taken >= FETCH_MAX_BYTES:
                    break
                taken = self._take(space, name, max_jobs, jobs, taken)
        return jobs

    def _take(
        self, space: _Namespace, queue: str, max_jobs: int, jobs: List[Job], taken: int
    ) -> int:
        """Take runnable jobs of one queue into ``jobs``; return the bytes taken so far."""
        pending = space.queues.get(queue)
        running = space.running.setdefault(self.id, {})
        while pending and len(jobs) < max_jobs and taken < FETCH_MAX_BYTES:
            payload = pending.popleft()
            try:
                job = self._read(payload, JobStatus.RUNNING)
            except SerializationError as exc:
                self._reject(space, payload, exc)
                continue
            if self._cancelled_in_queue(space, job):
                continue  # cancelled while it waited: dropped, never run
            name = job.task_name
            limit = space.max_concurrency.get(name)
            if limit is not None:
                current = space.current_concurrency.get(name, 0)
                if current >= limit:
                    space.parked.setdefault(name, {}).setdefault(queue, deque()).append(payload)
                    continue
                space.current_concurrency[name] = current + 1
            rate = self._rates.get(name)
            if rate is not None:
                at = self._rate_wait(space, name, _attempt(job), rate)
                if at is not None:  # over its rate limit: it waits with the future jobs
                    if limit is not None:
                        space.current_concurrency[name] -= 1
                    heapq.heappush(space.future, (at, next(self.store._sequence), payload))
                    for listener in list(space.listeners):  # wake them up when it is due
                        listener.notify_future_changed()
                    now = self.clock.time()
                    record = self._record(space, job.id_hex, now) if job.track else None
                    if record is not None:
                        record.status = JobStatus.WAITING
                    continue
            running[job.id_hex] = (limit is not None, payload)
            self._held[job.id_hex] = job
            jobs.append(job)
            taken += len(payload)
            if job.track:
                self._start_record(space, job)
        return taken

    def _rate_wait(
        self, space: _Namespace, task: str, attempt: str, rate: Tuple[int, float]
    ) -> Optional[float]:
        """Count a start of ``task`` in its window and return ``None``, or when it may start.

        As the Redis broker does (``rate_admits`` in _common.lua): a refused
        attempt reserves the earliest date with room after every date
        reserved before it, and one without a reservation never passes them.
        """
        most, period = rate
        now = self.clock.time()
        window = space.rate_windows.setdefault(task, {})
        since = now - period
        for member in [m for m, at in window.items() if at < since]:
            del window[member]
        reserved = window.pop(attempt, None)
        dates = sorted(at for at in window.values() if at > since)
        taken = sum(1 for at in dates if at <= now) if reserved is not None else len(dates)
        if taken < most:
            window[attempt] = now
            return None
        at = max(now, dates[len(dates) - most] + period, dates[-1] + 0.000001)
        window[attempt] = at
        return at

    def _start_record(self, space: _Namespace, job: Job) -> None:
        now = self.clock.time()
        record = self._record(space, job.id_hex, now)
        if record is None:  # enqueued by a version without records: start one
            record = space.records[job.id_hex] = _Record(job.serialize(), job.status, now)
        record.status, record.started_at, record.worker = JobStatus.RUNNING, now, self.id
        job.cancel_requested = record.cancel

    def _reject(self, space: _Namespace, payload: str, exc: Exception) -> None:
        space.rejected.append(payload.encode("utf-8", "surrogateescape"))
        del space.rejected[:-REJECTED_KEPT]
        head = read_job_head(payload)
        if head is not None:  # it stands for a job: the registry of failed jobs keeps it
            reason = JobError(UNREADABLE, f"its payload was set aside as unreadable: {exc}")
            self._keep_failed(space, head[0], payload, reason, self.clock.time())
        tail = _TRACKED.search(payload[-260:]) if has_job_head(payload) else None
        if tail is not None and (tail[2] or tail[3]):  # a tracked job set aside ends there
            job = Job("?", "?", from_timestamp(0), 0)
            job._id_hex = payload[7:39].lower()
            job.track, job.result_ttl = int(tail[2] or 0), int(tail[3] or 0)
            job.unique = tail[1] if tail[2] else None
            error = JobError(
                "spinach.exc.SerializationError",
                "its payload was set aside as unreadable (see the rejected payloads)",
            )
            self._finish_record(space, job, JobStatus.FAILED, self.clock.time(), error)
        logger.error(
            "Set aside an unreadable payload in namespace %r (%s); "
            "it is kept with the rejected payloads",
            self.namespace,
            exc,
        )

    def _release_slot(self, space: _Namespace, task_name: str) -> None:
        current = space.current_concurrency.get(task_name, 0)
        if current > 0:
            space.current_concurrency[task_name] = current - 1
        self._unpark(space, task_name)

    def _unpark(self, space: _Namespace, task_name: str) -> None:
        by_queue = space.parked.get(task_name)
        if not by_queue:
            return
        limit = space.max_concurrency.get(task_name)
        free = None if limit is None else limit - space.current_concurrency.get(task_name, 0)
        woken = False
        for queue, payloads in list(by_queue.items()):
            moved: List[str] = []
            while payloads and (free is None or len(moved) < free):
                payload = payloads.popleft()
                if not self._cancelled_parked(space, payload):  # dropped: takes no slot
                    moved.append(payload)
            if free is not None:
                free -= len(moved)
            if moved:
                space.queues.setdefault(queue, deque()).extendleft(reversed(moved))
                woken = True
            if not payloads:
                del by_queue[queue]
        if not by_queue:
            del space.parked[task_name]
        if woken:
            for listener in list(space.listeners):
                listener.notify()

    def acknowledge(self, jobs: Sequence[Job]) -> None:
        """Record outcomes; see :meth:`Broker.acknowledge`."""
        requeued: List[Job] = []
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            running = space.running.get(self.id, {})
            for job in jobs:
                if self._discarded.get(job.id_hex) is job:
                    del self._discarded[job.id_hex]  # a run taken over: settled already
                    continue
                if self._held.get(job.id_hex) is job:
                    del self._held[job.id_hex]
                entry = running.pop(job.id_hex, None)
                if entry is None:
                    continue  # recovered by another worker meanwhile
                if entry[0]:
                    self._release_slot(space, job.task_name)
                if job.status in (JobStatus.WAITING, JobStatus.QUEUED):
                    # A job handed back unstarted goes back exactly as it came,
                    # unless it is a run of a periodic task retired meanwhile.
                    handed_back = job.handed_back_until is not None
                    if handed_back and self._retired_periodic_run(space, job):
                        continue
                    if self._cancelled_meanwhile(space, job, now):
                        continue
                    payload = entry[1] if handed_back else self.codec.encode(job)
                    self._store(space, job, payload, now)
                    requeued.append(job)
                else:
                    self._finish_record(space, job, job.status, now, job.error)
                    if job.status is JobStatus.FAILED:
                        self._keep_failed(space, job.id_hex, entry[1], job.error, now)
            if requeued:
                self._notify(space, requeued)

    def _cancelled_meanwhile(self, space: _Namespace, job: Job, now: float) -> bool:
        """Whether a job to requeue was asked to cancel while it ran: it ends CANCELLED."""
        record = self._record(space, job.id_hex, now) if job.track else None
        if record is None or not record.cancel:
            return False
        self._finish_record(space, job, JobStatus.CANCELLED, now, job.error)
        return True

    def _retired_periodic_run(self, space: _Namespace, job: Job) -> bool:
        if job.task_name in space.periodic:
            return False
        return job.id_hex == periodic_job_id(self.namespace, job.task_name, job.at_timestamp)

    def move_future_jobs(self) -> Optional[float]:
        """Queue due jobs and periodic tasks; see :meth:`Broker.move_future_jobs`."""
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            moved = False
            while space.future and space.future[0][0] <= now:
                _, _, payload = heapq.heappop(space.future)
                try:
                    job = self._read(payload)
                except SerializationError as exc:
                    self._reject(space, payload, exc)
                    continue
                space.queues.setdefault(job.queue, deque()).append(payload)
                moved = True
                record = self._record(space, job.id_hex, now) if job.track else None
                if record is not None:
                    record.status = JobStatus.QUEUED
            for name, periodic in space.periodic.items():
                if periodic.next_at <= now:
                    job = Job(
                        name, periodic.queue, from_timestamp(periodic.next_at), periodic.max_retries
                    )
                    job._id, job._id_hex = (
                        None,
                        periodic_job_id(self.namespace, name, job.at_timestamp),
                    )
                    space.queues.setdefault(periodic.queue, deque()).append(self.codec.encode(job))
                    missed = int((now - periodic.next_at) // periodic.period)
                    periodic.next_at += (missed + 1) * periodic.period
                    moved = True
            if moved:
                for listener in list(space.listeners):
                    listener.notify()
            candidates = [p.next_at for p in space.periodic.values()]
            if space.future:
                candidates.append(space.future[0][0])
            return min(candidates) if candidates else None

    def check_dead_workers(self) -> List[Job]:
        """Heartbeat and recover dead workers; see :meth:`Broker.check_dead_workers`."""
        failed: List[Job] = []
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            last = space.heartbeats.get(self.id)
            if last is None and self._started:
                self._declared_dead(space)
            since = space.streaks.get(self.id, now)
            if last is None or now - last > 2 * self.heartbeat_interval:
                since = now  # a gap in this worker's own view: no proof of anyone's death
            space.heartbeats[self.id] = now
            space.streaks[self.id] = since
            self._started = True
            for name in self._declared:
                if name in space.periodic:
                    space.periodic_seen[name] = now
            for name in self._limited:
                if name in space.max_concurrency:
                    space.max_concurrency_seen[name] = now
            if now - since < self.broker_dead_threshold_seconds:
                return failed
            limit = now - self.broker_dead_threshold_seconds
            self._retire_periodic(space, limit)
            for name in [n for n in space.max_concurrency if n not in space.max_concurrency_seen]:
                space.max_concurrency_seen[name] = now  # set before retirement existed
            for name, seen in list(space.max_concurrency_seen.items()):
                if seen < limit:
                    space.max_concurrency.pop(name, None)
                    del space.max_concurrency_seen[name]
                    self._unpark(space, name)
            dead = [b for b, seen in space.heartbeats.items() if seen < limit and b != self.id]
            recovered: List[Job] = []
            for broker_id in dead:
                del space.heartbeats[broker_id]
                space.worker_info.pop(broker_id, None)
                space.streaks.pop(broker_id, None)
                for counted, payload in space.running.pop(broker_id, {}).values():
                    try:
                        job = self.codec.decode(payload)
                    except SerializationError as exc:
                        self._reject(space, payload, exc)
                        continue
                    # Its start no longer holds its task's rate window.
                    space.rate_windows.get(job.task_name, {}).pop(_attempt(job), None)
                    if counted:
                        self._release_slot(space, job.task_name)
                    job.error = JobError(
                        f"{JobLostError.__module__}.{JobLostError.__qualname__}",
                        f"the worker running it ({broker_id[:8]}) died",
                    )
                    if job.retryable and not self._cancelled_meanwhile(space, job, now):
                        job.retries += 1
                        job.at = from_timestamp(now)
                        self._store(space, job, self.codec.encode(job), now)
                        recovered.append(job)
                    elif not job.retryable:
                        job.status = JobStatus.FAILED
                        self._finish_record(space, job, JobStatus.FAILED, now, job.error)
                        self._keep_failed(space, job.id_hex, payload, job.error, now)
                        failed.append(job)
                logger.warning(
                    "Worker %s of namespace %r is dead (no heartbeat for %.0f s)",
                    broker_id[:8],
                    self.namespace,
                    self.broker_dead_threshold_seconds,
                )
            if recovered:
                self._notify(space, recovered)
        return failed

    def _declared_dead(self, space: _Namespace) -> None:
        self._discarded.update(self._held)
        self._held = {}
        logger.error(
            "This worker (%s) of namespace %r was declared dead by another worker: it was "
            "silent for more than %.0f s. The jobs it was running were settled by that worker "
            "(retryable ones run again, non-retryable ones were reported failed); their "
            "outcome here is discarded. It registers again and goes on.",
            self.id[:8],
            self.namespace,
            self.broker_dead_threshold_seconds,
        )

    def _retire_periodic(self, space: _Namespace, limit: float) -> None:
        for name in [n for n, seen in space.periodic_seen.items() if seen < limit]:
            retired = space.periodic.pop(name, None)
            if retired is not None:
                space.periodic_retired[name] = retired.next_at
            del space.periodic_seen[name]
            logger.info(
                "Periodic task %r of namespace %r retired: no live worker declares it",
                name,
                self.namespace,
            )
        for name in [n for n in space.periodic if n not in space.periodic_seen]:
            space.periodic_seen[name] = limit + self.broker_dead_threshold_seconds

    # -- inspection and maintenance -----------------------------------

    def queue_length(self, queue: str) -> int:
        """Number of jobs waiting in ``queue``, parked ones included."""
        with self.store.lock:
            space = self._ns
            parked = sum(len(by_queue.get(queue, ())) for by_queue in space.parked.values())
            return len(space.queues.get(queue, ())) + parked

    def future_jobs_count(self) -> int:
        """Number of jobs waiting for their start date."""
        with self.store.lock:
            return len(self._ns.future)

    def queue_names(self) -> List[str]:
        """Names of the queues that ever held a job; see :meth:`Broker.queue_names`."""
        with self.store.lock:
            space = self._ns
            names = set(space.queues)
            for by_queue in space.parked.values():
                names.update(by_queue)
            return sorted(names)

    def queue_info(self, queue: str) -> QueueInfo:
        """Length and oldest job of ``queue``; see :meth:`Broker.queue_info`."""
        length = self.queue_length(queue)
        with self.store.lock:
            pending = self._ns.queues.get(queue)
            head = pending[0] if pending else None
            now = self.clock.time()
        oldest = self._date_of(head)
        return QueueInfo(
            queue,
            length,
            None if oldest is None else from_timestamp(oldest),
            0.0 if oldest is None else max(0.0, now - oldest),
        )

    def _date_of(self, payload: Optional[str]) -> Optional[float]:
        if payload is None:
            return None
        try:
            return self._read(payload).at_timestamp
        except SerializationError:
            return None

    def queue_jobs(self, queue: str, start: int, count: int) -> List[Job]:
        """A page of the jobs of ``queue``; see :meth:`Broker.queue_jobs`."""
        with self.store.lock:
            space = self._ns
            pending = space.queues.get(queue, deque())
            jobs = self._readable(itertools.islice(pending, start, start + count), JobStatus.QUEUED)
            now = self.clock.time()
            for job in jobs:
                record = self._record(space, job.id_hex, now) if job.track else None
                if record is not None and record.cancel:  # dropped by the next fetch
                    job.status, job.cancel_requested = JobStatus.CANCELLED, True
        return jobs

    def _readable(self, payloads: Iterable[str], status: JobStatus) -> List[Job]:
        jobs = []
        for payload in payloads:
            try:
                jobs.append(self._read(payload, status))
            except SerializationError:
                continue  # set aside by the fetch that finds it
        return jobs

    def future_jobs_summary(self) -> Tuple[int, Optional[float]]:
        """Count and next due of the future jobs; see :meth:`Broker.future_jobs_summary`."""
        with self.store.lock:
            future = self._ns.future
            return len(future), (future[0][0] if future else None)

    def future_jobs(self, start: int, count: int) -> List[Job]:
        """A page of the future jobs, soonest first; see :meth:`Broker.future_jobs`."""
        with self.store.lock:
            # Ties by payload, as Redis orders the members of equal score.
            page = heapq.nsmallest(start + count, self._ns.future, key=lambda e: (e[0], e[2]))
            page = page[start:]
        return self._readable((payload for _, _, payload in page), JobStatus.WAITING)

    def workers(self) -> List[WorkerInfo]:
        """The registered workers; see :meth:`Broker.workers`."""
        with self.store.lock:
            space = self._ns
            found = []
            for broker_id, seen in sorted(space.heartbeats.items()):
                info = space.worker_info.get(broker_id, ("", 0, (), seen, None))
                host, pid, queues, started, slots = info
                found.append(
                    WorkerInfo(
                        broker_id,
                        host or None,
                        pid or None,
                        queues,
                        spinach_version,
                        from_timestamp(started),
                        from_timestamp(seen),
                        len(space.running.get(broker_id, {})),
                        slots,
                    )
                )
            return found

    def running_jobs(self) -> List[Job]:
        """Jobs recorded as running on any worker of the namespace."""
        with self.store.lock:
            payloads = [p for jobs in self._ns.running.values() for _, p in jobs.values()]
        return [self.codec.decode(p, JobStatus.RUNNING) for p in payloads]

    def periodic_tasks(self) -> List[tuple[str, float]]:
        """``(task name, next due timestamp)`` of each periodic task, soonest first."""
        with self.store.lock:
            items = [(name, p.next_at) for name, p in self._ns.periodic.items()]
        return sorted(items, key=lambda item: item[1])

    def cron_next_runs(self, names: Sequence[str]) -> Dict[str, float]:
        """The ticks planned still to come; see :meth:`Broker.cron_next_runs`."""
        with self.store.lock:
            planned = self._ns.cron_planned
            now = self.clock.time()
            ticks = {name: planned.get(name) for name in names}
        return {name: tick for name, tick in ticks.items() if tick is not None and tick > now}

    def limits(self, tasks: Sequence[Task]) -> List[LimitInfo]:
        """The state of limits of ``tasks``; see :meth:`Broker.limits`."""
        found = []
        with self.store.lock:
            space = self._ns
            now = self.clock.time()
            for task in tasks:
                running = parked = started = waiting = None
                if task.max_concurrency is not None:
                    running = space.current_concurrency.get(task.name, 0)
                    by_queue = space.parked.get(task.name, {})
                    parked = sum(len(payloads) for payloads in by_queue.values())
                if task.rate_limit is not None:
                    dates = space.rate_windows.get(task.name, {}).values()
                    since = now - task.rate_limit[1]
                    started = sum(1 for at in dates if since < at <= now)
                    waiting = sum(1 for at in dates if at > now)
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
        with self.store.lock:
            kept = self._ns.rejected
            return list(kept[start:] if count is None else kept[start : start + count])

    def flush(self) -> None:
        """Delete everything stored for the namespace."""
        with self.store.lock:
            self.store._flush(self.namespace)

    def inject_raw_payload(self, queue: str, payload: str | bytes) -> None:
        """Put a raw payload at the end of ``queue``, bypassing every check.

        Meant for tests of how workers cope with corrupted or foreign data.
        """
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", "surrogateescape")
        with self.store.lock:
            space = self._ns
            space.queues.setdefault(queue, deque()).append(payload)
            for listener in list(space.listeners):
                listener.notify()


def _attempt(job: Job) -> str:
    """The member of a job's attempt in its task's rate window (the Redis broker's)."""
    return f"{job.id_hex}:{job.retries}"


def _date(timestamp: Optional[float]) -> Optional[datetime]:
    return None if timestamp is None else from_timestamp(timestamp)
