"""A stand-in for a chat model that can copy an id from a tool's answer into its next call, which
the only model the registries ship (SmolLM2-135M) cannot: asked for `read_more` after a result's
first part, with the result id in the note before it, it wrote `"result": "1.0.0.0..."`, and with
the id offered as the only value of an enum it asked for part 1 again, or part 10 (measured with
vLLM's CPU build, greedy, strict tool arguments).

It is an OpenAI-compatible chat endpoint (streamed, as Open WebUI asks) whose every decision is a
rule on the conversation, so Open WebUI, the tool servers and the browser are all real and only the
model's choice of call is scripted:
- a URL in the user's turn: fetch it;
- "read on": `read_more` with the result and part the last note names;
- "my files": the user's uploads in the stack's bucket (s3's list_objects); "extract": extract_text
  of the last PDF a listing named;
- once a tool answered in this turn: a short reply saying what came back.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "planner"
ANSWERED = "The tool answered"  # how its reply after a tool round begins
_URL = re.compile(r"https?://\S+")
_READ_ON = re.compile(r'read_more tool: result \\?"([^"\\]+)\\?", part (\d+)')
_BUCKET = re.compile(r'bucket\\?": \\?"([a-z0-9.-]+)')
_PDF_KEY = re.compile(r'key\\?": \\?"([^"\\]+\.pdf)')


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _tool(tools: list[dict[str, Any]], suffix: str) -> str:
    """The offered tool whose name ends with `suffix` (Open WebUI names them `<server>_<tool>`)."""
    names = [t["function"]["name"] for t in tools if t.get("type") == "function"]
    return str(next(name for name in names if name.endswith(suffix)))


def decide(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | str:
    """The next call as (tool name, arguments), or the reply's text."""
    last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    if not tools:  # Open WebUI's own tasks (a title, follow-ups) offer none
        return "A chat with tools."
    answered = [_text(m) for m in messages[last_user + 1 :] if m.get("role") == "tool"]
    if answered:
        return f"{ANSWERED} ({len(answered[-1])} characters)."
    asked = _text(messages[last_user]).lower()
    earlier = "\n".join(_text(m) for m in messages if m.get("role") == "tool")
    if "read on" in asked:
        (result, part), *_ = reversed(_READ_ON.findall(earlier))
        return _tool(tools, "web_read_more"), {"result": result, "part": int(part)}
    if "my files" in asked:
        return _tool(tools, "s3_list_objects"), {"prefix": "openwebui/"}
    if "extract" in asked:
        url = f"s3://{_BUCKET.findall(earlier)[-1]}/{_PDF_KEY.findall(earlier)[-1]}"
        return _tool(tools, "_extract_text"), {"url": url}
    if address := _URL.search(_text(messages[last_user])):
        return _tool(tools, "_fetch"), {"url": address.group(0), "max_length": 400_000}
    return "Ask me to fetch a URL, read on, list your files or extract one."


def _chunks(decision: tuple[str, dict[str, Any]] | str) -> Iterator[dict[str, Any]]:
    base = {"id": "chatcmpl-planner", "object": "chat.completion.chunk", "model": MODEL}
    if isinstance(decision, str):
        yield base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": decision}}]}
        yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        return
    name, arguments = decision
    call = {"index": 0, "id": "call_planner", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}  # fmt: skip
    yield base | {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]}
    yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "tests"}]})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        decision = decide(request.get("messages", []), request.get("tools") or [])
        self.server.decisions.append(decision)  # type: ignore[attr-defined]
        if not request.get("stream"):
            chunks = list(_chunks(decision))
            delta = chunks[0]["choices"][0]["delta"]
            message = {"role": "assistant", "content": delta.get("content"), "tool_calls": delta.get("tool_calls")}
            finish = chunks[-1]["choices"][0]["finish_reason"]
            self._json({"id": "chatcmpl-planner", "object": "chat.completion", "model": MODEL,
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}]})  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in _chunks(decision):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@contextmanager
def planner() -> Iterator[tuple[str, list[Any]]]:
    """The stand-in's base URL (…/v1) and the decisions it made, while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.decisions = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", server.decisions  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
