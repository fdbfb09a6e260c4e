"""Long-running tool calls as tasks: the `io.modelcontextprotocol/tasks` extension (SEP-2663).

A tool declared with `task=True` may turn into a task: the client gets a `CreateTaskResult` at once
and polls `tasks/get`, answers questions with `tasks/update` and stops it with `tasks/cancel`. The
work runs in the host's own task group, so it outlives the request and the client's connection.

Tasks belong to the caller that started them: another caller's task id is unknown to you, exactly
like an id that never existed. Finished tasks are kept `ttl_s` after they end, then forgotten; each
caller may have `per_caller` unfinished tasks at once. With a `TaskLedger` (`tasks_path`) they are
also kept on disk, so a restarted host still answers for them; with a `SharedLedger`
(`shared_database_url`) they live in PostgreSQL, so every replica of a server answers for them.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from anyio.abc import TaskGroup
from mcp.server.context import ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import HEADER_MISMATCH, INVALID_PARAMS, RequestParams
from pydantic import Field

from toolpark.contract.text import has_control_characters
from toolpark.host.tasks.ledger import TaskLedger
from toolpark.host.tasks.record import KEPT_PER_CALLER, Task
from toolpark.host.tasks.shared_ledger import SharedLedger

__all__ = ["TASKS_EXTENSION", "Tasks", "TasksExtension", "TooManyTasks"]

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"

_LONGEST_ID = 64  # ours are 24 characters; anything longer is no task of ours


class TooManyTasks(Exception):
    """The caller already has as many unfinished tasks as the host allows."""


class Tasks:
    """The tasks of one host: created by tool calls, read and steered through the extension's methods.

    `_tasks` holds the tasks that run (or ran) here. With a shared ledger the table is the truth:
    a task is read from it wherever it runs, and steered through it when it runs elsewhere.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        per_caller: int,
        poll_ms: int = 1000,
        ledger: TaskLedger | None = None,
        shared: SharedLedger | None = None,
    ) -> None:
        self.ttl = timedelta(seconds=ttl_s)
        self.per_caller = per_caller
        self.poll_ms = poll_ms
        self._ledger = ledger
        self._shared = shared
        self._tasks: dict[str, Task] = {}
        self._group: TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Tasks]:
        """The task group the work runs in, and the ledger's tasks; leaving cancels every task still running."""
        if self._ledger is not None:
            self._tasks = {task.id: self._recorded(task) for task in self._ledger.open()}
        if self._shared is not None:
            await self._shared.open()
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                if self._shared is not None:
                    group.start_soon(self._shared.keep, lambda: list(self._tasks.values()))
                try:
                    yield self
                finally:
                    self._group = None
                    group.cancel_scope.cancel()
        finally:
            if self._ledger is not None:
                self._ledger.close()
            if self._shared is not None:
                with anyio.CancelScope(shield=True):
                    await self._shared.close([t for t in self._tasks.values() if not t.ended])

    def _recorded(self, task: Task) -> Task:
        if self._ledger is not None:
            task.on_change = self._ledger.save
        elif self._shared is not None:
            task.on_change = self._shared.changed
        return task

    def start(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._group is None:
            raise RuntimeError("tasks run only while the host runs")
        self._group.start_soon(work)

    async def create(self, owner: str, tool: str) -> Task:
        self._forget_expired()
        if self._shared is not None:
            running = await self._shared.unfinished(owner)
        else:
            running = sum(1 for t in self._tasks.values() if t.owner == owner and not t.ended)
        if running >= self.per_caller:
            raise TooManyTasks(
                f"You already have {self.per_caller} tasks running. Wait for one to finish, or cancel one "
                "with tasks/cancel, then call again."
            )
        task = Task(
            id=secrets.token_urlsafe(18),
            owner=owner,
            tool=tool,
            ttl_ms=int(self.ttl.total_seconds() * 1000),
            poll_ms=self.poll_ms,
        )
        self._tasks[task.id] = self._recorded(task)
        if self._ledger is not None:
            self._ledger.save(task)
        if self._shared is not None:
            await self._shared.write(task)
        self._forget_beyond(owner)
        return task

    async def find(self, owner: str, task_id: str) -> Task:
        """The caller's task `task_id`; an unknown id and another caller's id get the same answer."""
        self._forget_expired()
        if not 0 < len(task_id) <= _LONGEST_ID or has_control_characters(task_id):  # PostgreSQL refuses NUL
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown task {task_id[:_LONGEST_ID]!r} (or it expired)")
        task = self._tasks.get(task_id)
        if self._shared is not None:
            if task is None:
                task = await self._shared.load(owner, task_id)
            elif not task.ended:
                await self._shared.steer([task])  # a cancel or answers another replica took, first
        if task is None or task.owner != owner:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown task {task_id!r} (or it expired)")
        return task

    async def cancel(self, task: Task) -> None:
        if task.id in self._tasks or self._shared is None:
            task.cancel()
            if self._shared is not None:
                await self._shared.write(task)
        else:
            await self._shared.cancel(task.id)

    async def answer(self, task: Task, responses: dict[str, Any]) -> None:
        if task.id in self._tasks or self._shared is None:
            task.answer(responses)
        else:
            await self._shared.answer(task.id, responses)

    def _forget_expired(self) -> None:
        now = datetime.now(UTC)
        self._forget([i for i, t in self._tasks.items() if t.ended and t.updated + self.ttl < now])

    def _forget_beyond(self, owner: str) -> None:
        ended = sorted((t for t in self._tasks.values() if t.owner == owner and t.ended), key=lambda t: t.updated)
        self._forget([t.id for t in ended[: max(0, len(ended) - KEPT_PER_CALLER)]])

    def _forget(self, expired: list[str]) -> None:
        for task_id in expired:
            del self._tasks[task_id]
        if expired and self._ledger is not None:
            self._ledger.forget(expired)


class _TaskIdParams(RequestParams):
    task_id: str = Field(min_length=1, max_length=200)


class _TaskUpdateParams(_TaskIdParams):
    input_responses: dict[str, Any] = Field(default_factory=dict, max_length=64)


OwnerOf = Callable[[ServerRequestContext[Any, Any]], str]


class TasksExtension(Extension):
    """`tasks/get`, `tasks/update` and `tasks/cancel`, each for clients that declared the extension."""

    identifier = TASKS_EXTENSION

    def __init__(self, tasks: Tasks, owner_of: OwnerOf) -> None:
        self.tasks = tasks
        self.owner_of = owner_of

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding("tasks/get", _TaskIdParams, self._get),
            MethodBinding("tasks/update", _TaskUpdateParams, self._update),
            MethodBinding("tasks/cancel", _TaskIdParams, self._cancel),
        ]

    async def _task(self, ctx: ServerRequestContext[Any, Any], params: _TaskIdParams) -> Task:
        require_client_extension(ctx, TASKS_EXTENSION)
        headers = getattr(ctx.request, "headers", None)
        named = headers.get("mcp-name") if headers is not None else None
        if named is not None and named != params.task_id:  # SEP-2243: routing headers must match the body
            raise MCPError(code=HEADER_MISMATCH, message="The Mcp-Name header does not match params.taskId")
        return await self.tasks.find(self.owner_of(ctx), params.task_id)

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: _TaskIdParams) -> dict[str, Any]:
        return (await self._task(ctx, params)).detailed()

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: _TaskUpdateParams) -> dict[str, Any]:
        await self.tasks.answer(await self._task(ctx, params), params.input_responses)
        return {}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: _TaskIdParams) -> dict[str, Any]:
        await self.tasks.cancel(await self._task(ctx, params))
        return {}
