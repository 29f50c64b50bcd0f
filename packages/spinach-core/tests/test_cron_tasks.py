"""Cron tasks on an Engine: checked when defined, run by real workers at each tick."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from spinach import Tasks
from spinach.cron import CronSchedule
from spinach.exc import InvalidTaskError

pytest.importorskip("cronsim")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"cron": "61 * * * *"}, "invalid cron expression '61 \\* \\* \\* \\*'"),
        ({"cron": "* * *"}, "invalid cron expression"),
        ({"cron": "0 0 30 2 *"}, "Bad day-of-month"),
        ({"cron": "* * */20 * 1L"}, "never matches"),
        ({"cron": "@reboot"}, "unknown cron alias '@reboot'"),
        ({"cron": 5}, "cron must be a str"),
        ({"cron": "@daily", "timezone": "Europe/Pariss"}, "unknown time zone 'Europe/Pariss'"),
        ({"cron": "@daily", "timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"cron": "@daily", "timezone": 2}, "timezone must be a str or a tzinfo"),
        ({"timezone": "Europe/Paris"}, "timezone is only for cron tasks"),
        ({"cron": "@daily", "periodicity": timedelta(hours=1)}, "not both"),
    ],
)
def test_bad_cron_options_are_refused_when_the_task_is_defined(options, message):
    tasks = Tasks()
    with pytest.raises(InvalidTaskError, match=message):
        tasks.add(lambda: None, name="nightly", **options)
    assert "nightly" not in tasks.tasks  # nothing registered


def test_a_cron_task_must_be_callable_without_arguments():
    tasks = Tasks()
    with pytest.raises(InvalidTaskError, match="cron task 'nightly' must be callable without"):
        tasks.add(lambda day: None, name="nightly", cron="@daily")


@pytest.mark.parametrize(
    "alias, expression",
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@ANNUALLY", "0 0 1 1 *"),
    ],
)
def test_aliases(alias, expression):
    assert CronSchedule(alias).expression == expression


def test_zone_as_a_name_or_a_tzinfo_and_utc_by_default():
    tasks = Tasks()
    tasks.add(lambda: None, name="a", cron="0 3 * * *", timezone="Europe/Paris")
    tasks.add(lambda: None, name="b", cron="0 3 * * *", timezone=ZoneInfo("Europe/Paris"))
    tasks.add(lambda: None, name="c", cron="0 3 * * *")
    a, b, c = (tasks.tasks[name].cron for name in "abc")
    assert a == b and a != c
    june = datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp()
    assert a.next_after(june) == datetime(2026, 6, 1, 1, 0, tzinfo=timezone.utc).timestamp()
    assert c.next_after(june) == datetime(2026, 6, 1, 3, 0, tzinfo=timezone.utc).timestamp()


def test_without_cronsim_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cronsim", None)  # as if it were not installed
    with pytest.raises(InvalidTaskError, match=r"pip install 'spinach-core\[cron\]'"):
        Tasks().add(lambda: None, name="nightly", cron="@daily")


def test_real_workers_run_a_cron_task_at_each_tick(spin, clock, recorder, let_time_pass):
    ran = []

    @spin.task(name="every_minute", cron="* * * * *")
    def every_minute():
        ran.append(clock.time())

    first_tick = (clock.time() // 60 + 1) * 60
    spin.start_workers(number=2, block=False)
    let_time_pass(clock, 3 * 60, 5)
    recorder.wait_count("job_finished", 3)
    spin.stop_workers()
    jobs = recorder.jobs("job_finished")
    assert [job.at_timestamp for job in jobs] == [first_tick + 60 * i for i in range(3)]
    assert all(at >= job.at_timestamp for at, job in zip(ran, jobs))  # never early


def test_workers_without_cron_tasks_never_plan(namespace, recorder):
    """No cron task, no call to the broker for cron: tasks without it pay nothing."""
    from spinach import Engine, MemoryBroker

    class CountingBroker(MemoryBroker):
        plans = 0

        def plan_cron_runs(self, runs, planned_at):
            CountingBroker.plans += 1
            return super().plan_cron_runs(runs, planned_at)

    spin = Engine(CountingBroker(), namespace=namespace)

    @spin.task(name="plain")
    def plain(n):
        pass

    for n in range(50):
        spin.schedule(plain, n)
    spin.start_workers(number=2, stop_when_queue_empty=True)
    assert recorder.count("job_finished") == 50
    assert CountingBroker.plans == 0

    @spin.task(name="nightly", cron="@daily")
    def nightly():
        pass

    spin.start_workers(number=1, stop_when_queue_empty=True)
    assert CountingBroker.plans == 1  # the control: a cron task is planned at start
