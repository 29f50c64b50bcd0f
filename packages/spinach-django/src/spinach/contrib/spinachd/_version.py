"""Version of the spinach-django distribution (bumped with ``hatch version``)."""

__version__ = "0.1.0"
