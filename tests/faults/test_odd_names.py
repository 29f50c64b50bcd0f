"""Scripts never lose data on error: any name the library accepts is safe (issue 11).

A queue name is stored inside the encodings of the Redis scripts (periodic
task definitions, payloads).  A name the library accepts must either be
stored safely or be refused when the task is defined; it must never break a
script halfway, after it deleted something.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from spinach import Engine, RedisBroker, RetryException, Tasks
from spinach.task import validate_name
from spinach.utils import from_timestamp

pytestmark = pytest.mark.redis

THRESHOLD = 3.0
FUTURE_JOBS = 5


def accepted_queue_characters() -> list[str]:
    """Every printable ASCII character the library accepts inside a queue name."""
    accepted = []
    for code in range(0x20, 0x7F):
        try:
            validate_name("queue", f"odd{chr(code)}q")
        except Exception:
            continue
        accepted.append(chr(code))
    return accepted


def _wait_until(client: Any, timestamp: float) -> None:
    """Wait until ``timestamp`` has passed by the Redis server's clock.

    A moment to reach, not an event: a BLPOP on a key nobody writes, with
    the time left as its timeout.
    """
    while True:
        seconds, micros = client.time()
        left = timestamp - (seconds + micros / 1e6)
        if left <= 0:
            return
        client.blpop(["spinach-tests:never-written"], timeout=max(left, 0.01))


def test_accepted_odd_queue_names_never_destroy_future_jobs(
    redis_server, namespace, recorder, engines
):
    chars = accepted_queue_characters()
    assert len(chars) > 60  # the test exercises the names it means to
    broker = RedisBroker(redis_server.client(), broker_dead_threshold_seconds=THRESHOLD)
    spin = Engine(broker, namespace=namespace)
    engines.append(spin)

    tasks = Tasks()
    for char in chars:  # one periodic task per character, on a queue whose name holds it
        tasks.add(
            lambda: None,
            name=f"tick_{ord(char)}",
            queue=f"odd{char}q",
            periodicity=timedelta(hours=1),
        )
    tasks.add(lambda n: None, name="later", max_retries=0)
    tasks.add(lambda n: None, name="elsewhere", queue="other", max_retries=0)
    attempts = []
    lock = threading.Lock()
    due = broker.clock.time() + 0.5

    @tasks.task(name="flaky", max_retries=1)
    def flaky() -> None:
        with lock:
            attempts.append(len(attempts))
            first = len(attempts) == 1
        if first:
            again = from_timestamp(broker.clock.time() + 0.5)
            raise RetryException("again, from the future jobs", at=again)

    spin.attach_tasks(tasks)
    for n in range(FUTURE_JOBS):
        spin.schedule_at("later", from_timestamp(due), n)
    spin.schedule_at("elsewhere", from_timestamp(due), 0)  # a queue no worker serves here
    spin.schedule("flaky")
    _wait_until(redis_server.client(), due)  # the workers find future jobs already due
    spin.start_workers(number=2, block=False)

    def all_ran() -> bool:
        return (
            recorder.count("job_finished", "later") >= FUTURE_JOBS
            and recorder.count("job_started", "flaky") >= 2
        )

    ok = recorder.wait_for(all_ran, timeout=8)
    assert ok, (
        f"future jobs or retries were lost: {recorder.count('job_finished', 'later')} of "
        f"{FUTURE_JOBS} future jobs ran, flaky started {recorder.count('job_started', 'flaky')} "
        f"times of 2; {broker.future_jobs_count()} jobs wait in the future, queue 'other' "
        f"holds {broker.queue_length('other')} of 1; queue name characters: {''.join(chars)}"
    )
    assert broker.queue_length("other") == 1, "a due future job of another queue was lost"
    assert broker.future_jobs_count() == 0
    assert not recorder.jobs("job_failed")
    # Each periodic task was queued on its odd queue, once.
    wrong = {char: broker.queue_length(f"odd{char}q") for char in chars}
    wrong = {char: length for char, length in wrong.items() if length != 1}
    assert not wrong, f"queue lengths of periodic tasks on odd queues (expected 1): {wrong}"
