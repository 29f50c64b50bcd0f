"""Test helpers: a real Sentry transport that records, and Engine runners."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from spinach import AsyncioWorkers, Engine, ThreadWorkers

DSN = "https://public@sentry.invalid/42"


class RecordingTransport(Transport):
    """Keeps every envelope the client hands over; lets tests wait for them."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []
        self._cond = threading.Condition()

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._cond:
            self.envelopes.append(envelope)
            self._cond.notify_all()

    def flush(self, timeout: float, callback: Any = None) -> None:
        pass

    def kill(self) -> None:
        pass

    def payloads(self, item_type: str) -> list[dict[str, Any]]:
        with self._cond:
            return [
                item.payload.json
                for envelope in self.envelopes
                for item in envelope.items
                if item.type == item_type and item.payload.json is not None
            ]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Error and message events."""
        return self.payloads("event")

    @property
    def transactions(self) -> list[dict[str, Any]]:
        return self.payloads("transaction")

    def raw(self) -> bytes:
        """Everything that would have gone over the wire."""
        with self._cond:
            return b"".join(envelope.serialize() for envelope in self.envelopes)

    def wait_for(self, item_type: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` items of that type were sent; fail the test otherwise."""

        def enough() -> bool:
            return (
                sum(
                    1
                    for envelope in self.envelopes
                    for item in envelope.items
                    if item.type == item_type
                )
                >= count
            )

        with self._cond:
            ok = self._cond.wait_for(enough, timeout)
        got = self.payloads(item_type)
        assert ok, f"{count} {item_type} expected within {timeout} s, got {got}"
        return self.payloads(item_type)


def work(
    engine: Engine, workers_class: type = ThreadWorkers, number: int = 2, queue: str = "spinach"
) -> None:
    """Run the engine's workers until its queue is empty and every job is done.

    Blocking: when it returns, every signal of every job has been sent.
    """
    engine.start_workers(
        number=number,
        queue=queue,
        block=True,
        stop_when_queue_empty=True,
        workers_class=workers_class,
    )


def by_task(payloads: list[dict[str, Any]], task_name: str) -> list[dict[str, Any]]:
    return [p for p in payloads if p.get("tags", {}).get("spinach.task") == task_name]


def exception_of(event: dict[str, Any]) -> dict[str, Any]:
    """The last (outermost) exception of an event."""
    values: list[dict[str, Any]] = event["exception"]["values"]
    return values[-1]


# (workers class, whether the task is a coroutine): a sync task on asyncio
# workers runs in the loop's executor, in a copy of the job's context.
KINDS = [
    pytest.param(ThreadWorkers, False, id="threads"),
    pytest.param(AsyncioWorkers, True, id="asyncio"),
    pytest.param(AsyncioWorkers, False, id="asyncio-sync-task"),
]


def define(engine, name, func, is_async, **options):
    """Register ``func`` (sync) as a task, wrapped in a coroutine if asked."""
    if is_async:

        async def task(*args, **kwargs):
            return func(*args, **kwargs)

    else:

        def task(*args, **kwargs):
            return func(*args, **kwargs)

    return engine.task(task, name=name, **options)


def frames_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every frame of every stack trace of an event: exceptions, threads, message."""
    stacktraces = [
        value["stacktrace"]
        for interface in ("exception", "threads")
        for value in event.get(interface, {}).get("values", [])
        if "stacktrace" in value
    ]
    if "stacktrace" in event:
        stacktraces.append(event["stacktrace"])
    return [frame for stacktrace in stacktraces for frame in stacktrace["frames"]]
