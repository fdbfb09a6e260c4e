"""The host hands freed memory back to the system (`malloc_trim`): after a worker thread frees most
of what it allocated, the rest spread over its heap, a trim brings the process's resident size
down, as the servers' periodic one does."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import threading, psutil
from toolpark.operations.memory import trim
held = []
def allocate():
    held.extend(bytes(3000) for _ in range(100_000))  # 300 MB in malloc'd blocks, in a worker's arena
worker = threading.Thread(target=allocate); worker.start(); worker.join()
held[:] = held[::50]  # what stays is spread over the heap: glibc gives back none of the space between
before = psutil.Process().memory_info().rss
assert trim()
after = psutil.Process().memory_info().rss
print(round(before / 2**20), round(after / 2**20))
"""


def test_a_trim_gives_freed_memory_back() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=True)
    before, after = map(int, done.stdout.split())
    assert before - after > 200, (before, after)  # MB: most of the 300 freed
