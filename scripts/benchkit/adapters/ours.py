"""Ours: this checkout's ``spinach-core`` and ``spinach-redis``."""

from __future__ import annotations

from typing import Any

from benchkit.adapters._spinach import SpinachAdapter
from spinach import RedisBroker


class OursAdapter(SpinachAdapter):
    def make_broker(self) -> Any:
        return RedisBroker.from_url(self.url)


make = OursAdapter
