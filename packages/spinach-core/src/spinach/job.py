"""Jobs: one execution of a task, and the states it goes through."""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, Optional, Tuple

from . import serialization
from .exc import JobCancelledError, SerializationError, SpinachError
from .utils import from_timestamp, to_timestamp

__all__ = [
    "Job",
    "JobError",
    "JobStatus",
    "cron_job_id",
    "has_job_head",
    "new_job_id",
    "periodic_job_id",
    "read_job_head",
]


class JobStatus(enum.IntEnum):
    """Possible status of a :class:`Job`.

    Life-cycle:

    - a newly created job is ``NOT_SET``;
    - a job due in the future is ``WAITING`` until it is ``QUEUED``;
    - a job due now is ``QUEUED`` as soon as the broker receives it;
    - a worker sets it ``RUNNING`` when it starts executing it, then

      - ``SUCCEEDED`` if it ends without error,
      - ``WAITING`` (or ``QUEUED`` if due at once) if it failed and can be
        retried,
      - ``FAILED`` for ever if it failed and cannot be retried,
      - ``CANCELLED`` if it ended because its cancellation was requested.

    A job cancelled before it started is ``CANCELLED`` at once and never
    starts (see :meth:`spinach.engine.Engine.cancel`).
    """

    NOT_SET = 0  #: Job created but not scheduled yet
    WAITING = 1  #: Job is scheduled to start in the future
    QUEUED = 2  #: Job is in a queue, ready to be picked by a worker
    RUNNING = 3  #: Job is being executed
    SUCCEEDED = 4  #: Job is finished, execution was successful
    FAILED = 5  #: Job failed and will not be retried
    SUCCEDED = 4  #: Alias of SUCCEEDED, the spelling of the original documentation
    CANCELLED = 6  #: Job was cancelled: removed before it started, or stopped on request

    @property
    def finished(self) -> bool:
        """Whether a job in this status is over for good (it runs no more)."""
        return self in _FINISHED


_FINISHED = frozenset((JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED))


@dataclass(frozen=True)
class JobError:
    """The error a job's last attempt ended with, as recorded by its worker.

    :ivar type: qualified name of the exception class, e.g. ``"builtins.ValueError"``
    :ivar message: ``str()`` of the exception
    :ivar traceback: the formatted traceback (empty when there was none)
    """

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, error: BaseException) -> JobError:
        """Describe ``error``, traceback included, bounded to keep records small."""
        kind = type(error)
        name = f"{kind.__module__}.{kind.__qualname__}"
        try:
            message = str(error)
        except Exception:  # a broken __str__ must not lose the record
            message = f"<unprintable {kind.__qualname__}>"
        text = "".join(traceback.format_exception(kind, error, error.__traceback__))
        return cls(name, message[:_MAX_MESSAGE], text[-_MAX_TRACEBACK:])

    def to_json(self) -> str:
        """The error as stored in a job's record."""
        return json.dumps(
            {"type": self.type, "message": self.message, "traceback": self.traceback},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Optional[JobError]:
        """Read a stored error back; ``None`` if it is not one."""
        try:
            data = json.loads(text)
            return cls(str(data["type"]), str(data["message"]), str(data.get("traceback", "")))
        except (ValueError, TypeError, KeyError):
            return None


#: Longest message and traceback kept in a job's record (the end of a
#: traceback says the most).
_MAX_MESSAGE, _MAX_TRACEBACK = 4096, 16384


class _Following:
    """The record fields of a followed job (see the properties of :class:`Job`)."""

    __slots__ = (
        "cancel_requested",
        "deadline",
        "enqueued_at",
        "error",
        "finished_at",
        "started_at",
        "worker_id",
    )

    def __init__(self) -> None:
        self.enqueued_at: Optional[datetime] = None
        self.started_at: Optional[datetime] = None
        self.finished_at: Optional[datetime] = None
        self.worker_id: Optional[str] = None
        self.error: Optional[JobError] = None
        self.cancel_requested = False
        self.deadline: Optional[datetime] = None


class Job:
    """Represent the execution of a task by background workers.

    Jobs are created by the engine when they are scheduled, never by hand.

    :ivar id: :class:`uuid.UUID` of the job
    :ivar status: :class:`JobStatus`
    :ivar task_name: name of the task
    :ivar queue: name of the queue
    :ivar at: timezone-aware UTC datetime at which the job should start
    :ivar max_retries: how many times a failing job is retried
    :ivar retries: how many times the job was already retried
    :ivar task_args: tuple of positional arguments for the task
    :ivar task_kwargs: dict of keyword arguments for the task
    :ivar track: seconds the job's record is kept once it is finished, ``0``
        when the job is not tracked (see :meth:`spinach.engine.Engine.get_job`)
    :ivar result_ttl: seconds the job's result is kept once it is finished,
        ``0`` when its task does not store results (see :meth:`result`)
    :ivar unique: for a job of a unique task, the digest of its key (40 hex
        digits): no two live jobs of a namespace share it; else ``None``
    :ivar duplicate: ``True`` for a job whose scheduling found a live job
        with the same unique key: nothing was scheduled, and this object
        stands for that existing job (its :attr:`id` and :attr:`status`)

    Jobs returned by :meth:`spinach.engine.Engine.get_job` (and by
    :meth:`refresh`) also carry what their record says: :attr:`enqueued_at`,
    :attr:`started_at`, :attr:`finished_at`, :attr:`worker_id`,
    :attr:`error` and :attr:`cancel_requested`; a running job knows its
    :attr:`deadline`.
    """

    __slots__ = (
        "_asap",
        "_at",
        "_at_timestamp",
        "_engine",
        "_following",
        "_handed_back_until",
        "_id",
        "_id_hex",
        "_payload",
        "_result",
        "duplicate",
        "max_retries",
        "queue",
        "result_ttl",
        "retries",
        "status",
        "task_args",
        "task_kwargs",
        "task_name",
        "track",
        "unique",
    )

    _asap: bool
    _at: Optional[datetime]
    _at_timestamp: float
    _handed_back_until: Optional[float]
    _payload: Optional[str]
    _id: Optional[uuid.UUID]
    _id_hex: str
    _engine: Any

    def __init__(
        self,
        task_name: str,
        queue: str,
        at: datetime,
        max_retries: int,
        task_args: Optional[Tuple[Any, ...]] = None,
        task_kwargs: Optional[Dict[str, Any]] = None,
        *,
        id: Optional[uuid.UUID] = None,
        retries: int = 0,
        status: JobStatus = JobStatus.NOT_SET,
    ) -> None:
        if id is None:
            self._id, self._id_hex = None, new_job_id()
        else:
            self.id = id
        self.status = status
        self.task_name = task_name
        self.queue = queue
        self._handed_back_until = None
        self._asap = False
        self._payload = None
        self.at = at
        self.max_retries = max_retries
        self.retries = retries
        self.task_args: Tuple[Any, ...] = tuple(task_args) if task_args else ()
        self.task_kwargs: Dict[str, Any] = task_kwargs if task_kwargs else {}
        self.track = 0
        self.result_ttl = 0
        self.unique: Optional[str] = None
        self.duplicate = False
        self._result: Optional[str] = None
        self._clear_record()

    def _clear_record(self) -> None:
        self._engine = None
        self._following: Optional[_Following] = None

    @property
    def id(self) -> uuid.UUID:
        """:class:`uuid.UUID` of the job."""
        if self._id is None:  # built on demand, like :attr:`at`
            self._id = uuid.UUID(hex=self._id_hex)
        return self._id

    @id.setter
    def id(self, value: uuid.UUID) -> None:
        self._id, self._id_hex = value, value.hex

    @property
    def id_hex(self) -> str:
        """The id as the 32 hex digits stored by brokers."""
        return self._id_hex

    @property
    def at(self) -> datetime:
        """Timezone-aware UTC datetime at which the job should start."""
        if self._at is None:  # built on demand: most jobs are never asked
            self._at = from_timestamp(self._at_timestamp)
        return self._at

    @at.setter
    def at(self, value: datetime) -> None:
        self._at_timestamp = to_timestamp(value)
        self._at = value if value.tzinfo is not None else None

    @property
    def at_timestamp(self) -> float:
        """POSIX timestamp of :attr:`at`."""
        return self._at_timestamp

    @classmethod
    def _create(
        cls,
        task_name: str,
        queue: str,
        at_timestamp: float,
        max_retries: int,
        task_args: Tuple[Any, ...],
        task_kwargs: Dict[str, Any],
        job_id_hex: str,
        retries: int,
        status: JobStatus,
    ) -> Job:
        """Build a job from checked values, without conversions (hot path)."""
        job = cls.__new__(cls)
        job._id = None
        job._id_hex = job_id_hex
        job.status = status
        job.task_name = task_name
        job.queue = queue
        job._at = None
        job._at_timestamp = at_timestamp
        job._handed_back_until = None
        job._asap = False
        job._payload = None
        job.max_retries = max_retries
        job.retries = retries
        job.task_args = task_args
        job.task_kwargs = task_kwargs
        job.track = 0
        job.result_ttl = 0
        job.unique = None
        job.duplicate = False
        job._result = None
        job._engine = None
        job._following = None
        return job

    @property
    def asap(self) -> bool:
        """Whether the job was scheduled to run as soon as possible, not at a date.

        Brokers queue such a job at once; a job with a date is queued when
        the broker's clock (the Redis server's) reaches it, whatever the
        producer's clock says.
        """
        return self._asap

    def hand_back(self, until: float) -> None:
        """Give the job back to the broker unstarted, due again at timestamp ``until``.

        Used by workers for a job whose task they do not know: the broker
        stores it again unchanged (same payload, same ``at`` and
        ``retries``) and queues it at ``until``, for a worker that knows it.
        """
        self.status = JobStatus.WAITING
        self._handed_back_until = until

    @property
    def handed_back_until(self) -> Optional[float]:
        """Timestamp at which a handed-back job is due again, or ``None``."""
        return self._handed_back_until

    @property
    def due_timestamp(self) -> float:
        """When a job stored again is due: its hand-back date, or :attr:`at`."""
        until = self._handed_back_until
        return self._at_timestamp if until is None else until

    @property
    def retryable(self) -> bool:
        """Whether a failure of this job can still be retried."""
        return self.retries < self.max_retries

    def serialize(self) -> str:
        """Return the JSON payload of the job, as stored by brokers.

        The payload starts with ``{"id":"<32 hex digits>","task_name":...,
        "queue":...`` so that broker scripts can read the id, task and queue
        without decoding the JSON (see :func:`has_job_head`).  A tracked
        job's payload ends with ``,"track":<seconds>}``, where scripts read
        whether and how long to keep its record, then (if its task stores
        results) ``,"result":<seconds>}``; a unique job's has
        ``,"unique":"<40 hex digits>"`` just before ``"track"``.
        """
        payload = _PAYLOAD % (
            self._id_hex,
            _json_string(self.task_name),
            _json_string(self.queue),
            float(self._at_timestamp),
            self.max_retries,
            self.retries,
            serialization.dumps(self.task_args),
            serialization.dumps(self.task_kwargs),
        )
        if self.track or self.result_ttl:
            # Last fields: broker scripts find them at the end of the payload.
            tail = f',"track":{self.track}' if self.track else ""
            if self.unique is not None:
                tail = f',"unique":"{self.unique}"{tail}'
            if self.result_ttl:
                tail += f',"result":{self.result_ttl}'
            return f"{payload[:-1]}{tail}}}"
        return payload

    @classmethod
    def deserialize(
        cls,
        payload: str | bytes,
        status: JobStatus = JobStatus.NOT_SET,
        limits: serialization.PayloadLimits = serialization.DEFAULT_LIMITS,
    ) -> Job:
        """Rebuild a job from its payload, strictly.

        The payload must be within ``limits``, and exactly what
        :meth:`serialize` writes for the values it holds: no duplicate key,
        no escaped name, no reordered field, no extra space.  So the id,
        task and queue that the broker's scripts read from its head are the
        ones the job has.  Fields after ``kwargs`` are allowed (written by
        newer versions), in the same compact form.

        Raise :class:`~spinach.exc.SerializationError` for anything that is
        not such a payload (corrupted, truncated, hostile or foreign data).
        """
        text, data = serialization.decode(payload, limits)
        try:
            if type(data) is not dict:
                raise TypeError("the payload is not a JSON object")
            values = [data[field] for field in _FIELDS]
            job_id, task_name, queue, at, max_retries, retries, args, kwargs = values
            if not (
                type(job_id) is str
                and type(task_name) is str
                and type(queue) is str
                and (type(at) is float or type(at) is int)  # a bool is never a date
                and type(max_retries) is int
                and type(retries) is int
                and type(args) is list
                and type(kwargs) is dict
            ):
                wrong = next(
                    field
                    for field, value, kind in zip(_FIELDS, values, _TYPES)
                    if type(value) is not kind and type(value) not in _ALSO.get(kind, ())
                )
                raise TypeError(f"field {wrong!r} has the wrong type")
            if not task_name:  # no task can have it: it would be handed back for ever
                raise ValueError("the task name is empty")
            if len(job_id) != 32 or not _HEX.issuperset(job_id):
                raise ValueError(f"job id {job_id!r} is not 32 hex digits")
            if not _MIN_TIMESTAMP <= at <= _MAX_TIMESTAMP:  # NaN fails too
                raise ValueError(f"start date {at!r} is out of range")
            track = result_ttl = 0
            unique = None
            if len(data) != len(_FIELDS):  # fields after kwargs: tracking, or a newer version's
                track = data.get("track", 0)
                if type(track) is not int or not 0 <= track <= _MAX_TRACK:
                    raise ValueError(f"track {track!r} is not a number of seconds")
                result_ttl = data.get("result", 0)
                if type(result_ttl) is not int or not 0 <= result_ttl <= _MAX_TRACK:
                    raise ValueError(f"result {result_ttl!r} is not a number of seconds")
                unique = data.get("unique")
                if unique is not None and not (
                    type(unique) is str and len(unique) == 40 and _HEX.issuperset(unique)
                ):
                    raise ValueError(f"unique key {unique!r} is not 40 hex digits")
            _check_canonical(text, data)
            job = cls._create(
                task_name,
                queue,
                float(at),
                max_retries,
                tuple(args),
                kwargs,
                job_id,
                retries,
                status,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SerializationError(f"not a Spinach job payload: {exc!r}") from exc
        job.track = track
        job.result_ttl = result_ttl
        job.unique = unique
        return job

    # -- following a job ---------------------------------------------------
    # What a job's record says, and what a running job knows of itself: kept
    # apart (and only when set), so that the millions of jobs that are never
    # followed do not pay for it.

    def _set_following(self, name: str, value: Any) -> None:
        following = self._following
        if following is None:
            following = self._following = _Following()
        setattr(following, name, value)

    @property
    def enqueued_at(self) -> Optional[datetime]:
        """When the broker received the job (its record), or ``None``."""
        following = self._following
        return None if following is None else following.enqueued_at

    @enqueued_at.setter
    def enqueued_at(self, value: Optional[datetime]) -> None:
        self._set_following("enqueued_at", value)

    @property
    def started_at(self) -> Optional[datetime]:
        """When its last attempt started (its record), or ``None``."""
        following = self._following
        return None if following is None else following.started_at

    @started_at.setter
    def started_at(self, value: Optional[datetime]) -> None:
        self._set_following("started_at", value)

    @property
    def finished_at(self) -> Optional[datetime]:
        """When it finished for good (its record), or ``None``."""
        following = self._following
        return None if following is None else following.finished_at

    @finished_at.setter
    def finished_at(self, value: Optional[datetime]) -> None:
        self._set_following("finished_at", value)

    @property
    def worker_id(self) -> Optional[str]:
        """Id of the worker that runs or ran it last (its record), or ``None``."""
        following = self._following
        return None if following is None else following.worker_id

    @worker_id.setter
    def worker_id(self, value: Optional[str]) -> None:
        self._set_following("worker_id", value)

    @property
    def error(self) -> Optional[JobError]:
        """:class:`JobError` of its last failed attempt, or ``None``."""
        following = self._following
        return None if following is None else following.error

    @error.setter
    def error(self, value: Optional[JobError]) -> None:
        self._set_following("error", value)

    @property
    def cancel_requested(self) -> bool:
        """Whether its cancellation was requested while it ran."""
        following = self._following
        return False if following is None else following.cancel_requested

    @cancel_requested.setter
    def cancel_requested(self, value: bool) -> None:
        self._set_following("cancel_requested", value)

    @property
    def deadline(self) -> Optional[datetime]:
        """While it runs: the date past which its task's ``timeout`` stops it, or ``None``."""
        following = self._following
        return None if following is None else following.deadline

    @deadline.setter
    def deadline(self, value: Optional[datetime]) -> None:
        self._set_following("deadline", value)

    @property
    def engine(self) -> Any:
        """The :class:`~spinach.engine.Engine` this job belongs to, or ``None``.

        The Engine that scheduled it (or looked it up), or, in a worker, the
        Engine whose workers run it: integrations tell apart the Engines of
        one process sharing a namespace by it (signals are sent per
        namespace).
        """
        return self._engine

    def refresh(self) -> Job:
        """Read this job's record again and update this object from it; return it.

        Works on jobs returned by :meth:`~spinach.engine.Engine.schedule` (and
        the other scheduling methods) and :meth:`~spinach.engine.Engine.get_job`.
        Raise :class:`~spinach.exc.JobNotFoundError` if the job is not
        tracked, or its record expired.
        """
        engine = self._require_engine()
        current = engine.get_job(self._id_hex)
        if current is None:
            raise engine._not_found(self._id_hex)
        for name in _RECORD_ATTRIBUTES:
            setattr(self, name, getattr(current, name))
        return self

    def result(self, timeout: Optional[float] = None) -> Any:
        """Wait for this job to finish and return what its task returned.

        The task must store results (``store_result`` option).  The wait
        blocks on the broker (a blocking Redis command, no polling loop).

        :arg timeout: most seconds to wait; ``None`` waits as long as it takes
        :raises spinach.exc.ResultNotStoredError: at once, if the task does
            not store results
        :raises spinach.exc.JobFailedError: if the job failed for good; it
            carries the remote error's type, message and traceback
        :raises spinach.exc.JobCancelledError: if the job was cancelled
        :raises spinach.exc.JobResultTimeoutError: if ``timeout`` passed first
            (the job goes on)
        """
        return self._require_engine().wait_result(self, timeout)

    async def aresult(self, timeout: Optional[float] = None) -> Any:
        """Like :meth:`result`, without blocking the running event loop.

        The blocking wait runs in the loop's default executor.
        """
        return await self._require_engine().await_result(self, timeout)

    def cancel(self) -> JobStatus:
        """Cancel this job; see :meth:`spinach.engine.Engine.cancel`."""
        status: JobStatus = self._require_engine().cancel(self._id_hex)
        return status

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~spinach.exc.JobCancelledError` if cancellation was requested.

        For a task running on a thread, which Python cannot interrupt: call
        it between steps of a long job (``spinach.current_job()`` gives the
        job); the job then ends ``CANCELLED`` and is not retried.
        """
        if self.cancel_requested:
            raise JobCancelledError(f"job {self.id} of task {self.task_name!r} was cancelled")

    def _require_engine(self) -> Any:
        if self._engine is None:
            raise SpinachError(
                "this Job does not come from an Engine (schedule() or get_job()): "
                "use Engine.get_job(job_id)"
            )
        return self._engine

    def __repr__(self) -> str:
        return f"<Job {self.task_name} {self.status.name} {self.id}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return self._id_hex == other._id_hex

    def __hash__(self) -> int:
        return hash(self._id_hex)


#: Longest time a finished job's record may be kept (10 years).
_MAX_TRACK = 10 * 365 * 86400
_RECORD_ATTRIBUTES = (
    "status",
    "retries",
    "at",
    "queue",
    "task_args",
    "task_kwargs",
    "track",
    "enqueued_at",
    "started_at",
    "finished_at",
    "worker_id",
    "error",
    "cancel_requested",
)

_FIELDS = ("id", "task_name", "queue", "at", "max_retries", "retries", "args", "kwargs")
_KNOWN = frozenset(_FIELDS)
_TYPES = (str, str, str, float, int, int, list, dict)
_ALSO: Dict[type, Tuple[type, ...]] = {
    float: (int,)
}  # a start date may come as an int; bools are never numbers here
# datetime's range (years 1 to 9999), so that Job.at can always be built.
_MIN_TIMESTAMP, _MAX_TIMESTAMP = -62135596800.0, 253402300799.0

_HEX = frozenset("0123456789abcdefABCDEF")

# What Job.serialize writes; its head is what has_job_head() recognises.
_PAYLOAD = (
    '{"id":"%s","task_name":%s,"queue":%s,"at":%r,"max_retries":%d,"retries":%d,'
    '"args":%s,"kwargs":%s}'
)
_json_string = json.encoder.encode_basestring_ascii


# A JSON number as Python writes a float (or an int, as Lua may): the start
# date's text is kept as it was written, since Lua and Python format it apart.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_HEAD = '{"id":"%s","task_name":%s,"queue":%s,"at":'
_TAIL = ',"max_retries":%d,"retries":%d,"args":%s,"kwargs":%s'


def _check_canonical(text: str, data: Dict[str, Any]) -> None:
    """Raise ValueError unless ``text`` is exactly what Job.serialize writes for ``data``."""
    head = _HEAD % (data["id"], _json_string(data["task_name"]), _json_string(data["queue"]))
    if not text.startswith(head):
        raise ValueError(
            "its head does not say what its fields do (duplicate, escaped or reordered keys)"
        )
    end = text.find(',"max_retries":', len(head))
    at = text[len(head) : end] if end > 0 else ""
    if not _NUMBER.fullmatch(at) or float(at) != data["at"]:
        raise ValueError("its start date is not written as a plain number")
    rest = _TAIL % (
        data["max_retries"],
        data["retries"],
        serialization.dumps(data["args"]),
        serialization.dumps(data["kwargs"]),
    )
    extra = (
        ""
        if len(data) == len(_FIELDS)  # the usual case: no field of a newer version
        else "".join(
            f",{_json_string(key)}:{serialization.dumps(value)}"
            for key, value in data.items()
            if key not in _KNOWN
        )
    )
    if text[end:] != rest + extra + "}":
        raise ValueError(
            "it is not written as Spinach writes it (duplicate keys, escapes, spaces?)"
        )


def new_job_id() -> str:
    """A random (version 4) UUID as 32 hex digits, for a new job."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


def periodic_job_id(namespace: str, task_name: str, at: float) -> str:
    """The id of the run of a periodic task due at ``at``: the same for every worker.

    Deterministic, so that a run is recognisable (and enqueued once) whoever
    enqueues it; the Redis broker's scripts compute the same.
    """
    token = _json_string(task_name)[1:-1]
    return hashlib.sha1(f"{{{namespace}}}:{token}|{at:.6f}".encode()).hexdigest()[:32]


def cron_job_id(namespace: str, task_name: str, at: float) -> str:
    """The id of the tick of a cron task due at ``at``: the same for every worker.

    Apart from the ids of periodic runs (:func:`periodic_job_id`), so that a
    tick is never taken for the run of a periodic task.
    """
    token = _json_string(task_name)[1:-1]
    # "cron|" first: the text of a periodic id starts with "{", whatever the name.
    return hashlib.sha1(f"cron|{{{namespace}}}:{token}|{at:.6f}".encode()).hexdigest()[:32]


def has_job_head(payload: str | bytes) -> bool:
    """Whether a payload starts the way :meth:`Job.serialize` writes it.

    ``{"id":"<32 hex>","task_name":"<JSON string>","queue":"<name>"``: brokers
    read the id, task and queue of a job there without decoding the JSON (the
    Redis broker does so in Lua), and set aside what does not start so.
    """
    return read_job_head(payload) is not None


def read_job_head(payload: str | bytes) -> Optional[Tuple[str, str, str]]:
    """The id (32 hex digits), task name and queue of a payload's head, or ``None``.

    See :func:`has_job_head`; the rest of the payload is not looked at.
    """
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not payload.startswith('{"id":"') or not _HEX.issuperset(payload[7:39]):
        return None
    if len(payload) < 56 or payload[39:54] != '","task_name":"':
        return None
    end = 54
    while True:  # the closing quote of the task name: the first one not escaped
        end = payload.find('"', end)
        if end < 0:
            return None
        slashes = len(payload[54:end]) - len(payload[54:end].rstrip("\\"))
        if slashes % 2 == 0:
            break
        end += 1
    rest = payload[end + 1 :]
    close = rest.find('"', 10)
    if not rest.startswith(',"queue":"') or close <= 10:
        return None
    try:
        task_name = json.loads(payload[53 : end + 1])
    except ValueError:
        return None
    return payload[7:39].lower(), task_name, rest[10:close]
