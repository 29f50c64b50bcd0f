"""Starting and stopping workers: blocking, signals, several engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from spinach import Batch, Engine, MemoryBroker

SCRIPT = textwrap.dedent(
    """
    import logging, sys, threading
    from spinach import Engine, MemoryBroker

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    spin = Engine(MemoryBroker())
    release = threading.Event()

    @spin.task(name="long")
    def long():
        print("started", flush=True)
        release.wait(30)
        print("finished", flush=True)

    spin.schedule(long)
    {arm}
    spin.start_workers(number=2)
    print("returned", flush=True)
    """
)


def _run_worker(arm: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(arm=arm)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_gracefully_after_running_jobs(signum):
    # The job finishes only once the stop has begun: the log line of the
    # signal releases it, so the worker must wait for it before returning.
    arm = textwrap.dedent(
        """
        class Release(logging.Handler):
            def emit(self, record):
                if "stopping once running jobs finish" in record.getMessage():
                    release.set()
        logging.getLogger("spinach.engine").addHandler(Release())
        """
    )
    proc = _run_worker(arm)
    try:
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.split() == ["finished", "returned"]
    assert signal.Signals(signum).name in err


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_second_signal_forces_exit():
    proc = _run_worker()
    try:
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signal.SIGINT)
        # Signals do not queue: send the second once the first was handled.
        for line in proc.stderr:
            if "Received SIGINT" in line:
                break
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        # Read through the same file objects: iterating stderr buffered ahead.
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
    assert "finished" not in out
    assert "Second signal: forcing exit, 1 running jobs abandoned" in err
    assert proc.returncode != 0


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_signal_during_start_stops_gracefully():
    # "started" is printed by a worker thread, possibly before start_workers()
    # reaches its wait: the signal must still lead to a graceful stop.
    arm = "release.set()"
    proc = _run_worker(arm)
    try:
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.split() == ["finished", "returned"]
    assert "Received SIGTERM" in err


def test_stop_when_queue_empty_returns(real_spin, recorder):
    @real_spin.task(name="work")
    def work(i):
        pass

    batch = Batch()
    for i in range(50):
        batch.schedule(work, i)
    real_spin.schedule_batch(batch)
    real_spin.start_workers(number=4, stop_when_queue_empty=True)
    assert recorder.count("job_finished") == 50
    assert real_spin.broker.is_queue_empty("spinach")
    assert real_spin.broker.running_jobs() == []


def test_stop_when_queue_empty_waits_for_immediate_retries(real_spin, recorder):
    calls = []

    @real_spin.task(name="retry_now", max_retries=3)
    def retry_now():
        calls.append(1)
        if len(calls) < 3:
            from spinach import RetryException

            raise RetryException("again", at=real_spin.broker.clock.now())

    real_spin.schedule(retry_now)
    real_spin.start_workers(number=1, stop_when_queue_empty=True)
    assert len(calls) == 3


def test_blocking_start_from_another_thread_ends_with_stop(real_spin, recorder):
    returned = threading.Event()

    def run():
        real_spin.start_workers(number=1, block=True)
        returned.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    # worker_started is sent while start_workers() is still starting: a stop
    # from another thread at that moment must wait for the start, then stop.
    assert recorder.wait_for(lambda: any(n == "worker_started" for n, _ in recorder.events))
    assert not returned.is_set()
    real_spin.stop_workers()
    thread.join(10)
    assert returned.is_set()


def test_several_engines_in_one_interpreter(engines, clock):
    results = {}
    for name in ("one", "two", "three"):
        engine = Engine(MemoryBroker(), namespace=name)
        engines.append(engine)

        @engine.task(name="whoami")
        def whoami(name=name):
            results.setdefault(name, 0)
            results[name] += 1

        for _ in range(5):
            engine.schedule("whoami")
        engine.start_workers(number=2, block=False)
    for engine in engines:
        engine.stop_workers()
    # Each engine ran only its own jobs (some may still be queued: block=False).
    for engine in engines:
        engine.start_workers(number=2, stop_when_queue_empty=True)
    assert results == {"one": 5, "two": 5, "three": 5}
