"""Processes started by tasks get signals; signals reach a blocking worker from any thread."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from spinach import AsyncioWorkers, ThreadWorkers

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

CHILD = [sys.executable, "-c", "import signal; signal.pause()"]


def _terminate_child() -> int:
    child = subprocess.Popen(CHILD)
    try:
        child.terminate()
        return child.wait(timeout=10)
    finally:
        child.kill()


@pytest.mark.parametrize("workers_class", [ThreadWorkers, AsyncioWorkers])
def test_a_process_started_by_a_sync_task_dies_of_sigterm(real_spin, recorder, workers_class):
    codes = []

    @real_spin.task(name="spawn")
    def spawn():
        codes.append(_terminate_child())

    real_spin.schedule(spawn)
    real_spin.start_workers(number=2, block=False, workers_class=workers_class)
    recorder.wait_count("job_finished", 1, timeout=20)
    assert recorder.count("job_failed") == 0, recorder.errors("job_failed")
    assert codes == [-signal.SIGTERM]


def test_a_process_started_by_an_async_task_dies_of_sigterm(real_spin, recorder):
    codes = []

    @real_spin.task(name="aspawn")
    async def aspawn():
        child = await asyncio.create_subprocess_exec(*CHILD)
        child.terminate()
        codes.append(await asyncio.wait_for(child.wait(), 10))

    real_spin.schedule(aspawn)
    real_spin.start_workers(number=2, block=False, workers_class=AsyncioWorkers)
    recorder.wait_count("job_finished", 1, timeout=20)
    assert recorder.count("job_failed") == 0, recorder.errors("job_failed")
    assert codes == [-signal.SIGTERM]


# A multiprocessing.Pool terminated by a task is proven in a worker process of
# its own (tests/faults/test_task_subprocesses.py): forking the test process,
# full of the threads of earlier tests, is the hazard of fork() in a
# multithreaded process, not a behaviour of Spinach, and hung there once.


WORKER = textwrap.dedent(
    """
    import logging, signal, sys, threading
    from spinach import Engine, MemoryBroker

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    spin = Engine(MemoryBroker())
    release = threading.Event()

    class Release(logging.Handler):
        def emit(self, record):
            if "stopping once running jobs finish" in record.getMessage():
                release.set()

    logging.getLogger("spinach.engine").addHandler(Release())

    @spin.task(name="long")
    def long():
        print("started", flush=True)
        # The kernel may deliver a process's signal to any thread: here, to
        # the worker thread itself.
        signal.pthread_kill(threading.get_ident(), signal.{signal})
        release.wait(30)
        print("finished", flush=True)

    spin.schedule(long)
    spin.start_workers(number=2)
    print("returned", flush=True)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_delivered_to_a_worker_thread_stops_the_worker_gracefully(signum):
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER.format(signal=signal.Signals(signum).name)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.split() == ["started", "finished", "returned"]
    assert f"Received {signal.Signals(signum).name}" in err


def test_worker_threads_block_no_signal(real_spin, recorder):
    masks = []

    @real_spin.task(name="mask")
    def mask():
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))

    real_spin.schedule(mask)
    real_spin.start_workers(number=1, block=False)
    recorder.wait_count("job_finished", 1)
    assert masks == [set()]
