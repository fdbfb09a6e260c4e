"""What several retrieval test modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolpark.operations.embedded import postgres


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded PostgreSQL with pgvector for the module's tests, by URL."""
    with postgres(tmp_path_factory.mktemp("pg")) as server:
        yield server.url
