"""SRE review 2: a retry whose payload grows past the limit is set aside, not retried.

docs/production.md: "a positive ``max_retries`` for tasks that are safe to
repeat, which then survive failures and dead workers by themselves"; a
payload "larger [than the limit] is refused when it is scheduled
(``PayloadTooLargeError``), and a worker sets aside a payload over its own
limits".

A job is checked against ``PayloadLimits.max_bytes`` once, when scheduled
(``PayloadCodec.prepare``). Its retries are encoded again by the worker
(``RedisBroker._outcomes`` -> ``PayloadCodec.encode``, and
``_settle_adopted`` for the jobs of a dead worker) with a new ``at`` and
``retries``, whose text is longer (``1795975800.0`` -> ``1795975801.123457``),
and never checked: a job scheduled within the limit comes back a few bytes
over it, and the next fetch sets it aside in ``rejected``. Its retry never runs.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone

import pytest

from spinach import Engine
from spinach.brokers.redis import RedisBroker
from spinach.exc import RetryException
from spinach.job import Job
from spinach.serialization import PayloadLimits

pytestmark = pytest.mark.redis

LIMIT = 1000


def test_a_job_scheduled_within_the_limit_is_retried(redis_server, wait_until):
    namespace = f"sre2lim{uuid.uuid4().hex[:8]}"
    spin = Engine(
        RedisBroker(redis_server.client()),
        namespace=namespace,
        payload_limits=PayloadLimits(max_bytes=LIMIT),
    )
    attempts: list[int] = []
    lock = threading.Lock()
    second = int(time.time())

    @spin.task(name="flaky", max_retries=3)
    def flaky(text: str) -> None:
        with lock:
            attempts.append(len(attempts))
            if len(attempts) == 1:  # a transient failure: retry a moment later
                raise RetryException("transient", at=datetime.fromtimestamp(
                    second + 1.123457, timezone.utc))  # fmt: skip

    at = datetime.fromtimestamp(second, timezone.utc)  # due already; text "….0"
    empty = Job("flaky", "spinach", at, 3, ("",)).serialize()
    text = "x" * (LIMIT - len(empty))
    job = spin.schedule_at("flaky", at, text)  # accepted: exactly at the limit
    assert len(Job("flaky", "spinach", at, 3, (text,)).serialize()) == LIMIT
    try:
        spin.start_workers(number=1, block=False)
        wait_until(lambda: len(attempts) >= 2 or bool(spin.broker.rejected()), timeout=10)
        rejected = spin.broker.rejected()
        assert len(attempts) == 2, (
            f"job {job.id} ran {len(attempts)} time(s): its retry was set aside, "
            f"as payloads of {[len(p) for p in rejected]} bytes, over the limit of {LIMIT}"
        )
    finally:
        spin.stop_workers()
        spin.broker.flush()
