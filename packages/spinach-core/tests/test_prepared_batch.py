"""Engine.prepare_batch(): checked and encoded now, enqueued later, once."""

from __future__ import annotations

import pytest

from spinach import Batch
from spinach.exc import (
    InvalidJobSignatureError,
    PayloadTooLargeError,
    SerializationError,
    SpinachError,
    UnknownTaskError,
)


@pytest.fixture
def order_task(real_spin):
    seen = []

    @real_spin.task(name="order")
    def order(data):
        seen.append(data)

    return seen


def batch_of(*args, task="order"):
    batch = Batch()
    batch.schedule(task, *args)
    return batch


@pytest.mark.parametrize(
    "args, error",
    [
        (({"a": {1, 2}},), SerializationError),
        (("x" * 2_000_000,), PayloadTooLargeError),
        ((), InvalidJobSignatureError),
    ],
)
def test_every_check_runs_when_prepared(real_spin, order_task, args, error):
    with pytest.raises(error):
        real_spin.prepare_batch(batch_of(*args))
    assert real_spin.broker.queue_length("spinach") == 0


def test_an_unknown_task_raises_when_prepared(real_spin):
    with pytest.raises(UnknownTaskError):
        real_spin.prepare_batch(batch_of(1, task="nope"))


def test_jobs_carry_their_arguments_as_prepared_and_are_enqueued_once(real_spin, order_task):
    data = {"status": "created"}
    prepared = real_spin.prepare_batch(batch_of(data))
    data["status"] = "paid"  # changed by the caller after the call
    assert real_spin.broker.queue_length("spinach") == 0  # nothing enqueued yet
    jobs = prepared.schedule()
    assert [job.task_name for job in jobs] == ["order"]
    with pytest.raises(SpinachError, match="scheduled already"):
        prepared.schedule()
    real_spin.start_workers(number=1, stop_when_queue_empty=True)
    assert order_task == [{"status": "created"}]


def test_a_prepared_batch_cannot_be_scheduled_again_by_its_batch(real_spin, order_task):
    batch = batch_of(1)
    real_spin.prepare_batch(batch)
    with pytest.raises(SpinachError):
        real_spin.schedule_batch(batch)
