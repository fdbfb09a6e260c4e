"""Recorded HTTP exchanges, replayed to a cloud SDK in place of its API.

Both SDKs (hcloud, scaleway) send through `requests`; while `Replay` is active, every request
they send is compared with the next recorded exchange (method, path, the recorded query
parameters) and answered with its recorded response, and what was sent is kept. `toolpark gpu
plan` runs a provider this way to print the calls it would make without making any; the tests
run the providers against the same exchanges, as stand-ins for clouds this machine cannot reach.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import requests

__all__ = ["Exchange", "Replay", "ReplayMismatch", "Sent", "recorded"]


class ReplayMismatch(AssertionError):
    """The SDK sent something other than the recorded exchange."""


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    response: Any
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    body: Any

    def __str__(self) -> str:
        if self.body is None or self.method == "GET":
            return f"{self.method} {self.url}"
        return f"{self.method} {self.url} {json.dumps(_shortened(self.body), sort_keys=True)}"


def _shortened(value: Any) -> Any:
    """Long strings (user data) as their size: the plan shows the call, not the document."""
    if isinstance(value, str) and len(value) > 120:
        return f"<{len(value.encode())} bytes>"
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    return value


def recorded(provider: str) -> dict[str, list[Exchange]]:
    """The exchanges recorded for a provider, by operation (find, create, delete)."""
    text = files("toolpark.compose.scheduler.providers").joinpath("recorded", f"{provider}.json").read_text()
    return {op: [Exchange(**e) for e in exchanges] for op, exchanges in json.loads(text).items()}


def _body(request: requests.PreparedRequest) -> Any:
    raw = request.body
    if raw is None or raw == b"" or raw == "":
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if "json" in str(request.headers.get("Content-Type", "")):
        return json.loads(text)
    return text


class Replay:
    """`strict`: each request must be the recorded one (tests); otherwise each gets the next
    recorded answer whatever it asks (a dry run of a spec whose names differ from the recording)."""

    def __init__(self, exchanges: list[Exchange], *, strict: bool = True) -> None:
        self.pending = list(exchanges)
        self.strict = strict
        self.sent: list[Sent] = []
        self._patch = mock.patch.object(requests.adapters.HTTPAdapter, "send", self._send)

    def _send(self, request: requests.PreparedRequest, *_args: Any, **_options: Any) -> requests.Response:
        url = urlsplit(str(request.url))
        self.sent.append(Sent(str(request.method), str(request.url), _body(request)))
        if not self.pending:
            raise ReplayMismatch(f"unexpected request {request.method} {request.url}: no exchange left")
        expected = self.pending.pop(0)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        matches = (request.method, url.path) == (
            expected.method,
            expected.path,
        ) and expected.query.items() <= query.items()
        if self.strict and not matches:
            raise ReplayMismatch(
                f"sent {request.method} {url.path}?{url.query}, recorded {expected.method} {expected.path} "
                f"with {expected.query}"
            )
        response = requests.Response()
        response.status_code = expected.status
        response.raw = io.BytesIO(json.dumps(expected.response).encode() if expected.response is not None else b"")
        response.headers.update({"Content-Type": "application/json", **expected.headers})
        response.url, response.request = str(request.url), request
        return response

    def __enter__(self) -> Replay:
        self._patch.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._patch.stop()
