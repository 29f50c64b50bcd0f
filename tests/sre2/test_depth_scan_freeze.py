r"""SRE review 2: one crafted payload freezes a worker process for minutes.

Threat model (docs/production.md): whoever can write to the namespace's keys,
with or without the signing key, "cannot stop or crash a worker with any
payload (it is set aside, one at a time)".

``serialization._check_depth`` measures nesting with the regular expression
``"(?:[^"\\]|\\.)*"|[\[\]{}]`` before anything is decoded (and before the
signature is checked). On a body made of ``"\`` pairs that never closes,
every ``"`` starts a string that runs to the end of the payload and fails:
the scan is quadratic in the payload's size (here: 40 KB take seconds,
100 KB over half a minute, the 1 MiB the default limit allows about an
hour). ``re`` holds the GIL and the payload is decoded in the arbiter
thread (``RedisBroker._fetched``): the whole worker process stops, its
heartbeats too. Another worker then declares it dead: its running
non-retryable job is reported lost (``JobLostError``) while it still runs,
and its retryable jobs are queued again while they still run.
"""

from __future__ import annotations

import time

import pytest

from spinach.codec import PayloadCodec
from spinach.exc import SerializationError

pytestmark = pytest.mark.redis


def poison(size: int) -> str:
    """A payload with a job's head whose body makes the depth scan quadratic."""
    head = '{"id":"' + "ab" * 16 + '","task_name":"gated_once","queue":"spinach","at":0,'
    return head + '"\\' * (size // 2) + "[" * 70


def test_setting_aside_one_crafted_payload_takes_bounded_time():
    payload = poison(40_000).encode()
    started = time.perf_counter()
    with pytest.raises(SerializationError):
        PayloadCodec(signing_key=b"k" * 32).decode(payload)
    elapsed = time.perf_counter() - started
    # A 40 KB payload within the default 1 MiB limit; JSON-decoding 40 KB takes
    # well under a millisecond.
    assert elapsed < 0.5, f"setting aside one 40 KB payload took {elapsed:.1f} s"


def test_one_crafted_payload_freezes_a_worker_and_every_worker_that_adopts_it(fresh_redis, ledger):
    """A worker that sets a payload aside must stay alive; it is declared dead instead.

    The payload is recorded as running on the frozen worker, so the worker that
    adopts its jobs decodes it too, and freezes in turn: it spreads.
    """
    spin = ledger.engine(fresh_redis.client())
    victim = ledger.start_worker(fresh_redis.url, threads=2, threshold=3.0)
    ids = [ledger.wait_event(lambda e: e.startswith("identity worker")).split()[2]]
    # Two observers on another queue: they never fetch the payload themselves.
    for _ in range(2):
        ledger.start_worker(fresh_redis.url, threads=1, threshold=3.0, queue="other")
        ids.append(ledger.wait_event(lambda e: e.startswith("identity worker")).split()[2])
    spin.schedule("gated_once", "victim-job")
    ledger.wait_event(lambda e: e.startswith("start gated_once victim-job#1"))

    spin.broker.inject_raw_payload("spinach", poison(150_000))

    dead = []
    while len(dead) < 2:
        event = ledger.watch(20.0, lambda e: e.startswith("dead worker"))
        if event is None:
            break
        dead.append(event.split()[2])
    assert dead == [], (
        f"workers {dead} (of {ids}, the first one fetched the payload) were declared dead "
        f"after one crafted payload was pushed; ledger: {ledger.records()}"
    )
    assert victim.poll() is None
