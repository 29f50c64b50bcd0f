"""Fuzzing the queues: bad payloads never stop a worker and are never dropped silently.

Malformed, truncated, mutated, foreign and huge payloads go straight into a
queue that live workers consume.  After each batch of them a good job must
still run, every payload that is not a job must be set aside (visible in
``broker.rejected()``) with a log line, and every payload that is a job must
be run, or failed with a clear error.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from spinach import ManualClock
from spinach.exc import SerializationError
from spinach.job import Job, has_job_head

FIELDS = ("id", "task_name", "queue", "at", "max_retries", "retries", "args", "kwargs")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def job_dict(job_id: uuid.UUID) -> dict:
    return {"id": job_id.hex, "task_name": "good", "queue": "spinach", "at": 0,
            "max_retries": 0, "retries": 0, "args": [1], "kwargs": {}}  # fmt: skip


def canonical(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def mutated(args):
    job_id, field, value = args
    data = job_dict(job_id)
    data[field] = value
    return canonical(data)


def without(args):
    job_id, field = args
    data = job_dict(job_id)
    del data[field]
    return canonical(data)


def head(job_id: uuid.UUID, task: str = "good") -> str:
    """The start of a payload as Spinach writes it: what the broker's scripts read."""
    return f'{{"id":"{job_id.hex}","task_name":"{task}","queue":"spinach"'


def deep(args):
    """A well-formed head and a body nesting far deeper than any limit."""
    job_id, levels = args
    body = "[" * levels + "]" * levels
    return (
        head(job_id) + f',"at":0,"max_retries":0,"retries":0,"args":[{body}],"kwargs":{{}}}}'
    ).encode()


def duplicated(args):
    """The head says one task, a repeated key at the end says another."""
    job_id, task, key = args
    tail = ',"at":0,"max_retries":0,"retries":0,"args":[],"kwargs":{}'
    return (head(job_id, task) + tail + f',"{key}":"good"}}').encode()


def escaped(job_id):
    """A task name written with an escape: the same name for JSON, not for the scripts."""
    return canonical(job_dict(job_id)).replace(b'"good"', b'"\\u0067ood"', 1)


def spaced(job_id):
    """JSON-equal, but not written as Spinach writes it."""
    return canonical(job_dict(job_id)).replace(b'"args":[1]', b'"args": [1]', 1)


looks_valid = st.one_of(
    st.tuples(st.uuids(), st.integers(100, 50_000)).map(deep),
    st.tuples(
        st.uuids(),
        st.sampled_from(["other", "good"]),
        st.sampled_from(["task_name", "queue", "id", "args"]),
    ).map(duplicated),
    st.uuids().map(escaped),
    st.uuids().map(spaced),
)

payloads = st.one_of(
    looks_valid,
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.tuples(st.uuids(), st.integers(0, 120)).map(lambda a: canonical(job_dict(a[0]))[: a[1]]),
    st.tuples(st.uuids(), st.sampled_from(FIELDS), json_values).map(mutated),
    st.tuples(st.uuids(), st.sampled_from(FIELDS)).map(without),
    st.uuids().map(lambda u: json.dumps(dict(reversed(job_dict(u).items()))).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.uuids(), st.integers(1, 3)).map(
        lambda a: canonical({**job_dict(a[0]), "args": ["x" * (a[1] * 500_000)]})
    ),
)


def expectation(payload: bytes) -> str | None:
    """Job id if the payload is a job (it must run or fail), None if it must be set aside."""
    if not has_job_head(payload):
        return None
    try:
        return Job.deserialize(payload).id.hex
    except SerializationError:
        return None


class SetAsideLog(logging.Handler):
    """Counts the payloads the brokers report as set aside."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        message = record.getMessage()
        many = re.match(r"Set aside (\d+) unreadable payloads", message)
        if many:
            self.count += int(many.group(1))
        elif message.startswith("Set aside"):
            self.count += 1


def test_bad_payloads_are_set_aside_and_workers_go_on(make_spin, recorder_for):
    clock = ManualClock()  # retries of mutated jobs never come due: each runs once
    spin = make_spin(clock)
    rec = recorder_for(spin.namespace)
    spin.task(lambda *args, **kwargs: None, name="good")
    log = SetAsideLog()
    logging.getLogger("spinach.broker").addHandler(log)
    spin.start_workers(number=4, block=False)
    seen_ids: set[str] = set()

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking re-runs workers: slow
    )
    @given(st.lists(payloads, min_size=1, max_size=8))
    def check(batch):
        rejected_before = len(spin.broker.rejected())
        logged_before = log.count
        expected_jobs, expected_rejected = [], []
        for payload in batch:
            job_id = expectation(payload)
            if job_id is not None and job_id in seen_ids:
                continue  # hypothesis may repeat an id: one run per id is enough
            if job_id is None:
                expected_rejected.append(payload)
            else:
                expected_jobs.append(job_id)
                seen_ids.add(job_id)
            spin.broker.inject_raw_payload("spinach", payload)
        marker = spin.schedule("good", "marker")
        assert rec.wait_for(
            lambda: marker.id in {j.id for j in rec.jobs("job_finished")}, timeout=30
        )

        def accounted():
            done = {j.id.hex for name in ("job_started", "job_failed") for j in rec.jobs(name)}
            return set(expected_jobs) <= done

        assert rec.wait_for(accounted, timeout=30)
        rejected = spin.broker.rejected()[rejected_before:]
        assert sorted(rejected) == sorted(expected_rejected)
        assert log.count - logged_before == len(expected_rejected)

    try:
        check()
    finally:
        logging.getLogger("spinach.broker").removeHandler(log)
    prefix = f"{spin.namespace}-worker-"
    alive = [t for t in threading.enumerate() if t.name.startswith(prefix)]
    assert len(alive) == 4


def test_a_head_and_a_body_that_disagree_never_bypass_a_concurrency_limit(
    make_spin, recorder_for, wait_until
):
    spin = make_spin()
    rec = recorder_for(spin.namespace)
    gate = threading.Event()
    running = []
    peak = []
    lock = threading.Lock()

    @spin.task(name="limited", max_retries=1, max_concurrency=1)
    def limited(n):
        with lock:
            running.append(n)
            peak.append(len(running))
        gate.wait(10)
        with lock:
            running.remove(n)

    spin.task(lambda: None, name="other")
    for n in range(3):  # the scripts read "other"; Python's json would keep "limited"
        job_id = uuid.uuid4()
        spin.broker.inject_raw_payload(
            "spinach",
            head(job_id, "other")
            + f',"at":0,"max_retries":1,"retries":0,"args":[{n}],"kwargs":{{}},'
            + '"task_name":"limited"}',
        )
    spin.start_workers(number=4, block=False)
    for n in range(3, 6):
        spin.schedule("limited", n)
    gate.set()
    rec.wait_count("job_finished", 3, timeout=30)
    assert sorted(j.task_args[0] for j in rec.jobs("job_started")) == [3, 4, 5]
    assert max(peak) == 1
    assert len(spin.broker.rejected()) == 3
    wait_until(lambda: spin.broker.running_jobs() == [])  # acknowledged, slots freed
