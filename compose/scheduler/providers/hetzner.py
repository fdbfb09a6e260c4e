"""The `hetzner` provider: Hetzner Cloud through its official SDK (`hcloud`).

The server is created stopped, attached to the private network at the spec's address (so the
entry server reaches vLLM where the rendered files say), then powered on; labels mark it as the
scheduler's and `find` asks the API for exactly those labels. A crash between the steps leaves a
labelled server that is off: the reconciler deletes it and starts again.

Settings (`[scheduler.provider_settings]`): server_type, image, location, network (name),
optional ssh_keys and firewalls (names); the API token is HCLOUD_TOKEN in .env.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from toolpark.compose.providers import (
    NodeRequest,
    ProviderContext,
    ProviderError,
    ProviderNode,
    Status,
    sdk_call,
)

__all__ = ["SECRETS", "HetznerProvider", "Settings", "provider"]

T = TypeVar("T")

SECRETS = ("HCLOUD_TOKEN",)  # from .env

# Hetzner's server states, as the reconciler reads them.
_STATUS: dict[str, Status] = {"running": "running", "off": "off", "deleting": "deleting", "stopping": "deleting"}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    server_type: str
    image: str
    location: str
    network: str
    ssh_keys: list[str] = []
    firewalls: list[str] = []
    endpoint: str = "https://api.hetzner.cloud/v1"


class HetznerProvider:
    def __init__(self, settings: Settings, token: str) -> None:
        from hcloud import Client

        self.settings = settings
        # Timeouts on every call: a hanging API must not hang the reconciler.
        self.client = Client(token=token, api_endpoint=settings.endpoint, timeout=(10, 60), poll_max_retries=60)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        from hcloud import APIException

        def said(exc: Exception) -> str:
            assert isinstance(exc, APIException)
            return f"{exc.message} ({exc.code})"

        return sdk_call("Hetzner Cloud", what, call, APIException, said)

    def create(self, request: NodeRequest) -> ProviderNode:
        from hcloud.firewalls import Firewall
        from hcloud.images import Image
        from hcloud.locations import Location
        from hcloud.server_types import ServerType
        from hcloud.ssh_keys import SSHKey

        s = self.settings
        network = self._call("finding the network", lambda: self.client.networks.get_by_name(s.network))
        if network is None:
            raise ProviderError(f"Hetzner Cloud has no network named {s.network!r} (provider_settings.network)")
        firewalls = [Firewall(name=name) for name in s.firewalls] or None
        created = self._call(
            "creating the server",
            lambda: self.client.servers.create(
                name=request.name,
                server_type=ServerType(name=s.server_type),
                image=Image(name=s.image),
                location=Location(name=s.location),
                ssh_keys=[SSHKey(name=name) for name in s.ssh_keys] or None,
                firewalls=firewalls,
                user_data=request.user_data,
                labels=request.labels,
                start_after_create=False,
            ),
        )
        server = created.server
        self._call(
            "attaching the private network",
            lambda: self.client.servers.attach_to_network(server, network, ip=request.address),
        )
        self._call("powering on", lambda: self.client.servers.power_on(server))
        return ProviderNode(str(server.id), request.name, dict(request.labels), "starting", server.created)

    def find(self, labels: Mapping[str, str]) -> list[ProviderNode]:
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        servers = self._call("listing servers", lambda: self.client.servers.get_all(label_selector=selector))
        return [
            ProviderNode(
                str(server.id),
                server.name or "",
                dict(server.labels or {}),
                _STATUS.get(server.status or "", "starting"),
                server.created,
            )
            for server in servers
        ]

    def delete(self, node_id: str) -> None:
        from hcloud.servers import Server

        self._call("deleting the server", lambda: self.client.servers.delete(Server(id=int(node_id))))

    def gone(self, node_id: str) -> bool:
        from hcloud import APIException

        try:
            self._call(f"checking server {node_id}", lambda: self.client.servers.get_by_id(int(node_id)))
        except ProviderError as exc:
            if isinstance(exc.__cause__, APIException) and exc.__cause__.code == "not_found":
                return True
            raise
        return False


def provider(settings: Mapping[str, object], context: ProviderContext) -> HetznerProvider:
    token = context.secrets.get("HCLOUD_TOKEN", "")
    if not token:
        raise ProviderError("the hetzner provider needs HCLOUD_TOKEN in .env (a read-write API token of the project)")
    return HetznerProvider(Settings.model_validate(settings), token)
