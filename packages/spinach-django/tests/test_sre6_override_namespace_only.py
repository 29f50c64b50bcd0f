"""SRE6: overriding only ``SPINACH_NAMESPACE`` breaks the project's Engine.

The testing guide says: "Overriding either [``SPINACH_BROKER`` or
``SPINACH_NAMESPACE``] with Django's ``override_settings`` ... rebuilds the
Engine".  The rebuilt Engine reuses the broker *instance* of the settings
(a ``MemoryBroker()`` or ``RedisBroker(...)`` object, as the documented
settings give), which is already bound to the first Engine's namespace, so
``create_engine()`` raises ``NamespaceError``.  From then on, for as long as
the override lasts, ``get_engine()``, ``schedule_on_commit()`` and
``send_mail()`` raise (or, with ``fail_silently=True``, the email is dropped
and logged).

User's impact: a test that gives itself a namespace of its own, as the
testing guide recommends ("give each test's Engine a namespace of its own"),
without also replacing the broker, errors out; with ``fail_silently`` email
its emails are silently not queued.

Fails today: ``NamespaceError: this broker is already used by namespace
'spinachd-tests'``.
Suggested fix: when only the namespace changes, build the new Engine on a
broker of the same kind and connection (e.g. a copy of the settings' broker)
rather than the instance bound to the old namespace, or document that
``SPINACH_BROKER`` must be overridden with it (and raise an
``ImproperlyConfigured`` that says so).
"""

from __future__ import annotations

from django.test import override_settings

from spinach.contrib.spinachd import get_engine


def test_overriding_the_namespace_alone_rebuilds_the_engine(namespace):
    get_engine()
    with override_settings(SPINACH_NAMESPACE=namespace):
        assert get_engine().namespace == namespace
