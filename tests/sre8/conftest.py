"""Fixtures of the eighth SRE review (tests/sre8): inspection, cron ticks, queues, contexts.

Reuses the broker backends of tests/contract (memory, Redis, Redis 6.2, a
3-node cluster, all on one ManualClock) by loading its conftest: the test
folders are not packages.
"""

from __future__ import annotations

from spinach_test_support.conftests import load_conftest

_contract = load_conftest("contract")
backend = _contract.backend
broker = _contract.broker
