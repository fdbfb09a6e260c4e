"""The scheduled node on this machine (the `local` provider's machinery, part of the runner): the
node's services as programs under a supervisord of their own.

"Creating the node" starts a supervisord of its own for the node's programs
(`supervisord.<node>.conf` of the processes target: real vLLM on the CPU, LiteLLM, ...) in a
session of its own, so it outlives a scheduler that is killed, as a cloud server would. The
process table is this provider's state, as the cloud's API is a cloud provider's: the node's
name and labels travel in that supervisord's environment, and `find` reads them back from /proc.
Nothing else is remembered, so a scheduler restarted at any moment sees exactly what runs.
User data is not used: the node's files are already in the deployment folder. `toolpark up`
stops such a node with the stack: on this machine, the stack owns it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from toolpark.compose.providers import NodeRequest, ProviderContext, ProviderError, ProviderNode
from toolpark.compose.supervise import supervisord_command, supervisord_environment
from toolpark.compose.targets.processes import local_config

__all__ = ["LocalProvider"]

_NAME = "TOOLPARK_NODE_NAME"
_LABELS = "TOOLPARK_NODE_LABELS"


def _processes() -> Iterator[tuple[int, dict[str, str]]]:
    """Each supervisord this user may read, with its environment."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"supervisord" not in (entry / "cmdline").read_bytes():
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # exited, not yet reaped
            raw = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or another user's
        env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        if _NAME in env:
            yield int(entry.name), env


class LocalProvider:
    def __init__(self, context: ProviderContext) -> None:
        self.context = context

    def _nodes(self) -> Iterator[tuple[int, ProviderNode]]:
        for pid, env in _processes():
            created = datetime.fromtimestamp(Path(f"/proc/{pid}").stat().st_mtime, UTC)
            labels = json.loads(env.get(_LABELS, "{}"))
            yield pid, ProviderNode(env[_NAME], env[_NAME], labels, "running", created)

    def create(self, request: NodeRequest) -> ProviderNode:
        # As `compose up` runs the stack's own supervisord.
        folder, config = self.context.folder, local_config(self.context.node)
        if not (folder / config).exists():
            raise ProviderError(f"{folder / config} is missing: render the spec with --target processes")
        command = supervisord_command(folder, config)
        env = supervisord_environment(folder)
        env |= {_NAME: request.name, _LABELS: json.dumps(request.labels, sort_keys=True)}
        with (folder / "logs" / f"node-{self.context.node}.log").open("ab") as log:
            subprocess.Popen(command, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        return ProviderNode(request.name, request.name, dict(request.labels), "starting", datetime.now(UTC))

    def find(self, labels: Mapping[str, str]) -> list[ProviderNode]:
        return [node for _, node in self._nodes() if labels.items() <= node.labels.items()]

    def delete(self, node_id: str) -> None:
        for pid, node in self._nodes():
            if node.id == node_id:
                # supervisord stops every program's process group, then exits.
                os.kill(pid, signal.SIGTERM)

    def gone(self, node_id: str) -> bool:
        return all(node.id != node_id for _, node in self._nodes())
