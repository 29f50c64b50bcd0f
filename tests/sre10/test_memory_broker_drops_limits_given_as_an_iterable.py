"""MemoryBroker.set_concurrency_keys reads its tasks twice: given a generator, it sets no limit.

Failure: commit 3181966 added, before the loop that records each task's
``max_concurrency``, a first pass over ``tasks`` for the rate limits
(``self._rates = {t.name: t.rate_limit for t in tasks ...}``). The argument
is an ``Iterable[Task]`` (Broker.set_concurrency_keys; the Redis broker
reads it once): a generator or any one-shot iterable is used up by the
first pass, the second loop sees nothing, and *no* concurrency limit is
recorded, without a word. Before this commit the same call worked.

Impact (MemoryBroker, i.e. tests and single-process deployments): a caller
that passes ``(t for t in tasks if ...)`` or ``filter(...)`` -- as the type
allows -- gets rate limits but silently loses every ``max_concurrency``; a
task limited to one job at a time runs N at once. The RedisBroker, given the
same generator, enforces the limit: a test suite on memory says the code is
fine while production behaves differently (or the other way round).

Suggested fix: ``tasks = list(tasks)`` at the top of set_concurrency_keys.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spinach.task import Task

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
from helpers import make_job


def test_max_concurrency_given_in_a_generator_is_enforced(backend, clock):
    broker = backend.broker()
    broker.start()
    tasks = [
        Task(lambda n: None, "exclusive", "q", 0, None, 1),
        Task(lambda n: None, "api", "q", 0, None, None, rate_limit=(100, 60.0)),
    ]
    broker.set_concurrency_keys(task for task in tasks)  # an Iterable[Task]
    broker.enqueue_jobs([make_job(clock, "exclusive", args=(n,)) for n in range(3)])
    running = broker.get_jobs_from_queue("q", 10)
    assert len(running) == 1, (
        f"{len(running)} jobs of a task with max_concurrency=1 run at once: the limit "
        "given in a generator was not recorded"
    )
