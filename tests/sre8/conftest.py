"""Fixtures of the eighth SRE review (tests/sre8): inspection, cron ticks, queues, contexts.

Reuses the broker backends of tests/contract (memory, Redis, Redis 6.2, a
3-node cluster, all on one ManualClock) by loading its conftest: the test
folders are not packages.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_CONTRACT_CONFTEST = Path(__file__).parents[1] / "contract" / "conftest.py"


def _load_contract_conftest() -> Any:
    name = "spinach_test_support.contract_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _CONTRACT_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_contract = _load_contract_conftest()
backend = _contract.backend
broker = _contract.broker
