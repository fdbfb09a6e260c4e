"""The render targets: what runs the stack's services, and how they reach each other.

A target is shaped like httpx's transports: one small interface, one module per target, and a
registry the renderer iterates. It gives its `Addressing` (how a service reaches another) to the
`Topology`, and renders its own files from it (the compose files and the Dockerfile; the
supervisord configs); the files every target shares (Caddy, LibreChat, LiteLLM, Keycloak, the
database's init script, .env) are rendered once, by `toolpark.compose.render`. Adding a target
(Kubernetes is next) is adding one module here, its entry in TARGETS, and its golden files.
"""

from __future__ import annotations

from typing import Protocol

from toolpark.compose.targets import compose, processes
from toolpark.compose.topology import Addressing, Topology

__all__ = ["TARGETS", "Target", "target_named"]


class Target(Protocol):
    @property
    def name(self) -> str:
        """The name `--target` takes, and the scheduler reads back from the render."""
        ...

    @property
    def addressing(self) -> Addressing: ...

    def render(self, topology: Topology) -> dict[str, str]:
        """This target's own files (relative path -> content), `topology` built on its addressing."""
        ...

    def next_steps(self, topology: Topology, spec_path: str, out: str) -> list[str]:
        """What the operator does, in order, once `spec_path` is rendered into the folder `out`."""
        ...


TARGETS: dict[str, Target] = {target.name: target for target in (compose.TARGET, processes.TARGET)}


def target_named(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"no render target {name!r}; the targets are {', '.join(TARGETS)}") from None
