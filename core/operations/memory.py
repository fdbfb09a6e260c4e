"""Freed memory handed back to the system, so that a server's resident size follows what it holds.

glibc keeps what a program frees for its next allocations, in the arena of the thread that freed
it; a server that converts pages, parses PDFs and encodes in worker threads holds on to its
largest moment for ever: retrieval's local model after an ingest at 1,150 MB of memory where it
needs 380, the web server 250 MB above its start after ten minutes of 100 users
(bench/concurrent_users.py). `malloc_trim` returns the free pages; the host calls it every few
seconds, which costs a walk of the heap, milliseconds."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import anyio

__all__ = ["keep_trimmed", "trim"]


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name else None
    found = getattr(library, "malloc_trim", None)
    return found if callable(found) else None


_TRIM = _malloc_trim()


def trim() -> bool:
    """Give the heap's free pages back; whether there was a way to."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


async def keep_trimmed(interval_s: float = 10.0) -> None:
    """`trim` every `interval_s`, off the event loop, until cancelled."""
    while True:
        await anyio.sleep(interval_s)
        await anyio.to_thread.run_sync(trim)
