"""Building jobs and tasks for contract tests, without an Engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from spinach.clock import Clock
from spinach.job import Job
from spinach.task import Task
from spinach.utils import from_timestamp


def make_job(
    clock: Clock,
    task_name: str = "task",
    queue: str = "q",
    delay: float = 0.0,
    max_retries: int = 0,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
) -> Job:
    return Job(
        task_name, queue, from_timestamp(clock.time() + delay), max_retries, args, kwargs or {}
    )


def make_task(
    name: str,
    queue: str = "q",
    max_retries: int = 0,
    periodicity: float | None = None,
    max_concurrency: int | None = None,
) -> Task:
    period = None if periodicity is None else timedelta(seconds=periodicity)
    return Task(lambda: None, name, queue, max_retries, period, max_concurrency)


def heartbeat_for(seconds, clock, *brokers):
    """Let ``brokers`` heartbeat every interval for ``seconds``; return what they recovered."""
    step = brokers[0].heartbeat_interval
    failed = []
    for _ in range(round(seconds / step)):
        clock.advance(step)
        for broker in brokers:
            failed += broker.check_dead_workers()
    return failed
