"""Version of the spinach-datadog distribution (bumped with ``hatch version``)."""

__version__ = "0.1.0"
