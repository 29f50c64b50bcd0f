"""Tasks are real programs: the processes they start get signals (issue 11).

A task that terminates a process of its own (``Popen.terminate()``,
``multiprocessing.Pool.terminate()``, a timeout killing ffmpeg) must see it
die of SIGTERM, whatever thread or pool of Spinach's runs the task.  And the
stop signals still reach a blocking worker's main thread while jobs run.
"""

from __future__ import annotations

import importlib.util
import queue
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from spinach import AsyncioWorkers, Engine, RedisBroker, Tasks, ThreadWorkers

pytestmark = pytest.mark.redis

THRESHOLD = 3.0


def _load_task_children() -> Any:
    path = Path(__file__).with_name("task_children.py")
    spec = importlib.util.spec_from_file_location("spinach_fault_task_children", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


task_children = _load_task_children()
KILLED_BY_SIGTERM = str(-signal.SIGTERM)


@pytest.mark.parametrize(
    ("use_asyncio", "task", "kind"),
    [
        (False, "terminate_child", "popen"),
        (False, "terminate_child", "pool"),
        (True, "aterminate_child", "asyncio"),
        (True, "terminate_child", "popen"),
    ],
    ids=[
        "threads-popen",
        "threads-multiprocessing-pool",
        "asyncio-create_subprocess_exec",
        "asyncio-sync-task-popen",
    ],
)
def test_process_started_by_a_task_dies_of_sigterm_in_a_worker_process(
    workers, use_asyncio, task, kind
):
    worker = workers.start_worker(threads=2, threshold=THRESHOLD, asyncio=use_asyncio)
    workers.engine().schedule(task, kind)
    event = workers.wait_event(lambda e: e.startswith(f"child {task} {kind}:"))
    how = "terminated(" if kind == "pool" else f"{KILLED_BY_SIGTERM} {worker.pid}"
    assert event.startswith(f"child {task} {kind}:{how}"), (
        f"the task's child did not die of SIGTERM ({task_children.IGNORED}: still alive "
        f"{task_children.WAIT} s after it): {event}"
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, workers.log_of(worker)


@pytest.mark.parametrize(
    ("workers_class", "kind"),
    [(ThreadWorkers, "popen"), (AsyncioWorkers, "asyncio"), (AsyncioWorkers, "popen")],
    ids=["threads-popen", "asyncio-create_subprocess_exec", "asyncio-sync-task-popen"],
)
def test_process_started_by_a_task_dies_of_sigterm_in_process(
    redis_server, namespace, engines, workers_class, kind
):
    outcomes: queue.SimpleQueue[str] = queue.SimpleQueue()
    tasks = Tasks()

    @tasks.task(name="popen_child")
    def popen_child() -> None:
        outcomes.put(task_children.popen_terminate())

    @tasks.task(name="asyncio_child")
    async def asyncio_child() -> None:
        outcomes.put(await task_children.asyncio_terminate())

    broker = RedisBroker(redis_server.client(), broker_dead_threshold_seconds=THRESHOLD)
    spin = Engine(broker, namespace=namespace)
    engines.append(spin)
    spin.attach_tasks(tasks)
    spin.start_workers(number=2, block=False, workers_class=workers_class)
    spin.schedule("asyncio_child" if kind == "asyncio" else "popen_child")
    assert outcomes.get(timeout=30) == KILLED_BY_SIGTERM


@pytest.mark.parametrize("use_asyncio", [False, True], ids=["threads", "asyncio"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_still_stops_a_blocking_worker_gracefully(workers, signum, use_asyncio):
    """While a job runs, the signal reaches the main thread of ``start_workers()``."""
    spin = workers.engine()
    worker = workers.start_worker(
        threads=2, threshold=THRESHOLD, asyncio=use_asyncio, extra=("--signal-events",)
    )
    spin.schedule("hold_once", "running")
    workers.wait_event(lambda e: e == f"start hold_once running {worker.pid}")
    worker.send_signal(signum)
    workers.wait_event(lambda e: e == f"signal worker {signum.name} {worker.pid}", timeout=10)
    assert worker.poll() is None  # graceful: the running job is not abandoned
    workers.release("running")
    assert worker.wait(30) == 0, workers.log_of(worker)
    records = workers.records()
    assert records[-2:] == [f"end hold_once running {worker.pid}", f"exit worker - {worker.pid}"]
    assert spin.broker.running_jobs() == []
