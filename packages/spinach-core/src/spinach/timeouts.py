"""Timeouts of jobs running on threads: interrupt them, or give up on them.

CPython cannot kill a thread.  What it can do is raise an exception in
another thread at its next Python instruction
(``PyThreadState_SetAsyncExc``): a job looping in Python code, or waiting
in a call that returns now and then, stops there.  A job blocked in one
long C call (``time.sleep(3600)``, a socket read without timeout) only
sees it when the call returns.

So a threaded job past its deadline goes through two steps, run by the
:class:`Watchdog` thread of its pool:

1. **interrupt**: an exception is raised in its thread, only while the
   thread is inside the task function (:class:`Guard` knows), never in
   Spinach's own code; the job then ends with
   :class:`~spinach.exc.JobTimeoutError` like any failed attempt;
2. **give up**, ``grace`` seconds later, if the thread is still inside the
   task: the job is concluded as timed out all the same (retried or
   failed), its worker slot and concurrency token are freed, and a new
   thread takes the slot.  The old thread is left to finish on its own
   (a daemon thread), the interrupt withdrawn; whatever it does then is
   discarded.

The hazard of step 1, which every Python task queue that interrupts threads
shares: the exception is raised at whatever instruction the thread runs,
library code included.  Code that acquires a lock and only then enters its
``try``/``finally`` (``logging.Handler.handle`` does) can be hit in between
and leave the lock held.  Tasks that must never be cut anywhere should check
``spinach.current_job().deadline`` themselves and have no ``timeout``.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import threading
import time
from typing import Callable, List, Optional, Tuple

from .utils import start_thread

__all__ = ["DEFAULT_GRACE", "Abandoned", "Guard", "Interrupt", "Watchdog"]

logger = logging.getLogger("spinach.worker")

#: Seconds between the interrupt of a job past its deadline and giving up on it.
DEFAULT_GRACE = 2.0


class Interrupt(BaseException):
    """Raised in a job's thread at its deadline.

    A ``BaseException``, like :class:`asyncio.CancelledError`, so that a task's
    ``except Exception`` does not swallow it; the runner reports it as
    :class:`~spinach.exc.JobTimeoutError`.
    """


class Abandoned(BaseException):
    """Raised in a job's thread when it leaves a task that was given up on."""


class Guard:
    """What the watchdog and a job's thread agree on about one run.

    Every change happens under :attr:`lock`, so the interrupt is raised only
    while the thread is inside the task, and a run is either concluded by
    its thread or given up by the watchdog, never both.
    """

    def __init__(self, timeout: float, watchdog: Watchdog) -> None:
        self.lock = threading.Lock()
        self.ident: Optional[int] = None
        self.started = 0.0  # time.monotonic() when the thread entered the task
        self.timeout = timeout
        self.inside = False
        self.left = False
        self.interrupted = False
        self.abandoned = False
        self._watchdog = watchdog

    def enter(self) -> None:
        """The thread enters the task function: its deadline runs from now.

        Whatever ran before (signal receivers, a slow connection check) is
        not the task's time, and a run is never given up on before it
        started: the thread that gives up would otherwise run the task all
        the same, after its job was concluded.
        """
        with self.lock:
            if self.abandoned:  # pragma: no cover - give_up() needs an entered run
                raise Abandoned
            self.ident = threading.get_ident()
            self.inside = True
            self.started = time.monotonic()
        self._watchdog.watch(self)

    def leave(self) -> None:
        """The thread left the task function; raise :class:`Abandoned` if given up on."""
        with self.lock:
            self.inside = False
            self.left = True
            if self.interrupted and self.ident is not None:
                # Not raised yet (it left first): never raise it elsewhere.
                _set_async_exc(self.ident, None)
            if self.abandoned:
                raise Abandoned

    def interrupt(self) -> bool:
        """Raise :class:`Interrupt` in the thread if it is inside the task; return whether."""
        with self.lock:
            if not self.inside or self.interrupted or self.ident is None:
                return False
            self.interrupted = True
            return _set_async_exc(self.ident, Interrupt) == 1

    def give_up(self) -> bool:
        """Mark the run as given up if its thread is still inside the task; return whether.

        An interrupt still pending is withdrawn: the thread is left alone from
        now on, not hit by an exception at some later instruction.
        """
        with self.lock:
            if self.left or not self.inside:
                return False
            self.abandoned = True
            if self.interrupted and self.ident is not None:
                _set_async_exc(self.ident, None)
            return True


def _set_async_exc(ident: int, exc: Optional[type]) -> int:
    """Raise ``exc`` in the thread ``ident`` at its next instruction; ``None`` clears it.

    Returns how many threads were changed (1, or 0 if the thread is gone).
    """
    name = "PyThreadState_SetAsyncExc"
    if exc is None:  # NULL, not the None object: clears a pending exception
        clear = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)
        return int(clear((name, ctypes.pythonapi))(ident, None))
    raise_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)
    return int(raise_in((name, ctypes.pythonapi))(ident, exc))


class Watchdog:
    """The thread that stops threaded jobs at their deadline (see the module).

    :arg name: name of its thread
    :arg on_give_up: called (from the watchdog thread) with a run's guard
        when its job is given up on
    :arg grace: seconds between the interrupt and giving up
    """

    def __init__(
        self, name: str, on_give_up: Callable[[Guard], None], grace: float = DEFAULT_GRACE
    ) -> None:
        self._name = name
        self._on_give_up = on_give_up
        self._grace = grace
        self._condition = threading.Condition()
        # (when, sequence, step, guard): step 0 interrupts, step 1 gives up
        self._due: List[Tuple[float, int, int, Guard]] = []
        self._sequence = itertools.count()
        self._stopped = False
        self._thread: Optional[threading.Thread] = None

    def watch(self, guard: Guard) -> None:
        """Stop the run of ``guard`` at its deadline unless it ends first."""
        with self._condition:
            if self._thread is None:  # started on first use: most pools have no timeout
                self._thread = start_thread(self._run, self._name)
            entry = (guard.started + guard.timeout, next(self._sequence), 0, guard)
            heapq.heappush(self._due, entry)
            self._condition.notify()

    def stop(self) -> None:
        """End the watchdog thread (runs still watched are left alone)."""
        with self._condition:
            self._stopped = True
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopped:
                    now = time.monotonic()
                    # Runs that ended are dropped on the way.
                    while self._due and self._due[0][3].left:
                        heapq.heappop(self._due)
                    if self._due and self._due[0][0] <= now:
                        break
                    wait = self._due[0][0] - now if self._due else None
                    self._condition.wait(wait)
                if self._stopped:
                    return
                _, _, step, guard = heapq.heappop(self._due)
                if step == 0:
                    heapq.heappush(
                        self._due, (time.monotonic() + self._grace, next(self._sequence), 1, guard)
                    )
            try:
                if step == 0:
                    guard.interrupt()
                elif guard.give_up():
                    self._on_give_up(guard)
            except Exception:  # the watchdog must outlive any one job
                logger.exception("Could not stop a job past its deadline")
