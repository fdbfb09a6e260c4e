"""Tasks kept in a SQLite file, so a host that restarts still answers `tasks/get` for them.

A task's work cannot survive the process that ran it. What survives is what the client needs: a
finished task's result until it expires, and for a task that was running, the news that it stopped,
saying what to do. The tools that take long (ingest above all) store whole or nothing, so calling
one again is safe and its result says what is stored.

Writes are a few hundred bytes on each change of state, small enough to make in the event loop.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import cast

from toolpark.host.tasks.record import Status, Task, interrupted

__all__ = ["TaskLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, tool TEXT NOT NULL, status TEXT NOT NULL,
    created TEXT NOT NULL, updated TEXT NOT NULL, ttl_ms INTEGER NOT NULL, poll_ms INTEGER NOT NULL,
    message TEXT, result TEXT, error TEXT
)
"""


class TaskLedger:
    """The tasks of one host in `path`, one row each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the task ledger is open only while the host runs")
        return self._db

    def open(self) -> list[Task]:
        """Open the file and return every task recorded; one that was still running ends `failed`,
        saying why."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Results are kept in clear: the file is its owner's alone from its first byte (SQLite
        # gives its -wal and -shm files the database file's permissions).
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        os.chmod(self.path, 0o600)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(_SCHEMA)
        return self._load()

    def save(self, task: Task) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.id, task.owner, task.tool, task.status, task.created.isoformat(), task.updated.isoformat(),
                task.ttl_ms, task.poll_ms, task.message,
                json.dumps(task.result) if task.result is not None else None,
                json.dumps(task.error) if task.error is not None else None,
            ),
        )  # fmt: skip

    def _load(self) -> list[Task]:
        tasks = []
        for row in self.db.execute(
            "SELECT id, owner, tool, status, created, updated, ttl_ms, poll_ms, message, result, error FROM tasks"
        ):
            task = Task(
                id=row[0], owner=row[1], tool=row[2], status=cast(Status, row[3]),
                created=datetime.fromisoformat(row[4]), updated=datetime.fromisoformat(row[5]),
                ttl_ms=row[6], poll_ms=row[7], message=row[8],
                result=json.loads(row[9]) if row[9] else None, error=json.loads(row[10]) if row[10] else None,
            )  # fmt: skip
            if not task.ended:
                task.settle("failed", error=interrupted(task))
                self.save(task)
            tasks.append(task)
        return tasks

    def forget(self, ids: list[str]) -> None:
        self.db.executemany("DELETE FROM tasks WHERE id = ?", [(i,) for i in ids])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
