"""Helpers for the threads Spinach starts."""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable

__all__ = ["spawn"]

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _without_stop_signals(target: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        # A signal delivered to this thread would not wake a main thread
        # blocked in a wait: keep SIGINT and SIGTERM for the main thread.
        # Threads started from here inherit the mask.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        return target(*args, **kwargs)

    return run


def spawn(
    target: Callable[..., Any], name: str, *args: Any, start: bool = True
) -> threading.Thread:
    """Create (and start) a named daemon thread that leaves stop signals to the main thread."""
    thread = threading.Thread(
        target=_without_stop_signals(target), name=name, args=args, daemon=True
    )
    if start:
        thread.start()
    return thread
