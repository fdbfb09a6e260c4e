"""The scheduler's history in PostgreSQL: every node it asked for, what became of it, the
operator's overrides, demand and who woke the node, and events. With the provider's labels this
is what lets a restarted scheduler carry on: a node requested but not yet seen is still accounted
for, and the hours a month has used survive restarts.

Each call takes a connection from a small pool: the reconciler's thread and the HTTP server's
requests write concurrently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

__all__ = ["PHASES", "Boot", "Event", "History", "NodeRecord", "Override", "Phase"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gpu_nodes (
    name text PRIMARY KEY,
    deployment text NOT NULL,
    provider text NOT NULL,
    requested_at timestamptz NOT NULL,
    ready_at timestamptz,
    delete_requested_at timestamptz,
    ended_at timestamptz,
    outcome text
);
CREATE TABLE IF NOT EXISTS gpu_overrides (
    deployment text PRIMARY KEY,
    state text NOT NULL CHECK (state IN ('up', 'down')),
    until timestamptz NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now(),
    set_by text NOT NULL
);
CREATE TABLE IF NOT EXISTS gpu_demand (
    deployment text PRIMARY KEY,
    last_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS gpu_wakes (
    deployment text NOT NULL,
    caller text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS gpu_wakes_by_caller ON gpu_wakes (deployment, caller, at);
CREATE TABLE IF NOT EXISTS gpu_bootstrap (
    token_hash text PRIMARY KEY,
    node text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE TABLE IF NOT EXISTS gpu_boot_phases (
    node text NOT NULL,
    phase text NOT NULL,
    at timestamptz NOT NULL,
    ok boolean NOT NULL,
    detail text,
    PRIMARY KEY (node, phase)
);
CREATE TABLE IF NOT EXISTS gpu_events (
    id bigserial PRIMARY KEY,
    deployment text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,
    node text,
    message text NOT NULL
);
"""

_WAKES_KEPT = timedelta(days=2)  # the daily cap looks back one day
_NODE_COLUMNS = "name, requested_at, ready_at, delete_requested_at"


@dataclass(frozen=True)
class NodeRecord:
    name: str
    requested_at: datetime
    ready_at: datetime | None
    delete_requested_at: datetime | None


# A boot's phases in their order, each timed from the node's request: the scheduler sees the
# provider's answer, the machine running, the bootstrap fetched, vLLM healthy and its first answer;
# the node itself reports its images pulled and its weights checked (`/boot`).
PHASES = ("created", "machine up", "bootstrap", "images", "weights", "healthy", "first answer")


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float  # since the node was requested
    ok: bool
    detail: str | None


@dataclass(frozen=True)
class Boot:
    node: str
    requested_at: datetime
    outcome: str | None
    phases: list[Phase]

    @property
    def failed(self) -> Phase | None:
        return next((phase for phase in self.phases if not phase.ok), None)


@dataclass(frozen=True)
class Override:
    state: Literal["up", "down"]
    until: datetime
    set_by: str


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    node: str | None
    message: str


class History:
    def __init__(self, url: str, deployment: str) -> None:
        self.deployment = deployment
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url, min_size=1, max_size=4, open=True, kwargs={"row_factory": dict_row, "autocommit": True}
        )
        with self._pool.connection() as connection:
            # Two schedulers starting at once must not both create the tables.
            connection.execute("SELECT pg_advisory_lock(hashtext('toolpark-scheduler-schema'))")
            try:
                connection.execute(_SCHEMA)
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtext('toolpark-scheduler-schema'))")

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with self._pool.connection() as connection:
            yield connection

    def requested(self, name: str, provider: str, at: datetime) -> None:
        """Written before the provider is asked, so a crash mid-create leaves a trace to reconcile."""
        with self._connection() as c:
            c.execute(
                "INSERT INTO gpu_nodes (name, deployment, provider, requested_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, self.deployment, provider, at),
            )

    def ready(self, name: str, at: datetime) -> None:
        with self._connection() as c:
            c.execute("UPDATE gpu_nodes SET ready_at = %s WHERE name = %s AND ready_at IS NULL", (at, name))

    def deleting(self, name: str, at: datetime) -> None:
        with self._connection() as c:
            c.execute("UPDATE gpu_nodes SET delete_requested_at = %s WHERE name = %s", (at, name))

    def ended(self, name: str, at: datetime, outcome: str) -> None:
        with self._connection() as c:
            c.execute(
                "UPDATE gpu_nodes SET ended_at = %s, outcome = %s WHERE name = %s AND ended_at IS NULL",
                (at, outcome, name),
            )

    def open_nodes(self) -> list[NodeRecord]:
        """Nodes requested and not known to have ended."""
        with self._connection() as c:
            rows = c.execute(
                f"SELECT {_NODE_COLUMNS} FROM gpu_nodes"
                " WHERE deployment = %s AND ended_at IS NULL ORDER BY requested_at",
                (self.deployment,),
            ).fetchall()
        return [NodeRecord(**row) for row in rows]

    def hours_since(self, start: datetime, now: datetime) -> float:
        """Node hours between `start` and `now`: what the provider bills, from request to end."""
        with self._connection() as c:
            row = c.execute(
                "SELECT coalesce(sum(extract(epoch FROM least(coalesce(ended_at, %(now)s), %(now)s)"
                " - greatest(requested_at, %(start)s))), 0) AS seconds FROM gpu_nodes"
                " WHERE deployment = %(d)s AND requested_at < %(now)s AND coalesce(ended_at, %(now)s) > %(start)s",
                {"now": now, "start": start, "d": self.deployment},
            ).fetchone()
        return float(row["seconds"] if row else 0) / 3600

    def phase(
        self, node: str, phase: str, at: datetime, ok: bool = True, detail: str | None = None, *, each: bool = False
    ) -> None:
        """A boot phase of `node` reached (or failed). A sighting counts the first time; a phase
        the node reports for `each` of its models (weights) is reached with the last of them, and
        failed by any."""
        merge = (
            "DO UPDATE SET at = CASE WHEN NOT gpu_boot_phases.ok THEN gpu_boot_phases.at"
            " WHEN NOT excluded.ok THEN excluded.at ELSE greatest(gpu_boot_phases.at, excluded.at) END,"
            " detail = CASE WHEN gpu_boot_phases.ok AND NOT excluded.ok THEN excluded.detail"
            " ELSE gpu_boot_phases.detail END, ok = gpu_boot_phases.ok AND excluded.ok"
        )
        with self._connection() as c:
            c.execute(
                "INSERT INTO gpu_boot_phases (node, phase, at, ok, detail) VALUES (%s, %s, %s, %s, %s)"
                f" ON CONFLICT (node, phase) {merge if each else 'DO NOTHING'}",
                (node, phase, at, ok, detail),
            )

    def boots(self, limit: int = 5) -> list[Boot]:
        """The last `limit` nodes requested, newest first, with their phases in order."""
        with self._connection() as c:
            nodes = c.execute(
                "SELECT name, requested_at, outcome FROM gpu_nodes WHERE deployment = %s"
                " ORDER BY requested_at DESC LIMIT %s",
                (self.deployment, limit),
            ).fetchall()
            rows = c.execute(
                "SELECT node, phase, at, ok, detail FROM gpu_boot_phases WHERE node = ANY(%s)",
                ([n["name"] for n in nodes],),
            ).fetchall()
        boots = []
        for node in nodes:
            mine = sorted((r for r in rows if r["node"] == node["name"]), key=lambda r: PHASES.index(r["phase"]))
            phases = [
                Phase(r["phase"], (r["at"] - node["requested_at"]).total_seconds(), r["ok"], r["detail"]) for r in mine
            ]
            boots.append(Boot(node["name"], node["requested_at"], node["outcome"], phases))
        return boots

    def failed_phase(self, node: str) -> Phase | None:
        """The phase `node` reported failed, if any (the seconds are not needed there)."""
        with self._connection() as c:
            row = c.execute(
                "SELECT phase, detail FROM gpu_boot_phases WHERE node = %s AND NOT ok LIMIT 1", (node,)
            ).fetchone()
        return Phase(row["phase"], 0.0, False, row["detail"]) if row else None

    def times_to_ready(self, limit: int) -> list[float]:
        """Seconds from request to healthy vLLM, for the last `limit` nodes that got there."""
        with self._connection() as c:
            rows = c.execute(
                "SELECT extract(epoch FROM ready_at - requested_at) AS s FROM gpu_nodes"
                " WHERE deployment = %s AND ready_at IS NOT NULL ORDER BY requested_at DESC LIMIT %s",
                (self.deployment, limit),
            ).fetchall()
        return [float(row["s"]) for row in rows]

    def set_override(self, state: Literal["up", "down"] | None, until: datetime | None, by: str) -> None:
        with self._connection() as c:
            if state is None or until is None:
                c.execute("DELETE FROM gpu_overrides WHERE deployment = %s", (self.deployment,))
                return
            c.execute(
                "INSERT INTO gpu_overrides (deployment, state, until, set_by) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (deployment) DO UPDATE SET state = excluded.state, until = excluded.until,"
                " set_at = now(), set_by = excluded.set_by",
                (self.deployment, state, until, by),
            )

    def override(self, now: datetime) -> Override | None:
        """The operator's override while it lasts; an expired one is as good as none."""
        with self._connection() as c:
            row = c.execute(
                "SELECT state, until, set_by FROM gpu_overrides WHERE deployment = %s AND until > %s",
                (self.deployment, now),
            ).fetchone()
        return Override(**row) if row else None

    def demand(self, at: datetime) -> None:
        with self._connection() as c:
            c.execute(
                "INSERT INTO gpu_demand (deployment, last_at) VALUES (%s, %s) ON CONFLICT (deployment)"
                " DO UPDATE SET last_at = greatest(gpu_demand.last_at, excluded.last_at)",
                (self.deployment, at),
            )

    def woken(self, caller: str, at: datetime) -> None:
        """A wake-up `caller` caused: demand, and one more towards the caller's daily cap."""
        with self._connection() as c, c.transaction():
            row = (self.deployment, caller, at)
            c.execute("INSERT INTO gpu_wakes (deployment, caller, at) VALUES (%s, %s, %s)", row)
            c.execute("DELETE FROM gpu_wakes WHERE deployment = %s AND at < %s", (self.deployment, at - _WAKES_KEPT))
        self.demand(at)

    def wakes_since(self, caller: str, since: datetime) -> int:
        with self._connection() as c:
            row = c.execute(
                "SELECT count(*) AS n FROM gpu_wakes WHERE deployment = %s AND caller = %s AND at >= %s",
                (self.deployment, caller, since),
            ).fetchone()
        return int(row["n"]) if row else 0

    def last_demand(self) -> datetime | None:
        with self._connection() as c:
            row = c.execute("SELECT last_at FROM gpu_demand WHERE deployment = %s", (self.deployment,)).fetchone()
        return row["last_at"] if row else None

    def grant(self, token_hash: str, node: str, expires: datetime) -> None:
        """A one-time bootstrap token for `node`; only its hash is kept."""
        with self._connection() as c:
            c.execute(
                "INSERT INTO gpu_bootstrap (token_hash, node, expires_at) VALUES (%s, %s, %s)",
                (token_hash, node, expires),
            )

    def redeem(self, token_hash: str, now: datetime) -> str | None:
        """The node a token was granted to, if unused and unexpired; it is used up either way."""
        with self._connection() as c:
            row = c.execute(
                "UPDATE gpu_bootstrap SET used_at = %s WHERE token_hash = %s AND used_at IS NULL"
                " AND expires_at > %s RETURNING node",
                (now, token_hash, now),
            ).fetchone()
        return row["node"] if row else None

    def event(self, kind: str, node: str | None, message: str) -> None:
        with self._connection() as c:
            c.execute(
                "INSERT INTO gpu_events (deployment, kind, node, message) VALUES (%s, %s, %s, %s)",
                (self.deployment, kind, node, message),
            )

    def events(self, limit: int = 20) -> list[Event]:
        with self._connection() as c:
            rows = c.execute(
                "SELECT at, kind, node, message FROM gpu_events WHERE deployment = %s ORDER BY id DESC LIMIT %s",
                (self.deployment, limit),
            ).fetchall()
        return [Event(**row) for row in rows]
