"""Fixtures of the documentation tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

#: Redis database of the docs examples, emptied before each of them.
DOCS_DB = 9


@pytest.fixture
def redis_url(redis_server: Any) -> Iterator[str]:
    """The URL of an emptied database of the session's private Redis server."""
    client = redis_server.client(db=DOCS_DB)
    client.flushdb()
    yield redis_server.url.rsplit("/", 1)[0] + f"/{DOCS_DB}"
    client.flushdb()
    client.close()
