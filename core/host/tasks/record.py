"""One task: its status, result, the questions it waits on, and its wire form (`tasks/get`).

The registry (`toolpark.host.tasks.registry`) creates and steers tasks; the ledgers keep them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
from mcp_types import INTERNAL_ERROR, InputRequest

from toolpark.contract.asking import Answer
from toolpark.host.tasks.asking import parse_answer

__all__ = ["CANCELLED_MESSAGE", "ENDED", "KEPT_PER_CALLER", "Status", "Task", "TaskAsker", "interrupted"]

KEPT_PER_CALLER = 100
"""Finished tasks kept for one caller at most; the oldest go first (memory stays bounded whatever the TTL)."""

Status = Literal["working", "input_required", "completed", "failed", "cancelled"]
ENDED: tuple[Status, ...] = ("completed", "failed", "cancelled")
CANCELLED_MESSAGE = "cancelled by the client"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Task:
    """One task: who owns it, where it stands, and what it ended with."""

    id: str
    owner: str
    tool: str
    ttl_ms: int
    poll_ms: int
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: Status = "working"
    message: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    pending: dict[str, InputRequest] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    scope: anyio.CancelScope | None = None
    on_change: Callable[[Task], None] | None = None  # told of each change of status (the ledger)
    _answered: anyio.Event = field(default_factory=anyio.Event)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def touch(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        self.updated = datetime.now(UTC)

    def _changed(self) -> None:
        self.touch()
        if self.on_change is not None:
            self.on_change(self)

    def settle(
        self, status: Status, *, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None
    ) -> None:
        """End the task (once: a cancelled task stays cancelled whatever its work did meanwhile)."""
        if self.ended:
            return
        self.status, self.result, self.error = status, result, error
        self.pending.clear()
        self._changed()

    def cancel(self) -> None:
        if self.ended:
            return
        self.message = CANCELLED_MESSAGE
        self.settle("cancelled")
        if self.scope is not None:
            self.scope.cancel()

    def answer(self, responses: dict[str, Any]) -> None:
        """Take answers to open questions (each leaves `pending` at once, so the very next read shows
        only what is still open); answers to questions not asked are ignored."""
        taken = {key: value for key, value in responses.items() if key in self.pending}
        if not taken:
            return
        self.answers.update(taken)
        for key in taken:
            del self.pending[key]
        if not self.pending and self.status == "input_required":
            self.status = "working"
        self._changed()
        self._answered.set()
        self._answered = anyio.Event()

    async def asked(self, key: str, request: InputRequest) -> Answer:
        """Park until `tasks/update` answers `key`; the task is `input_required` while any question is open."""
        while key not in self.answers:
            self.pending[key] = request
            if self.status == "working":
                self.status = "input_required"
            self._changed()
            await self._answered.wait()
        return parse_answer(key, request, self.answers.pop(key))

    def created_result(self) -> dict[str, Any]:
        """The `CreateTaskResult`: the task itself, flat, marked `resultType: task`."""
        return {"resultType": "task", **self._envelope()}

    def detailed(self) -> dict[str, Any]:
        """What `tasks/get` returns: the envelope, plus the result, the error or the open questions."""
        wire = self._envelope()
        if self.status == "completed" and self.result is not None:
            wire["result"] = self.result
        elif self.status == "failed" and self.error is not None:
            wire["error"] = self.error
        elif self.status == "input_required":
            wire["inputRequests"] = {
                key: request.model_dump(by_alias=True, mode="json", exclude_none=True)
                for key, request in self.pending.items()
            }
        return wire

    def _envelope(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "taskId": self.id,
            "status": self.status,
            "createdAt": _iso(self.created),
            "lastUpdatedAt": _iso(self.updated),
            "ttlMs": self.ttl_ms,
            "pollIntervalMs": self.poll_ms,
        }
        if self.message:
            wire["statusMessage"] = self.message
        return wire


def interrupted(task: Task) -> dict[str, Any]:
    """The error of a task whose server stopped while it ran (a restart, or a replica that died)."""
    return {
        "code": INTERNAL_ERROR,
        "message": f"The server running this task stopped, and its work with it. Tool '{task.tool}' keeps "
        "nothing half done: call it again, and its result says what is stored.",
    }


class TaskAsker:
    """Questions of a call that runs as a task: the task parks until `tasks/update` answers."""

    def __init__(self, task: Task) -> None:
        self.task = task

    async def ask(self, key: str, request: InputRequest) -> Answer:
        return await self.task.asked(key, request)
