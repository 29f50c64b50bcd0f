"""The defaults of Spinach, as named constants.

The original ``spinach`` distribution (0.0.x) had this module; code written
for it keeps working::

    from spinach.const import DEFAULT_QUEUE, DEFAULT_NAMESPACE

``DEFAULT_NAMESPACE``, ``DEFAULT_QUEUE``, ``DEFAULT_MAX_RETRIES`` and
``DEFAULT_WORKER_NUMBER`` are the original's names and values.  The other
constants name the remaining defaults of the documentation, with the values
this project uses (the dead-worker threshold is 60 seconds here, 30 minutes
in the original).  They describe the defaults; changing them changes nothing.

This is a package directory, not a ``const.py`` file, on purpose: it is the
second half of the protection against the original distribution (see
:mod:`spinach._conflict`).  When the original is installed *after*
spinach-core, its ``spinach/__init__.py`` replaces ours and none of our code
runs, until its ``from .const import ...``: a package directory wins over a
module file of the same name, so that import lands here, and the checks at
the top of this module stop it with an :class:`ImportError` naming the
conflict and the fix, instead of letting the original's code run among
leftovers of ours.
"""

import sys

# Whether the package importing us is spinach-core's: its __init__.py imports
# _conflict before anything else, the original's never does.  Read before the
# import below, which sets the attribute.
_package_is_ours = hasattr(sys.modules[__name__.rpartition(".")[0]], "_conflict")

from .. import _conflict  # noqa: E402 - raises if the original's metadata is beside us

if not _package_is_ours:
    _conflict.raise_foreign_package(sys.modules[__name__.rpartition(".")[0]])

__all__ = [
    "DEFAULT_BACKOFF_CAP_SECONDS",
    "DEFAULT_BROKER_DEAD_THRESHOLD_SECONDS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_NAMESPACE",
    "DEFAULT_QUEUE",
    "DEFAULT_WORKER_NUMBER",
]

#: Namespace of an :class:`~spinach.engine.Engine` created without one.
DEFAULT_NAMESPACE = "spinach"

#: Queue of the tasks that name none, and the one workers consume by default.
DEFAULT_QUEUE = "spinach"

#: Retries of a task that sets none: 0, the task is not retried (at most once).
DEFAULT_MAX_RETRIES = 0

#: Number of workers :meth:`~spinach.engine.Engine.start_workers` starts by
#: default; also the default ``--threads`` of ``flask spinach`` and
#: ``manage.py spinach``.
DEFAULT_WORKER_NUMBER = 5

#: Longest delay, in seconds, of :func:`spinach.utils.exponential_backoff`
#: (20 minutes) when it is not given a ``cap``.
DEFAULT_BACKOFF_CAP_SECONDS = 1200

#: Seconds without a heartbeat after which a worker is considered dead and
#: its retryable jobs are run again (``broker_dead_threshold_seconds`` of the
#: brokers).
DEFAULT_BROKER_DEAD_THRESHOLD_SECONDS = 60.0
