"""Ours with job records: every task tracked (``track=True``), to price them."""

from __future__ import annotations

from typing import Any, Dict

from benchkit.adapters.ours import OursAdapter


class OursTrackedAdapter(OursAdapter):
    task_options: Dict[str, Any] = {"track": True}


make = OursTrackedAdapter
