"""What a tool's questions to the client travel through: the contract side of `toolpark.host.tasks.asking`.

`ToolContext.elicit`, `sample` and `roots` build a request and hand it to an `Asker`; the host
lends the one that fits the call (a server-to-client request, a multi-round trip, a parked task).
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

from mcp_types import CreateMessageResult, ElicitResult, InputRequest, ListRootsResult

__all__ = ["Answer", "Asker", "BackgroundTask", "question_key"]

Answer = ElicitResult | CreateMessageResult | ListRootsResult


class Asker(Protocol):
    """Puts one question to the client and returns its answer."""

    async def ask(self, key: str, request: InputRequest) -> Answer: ...


class BackgroundTask(Protocol):
    """A call the host moved into a task: what the tool's progress reports become."""

    def touch(self, message: str | None = None) -> None:
        """Note the task is alive, with `message` as its status."""
        ...


def question_key(kind: str, number: int, request: InputRequest) -> str:
    """A key for the `number`th question of a call: stable across rounds while the question is the same,
    new when the tool asks something else (its answer must not stand for the old one's)."""
    body = json.dumps(request.model_dump(by_alias=True, mode="json", exclude_none=True), sort_keys=True)
    return f"{kind}-{number}-{hashlib.sha256(body.encode()).hexdigest()[:8]}"
