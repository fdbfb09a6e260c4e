"""How `up` tells a service that is still starting from one that is stuck: progress, not a stopwatch.

On one 2-core machine everything starts at once (two vLLM processes, LiteLLM, Open WebUI,
PostgreSQL's first initdb, the servers), and a fixed budget per service was a coin toss: PostgreSQL
or a server's lifespan could take longer than 30 s while the machine loaded models. A service now
fails only when its process exited, when it made no progress for its budget (`start_s`), or when
it is still not healthy after many budgets; progress is CPU time spent by its process tree, or
bytes added to its log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Starting", "tree_cpu_s"]

_BUDGETS = 4  # however busy, a service not healthy after this many budgets (at least _LEAST_S) fails
_LEAST_S = 300


def tree_cpu_s(roots: list[int]) -> dict[int, float]:
    """CPU seconds spent so far by each root pid and its descendants, from one reading of /proc (0
    where there is none)."""
    children: dict[int, list[int]] = {}
    spent: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the command's closing parenthesis: state, ppid, ... utime (12th), stime (13th).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        spent[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    totals = {}
    for root in roots:
        total, stack = 0.0, [root]
        while stack:
            current = stack.pop()
            total += spent.get(current, 0.0)
            stack.extend(children.get(current, []))
        totals[root] = total
    return totals


@dataclass
class Starting:
    """One service on its way up: when it began, and when it last showed progress."""

    budget_s: int
    began: float
    log: Path
    progress_at: float = 0.0
    cpu_s: float = -1.0
    log_bytes: int = -1

    def __post_init__(self) -> None:
        self.progress_at = self.began

    def stuck(self, cpu: float | None, now: float) -> str | None:
        """Why the service counts as failed now, given the CPU seconds its processes have spent
        (None: no process yet, as while supervisord itself starts), or None while it is still
        making its way. Its budget counts from its process's start: on a fresh machine supervisord's
        own start took longer than a small budget."""
        size = self.log.stat().st_size if self.log.exists() else 0
        if cpu is None or cpu > self.cpu_s + 0.05 or size != self.log_bytes:
            self.progress_at, self.cpu_s, self.log_bytes = now, self.cpu_s if cpu is None else cpu, size
        if now - self.progress_at > self.budget_s:
            return f"made no progress for {self.budget_s} s (no CPU spent, nothing logged)"
        limit = max(_BUDGETS * self.budget_s, _LEAST_S)
        if now - self.began > limit:
            return f"still not healthy after {limit} s, though busy"
        return None

    def doing(self, now: float) -> str:
        idle = now - self.progress_at
        return f"{now - self.began:.0f} s, {'busy' if idle < 5 else f'quiet for {idle:.0f} s'}"
