"""A real redis-server per test (skipped locally without the binary, a failure in CI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_tool
from tests.redis_server import RedisServer, redis_server


@pytest.fixture
def redis_srv(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(require_tool("redis-server"), tmp_path) as server:
        yield server
