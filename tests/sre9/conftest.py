"""Fixtures of the ninth SRE review (tests/sre9): unique jobs (372df44).

Reuses the broker backends of tests/contract (memory, Redis, Redis 6.2, a
3-node cluster, all on one ManualClock) by loading its conftest: the test
folders are not packages.  ``engine_on`` puts an Engine on a broker of such
a backend, so that a test goes through the public API (schedule,
requeue_failed) and simulates a worker with the broker's own fetch and
acknowledge calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from spinach_test_support.conftests import load_conftest

from spinach import Engine
from spinach.job import Job, JobStatus

_contract = load_conftest("contract")
backend = _contract.backend
broker = _contract.broker


@pytest.fixture
def engine_on(backend: Any) -> Callable[..., Engine]:
    """``engine_on()``: an Engine on a new started broker of the backend (one namespace)."""

    def make(**options: Any) -> Engine:
        b = backend.broker()
        namespace = b.namespace
        engine = Engine(b, namespace=namespace, **options)
        b.start()
        return engine

    return make


def _run_as_worker(engine: Engine, queue: str, status: JobStatus) -> list[Job]:
    """Fetch every job of ``queue`` and end each with ``status``, as a worker would."""
    jobs = engine.broker.get_jobs_from_queue(queue, 100)
    for job in jobs:
        job.status = status
    engine.broker.acknowledge(jobs)
    return jobs


@pytest.fixture
def run_as_worker() -> Callable[[Engine, str, JobStatus], list[Job]]:
    """``run_as_worker(engine, queue, status)``: fetch the queue's jobs, end them so."""
    return _run_as_worker
