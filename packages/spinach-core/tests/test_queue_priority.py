"""start_workers(queue=[...]): one worker, several queues, strict priority."""

from __future__ import annotations

import pytest

from spinach import Batch
from spinach.exc import WorkersError


def test_workers_serve_their_queues_in_priority_order(real_spin, recorder):
    ran = []
    for queue in ("high", "default", "low"):

        @real_spin.task(name=f"in_{queue}", queue=queue)
        def task(n, queue=queue):
            ran.append(f"{queue}{n}")

    batch = Batch()
    for n in range(3):
        for queue in ("low", "default", "high"):  # enqueued lowest first
            batch.schedule(f"in_{queue}", n)
    real_spin.schedule_batch(batch)
    real_spin.start_workers(number=1, queue=["high", "default", "low"], stop_when_queue_empty=True)
    assert ran == [
        "high0",
        "high1",
        "high2",
        "default0",
        "default1",
        "default2",
        "low0",
        "low1",
        "low2",
    ]


@pytest.mark.parametrize(
    "queue, message",
    [
        ([], "at least one queue"),
        (["a", "a"], "twice"),
        (["a", "bad name"], "invalid queue name"),
        ({"a"}, "a name or a list of names"),
    ],
)
def test_bad_queue_lists_are_refused(real_spin, queue, message):
    with pytest.raises(WorkersError, match=message):
        real_spin.start_workers(number=1, queue=queue, block=False)
