"""What a task does with processes of its own: start one, terminate it, see how it ended.

Used by the tasks of ``worker_app.py`` (in worker processes) and by
``test_task_subprocesses.py`` (in-process workers).  Each function returns
how its child ended, as text: ``"-15"`` when SIGTERM killed it, another
return code otherwise (``"terminated(<exit codes>)"`` for a pool whose
``terminate()`` returned), or :data:`IGNORED` when it was still alive
:data:`WAIT` seconds after SIGTERM (it is then killed with SIGKILL, so that
nothing lingers).

The child is a fresh Python process waiting in ``signal.pause()``: it
installs no SIGTERM handler, so SIGTERM's default action kills it at once,
even before its interpreter has started, unless the signal is blocked in
the mask it inherited.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import subprocess
import sys
import threading
from typing import Any

#: Seconds a terminated child may take to die before it counts as ignoring SIGTERM.
WAIT = 3.0
#: How a child that ignored SIGTERM is reported.
IGNORED = "ignored-SIGTERM"

PAUSE = (sys.executable, "-c", "import signal; signal.pause()")


def popen_terminate() -> str:
    """``subprocess.Popen`` a child, ``terminate()`` it and wait for its end."""
    proc = subprocess.Popen(PAUSE)
    proc.terminate()
    try:
        return str(proc.wait(timeout=WAIT))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return IGNORED


async def asyncio_terminate() -> str:
    """The same with ``asyncio.create_subprocess_exec``, from a coroutine."""
    proc = await asyncio.create_subprocess_exec(*PAUSE)
    proc.terminate()
    try:
        return str(await asyncio.wait_for(proc.wait(), WAIT))
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return IGNORED


def pool_terminate() -> str:
    """Start a ``multiprocessing.Pool`` of 2 busy workers, then ``terminate()`` it.

    Each worker waits in ``signal.pause()``, so only a signal ends it (an
    idle worker would leave at the pool's own "no more work" message).
    ``Pool.terminate()`` SIGTERMs its workers and joins them without a
    timeout: it runs in a thread of its own here, so that workers ignoring
    SIGTERM are reported (and SIGKILLed) instead of hanging the task.
    """
    context = multiprocessing.get_context()
    started = context.Semaphore(0)
    before = set(multiprocessing.active_children())
    pool = context.Pool(2, initializer=_remember, initargs=(started,))
    workers = [p for p in multiprocessing.active_children() if p not in before]
    pool.map_async(_pause, range(2), chunksize=1)  # one each: a paused worker takes no more
    for _ in range(2):
        if not started.acquire(timeout=30):
            raise RuntimeError("the pool's workers did not start")
    done = threading.Event()

    def terminate() -> None:
        pool.terminate()
        done.set()

    terminator = threading.Thread(target=terminate, name="pool-terminator", daemon=True)
    terminator.start()
    ignored = not done.wait(WAIT)
    if ignored:
        for worker in workers:
            worker.kill()
    terminator.join()
    if ignored:
        return IGNORED
    # A worker forked from a process whose Python code handles SIGTERM (a
    # blocking start_workers()) inherits the handler and may end with 1
    # rather than -15: it still ended because of the SIGTERM.
    return "terminated(" + ",".join(str(worker.exitcode) for worker in workers) + ")"


_started: Any = None


def _remember(started: Any) -> None:
    global _started
    _started = started


def _pause(_: int) -> None:
    _started.release()
    signal.pause()
