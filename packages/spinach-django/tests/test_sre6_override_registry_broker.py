"""SRE6: under ``override_settings``, ``tasks.schedule()`` uses the wrong broker.

The documented way to schedule from a view is the app's ``tasks.py``
registry (``tasks.schedule("polls:close_poll", question.id)``, the
documentation's view; "Views schedule jobs through the registry, which
knows the project's Engine").  A registry schedules on the *last Engine it
was attached to*.  Overriding ``SPINACH_BROKER`` (``override_settings``,
pytest-django's ``settings``) only marks the project's Engine stale: it is
rebuilt, and the registries attached to the new one, when something next
calls ``get_engine()``.  Until then:

- inside the override, ``tasks.schedule()`` enqueues on the broker of the
  real settings (in production-like settings, the default
  ``RedisBroker()`` on localhost:6379, shared by every developer's test run
  and by the local workers), not on the test's broker: a test's jobs are
  run by the real workers (exposed), and the test sees nothing;
- after the override ends, ``tasks.schedule()`` keeps enqueueing on the
  test's throw-away broker until someone calls ``get_engine()``: the jobs of
  the next requests (or tests) are lost.

Fails today: the job lands in the other broker.
Suggested fix: rebuild the Engine eagerly in the ``setting_changed``
receiver once the override is complete (or re-point every discovered
registry at the project's Engine when a setting changes), so that the
registries always follow ``get_engine()``.
"""

from __future__ import annotations

from django.test import override_settings
from polls.tasks import tasks  # the registry of the documentation's view

from spinach import MemoryBroker
from spinach.contrib.spinachd import get_engine


def test_registry_schedules_on_the_overridden_broker(namespace):
    project = get_engine()  # the Engine of the real settings
    theirs_before = project.broker.queue_length("spinach")
    mine = MemoryBroker()
    with override_settings(SPINACH_BROKER=mine, SPINACH_NAMESPACE=namespace):
        tasks.schedule("polls:close_poll", 1)  # a test calling the view
        leaked = project.broker.queue_length("spinach") - theirs_before
        if leaked:  # leave the broker of the test settings as other tests expect it
            project.broker.flush()
        assert leaked == 0, (
            "the job scheduled inside override_settings(SPINACH_BROKER=...) went to the "
            "broker of the real settings"
        )
        assert get_engine().broker is mine
        assert mine.queue_length("spinach") == 1


def test_registry_leaves_the_overridden_broker_when_the_override_ends(namespace):
    get_engine()
    mine = MemoryBroker()
    with override_settings(SPINACH_BROKER=mine, SPINACH_NAMESPACE=namespace):
        assert get_engine().broker is mine  # the test runs with its broker...
    # ...and the override is over: the next request schedules through the registry.
    tasks.schedule("polls:close_poll", 1)
    assert mine.queue_length("spinach") == 0, (
        "after the override ended, the job went to the test's discarded broker: lost"
    )
