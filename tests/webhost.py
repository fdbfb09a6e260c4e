"""Small HTTP servers on loopback for tests of outbound requests.

A `WebHost` answers a few fixed paths; every request is recorded so a test can tell which
server a request reached and with which Host header.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class WebHost:
    """A test server's address and what it saw."""

    name: str
    host: str
    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    documents: dict[str, bytes] = field(default_factory=dict)  # path -> JSON body to serve
    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)  # path -> status, headers, body
    requests: list[dict[str, str]] = field(default_factory=list)  # the headers of every request, in order

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def respond(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    """Answer the request `handler` holds: status, headers, the body and its length (none on a 304)."""
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    if status != 304:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _handler(web: WebHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            respond(self, status, body, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            web.seen.append((parts.path, self.headers.get("Host", "")))
            web.requests.append({":path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            if parts.path in web.pages:
                status, headers, body = web.pages[parts.path]
                etag = headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", {k: v for k, v in headers.items() if k in ("ETag", "Cache-Control")})
                else:
                    self._send(status, body, headers)
            elif parts.path in web.documents:
                self._send(200, web.documents[parts.path], {"Content-Type": "application/json"})
            elif parts.path == "/redirect":
                self._send(int(query.get("status", "302")), b"", {"Location": query["to"]})
            elif parts.path == "/loop":
                self._send(302, b"", {"Location": "/loop"})
            elif parts.path == "/big":
                self._stream(int(query.get("mb", "50")), declare=query.get("declare") == "1")
            elif parts.path == "/trickle":
                self._trickle()
            elif parts.path == "/slow":
                time.sleep(float(query.get("s", "5")))
                self._send(200, b"late")
            else:
                self._send(200, f"{web.name} {parts.path} host={self.headers.get('Host')}".encode())

        def _trickle(self) -> None:
            """A slow-loris answer: headers, then a byte every half second, for a minute."""
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                for _ in range(120):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.5)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _stream(self, megabytes: int, *, declare: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if declare:
                self.send_header("Content-Length", str(megabytes << 20))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(megabytes * 16):
                    self.wfile.write(chunk if declare else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if not declare:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its cap, as it should

    return Handler


@contextmanager
def web_host(name: str, host: str = "127.0.0.1", port: int = 0) -> Iterator[WebHost]:
    """Serve on `host:port` (0: a free port) for the length of the block."""
    server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    web = WebHost(name, host, server.server_address[1])
    server.RequestHandlerClass = _handler(web)  # now that the port is known
    with in_background(server):
        yield web


@contextmanager
def in_background(server: ThreadingHTTPServer) -> Iterator[None]:
    """Serve `server` from a thread for the length of the block."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
