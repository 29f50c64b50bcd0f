"""Version of the spinach-sentry distribution (bumped with ``hatch version``)."""

__version__ = "0.1.0"
