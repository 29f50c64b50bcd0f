"""Version of the spinach-core distribution (bumped with ``hatch version``)."""

__version__ = "0.1.0"
