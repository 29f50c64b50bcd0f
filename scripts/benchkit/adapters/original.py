"""The original ``spinach`` package from PyPI (0.0.x), through its public API."""

from __future__ import annotations

from typing import Any

import redis

from benchkit.adapters._spinach import SpinachAdapter
from spinach import RedisBroker


class OriginalAdapter(SpinachAdapter):
    def make_broker(self) -> Any:
        return RedisBroker(redis=redis.Redis.from_url(self.url))


make = OriginalAdapter
