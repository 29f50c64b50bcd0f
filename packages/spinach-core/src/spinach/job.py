"""Jobs: one execution of a task, and the states it goes through."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Dict, Optional, Tuple

from . import serialization
from .exc import SerializationError
from .utils import from_timestamp, to_timestamp

__all__ = ["Job", "JobStatus", "has_job_head"]


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
      - ``FAILED`` for ever if it failed and cannot be retried.
    """

    NOT_SET = 0  #: Job created but not scheduled yet
    WAITING = 1  #: Job is scheduled to start in the future
    QUEUED = 2  #: Job is in a queue, ready to be picked by a worker
    RUNNING = 3  #: Job is being executed
    SUCCEEDED = 4  #: Job is finished, execution was successful
    FAILED = 5  #: Job failed and will not be retried
    SUCCEDED = 4  #: Alias of SUCCEEDED, the spelling of the original documentation


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
    """

    __slots__ = (
        "at",
        "id",
        "max_retries",
        "queue",
        "retries",
        "status",
        "task_args",
        "task_kwargs",
        "task_name",
    )

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
        self.id = uuid.uuid4() if id is None else id
        self.status = status
        self.task_name = task_name
        self.queue = queue
        self.at = at
        self.max_retries = max_retries
        self.retries = retries
        self.task_args: Tuple[Any, ...] = tuple(task_args) if task_args else ()
        self.task_kwargs: Dict[str, Any] = task_kwargs if task_kwargs else {}

    @property
    def at_timestamp(self) -> float:
        """POSIX timestamp of :attr:`at`."""
        return to_timestamp(self.at)

    @property
    def retryable(self) -> bool:
        """Whether a failure of this job can still be retried."""
        return self.retries < self.max_retries

    def serialize(self) -> str:
        """Return the JSON payload of the job, as stored by brokers.

        The payload starts with ``{"id":"<32 hex digits>"`` so that broker
        scripts can read the id without decoding the JSON.
        """
        return serialization.dumps(
            {
                "id": self.id.hex,
                "task_name": self.task_name,
                "queue": self.queue,
                "at": self.at_timestamp,
                "max_retries": self.max_retries,
                "retries": self.retries,
                "args": self.task_args,
                "kwargs": self.task_kwargs,
            }
        )

    @classmethod
    def deserialize(cls, payload: str | bytes, status: JobStatus = JobStatus.NOT_SET) -> Job:
        """Rebuild a job from its payload.

        Raise :class:`~spinach.exc.SerializationError` for anything that is
        not a job payload (corrupted, truncated or foreign data).
        """
        data = serialization.loads(payload)
        try:
            if not isinstance(data, dict):
                raise TypeError("the payload is not a JSON object")
            args, kwargs = data["args"], data["kwargs"]
            job = cls(
                _typed(data, "task_name", str),
                _typed(data, "queue", str),
                from_timestamp(float(_typed(data, "at", (int, float)))),
                _typed(data, "max_retries", int),
                tuple(_typed(data, "args", list)) if args else None,
                _typed(data, "kwargs", dict) if kwargs else None,
                id=uuid.UUID(hex=_typed(data, "id", str)),
                retries=_typed(data, "retries", int),
                status=status,
            )
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
            raise SerializationError(f"not a Spinach job payload: {exc!r}") from exc
        return job

    def __repr__(self) -> str:
        return f"<Job {self.task_name} {self.status.name} {self.id}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)


_HEX = frozenset("0123456789abcdefABCDEF")


def has_job_head(payload: str | bytes) -> bool:
    """Whether a payload starts the way :meth:`Job.serialize` writes it.

    ``{"id":"<32 hex>","task_name":"<JSON string>","queue":"<name>"``: brokers
    read the id, task and queue of a job there without decoding the JSON (the
    Redis broker does so in Lua), and set aside what does not start so.
    """
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return False
    if not payload.startswith('{"id":"') or not _HEX.issuperset(payload[7:39]):
        return False
    if len(payload) < 56 or payload[39:54] != '","task_name":"':
        return False
    end = 54
    while True:  # the closing quote of the task name: the first one not escaped
        end = payload.find('"', end)
        if end < 0:
            return False
        slashes = len(payload[54:end]) - len(payload[54:end].rstrip("\\"))
        if slashes % 2 == 0:
            break
        end += 1
    rest = payload[end + 1 :]
    return rest.startswith(',"queue":"') and rest.find('"', 10) > 10


def _typed(data: Dict[str, Any], key: str, kind: type | Tuple[type, ...]) -> Any:
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"field {key!r} has the wrong type {type(value).__name__}")
    return value
