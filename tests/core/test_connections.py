"""Slow clients cannot hold the host's connections: headers and each part of a body have deadlines."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from toolpark.plugins.everything import plugin as everything
from toolpark.testing import serve_http


def connect(base_url: str) -> socket.socket:
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed `sock` within `seconds`, and what it sent before."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
        return True, received
    except TimeoutError:
        return False, received


def test_a_connection_that_sends_no_headers_is_closed() -> None:
    with serve_http(everything, header_timeout_s=1) as running:
        idle, trickle = connect(running.base_url), connect(running.base_url)
        trickle.sendall(b"POST /everything/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
        began = time.monotonic()
        assert closed_within(idle, 5)[0] and closed_within(trickle, 5)[0]
        assert time.monotonic() - began < 4
        with connect(running.base_url) as fresh:  # the host still serves
            fresh.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert fresh.recv(100).startswith(b"HTTP/1.1 200")


def test_a_body_that_stops_arriving_gets_408() -> None:
    with serve_http(everything, body_timeout_s=1) as running, connect(running.base_url) as sock:
        head = b"POST /everything/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Accept: application/json, text/event-stream\r\nContent-Length: 500\r\n\r\n{")
        closed, answer = closed_within(sock, 5)
    assert closed and answer.startswith(b"HTTP/1.1 408")
