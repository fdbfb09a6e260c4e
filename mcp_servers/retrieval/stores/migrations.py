"""Versioned SQL migrations, applied at start; safe when several replicas start at once.

Files in `migrations/` are named `NNNN_what.sql` and applied in order, each in its own
transaction together with its row in `toolpark_retrieval_migrations`. A transaction-scoped
advisory lock serialises concurrent appliers, so the second replica finds the work done.
"""

from __future__ import annotations

import re
from importlib.resources import files

import psycopg

__all__ = ["LOCK", "apply_migrations", "available"]

LOCK = 0x7470_7265_7472  # "tpretr": the advisory lock key of these migrations
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    """`(version, file name, SQL)` of every migration shipped, in order."""
    found = []
    for entry in files("toolpark.mcp_servers.retrieval.stores").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def apply_migrations(conn: psycopg.AsyncConnection[object]) -> list[str]:
    """Apply what is missing; returns the names of the migrations this call applied."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS toolpark_retrieval_migrations "
            "(version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
    for version, name, sql in available():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            cursor = await conn.execute("SELECT 1 FROM toolpark_retrieval_migrations WHERE version = %s", (version,))
            if await cursor.fetchone():
                continue
            await conn.execute(sql.encode())
            await conn.execute(
                "INSERT INTO toolpark_retrieval_migrations (version, name) VALUES (%s, %s)", (version, name)
            )
            applied_now.append(name)
    return applied_now
