"""Contract: Broker.copy() gives a broker of the same storage, free for another namespace."""

from __future__ import annotations

import pytest

from spinach.exc import NamespaceError

from .helpers import make_job


def test_a_copy_serves_another_namespace_on_the_same_storage(backend, clock):
    first = backend.broker("one")
    copy = first.copy()
    with pytest.raises(NamespaceError):
        copy.namespace  # noqa: B018 - bound to nothing yet
    copy.namespace = first.namespace + "-two"
    copy.enqueue_jobs([make_job(clock)])
    assert copy.queue_length("q") == 1
    assert first.queue_length("q") == 0  # another namespace

    same = first.copy()
    same.namespace = copy.namespace  # a second broker of that namespace ...
    assert same.queue_length("q") == 1  # ... sees the same storage
    assert same.clock is first.clock
    assert same.broker_dead_threshold_seconds == first.broker_dead_threshold_seconds
    same.flush()
