"""The subscriber thread: turns pub/sub notifications into wake-ups.

It listens on the namespace channel with a connection of its own.  When the
connection drops it reconnects with backoff and jitter, and reports the
reconnection: notifications sent meanwhile were missed, so the broker wakes
its worker to look for itself.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any, Callable, Optional

from redis.exceptions import ConnectionError, TimeoutError
from spinach.utils import start_thread

__all__ = ["Subscriber"]

logger = logging.getLogger("spinach.broker.redis")

_TRANSIENT = (ConnectionError, TimeoutError, OSError)


class Subscriber:
    """Listens to one channel in a thread of its own.

    It also listens to a private ``wake_channel``, on which :meth:`stop`
    publishes so that the thread ends at once rather than at its next read
    timeout.
    """

    def __init__(
        self,
        client: Any,
        channel: str,
        wake_channel: str,
        on_message: Callable[[bytes], None],
        on_reconnect: Callable[[], None],
        name: str,
    ) -> None:
        self._client = client
        self._channel = channel
        self._wake_channel = wake_channel
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._name = name
        self._stopping = threading.Event()
        self._pubsub: Optional[Any] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Subscribe (so that nothing sent from now on is missed), then listen."""
        self._stopping.clear()
        self._pubsub = self._subscribe()
        self._thread = start_thread(self._run, self._name)

    def stop(self) -> None:
        """Stop listening and close the connection."""
        self._stopping.set()
        try:
            self._client.publish(self._wake_channel, b"stop")
        except _TRANSIENT:
            pass  # the thread ends at its next read timeout instead
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None

    def _subscribe(self) -> Any:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self._channel, self._wake_channel)
        return pubsub

    def _run(self) -> None:
        failures = 0
        pubsub = self._pubsub
        try:
            while not self._stopping.is_set():
                try:
                    if pubsub is None:
                        pubsub = self._subscribe()
                        logger.info("Reconnected to the notifications of %s", self._channel)
                        self._on_reconnect()
                    message = pubsub.get_message(timeout=1.0)
                    failures = 0
                    if (
                        message is not None
                        and message.get("type") == "message"
                        and _text(message["channel"]) == self._channel
                    ):
                        self._on_message(message["data"])
                except _TRANSIENT as exc:
                    failures += 1
                    delay = min(5.0, 0.05 * 2**failures) * random.uniform(0.5, 1.0)
                    logger.warning(
                        "Lost the notifications connection (%s); reconnecting in %.2f s", exc, delay
                    )
                    _close(pubsub)
                    pubsub = None
                    self._stopping.wait(delay)
        finally:
            _close(pubsub)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _close(pubsub: Optional[Any]) -> None:
    if pubsub is None:
        return
    try:
        pubsub.close()
    except Exception:  # closing a broken connection may fail; nothing to do
        logger.debug("Error closing the pub/sub connection", exc_info=True)
