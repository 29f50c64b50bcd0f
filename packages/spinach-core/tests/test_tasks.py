"""Defining tasks: options are checked when the task is defined."""

from __future__ import annotations

from datetime import timedelta

import pytest

from spinach import Engine, MemoryBroker, Tasks
from spinach.exc import InvalidTaskError, SpinachError, TasksNotAttachedError, UnknownTaskError
from spinach.task import DEFAULT_QUEUE


def noop():
    pass


def test_defaults():
    tasks = Tasks()
    tasks.add(noop, name="noop")
    task = tasks.get("noop")
    assert (task.queue, task.max_retries, task.periodicity, task.max_concurrency) == (
        DEFAULT_QUEUE,
        0,
        None,
        None,
    )
    assert DEFAULT_QUEUE == "spinach"


def test_registry_defaults_apply_and_can_be_overridden():
    tasks = Tasks(queue="low", max_retries=3, periodicity=timedelta(minutes=1), max_concurrency=2)
    tasks.add(noop, name="a")
    tasks.add(
        noop,
        name="b",
        queue="high",
        max_retries=5,
        max_concurrency=1,
        periodicity=timedelta(seconds=5),
    )
    a, b = tasks.get("a"), tasks.get("b")
    assert (a.queue, a.max_retries, a.periodicity, a.max_concurrency) == (
        "low",
        3,
        timedelta(minutes=1),
        2,
    )
    assert (b.queue, b.max_retries, b.periodicity, b.max_concurrency) == (
        "high",
        5,
        timedelta(seconds=5),
        1,
    )


def test_decorator_returns_the_function_unchanged():
    tasks = Tasks()

    @tasks.task(name="add")
    def add(a, b):
        return a + b

    assert add(1, 2) == 3
    assert tasks.get("add").func is add
    assert "add" in tasks and len(tasks) == 1 and tasks.names == ["add"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": None}, "needs a name"),
        ({"name": ""}, "needs a name"),
        ({"name": "x", "max_retries": -1}, "max_retries must be 0 or more"),
        ({"name": "x", "max_retries": 1.5}, "max_retries must be an int"),
        ({"name": "x", "max_retries": True}, "max_retries must be an int"),
        ({"name": "x", "max_concurrency": 1}, "requires max_retries"),
        ({"name": "x", "max_retries": 0, "max_concurrency": 1}, "requires max_retries"),
        ({"name": "x", "max_retries": 1, "max_concurrency": 0}, "1 or more"),
        ({"name": "x", "max_retries": 1, "max_concurrency": -3}, "1 or more"),
        ({"name": "x", "periodicity": 5}, "must be a timedelta"),
        ({"name": "x", "periodicity": timedelta(0)}, "must be positive"),
        ({"name": "x", "periodicity": timedelta(seconds=-1)}, "must be positive"),
        ({"name": "x", "queue": "_internal"}, "reserved"),
        ({"name": "x", "queue": ""}, "invalid queue name"),
        ({"name": "x", "queue": "has space"}, "invalid queue name"),
        ({"name": "x", "queue": "{tag}"}, "invalid queue name"),
        ({"name": "x", "queue": 'quo"te'}, "invalid queue name"),
        ({"name": "x", "queue": "back\\slash"}, "invalid queue name"),
        ({"name": "x", "queue": "é"}, "invalid queue name"),
        ({"name": "x", "queue": "x" * 201}, "invalid queue name"),
        ({"name": "x", "queue": 3}, "must be a str"),
    ],
)
def test_invalid_options_are_refused_at_definition(options, message):
    tasks = Tasks()
    with pytest.raises(InvalidTaskError, match=message):
        tasks.add(noop, **options)
    assert len(tasks) == 0


def test_invalid_errors_are_spinach_errors_and_value_errors():
    with pytest.raises(SpinachError) as info:
        Tasks().add(noop, name="x", max_retries=-1)
    assert isinstance(info.value, ValueError)


def test_usual_queue_names_are_fine():
    tasks = Tasks()
    for i, queue in enumerate(
        ["high-priority", "emails.v2", "tenant:42:low", "A_b-c.d", "x" * 200]
    ):
        tasks.add(noop, name=f"t{i}", queue=queue)


def test_duplicate_name_is_refused():
    tasks = Tasks()
    tasks.add(noop, name="x")
    with pytest.raises(InvalidTaskError, match="already registered"):
        tasks.add(lambda: None, name="x")


def test_not_callable_is_refused():
    with pytest.raises(InvalidTaskError, match="callable"):
        Tasks().add("not a function", name="x")


def test_periodic_task_must_take_no_arguments():
    with pytest.raises(InvalidTaskError, match="without arguments"):
        Tasks().add(lambda a: None, name="x", periodicity=timedelta(seconds=1))
    Tasks().add(lambda a=1: None, name="ok", periodicity=timedelta(seconds=1))


def test_scheduling_before_attaching_is_a_clear_error():
    tasks = Tasks()
    tasks.add(noop, name="noop")
    with pytest.raises(TasksNotAttachedError, match="attach_tasks"):
        tasks.schedule("noop")


def test_attached_registry_schedules_through_the_engine():
    spin = Engine(MemoryBroker())
    tasks = Tasks()
    tasks.add(noop, name="noop")
    spin.attach_tasks(tasks)
    job = tasks.schedule("noop")
    assert spin.broker.queue_length("spinach") == 1
    assert job.task_name == "noop"


def test_task_added_after_attaching_is_known_to_the_engine():
    spin = Engine(MemoryBroker())
    tasks = Tasks()
    spin.attach_tasks(tasks)
    tasks.add(noop, name="late")
    assert "late" in spin.tasks
    spin.schedule("late")


def test_attaching_conflicting_names_changes_nothing():
    spin = Engine(MemoryBroker())
    first, second = Tasks(), Tasks()
    first.add(noop, name="x")
    second.add(noop, name="y")
    second.add(lambda: None, name="x")
    spin.attach_tasks(first)
    with pytest.raises(InvalidTaskError, match="already attached"):
        spin.attach_tasks(second)
    assert set(spin.tasks) == {"x"}
    # Re-attaching the same registry is harmless.
    spin.attach_tasks(first)


def test_adding_a_conflicting_task_to_an_attached_registry_is_refused():
    spin = Engine(MemoryBroker())
    spin.task(noop, name="x")
    tasks = Tasks()
    spin.attach_tasks(tasks)
    with pytest.raises(InvalidTaskError):
        tasks.add(lambda: None, name="x")
    assert "x" not in tasks


def test_unknown_name_in_registry():
    with pytest.raises(UnknownTaskError):
        Tasks().get("nope")


def test_registry_does_not_keep_engines_alive():
    import gc
    import weakref

    tasks = Tasks()
    tasks.add(noop, name="noop")
    spin = Engine(MemoryBroker())
    spin.attach_tasks(tasks)
    ref = weakref.ref(spin)
    del spin
    gc.collect()
    assert ref() is None
    with pytest.raises(TasksNotAttachedError):
        tasks.schedule("noop")
