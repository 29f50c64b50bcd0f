"""Integrations with other libraries, each shipped by its own distribution.

``spinach.contrib.flask_spinach`` (spinach-flask), ``spinach.contrib.spinachd``
(spinach-django), ``spinach.contrib.sentry_sdk_spinach`` (spinach-sentry) and
``spinach.contrib.datadog`` (spinach-datadog).
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
