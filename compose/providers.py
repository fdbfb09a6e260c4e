"""Where the scheduled node is created: one small interface, one plugin per cloud.

A provider creates a server from an image with user data and labels, finds servers by label,
deletes one, and says whether one is gone. The labels are the scheduler's memory across
restarts: it only ever deletes a server carrying its deployment's labels, and adopts any such
server it finds. Providers arrive through the entry-point group `toolpark.gpu_providers`
(`local`, `hetzner`, `scaleway` are ours); a third-party package adds its own the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Literal, Protocol, TypeVar

__all__ = [
    "GROUP",
    "NodeRequest",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "ProviderNode",
    "Status",
    "load_provider",
    "node_labels",
    "provider_module",
    "sdk_call",
    "wait_gone",
]

GROUP = "toolpark.gpu_providers"

T = TypeVar("T")

Status = Literal["starting", "running", "off", "deleting"]


def node_labels(deployment: str, node: str) -> dict[str, str]:
    """The labels that mark a server as this deployment's scheduled node: the scheduler's own."""
    return {"toolpark-managed": "true", "toolpark-deployment": deployment, "toolpark-node": node}


class ProviderError(Exception):
    """The provider refused or failed a call; the message is the provider's, for the operator."""


@dataclass(frozen=True)
class NodeRequest:
    """One server to create. `name` is new for every creation; `labels` mark it as the scheduler's."""

    name: str
    user_data: str
    labels: dict[str, str]
    address: str | None = None  # the private address the spec gives the node


@dataclass(frozen=True)
class ProviderNode:
    """A server as the provider reports it."""

    id: str
    name: str
    labels: dict[str, str]
    status: Status
    created: datetime | None = None


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may need besides its settings: the rendered deployment folder (the local
    provider runs the node's programs from it) and the secrets of its .env (API tokens)."""

    deployment: str
    node: str
    folder: Path
    secrets: Mapping[str, str] = field(default_factory=dict)


class Provider(Protocol):
    def create(self, request: NodeRequest) -> ProviderNode: ...

    def find(self, labels: Mapping[str, str]) -> list[ProviderNode]:
        """Every server carrying all of `labels`, in any state but gone."""
        ...

    def delete(self, node_id: str) -> None: ...

    def gone(self, node_id: str) -> bool: ...


class _Factory(Protocol):
    def __call__(self, settings: Mapping[str, object], context: ProviderContext) -> Provider: ...


def _entry_point(name: str) -> EntryPoint:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ProviderError(f"no node provider {name!r} is installed (entry-point group {GROUP}; installed: {known})")
    return found[name]


def provider_module(name: str) -> ModuleType:
    """The module of an installed provider. Besides its factory it may name `Settings` (a pydantic
    model of its settings, checked by `toolpark compose check`) and `SECRETS` (the .env names it
    reads, which the operator must supply)."""
    return import_module(_entry_point(name).module)


def load_provider(name: str, settings: Mapping[str, object], context: ProviderContext) -> Provider:
    factory: _Factory = _entry_point(name).load()
    return factory(settings, context)


def sdk_call(
    cloud: str, what: str, call: Callable[[], T], refused: type[Exception], said: Callable[[Exception], str]
) -> T:
    """`call` into a cloud SDK; its refusal (`refused`, described by `said`) or no answer at all
    (both SDKs send through requests) becomes a ProviderError naming the cloud and the step."""
    import requests  # both cloud SDKs bring it

    try:
        return call()
    except refused as exc:
        raise ProviderError(f"{cloud}: {what}: {said(exc)}") from exc
    except requests.RequestException as exc:
        raise ProviderError(f"{cloud}: {what}: {type(exc).__name__}: {exc}") from exc


def wait_gone(provider: Provider, node_id: str, timeout_s: float, poll_s: float = 2) -> bool:
    """Whether the server was gone within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not provider.gone(node_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True
