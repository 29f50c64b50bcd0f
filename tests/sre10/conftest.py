"""Fixtures of the tenth SRE review (tests/sre10): rate limits (3181966).

The ninth review's (tests/sre9/conftest.py): the broker backends of
tests/contract, ``engine_on`` (an Engine on a broker of such a backend) and
``run_as_worker`` (a worker simulated with the broker's own calls).
"""

from __future__ import annotations

from spinach_test_support.conftests import load_conftest

_sre9 = load_conftest("sre9")
backend = _sre9.backend
broker = _sre9.broker
engine_on = _sre9.engine_on
run_as_worker = _sre9.run_as_worker
