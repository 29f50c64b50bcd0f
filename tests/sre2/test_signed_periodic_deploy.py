"""SRE review 2: with a signing key, a rolling deploy sets aside periodic runs.

docs/production.md, "Rolling deploys": "A job of a task a worker does not
know is handed back, unstarted and unchanged, for a worker that knows it".
Periodic runs are built by the broker in Lua, unsigned; a signing worker
accepts an unsigned payload only when ``Engine._is_periodic_run`` says it is
exactly a run of one of *its own* periodic tasks (engine.py). A worker that
does not know the task (the old version, when the new one adds a periodic
task), or knows it with other options (a deploy that changes its queue or
``max_retries``), therefore sets the run aside in ``rejected`` instead of
handing it back (codec.py ``PayloadCodec.decode``): that period's run is lost,
though a worker that knows the task runs beside it. Without a signing key the
same run is handed back and runs.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest

from spinach import Engine, RedisBroker, Tasks

pytestmark = pytest.mark.redis

KEY = os.urandom(32)


def new_version(runs: list[str], max_retries: int = 0) -> Tasks:
    tasks = Tasks()
    tasks.add(lambda: runs.append("tick"), name="tick", periodicity=timedelta(hours=1),
              max_retries=max_retries)  # fmt: skip
    tasks.add(lambda: None, name="other")
    return tasks


@pytest.mark.parametrize("signing_key", [None, KEY], ids=["unsigned", "signed"])
def test_a_new_periodic_task_runs_while_old_workers_share_its_queue(
    redis_server, recorder_for, wait_until, signing_key
):
    namespace = f"sre2p{uuid.uuid4().hex[:8]}"
    old = Engine(RedisBroker(redis_server.client()), namespace=namespace, signing_key=signing_key)
    old.task(lambda: None, name="other")  # the old version: no periodic task
    new = Engine(RedisBroker(redis_server.client()), namespace=namespace, signing_key=signing_key)
    runs: list[str] = []
    new.attach_tasks(new_version(runs))
    rec = recorder_for(namespace)
    try:
        old.start_workers(number=2, block=False)
        # The new version's first worker registers the task; the first run is due
        # now, and an old worker is the one idle on the queue.
        new.broker.register_periodic_tasks(new.tasks.values())
        wait_until(
            lambda: old.broker.rejected() or old.broker.future_jobs_count() == 1,
            timeout=10,
            what="the old worker handed the run back or set it aside",
        )
        new.start_workers(number=2, block=False)
        rec.wait_for(lambda: rec.count("job_finished", "tick") >= 1, timeout=15)
        assert runs == ["tick"], (
            f"the first run of the new periodic task never ran; set aside by the old "
            f"worker: {old.broker.rejected()}"
        )
    finally:
        old.stop_workers()
        new.stop_workers()
        new.broker.flush()


def test_a_periodic_task_whose_retries_change_in_a_deploy_keeps_running(
    redis_server, recorder_for, wait_until
):
    """Old workers know the task with max_retries=0, the new version sets 2."""
    namespace = f"sre2p{uuid.uuid4().hex[:8]}"
    old_runs: list[str] = []
    old = Engine(RedisBroker(redis_server.client()), namespace=namespace, signing_key=KEY)
    old.attach_tasks(new_version(old_runs, max_retries=0))
    new = Engine(RedisBroker(redis_server.client()), namespace=namespace, signing_key=KEY)
    new_runs: list[str] = []
    new.attach_tasks(new_version(new_runs, max_retries=2))
    rec = recorder_for(namespace)
    try:
        # The new version registers first (its definition wins), the old
        # workers are the ones on the queue when the run is built.
        new.broker.register_periodic_tasks(new.tasks.values())
        old.start_workers(number=2, block=False)
        new.broker.register_periodic_tasks(new.tasks.values())  # as each new worker does
        wait_until(
            lambda: old.broker.rejected() or old_runs or old.broker.future_jobs_count() == 1,
            timeout=10,
            what="the old worker ran the run, handed it back or set it aside",
        )
        new.start_workers(number=2, block=False)
        rec.wait_for(lambda: rec.count("job_finished", "tick") >= 1, timeout=10)
        assert old_runs + new_runs == ["tick"], (
            f"the run of the periodic task never ran; set aside: {old.broker.rejected()}"
        )
    finally:
        old.stop_workers()
        new.stop_workers()
        new.broker.flush()
