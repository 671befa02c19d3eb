"""Shared fixtures: real services on loopback (Redis), skipped with a reason when missing."""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest
from servers import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real redis-server started for this test session."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    with redis_server() as url:
        yield url
