"""A worker whose clock reads ahead makes every worker skip cron ticks, for good.

Failure: each worker plans "the next tick after *its* now" and the broker's
``plan_cron_runs`` (MemoryBroker and plan_cron.lua) keeps any tick later than
the last one planned, whoever offers it and however far past the server's
now it lies.  A worker whose ``clock.time()`` reads N seconds ahead (a local
clock stepped forward after its ServerClock offset was measured: the offset
is only replaced by a measurement as precise as the best one or older than
30 s, see ``ServerClock.observe``; a VM resumed and stepped by NTP; a broker
given its own clock) plans a tick N seconds in the future.  The broker
accepts it as the task's last tick; when the tick the healthy workers know
passes, they offer the next one, which is earlier than that last tick, and
the broker refuses it.  Every tick in between is never planned by anyone.

Impact: ticks lost silently, for every worker, not only the skewed one, and
not only while it is skewed: with an every-minute cron and a worker 4
minutes ahead for a moment, 3 runs never happen.  "Each tick runs once
across all workers" does not hold; nothing is logged.

Today: after the 12:01 tick passes, the healthy worker offers 12:02, the
broker answers with 12:05 (planned by the skewed worker), and 12:02, 12:03
and 12:04 never run, on every backend.

Suggested fix: judge with the server's clock in the broker, which alone
decides when a tick is due: have the planner send, with each tick, the tick
before it (the last tick at or before its own now), and have
``plan_cron_runs`` refuse (or replace by the next tick after the last
planned one) a tick whose predecessor is still in the future by the
server's clock; a refused tick answers the last planned tick as today.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from spinach.cron import CronPlanner, CronSchedule
from spinach.task import Task

pytest.importorskip("cronsim")


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_a_worker_ahead_for_a_moment_does_not_make_the_others_skip_ticks(backend, clock):
    clock.advance(utc(2026, 6, 1, 12, 0, 30) - clock.time())
    task = Task(lambda: None, "minutely", "q", 0, None, None, cron=CronSchedule("* * * * *"))
    healthy, skewed = backend.broker(), backend.broker()
    healthy.start()
    skewed.start()
    planner = CronPlanner(healthy.namespace, healthy, lambda: {"minutely": task})
    planner.plan(clock.time())  # plans 12:01
    assert planner.next_check() == utc(2026, 6, 1, 12, 1)

    # The other worker's clock reads 4 minutes ahead (its arbiter's now).
    ahead = CronPlanner(skewed.namespace, skewed, lambda: {"minutely": task})
    ahead.plan(clock.time() + 240)

    ran = []
    for _ in range(6):  # six minutes by the server's clock, the healthy worker planning
        clock.advance(60)
        check = planner.next_check()
        if check is not None and clock.time() >= check:
            planner.plan(clock.time())
        healthy.move_future_jobs()
        ran += [job.at_timestamp for job in healthy.get_jobs_from_queue("q", 100)]

    expected = [utc(2026, 6, 1, 12, minute) for minute in range(1, 7)]
    assert ran == expected, (
        "ticks ran at "
        + ", ".join(datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M") for t in ran)
        + " instead of every minute from 12:01 to 12:06"
    )
