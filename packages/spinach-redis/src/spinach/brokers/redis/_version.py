"""Version of the spinach-redis distribution (bumped with ``hatch version``)."""

__version__ = "0.1.0"
