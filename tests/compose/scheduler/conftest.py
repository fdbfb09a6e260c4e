from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.scheduler.scheduling import OPEN
from toolpark.operations.embedded import PostgresService, postgres


@pytest.fixture
def database(tmp_path: Path) -> Iterator[PostgresService]:
    """A PostgreSQL for the scheduler's history; the services made on it close first."""
    with postgres(tmp_path / "pg") as service:
        yield service
        while OPEN:  # before the server stops
            OPEN.pop().history.close()
