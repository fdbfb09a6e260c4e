"""A pool of worker processes for parsing untrusted documents.

A malicious or broken file may make a parser loop, eat memory or crash. Each job runs in a
worker process with an address-space limit; a job that outlives its timeout gets its worker
killed and replaced, and a worker that dies is replaced too. The server keeps serving.
"""

from __future__ import annotations

import importlib
import multiprocessing
import resource
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import anyio

from toolpark.contract.errors import ToolError

__all__ = ["JobFailed", "WorkerPool"]

T = TypeVar("T")


class JobFailed(ToolError):
    """A job could not finish: it timed out, ran out of memory or crashed its worker."""


def _serve(conn: Connection, memory_bytes: int, preload: tuple[str, ...]) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the host stops its workers itself (they
    # read EOF), so the signal would only print a KeyboardInterrupt traceback from each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    for module in preload:  # import the parsers now, so a job's time is its own
        importlib.import_module(module)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        fn, args = job
        try:
            conn.send((True, fn(*args)))
        except MemoryError:
            conn.send((False, "the document needs more memory than this server allows"))
        except ToolError as exc:
            conn.send((False, str(exc)))
        except Exception as exc:  # a parser's own error on a bad file: report it, keep the worker
            conn.send((False, f"the document could not be read ({type(exc).__name__}: {exc})"))


class _Worker:
    def __init__(self, context: Any, memory_bytes: int, preload: tuple[str, ...]) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process: BaseProcess = context.Process(target=_serve, args=(child, memory_bytes, preload), daemon=True)
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Block until the worker has started and imported its parsers (not counted against jobs)."""
        if not self.ready:
            if not self.conn.poll(timeout_s):
                raise JobFailed("Extraction failed: a worker process did not start.")
            self.conn.recv()
            self.ready = True

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """`size` worker processes; `run` sends a job to a free one and waits at most `timeout_s`."""

    def __init__(self, size: int, *, memory_mb: int, timeout_s: float, preload: tuple[str, ...] = ()) -> None:
        # forkserver: workers start from a clean process, not a fork of a threaded server.
        self._context = multiprocessing.get_context("forkserver")
        self._memory = memory_mb * 1024 * 1024
        self._preload = preload
        self.timeout_s = timeout_s
        self.size = size
        self._idle: list[_Worker] = [self._spawn() for _ in range(size)]
        self._free = anyio.Semaphore(size)
        self.jobs = 0
        self.replaced = 0

    @property
    def free(self) -> int:
        """Workers not busy with a job now."""
        return int(self._free.value)

    def _spawn(self) -> _Worker:
        return _Worker(self._context, self._memory, self._preload)

    def close(self) -> None:
        for worker in self._idle:
            worker.kill()
        self._idle.clear()

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """`fn(*args)` in a worker; `fn` must be a module-level function, its result picklable."""
        limit = timeout_s or self.timeout_s
        self.jobs += 1
        async with self._free:
            worker = self._idle.pop()
            healthy = False
            try:
                result = await anyio.to_thread.run_sync(self._exchange, worker, fn, args, limit, abandon_on_cancel=True)
                healthy = True
            finally:
                if healthy:
                    self._idle.append(worker)
                else:  # timed out, died or was cancelled mid-job: its state is unknown
                    worker.kill()
                    self.replaced += 1
                    self._idle.append(self._spawn())
        ok, value = result
        if not ok:
            raise JobFailed(f"Extraction failed: {str(value).rstrip('.')}.")
        return value  # type: ignore[no-any-return]

    @staticmethod
    def _exchange(worker: _Worker, fn: Callable[..., Any], args: tuple[Any, ...], limit: float) -> tuple[bool, Any]:
        try:
            worker.wait_ready()
            worker.conn.send((fn, args))
            if not worker.conn.poll(limit):
                raise JobFailed(
                    f"Extraction did not finish within {limit:g} s and was stopped; the document may be malformed "
                    "or too large. Try fewer pages."
                )
            answer: tuple[bool, Any] = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            raise JobFailed(
                "Extraction failed: the parser crashed or ran out of memory on this document. It may be damaged."
            ) from exc
        return answer
