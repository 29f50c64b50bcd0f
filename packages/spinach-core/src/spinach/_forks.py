"""Renewing what identifies a process when it forks.

gunicorn ``--preload``, uWSGI, ``multiprocessing`` and other prefork servers
build an :class:`~spinach.engine.Engine` in a parent process and use it in
children.  A child is a new process: it must not reuse the parent's worker
id, idempotency tokens, connections, threads or locks (a lock held by
another thread of the parent at fork time stays locked for ever in the
child).  Objects holding such things register here; in every child forked
afterwards, each one's ``_after_fork_in_child()`` runs before the child
goes on, in the forking thread (the only thread of the child).

The ``os.register_at_fork`` hook is installed once, by the first object
that registers, not at import.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Optional, Protocol

__all__ = ["ForkAware", "renew_after_fork"]


class ForkAware(Protocol):
    """An object that renews its process identity in a forked child."""

    def _after_fork_in_child(self) -> None: ...


_registry: Optional[weakref.WeakSet[ForkAware]] = None
_registry_lock = threading.Lock()


def renew_after_fork(obj: ForkAware) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked from now on.

    The object is held weakly: registering does not keep it alive.
    """
    global _registry  # noqa: PLW0603 - created on first use, not at import
    with _registry_lock:
        if _registry is None:
            _registry = weakref.WeakSet()
            if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
                os.register_at_fork(after_in_child=_in_child)
        _registry.add(obj)


def _in_child() -> None:
    global _registry_lock  # noqa: PLW0603 - a fresh lock in the child
    # The parent's lock may have been held by another thread at fork time.
    _registry_lock = threading.Lock()
    if _registry is None:  # pragma: no cover - the hook is installed with the registry
        return
    for obj in list(_registry):
        obj._after_fork_in_child()
