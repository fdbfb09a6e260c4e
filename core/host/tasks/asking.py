"""Asking the client during a tool call (elicitation, sampling, roots) in either protocol era.

A plugin writes `await ctx.elicit(...)` once; the host answers it one of three ways:

- handshake-era sessions (2025-11-25 and before): a server-to-client request in the middle of the call;
- 2026-07-28 requests: multi-round trips. The call ends with an `InputRequiredResult` carrying the
  open question; the client calls again with the answer and the tool runs again from the top. Each
  answer rides `requestState` (sealed by the SDK) so every question is asked once, however many rounds;
- a call running as a task: the task parks in `input_required` until `tasks/update` brings the answer.

A tool that asks should do so before it changes anything: on 2026-07-28 the part before the
question runs once per round.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types import (
    INVALID_PARAMS,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    ClientCapabilities,
    CreateMessageRequest,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
)
from pydantic import BaseModel, ValidationError

from toolpark.contract.asking import Answer

__all__ = [
    "DirectAsker",
    "InputNeeded",
    "RoundsAsker",
    "parse_answer",
    "require_capability",
]

_ANSWER_TYPES: dict[str, type[Answer]] = {
    "elicitation/create": ElicitResult,
    "sampling/createMessage": CreateMessageResult,
    "roots/list": ListRootsResult,
}
_CAPABILITIES = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}


class InputNeeded(Exception):
    """Raised from a question a 2026-07-28 call cannot answer yet; the call ends with `result`."""

    def __init__(self, result: InputRequiredResult) -> None:
        super().__init__(f"the client must answer {', '.join(result.input_requests or {})}")
        self.result = result


def require_capability(capabilities: ClientCapabilities | None, request: InputRequest) -> None:
    """Refuse a question the client declared it cannot answer, with the error the spec names (-32021)."""
    name = _CAPABILITIES[request.method]
    if capabilities is not None and getattr(capabilities, name, None) is not None:
        return
    raise MCPError(
        code=MISSING_REQUIRED_CLIENT_CAPABILITY,
        message=f"This tool needs to ask the client ({request.method}), but the client did not declare '{name}'",
        data={"requiredCapabilities": {name: {}}},
    )


def parse_answer(key: str, request: InputRequest, answer: Any) -> Answer:
    """The client's answer to `request` as its result type; a malformed one is the client's error."""
    expected = _ANSWER_TYPES[request.method]
    if isinstance(answer, expected):
        return answer
    raw = answer.model_dump(by_alias=True, mode="json") if isinstance(answer, BaseModel) else answer
    try:
        return expected.model_validate(raw)
    except ValidationError:
        raise MCPError(
            code=INVALID_PARAMS, message=f"inputResponses[{key!r}] is not a valid answer to {request.method}"
        ) from None


class DirectAsker:
    """Handshake era: a request to the client in the middle of the call."""

    def __init__(self, session: Any, related_request_id: Any) -> None:
        self.session = session
        self.related = related_request_id

    async def ask(self, key: str, request: InputRequest) -> Answer:
        with warnings.catch_warnings():  # sampling and roots are deprecated for 2026-07-28 only
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            if isinstance(request, ElicitRequest):
                params = request.params
                assert isinstance(params, ElicitRequestFormParams)
                elicited: ElicitResult = await self.session.elicit_form(
                    message=params.message, requested_schema=params.requested_schema, related_request_id=self.related
                )
                return elicited
            if isinstance(request, CreateMessageRequest):
                p = request.params
                sampled: CreateMessageResult = await self.session.create_message(
                    messages=p.messages,
                    max_tokens=p.max_tokens,
                    system_prompt=p.system_prompt,
                    temperature=p.temperature,
                    stop_sequences=p.stop_sequences,
                    model_preferences=p.model_preferences,
                    related_request_id=self.related,
                )
                return sampled
            assert isinstance(request, ListRootsRequest)
            return await self.session.list_roots()  # type: ignore[no-any-return]


class RoundsAsker:
    """2026-07-28: answers from earlier rounds (in the request state) or this round's `inputResponses`;
    anything else ends the round with an `InputRequiredResult`."""

    def __init__(self, capabilities: ClientCapabilities | None, responses: Any, state: str | None) -> None:
        self.capabilities = capabilities
        self.responses: dict[str, Any] = dict(responses or {})
        self.state = state
        self._recorded: dict[str, Any] | None = None

    @property
    def recorded(self) -> dict[str, Any]:
        """Answers of earlier rounds, read when first asked for (a tool that keeps its own state never is)."""
        if self._recorded is None:
            try:
                self._recorded = json.loads(self.state)["answers"] if self.state else {}
            except (ValueError, KeyError, TypeError):  # sealed by the SDK: only a tool's own state gets here
                raise MCPError(code=INVALID_PARAMS, message="requestState was not made by ctx.elicit") from None
        assert self._recorded is not None
        return self._recorded

    async def ask(self, key: str, request: InputRequest) -> Answer:
        if key in self.recorded:
            return parse_answer(key, request, self.recorded[key])
        if key in self.responses:
            answer = parse_answer(key, request, self.responses[key])
            self.recorded[key] = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
            return answer
        require_capability(self.capabilities, request)
        raise InputNeeded(
            InputRequiredResult(
                input_requests={key: request}, request_state=json.dumps({"answers": self.recorded}, sort_keys=True)
            )
        )
