"""Code written for the original spinach 0.0.25 keeps working with spinach-core.

The public names and behaviours of the original's last release that its
0.0.17 manual does not describe: ``spinach.const``, ``spinach.exc.UnknownTask``,
``Engine.execute``, ``Tasks.names/tasks/get/update`` and the scale of
``spinach.utils.exponential_backoff``.  The Flask and Django ones are tested
in their own packages.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import threading
import warnings
from types import SimpleNamespace

import pytest

from spinach import AbortException, Engine, MemoryBroker, RetryException, Tasks, ThreadWorkers
from spinach.exc import (
    InvalidJobSignatureError,
    InvalidTaskError,
    SerializationError,
    SpinachError,
    UnknownTask,
    UnknownTaskError,
)
from spinach.task import Task
from spinach.utils import exponential_backoff

# -- spinach.const ------------------------------------------------------------


def test_const_holds_the_original_defaults():
    from spinach import const

    assert const.DEFAULT_NAMESPACE == "spinach"
    assert const.DEFAULT_QUEUE == "spinach"
    assert const.DEFAULT_MAX_RETRIES == 0
    assert const.DEFAULT_WORKER_NUMBER == 5
    assert const.DEFAULT_BACKOFF_CAP_SECONDS == 1200


def test_const_says_what_the_code_really_does():
    from spinach import const

    def default(function, name):
        return inspect.signature(function).parameters[name].default

    assert default(Engine.__init__, "namespace") == const.DEFAULT_NAMESPACE
    assert Engine(MemoryBroker()).namespace == const.DEFAULT_NAMESPACE
    assert default(Engine.start_workers, "number") == const.DEFAULT_WORKER_NUMBER
    assert default(Engine.start_workers, "queue") == const.DEFAULT_QUEUE
    tasks = Tasks()
    task = tasks.task(lambda: None, name="plain")
    assert tasks.get(task).queue == const.DEFAULT_QUEUE
    assert tasks.get(task).max_retries == const.DEFAULT_MAX_RETRIES
    assert default(exponential_backoff, "cap") == const.DEFAULT_BACKOFF_CAP_SECONDS
    assert (
        MemoryBroker().broker_dead_threshold_seconds == const.DEFAULT_BROKER_DEAD_THRESHOLD_SECONDS
    )


def test_const_star_import_gives_every_constant():
    namespace: dict = {}
    exec("from spinach.const import *", namespace)
    names = {name for name in namespace if not name.startswith("__")}
    assert names == {
        "DEFAULT_BACKOFF_CAP_SECONDS",
        "DEFAULT_BROKER_DEAD_THRESHOLD_SECONDS",
        "DEFAULT_MAX_RETRIES",
        "DEFAULT_NAMESPACE",
        "DEFAULT_QUEUE",
        "DEFAULT_WORKER_NUMBER",
    }


def test_const_imports_first_in_a_fresh_interpreter():
    # As a script of 0.0.25 would: spinach.const before anything else.
    code = "from spinach.const import DEFAULT_QUEUE, DEFAULT_NAMESPACE\nprint(DEFAULT_QUEUE)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "spinach\n"


# -- spinach.exc ------------------------------------------------------------------


def test_unknown_task_is_the_unknown_task_error(spin):
    assert UnknownTask is UnknownTaskError
    assert issubclass(UnknownTask, SpinachError)
    with pytest.raises(UnknownTask, match="no task named 'nope'"):
        spin.schedule("nope")


def test_the_names_that_already_matched_are_still_there():
    import spinach.exc

    for name in ("SpinachError", "InvalidJobSignatureError", "UnknownTask"):
        assert name in spinach.exc.__all__
        assert isinstance(getattr(spinach.exc, name), type)


# -- Engine.execute -------------------------------------------------------------


def test_execute_runs_the_task_now_in_the_caller_and_returns_its_value(spin, recorder):
    threads = []

    @spin.task(name="add")
    def add(a, b=0):
        threads.append(threading.current_thread())
        return a + b

    assert spin.execute(add, 2, b=3) == 5
    assert spin.execute("add", 4) == 4
    assert spin.execute(spin.tasks["add"], 1, 1) == 2
    assert threads == [threading.current_thread()] * 3
    # Nothing went through the broker, no signal was sent.
    assert spin.broker.queue_length("spinach") == 0
    assert recorder.events == []


def test_execute_passes_the_arguments_as_given(spin):
    seen = []
    spin.task(lambda *args, **kwargs: seen.append((args, kwargs)), name="echo")
    spin.execute("echo", (1, 2), [3], key={"a": (4,)})
    assert seen == [(((1, 2), [3]), {"key": {"a": (4,)}})]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda spin: spin.execute("unknown"), UnknownTask),
        (lambda spin: spin.execute(lambda: None), UnknownTask),
        (lambda spin: spin.execute("add", 1, 2, 3), InvalidJobSignatureError),
        (lambda spin: spin.execute("add", 1, c=2), InvalidJobSignatureError),
        (lambda spin: spin.execute("add", {1, 2}), SerializationError),
        (lambda spin: spin.execute("add", 1, b=float("nan")), SerializationError),
    ],
)
def test_execute_checks_the_arguments_as_schedule_does(spin, call, error):
    calls = []

    @spin.task(name="add")
    def add(a, b=0):
        calls.append((a, b))

    with pytest.raises(error):
        call(spin)
    # schedule() refuses the very same calls with the very same errors.
    with pytest.raises(error):
        call(SimpleNamespace(execute=spin.schedule))
    assert calls == []
    assert spin.broker.queue_length("spinach") == 0


def test_execute_refuses_a_task_of_another_engine(spin):
    other = Tasks()
    task = other.task(lambda: None, name="elsewhere")
    with pytest.raises(UnknownTask):
        spin.execute(task)
    with pytest.raises(UnknownTask):
        spin.execute(other.get("elsewhere"))


@pytest.mark.parametrize(
    "exception",
    [ValueError("boom"), RetryException("later"), AbortException("never")],
    ids=["error", "retry", "abort"],
)
def test_execute_lets_exceptions_through_without_retrying(spin, recorder, exception):
    calls = []

    @spin.task(name="fails", max_retries=5)
    def fails():
        calls.append(1)
        raise exception

    with pytest.raises(type(exception)) as raised:
        spin.execute(fails)
    assert raised.value is exception
    assert calls == [1]
    assert recorder.events == []
    assert spin.broker.future_jobs_count() == 0


def test_execute_runs_an_async_task_to_completion(spin):
    @spin.task(name="coro")
    async def coro(x):
        await asyncio.sleep(0)
        return x * 2

    assert spin.execute(coro, 21) == 42


def test_execute_of_an_async_task_inside_a_running_loop_says_what_to_do(spin):
    @spin.task(name="coro")
    async def coro():
        return 1

    async def main():
        return spin.execute("coro")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(SpinachError, match="await its function instead"):
            asyncio.run(main())


def test_execute_works_while_workers_run(real_spin, recorder):
    real_spin.task(lambda: "direct", name="direct")
    real_spin.start_workers(number=1, block=False, workers_class=ThreadWorkers)
    assert real_spin.execute("direct") == "direct"
    assert recorder.count("job_started") == 0


# -- Tasks ---------------------------------------------------------------------


def make_tasks() -> tuple[Tasks, object, object]:
    tasks = Tasks(queue="q", max_retries=2)

    @tasks.task(name="a")
    def a():
        return "a"

    @tasks.task(name="b", max_retries=0)
    def b(x):
        return x

    return tasks, a, b


def test_tasks_names_and_tasks():
    tasks, a, _ = make_tasks()
    assert tasks.names == ["a", "b"]
    by_name = tasks.tasks
    assert list(by_name) == ["a", "b"]
    assert all(isinstance(task, Task) for task in by_name.values())
    assert by_name["a"].func is a and by_name["a"].queue == "q"
    assert by_name["a"].max_retries == 2 and by_name["b"].max_retries == 0
    by_name.clear()  # a copy: the registry is unchanged
    assert tasks.names == ["a", "b"]


def test_tasks_get_by_name_function_or_task():
    tasks, a, b = make_tasks()
    task_a = tasks.get("a")
    assert task_a.name == "a" and task_a.func is a
    assert tasks.get(a) is task_a
    assert tasks.get(b) is tasks.get("b")
    assert tasks.get(task_a) is task_a


@pytest.mark.parametrize(
    "ref",
    ["nope", "", lambda: None, 42, None, object(), print],
    ids=["unknown-name", "empty", "other-function", "int", "none", "object", "builtin"],
)
def test_tasks_get_raises_unknown_task_for_anything_else(ref):
    tasks, _, _ = make_tasks()
    with pytest.raises(UnknownTask):
        tasks.get(ref)


def test_tasks_get_refuses_a_task_of_another_registry_and_an_ambiguous_function():
    tasks, a, _ = make_tasks()
    other, _, _ = make_tasks()
    with pytest.raises(UnknownTask):
        tasks.get(other.get("a"))
    tasks.add(a, name="a_again")
    with pytest.raises(UnknownTask, match="several task names"):
        tasks.get(a)
    assert tasks.get("a_again").func is a


def test_tasks_update_merges_another_registry():
    tasks, _, _ = make_tasks()
    other = Tasks(queue="other")
    c = other.task(lambda: "c", name="c")
    tasks.update(other)
    assert tasks.names == ["a", "b", "c"]
    assert tasks.get(c) is other.get("c")
    assert tasks.get("c").queue == "other"  # tasks keep the options they were defined with
    tasks.update(other)  # the same tasks again: nothing to do
    tasks.update(tasks)
    assert tasks.names == ["a", "b", "c"]


def test_tasks_update_is_checked_as_add_and_all_or_nothing():
    tasks, _, _ = make_tasks()
    other = Tasks()
    other.task(lambda: None, name="new")
    other.task(lambda: None, name="b")  # taken, by another task
    with pytest.raises(InvalidTaskError, match="'b' is already registered"):
        tasks.update(other)
    assert tasks.names == ["a", "b"]
    with pytest.raises(TypeError):
        tasks.update({"x": lambda: None})  # type: ignore[arg-type]


def test_tasks_update_reaches_the_attached_engines(spin):
    tasks, _, _ = make_tasks()
    spin.attach_tasks(tasks)
    other = Tasks()
    other.task(lambda x: x * 3, name="triple")
    tasks.update(other)
    assert "triple" in spin.tasks
    assert spin.execute("triple", 2) == 6
    spin.schedule("triple", 1)
    assert spin.broker.queue_length("spinach") == 1


def test_tasks_update_refuses_a_name_an_attached_engine_uses(spin):
    tasks, _, _ = make_tasks()
    spin.attach_tasks(tasks)
    spin.task(lambda: None, name="engine_own")
    other = Tasks()
    other.task(lambda: None, name="fine")
    other.task(lambda: None, name="engine_own")
    with pytest.raises(InvalidTaskError, match="already attached"):
        tasks.update(other)
    assert tasks.names == ["a", "b"]
    assert "fine" not in spin.tasks


# -- spinach.utils.exponential_backoff -----------------------------------------------


def test_exponential_backoff_has_the_original_scale():
    firsts = [exponential_backoff(1).total_seconds() for _ in range(1000)]
    assert all(3 <= delay <= 6 for delay in firsts)
    assert exponential_backoff(0).total_seconds() > 0  # attempt 0 keeps working
    for cap in (1, 10, 1200):
        assert all(exponential_backoff(n, cap=cap).total_seconds() <= cap for n in range(100))
