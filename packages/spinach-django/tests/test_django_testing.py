"""A test gives the project a broker of its own with override_settings (docs/testing.md)."""

from __future__ import annotations

import asyncio

from django.test import SimpleTestCase, override_settings

from spinach import MemoryBroker
from spinach.contrib.spinachd import aschedule, get_engine


class OwnBrokerTests(SimpleTestCase):
    """Django's own test runner style: override_settings on a test class."""

    broker = MemoryBroker()

    @override_settings(SPINACH_BROKER=broker, SPINACH_NAMESPACE="own-broker")
    def test_the_engine_uses_the_overridden_broker(self):
        engine = get_engine()
        self.assertIs(engine.broker, self.broker)
        engine.schedule("polls:close_poll", 1)
        self.assertEqual(self.broker.queue_length("spinach"), 1)

    def test_the_project_broker_is_back_after_the_override(self):
        from django.conf import settings

        self.assertIs(get_engine().broker, settings.SPINACH_BROKER)


def test_async_view_schedules_without_blocking(settings, namespace):
    settings.SPINACH_BROKER = broker = MemoryBroker()
    settings.SPINACH_NAMESPACE = namespace

    async def view():
        return await aschedule("polls:close_poll", 3)

    job = asyncio.run(view())
    assert job.task_name == "polls:close_poll"
    assert broker.queue_length("spinach") == 1
