"""The in-text examples and promises of the spec's API chapters."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from spinach import Batch, Engine, MemoryBroker, RetryException, Tasks
from spinach.exc import InvalidTaskError


def test_tasks_registry_examples():
    tasks = Tasks()

    @tasks.task(name="add")
    def add(a, b):
        print(f"Computed {a} + {b} = {a + b}")

    tasks.add(lambda x: x, name="do_nothing")

    @tasks.task(name="foo")
    def foo():
        pass

    assert tasks.names == ["add", "do_nothing", "foo"]


def test_retry_examples_define_valid_tasks():
    tasks = Tasks()
    status_code = 429

    @tasks.task(name="foo", max_retries=10)
    def foo(a, b):
        if status_code == 429:
            raise RetryException(
                "Should retry in 10 minutes",
                at=datetime.now(tz=timezone.utc) + timedelta(minutes=10),
            )

    @tasks.task(name="bar", max_retries=10, max_concurrency=1)
    def bar(a, b):
        pass

    assert tasks.get("foo").max_retries == 10
    assert tasks.get("bar").max_concurrency == 1


def test_engine_task_and_attach_examples():
    spin = Engine(MemoryBroker())

    @spin.task(name="fast")
    def fast():
        time.sleep(1)

    tasks = Tasks()
    spin.attach_tasks(tasks)
    assert "fast" in spin.tasks


def test_batch_example(recorder, namespace):
    spin = Engine(MemoryBroker(), namespace=namespace)
    computed = []

    @spin.task(name="compute")
    def compute(i):
        computed.append(i)

    batch = Batch()
    for i in range(100):
        batch.schedule("compute", i)

    spin.schedule_batch(batch)
    spin.start_workers(stop_when_queue_empty=True)
    assert sorted(computed) == list(range(100))


def test_max_concurrency_without_retries_is_refused():
    with pytest.raises(InvalidTaskError):
        Tasks().add(lambda: None, name="foo", max_concurrency=1)


def test_engine_namespace_attribute():
    assert Engine(MemoryBroker()).namespace == "spinach"
    assert Engine(MemoryBroker(), namespace="prod").namespace == "prod"
