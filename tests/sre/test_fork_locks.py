"""SRE review: a fork while another thread is inside a script call.

(Found by the review, fixed since: the test guards the fix.)

docs/internals.md, "Forks": in every forked process each engine and broker
takes "new locks".  The broker renews its own locks, but not the lock of the
connections its scripts run on (``scripts._Connections._lock``, taken by
every script call of every thread to pick and return a connection), nor the
lock of its ``ServerClock``.  A process forked while another thread holds
one of them (a worker whose task uses multiprocessing while the arbiter or
other tasks call Redis; a threaded producer that forks) gets it locked for
ever: the child's first script call hangs.

The interleaving is forced (a thread holds the lock across the fork, as a
thread inside ``_Connections._acquire`` does); everything else is real.
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import threading

import pytest

from spinach import Engine
from spinach.brokers.redis import RedisBroker

pytestmark = pytest.mark.redis

_names = itertools.count()


def _fork_while_held(lock, child_work):
    holding, done = threading.Event(), threading.Event()

    def hold():
        with lock:
            holding.set()
            done.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(10)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call, then report
        os.close(reader)
        try:
            child_work()
            os.write(writer, b"ok")
        finally:
            os._exit(0)
    os.close(writer)
    done.set()
    thread.join()
    ready, _, _ = select.select([reader], [], [], 10)
    answer = os.read(reader, 2) if ready else b""
    os.close(reader)
    if not answer:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return answer


def test_a_child_forked_during_another_threads_script_call_does_not_hang(redis_server):
    spin = Engine(RedisBroker(redis_server.client()), namespace=f"srefork{next(_names)}")
    spin.task(lambda: None, name="noop")
    spin.schedule("noop")  # the broker has used its script connections
    lock = spin.broker._scripts._connections._lock
    try:
        answer = _fork_while_held(lock, lambda: spin.schedule("noop"))
        assert answer == b"ok", "the forked child hung on its first schedule() (10 s)"
    finally:
        spin.broker.flush()
