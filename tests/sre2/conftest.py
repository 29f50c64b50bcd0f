"""Fixtures of the second SRE review (tests/sre2).

Reuses the worker-process ledger and the switching proxy of tests/sre
(loaded from its conftest, the test folders are not packages), with a worker
app of its own, ``sre2_worker.py``, which adds signing keys, payload limits
and periodic tasks to the gated tasks of tests/sre.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from spinach_test_support.conftests import load_conftest

sre = load_conftest("sre")
Ledger = sre.Ledger
SwitchProxy = sre.SwitchProxy
client_tasks = sre.client_tasks

#: The worker process of these tests.
APP = Path(__file__).with_name("sre2_worker.py")

#: The ``user`` line the documentation gives for workers (docs/examples/redis.conf).
REDIS_CONF = Path(__file__).parents[2] / "docs" / "examples" / "redis.conf"
ACL_PASSWORD = "an-sre2-long-random-password"


def documented_acl_rules(namespace: str, functions: bool = False) -> list[str]:
    """The documented rules of the workers' ACL user, for ``namespace``."""
    prefix = "# user " if functions else "user "
    [line] = [line for line in REDIS_CONF.read_text().splitlines() if line.startswith(prefix)]
    _, _, *rules = line.removeprefix("# ").split()
    rules[1] = f">{ACL_PASSWORD}"
    return [rule.replace("{myapp}", f"{{{namespace}}}") for rule in rules]


@pytest.fixture
def ledger(redis_server: Any, tmp_path: Path) -> Iterator[Any]:
    cluster = Ledger(redis_server, tmp_path)
    yield cluster
    cluster.close()
