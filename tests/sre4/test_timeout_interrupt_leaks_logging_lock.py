"""A timeout's interrupt lands inside logging and leaves a handler's lock held for good.

ThreadWorkers stop a threaded job at its deadline with
``PyThreadState_SetAsyncExc``: an exception raised "at its next Python
instruction" (docs/following-jobs.md, Timeouts).  The next instruction is
wherever the thread is: very often in the standard library, called by the
task.  Much of it takes a lock and only then enters ``try``/``finally``,
``logging.Handler.handle`` first of all::

    self.acquire()        # Handler.acquire(): self.lock.acquire()
    try:
        self.emit(record)
    finally:
        self.release()

Scenario: a task logs (every task does) through a handler that is slow
right now (a stalled log shipper, a full pipe: another thread is inside
``emit``, holding the handler's lock).  The task's thread blocks in the C
``lock.acquire()``, where no exception can reach it, and its deadline
passes: the watchdog sets the exception.  When the other thread's emit
ends, the task's thread gets the lock, and the pending exception is raised
on the way out of ``lock.acquire()`` -- inside ``Handler.acquire()``, before
``handle()`` reached its ``try``.  Nobody ever releases that lock.

From then on every thread that logs through the handler blocks for ever:
the next jobs (their tasks, and the runner's own "Job ... succeeded"
record), the watchdog, the arbiter.  The process heartbeats on, so its jobs
are never recovered: they stay RUNNING, lost in practice, and the pool is
dead.  (Here the exception lands after the watchdog gave up on the thread;
it lands the same way within the grace period.)
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from spinach import signals
from spinach.exc import JobTimeoutError


class SlowHandler(logging.Handler):
    """A handler whose output stalls while ``gate`` is closed (for the 'stall' record)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.inside = threading.Event()
        self.records: list[str] = []

    def createLock(self) -> None:
        # A plain lock (the default is an RLock), so that the test can free it
        # at the end whoever holds it, and the teardown does not hang.
        self.lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "stall":
            self.inside.set()
            self.gate.wait(30)
        self.records.append(record.getMessage())


def test_a_timeout_never_leaves_a_logging_lock_held(make_engine):
    spin = make_engine()
    ns = spin.namespace
    app_log = logging.getLogger(f"sre4.app.{ns}")
    app_log.setLevel(logging.INFO)
    app_log.propagate = False
    handler = SlowHandler()
    app_log.addHandler(handler)
    given_up = threading.Event()

    @spin.task(name="chatty", max_retries=0, timeout=timedelta(milliseconds=200))
    def chatty(step):
        app_log.info("chatty %s", step)

    @spin.task(name="next", store_result=True)
    def next_job():
        app_log.info("next job")
        return "done"

    def on_failed(namespace, job, err=None, **kwargs):
        if job.task_name == "chatty" and isinstance(err, JobTimeoutError):
            given_up.set()

    signals.job_failed.connect(on_failed, sender=ns, weak=False)
    # Another thread of the process is inside the handler's emit: output stalls.
    stalled = threading.Thread(target=app_log.info, args=("stall",), daemon=True)
    stalled.start()
    assert handler.inside.wait(10)
    try:
        spin.start_workers(number=2, block=False)
        spin.schedule(chatty, 1)
        assert given_up.wait(30), "the chatty job is stopped at its deadline"
        handler.gate.set()  # the log shipper catches up
        stalled.join(10)
        assert not stalled.is_alive()

        # Nothing holds the handler any more: any thread can log again.
        logged = threading.Event()

        def log_again() -> None:
            app_log.info("after")
            logged.set()

        threading.Thread(target=log_again, daemon=True).start()
        ok = logged.wait(10)
        job = spin.schedule(next_job)
        finished = ok and job.result(timeout=10) == "done"
        assert ok and finished, (
            "the handler's lock is held for good by the interrupted thread: "
            f"logging from another thread {'works' if ok else 'blocks for ever'}; "
            f"handler records so far: {handler.records}"
        )
    finally:
        handler.gate.set()
        signals.job_failed.disconnect(on_failed, sender=ns)
        if handler.lock.locked():  # free the threads blocked for ever, for the teardown
            handler.lock.release()
        app_log.removeHandler(handler)
