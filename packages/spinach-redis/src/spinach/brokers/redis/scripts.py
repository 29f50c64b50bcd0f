"""The Lua scripts of the broker, shipped as package data.

Each script is ``scripts/_common.lua`` followed by its own file.  Scripts run
with EVALSHA; when the server does not know a script (after a restart, a
failover, or on a new cluster node) it runs once with EVAL, which caches it.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any, Dict, Sequence

from redis.exceptions import NoScriptError

__all__ = ["SCRIPT_NAMES", "Scripts"]

SCRIPT_NAMES = (
    "ack",
    "adopt_dead",
    "enqueue",
    "fetch",
    "move_future",
    "register_periodic",
    "reject_running",
    "set_concurrency",
)


class Scripts:
    """Loads the scripts once and runs them by name."""

    def __init__(self) -> None:
        folder = resources.files(__package__).joinpath("scripts")
        common = folder.joinpath("_common.lua").read_text("utf-8")
        self.sources: Dict[str, str] = {
            name: common + "\n" + folder.joinpath(f"{name}.lua").read_text("utf-8")
            for name in SCRIPT_NAMES
        }
        self.shas = {
            name: hashlib.sha1(source.encode("utf-8")).hexdigest()
            for name, source in self.sources.items()
        }

    def run(self, client: Any, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a script with EVALSHA, falling back to EVAL if the server lacks it."""
        try:
            return client.evalsha(self.shas[name], len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.sources[name], len(keys), *keys, *args)
