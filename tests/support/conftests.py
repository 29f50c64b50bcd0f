"""Sharing the fixtures of one test folder with another.

The test folders are not packages (pytest runs with --import-mode=importlib),
so a folder that reuses another's fixtures (the SRE reviews reuse the
contract backends and the worker-process ledger) loads that folder's
conftest here, once per session, as ``spinach_test_support.<folder>_conftest``.
Pytest also loads the folder's own conftest under another name: state at
module level (counters, caches) exists twice, so it must not assume it is
unique.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load_conftest"]

_TESTS = Path(__file__).resolve().parents[1]


def load_conftest(folder: str) -> ModuleType:
    """The conftest module of ``tests/<folder>``, loaded once."""
    name = f"spinach_test_support.{folder}_conftest"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(name, _TESTS / folder / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
