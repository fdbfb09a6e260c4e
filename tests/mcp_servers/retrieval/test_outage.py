"""A database outage is a named, transient error; the embedded PostgreSQL is started again when it
dies, and the server serves again within seconds of the database coming back."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from toolpark import ToolError
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.mcp_servers.retrieval.stores.pgvector import PgvectorStore, open_pgvector
from toolpark.operations.embedded import postgres
from toolpark.testing import http_client, serve_http

pytestmark = pytest.mark.anyio


async def test_an_unreachable_database_is_named_within_the_pool_timeout(tmp_path: Path) -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        f"postgresql://nobody@/nothing?host={tmp_path}", min_size=1, open=False, timeout=1,
        kwargs={"connect_timeout": 1},
    )  # fmt: skip
    await pool.open(wait=False)
    store = PgvectorStore(pool)
    began = time.monotonic()
    with pytest.raises(ToolError, match="The database is unavailable; try again shortly"):
        async with store.connection() as conn:
            await conn.execute("SELECT 1")
    assert time.monotonic() - began < 5 and store.lost
    await pool.close()


async def test_a_pooled_connection_the_server_ended_is_replaced_before_use(tmp_path: Path) -> None:
    """The pool looks at a connection before lending it without a round trip; one whose backend the
    server ended while it sat in the pool (an idle kill, a failover) is replaced, not lent."""
    with postgres(tmp_path / "pg") as database:
        async with open_pgvector(database.url, pool_size=1, timeout_s=5) as store:
            async with store.connection() as conn:
                backend = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
            async with await psycopg.AsyncConnection.connect(database.url, autocommit=True) as other:
                await other.execute("SELECT pg_terminate_backend(%s)", (backend,))
            await anyio.sleep(0.2)  # the termination message reaches the pooled connection's socket
            async with store.connection() as conn:
                again = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
    assert again != backend


async def search(url: str) -> Any:
    async with http_client(url) as client:
        return await client.call_tool("search", {"collection": "manuals", "query": "pump error"})


async def test_the_embedded_database_killed_mid_run_comes_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a killed embedded PostgreSQL stayed down, calls failed as incidents after 61 s,
    and /readyz took ~88 s to recover once it was restarted by hand."""
    monkeypatch.setenv("TOOLPARK_DATA_DIR", str(tmp_path))
    with serve_http(retrieval) as running:
        url = running.url("retrieval")
        async with http_client(url) as client:
            await client.call_tool("create_collection", {"name": "manuals"})
            added = await client.call_tool("ingest", {"collection": "manuals", "text": "Pump error E12: clean it."})
        assert not added.is_error
        pid_file = tmp_path / "postgres" / "postmaster.pid"
        killed = int(pid_file.read_text().split()[0])
        os.kill(killed, signal.SIGKILL)
        began = time.monotonic()
        during = await search(url)
        assert time.monotonic() - began < 15  # within the pool timeout, not after a minute
        if during.is_error:  # or already served by the restarted database
            assert "The database is unavailable; try again shortly." in during.content[0].text
        for _ in range(40):
            after = await search(url)
            if not after.is_error:
                break
            await anyio.sleep(0.5)
        assert not after.is_error and "E12" in after.content[0].text
        assert time.monotonic() - began < 20, "recovered within seconds"
        assert int(pid_file.read_text().split()[0]) != killed  # toolpark started it again
        assert (await running.get("/readyz")).status_code == 200
