"""Slow or oversized clients cannot hold the host's connections or memory: headers and each part of a
body have deadlines, and headers a cap on their bytes and count."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from toolpark.host.transport.connections import MAX_HEADER_BYTES, MAX_HEADERS
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


def test_headers_past_the_cap_get_431_before_they_are_read_whole() -> None:
    """A 16 MB header without credentials: answered 431 after the cap, not read to its end (uvicorn
    with httptools buffered all of it, and eight at once added hundreds of MB)."""
    with serve_http(everything) as running:
        with connect(running.base_url) as sock:
            sock.sendall(b"POST /everything/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
            sent, refused = 0, False
            try:
                while sent < 16 * 1024 * 1024:
                    sock.sendall(b"a" * 65536)
                    sent += 65536
            except OSError:  # the host closed the connection while the header was still coming
                refused = True
            answer = closed_within(sock, 5)[1]
        assert refused and sent < 4 * 1024 * 1024, sent
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
        many = b"".join(b"X-H%d: v\r\n" % n for n in range(MAX_HEADERS + 1))
        with connect(running.base_url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + b"\r\n")
            assert closed_within(sock, 5)[1].startswith(b"HTTP/1.1 431")
        # Under both caps: served.
        big = b"X-Padding: " + b"a" * (MAX_HEADER_BYTES - 1024) + b"\r\n"
        with connect(running.base_url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + b"\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
