"""Tasks in a PostgreSQL table that every replica of a server shares, so any replica answers for any task.

The replica that runs a task owns its row: it writes each change of state, and renews the task's
lease every `TICK_S` with its status message. Another replica answers `tasks/get` from the row,
and takes `tasks/cancel` and `tasks/update` by writing to it; the running replica reads those on
its next tick. A row whose lease ran out belongs to a replica that died: whoever reads it next ends
it `failed`, saying why. Nothing else is needed, Redis least of all: the stack runs PostgreSQL.

Rows written by replicas of other servers in the same database are apart: each host keys its rows
by the plugins it serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

import anyio
from mcp_types import InputRequest
from pydantic import TypeAdapter

from toolpark.host.tasks.record import CANCELLED_MESSAGE, KEPT_PER_CALLER, Status, Task, interrupted

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["LEASE_S", "TICK_S", "SharedLedger"]

logger = logging.getLogger("toolpark.tasks")

TICK_S = 1.0
"""How often a replica renews its tasks' leases and reads the cancels and answers others took."""
LEASE_S = 15.0
"""How long a task outlives the last renewal before it counts as orphaned (its replica died)."""
_CLEAN_EVERY = 60  # ticks between removals of expired rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS toolpark_tasks (
    id text PRIMARY KEY, replicas text NOT NULL, owner text NOT NULL, tool text NOT NULL, status text NOT NULL,
    created timestamptz NOT NULL, updated timestamptz NOT NULL, ttl_ms bigint NOT NULL, poll_ms integer NOT NULL,
    message text, result jsonb, error jsonb, pending jsonb NOT NULL DEFAULT '{}',
    answers jsonb NOT NULL DEFAULT '{}', lease_until timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS toolpark_tasks_owner ON toolpark_tasks (replicas, owner, status);
"""

# A row that ended stays ended: a late write of the running replica never revives a task that
# another replica cancelled, nor one a reader ended as orphaned.
_UPSERT = """
INSERT INTO toolpark_tasks
    (id, replicas, owner, tool, status, created, updated, ttl_ms, poll_ms, message, result, error, pending, lease_until)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s * interval '1 second')
ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status, updated = EXCLUDED.updated, message = EXCLUDED.message, result = EXCLUDED.result,
    error = EXCLUDED.error, pending = EXCLUDED.pending, lease_until = EXCLUDED.lease_until
WHERE toolpark_tasks.status NOT IN ('completed', 'failed', 'cancelled')
"""

_COLUMNS = "id, owner, tool, status, created, updated, ttl_ms, poll_ms, message, result, error, pending"
_LIVE = "NOT (status IN ('completed', 'failed', 'cancelled') AND updated + ttl_ms * interval '1 millisecond' < now())"

_requests: TypeAdapter[InputRequest] = TypeAdapter(InputRequest)


class SharedLedger:
    """The tasks of the replicas that serve `replicas` (the plugins' names), in the database at `url`."""

    def __init__(self, url: str, replicas: str) -> None:
        self.url = url
        self.replicas = replicas
        self._pool: AsyncConnectionPool | None = None
        self._dirty: dict[str, Task] = {}
        self._wake = anyio.Event()

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("the shared task ledger is open only while the host runs")
        return self._pool

    async def open(self) -> None:
        try:
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise RuntimeError("shared tasks need psycopg: pip install 'toolpark[replicas]'") from exc
        self._pool = AsyncConnectionPool(self.url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True})
        await self._pool.open(wait=True, timeout=30)
        async with self.pool.connection() as db, db.transaction():
            # Replicas starting together would race to create the table; one at a time.
            await db.execute("SELECT pg_advisory_xact_lock(hashtext('toolpark_tasks'))")
            await db.execute(_SCHEMA)

    async def close(self, running: list[Task]) -> None:
        """Record the tasks still running here as ended by the shutdown, then let go of the database."""
        for task in running:
            task.settle("failed", error=interrupted(task))
        try:
            await self._flush()
        except Exception:  # the database is gone too: their leases run out, and readers end them
            logger.warning("shared task ledger: could not record the tasks ended by the shutdown", exc_info=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def changed(self, task: Task) -> None:
        """A task running here changed state: written by the keeper within moments, in order."""
        self._dirty[task.id] = task
        self._wake.set()

    async def write(self, task: Task) -> None:
        """Write `task` now: a task just made must be found by the replica its next request reaches."""
        self._dirty.pop(task.id, None)  # before the snapshot: a change while writing marks it again
        try:
            async with self.pool.connection() as db:
                await db.execute(_UPSERT, self._row(task))
        except BaseException:
            self._dirty.setdefault(task.id, task)
            raise

    async def unfinished(self, owner: str) -> int:
        """Tasks of `owner` running on any live replica."""
        async with self.pool.connection() as db:
            cursor = await db.execute(
                "SELECT count(*) FROM toolpark_tasks WHERE replicas = %s AND owner = %s "
                "AND status IN ('working', 'input_required') AND lease_until > now()",
                (self.replicas, owner),
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def load(self, owner: str, task_id: str) -> Task | None:
        """`owner`'s task `task_id` as the table has it; one orphaned by a dead replica comes back ended."""
        async with self.pool.connection() as db:
            cursor = await db.execute(
                f"SELECT {_COLUMNS}, lease_until < now() FROM toolpark_tasks "
                f"WHERE id = %s AND owner = %s AND replicas = %s AND {_LIVE}",
                (task_id, owner, self.replicas),
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        task = _task(row)
        if row[-1] and not task.ended:
            task.settle("failed", error=interrupted(task))
            await self.write(task)
        return task

    async def cancel(self, task_id: str) -> None:
        async with self.pool.connection() as db:
            await db.execute(
                "UPDATE toolpark_tasks SET status = 'cancelled', message = %s, pending = '{}', updated = now() "
                "WHERE id = %s AND status NOT IN ('completed', 'failed', 'cancelled')",
                (CANCELLED_MESSAGE, task_id),
            )

    async def answer(self, task_id: str, responses: dict[str, Any]) -> None:
        """Leave answers for the replica running the task; it takes them on its next tick."""
        from psycopg.types.json import Jsonb

        # The row shows at once what is still open, as the running replica's own task would.
        async with self.pool.connection() as db:
            await db.execute(
                "UPDATE toolpark_tasks SET answers = answers || %(taken)s, pending = pending - %(keys)s::text[], "
                "status = CASE WHEN pending - %(keys)s::text[] = '{}' THEN 'working' ELSE status END, updated = now() "
                "WHERE id = %(id)s AND status = 'input_required'",
                {"taken": Jsonb(responses), "keys": list(responses), "id": task_id},
            )

    async def keep(self, running: Callable[[], list[Task]]) -> None:
        """While the host runs: write changes as they come; each tick, renew leases and steer the
        tasks running here by what other replicas wrote; now and then, remove expired rows."""
        ticks = 0
        next_tick = anyio.current_time()
        while True:
            with anyio.move_on_after(max(0.0, next_tick - anyio.current_time())):
                await self._wake.wait()
            self._wake = anyio.Event()
            try:
                await self._flush()
                if anyio.current_time() >= next_tick:
                    next_tick = anyio.current_time() + TICK_S
                    ticks += 1
                    await self.steer([task for task in running() if not task.ended])
                    if ticks % _CLEAN_EVERY == 0:
                        await self._clean()
            except Exception:  # PostgreSQL away for a moment: try again a tick later
                logger.warning("shared task ledger: a write failed; retrying", exc_info=True)
                await anyio.sleep(TICK_S)

    async def _flush(self) -> None:
        while self._dirty:
            await self.write(next(iter(self._dirty.values())))

    async def steer(self, local: list[Task]) -> None:
        """Apply to tasks running here the cancels and answers other replicas wrote; renew their leases."""
        if not local:
            return
        by_id = {task.id: task for task in local}
        async with self.pool.connection() as db:
            cursor = await db.execute(
                "SELECT id, status, answers FROM toolpark_tasks WHERE id = ANY(%s)", (list(by_id),)
            )
            for task_id, status, answers in await cursor.fetchall():
                task = by_id[task_id]
                if status == "cancelled":
                    task.cancel()
                elif answers:
                    task.answer(answers)
                    await db.execute(
                        "UPDATE toolpark_tasks SET answers = answers - %s::text[] WHERE id = %s",
                        (list(answers), task_id),
                    )
        for task in local:
            await self.write(task)  # the lease, and the status message progress left

    async def _clean(self) -> None:
        async with self.pool.connection() as db:
            await db.execute(f"DELETE FROM toolpark_tasks WHERE NOT ({_LIVE})")
            await db.execute(
                "DELETE FROM toolpark_tasks t USING (SELECT id, row_number() OVER (PARTITION BY replicas, owner "
                "ORDER BY updated DESC) AS n FROM toolpark_tasks WHERE status IN ('completed', 'failed', 'cancelled')) "
                "old WHERE t.id = old.id AND old.n > %s",
                (KEPT_PER_CALLER,),
            )

    def _row(self, task: Task) -> tuple[Any, ...]:
        from psycopg.types.json import Jsonb

        pending = {key: r.model_dump(by_alias=True, mode="json", exclude_none=True) for key, r in task.pending.items()}
        return (
            task.id, self.replicas, task.owner, task.tool, task.status, task.created, task.updated,
            task.ttl_ms, task.poll_ms, task.message,
            Jsonb(task.result) if task.result is not None else None,
            Jsonb(task.error) if task.error is not None else None,
            Jsonb(pending), 0 if task.ended else LEASE_S,
        )  # fmt: skip


def _task(row: tuple[Any, ...]) -> Task:
    status: Status = row[3]
    return Task(
        id=row[0], owner=row[1], tool=row[2], status=status,
        created=row[4].astimezone(UTC), updated=row[5].astimezone(UTC), ttl_ms=row[6], poll_ms=row[7],
        message=row[8], result=row[9], error=row[10],
        pending={key: _requests.validate_python(value) for key, value in (row[11] or {}).items()},
    )  # fmt: skip
