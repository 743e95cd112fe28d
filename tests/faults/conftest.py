"""What the fault tests share."""

from pathlib import Path

import pytest

from tests.processes import RedisServer


@pytest.fixture
def redis(tmp_path: Path):
    """A Redis server of the test's own, which it may stop and start again on the same port."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
