"""Version of the spinach-flask distribution (bumped with ``hatch version``)."""

__version__ = "0.1.0"
