"""The Redis broker of Spinach, shipped by the spinach-redis distribution.

::

    from spinach import Engine, RedisBroker

    spin = Engine(RedisBroker.from_url("redis://localhost:6379/0"))
"""

from ._version import __version__
from .broker import RedisBroker

__all__ = ["RedisBroker", "__version__"]
