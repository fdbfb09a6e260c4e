"""The `scaleway` provider: Scaleway Instances through the official SDK (`scaleway`), GPU types
such as L4-1-24G or H100-1-80G.

Scaleway marks servers with tags, not labels: each label is a `key=value` tag, and `find` asks
for the first and keeps the servers that carry all of them. The server is created, given its
cloud-init user data, attached to the private network (with the IPAM address reserved for the
spec's address, when given), then powered on. Deleting terminates a running server with its
local volumes; a stopped one is deleted, then its volumes.

Settings (`[scheduler.provider_settings]`): zone, commercial_type, image, project_id,
private_network_id, optional ipam_ip_id; the key is SCW_ACCESS_KEY / SCW_SECRET_KEY in .env.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
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

__all__ = ["SECRETS", "ScalewayProvider", "Settings", "provider"]

T = TypeVar("T")

SECRETS = ("SCW_ACCESS_KEY", "SCW_SECRET_KEY")  # from .env

_STATUS: dict[str, Status] = {
    "running": "running",
    "stopped": "off",
    "stopped in place": "off",
    "stopping": "deleting",
}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zone: str = "fr-par-2"
    commercial_type: str = "L4-1-24G"
    image: str
    project_id: str
    private_network_id: str
    ipam_ip_id: str | None = None
    api_url: str = "https://api.scaleway.com"


def _tags(labels: Mapping[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in sorted(labels.items())]


class ScalewayProvider:
    def __init__(self, settings: Settings, access_key: str, secret_key: str) -> None:
        from scaleway import Client
        from scaleway.instance.v1.custom_api import InstanceUtilsV1API

        self.settings = settings
        client = Client(
            access_key=access_key,
            secret_key=secret_key,
            api_url=settings.api_url,
            default_project_id=settings.project_id,
            default_zone=settings.zone,
        )
        try:
            self.api = InstanceUtilsV1API(client)  # validates the key's and the project's formats
        except ValueError:
            # The SDK's message quotes the value, which may be a secret: name the settings instead.
            raise ProviderError(
                "Scaleway refuses the credentials or settings: SCW_ACCESS_KEY must read SCW + 17 characters, "
                "SCW_SECRET_KEY and provider_settings.project_id must be UUIDs"
            ) from None

    def _call(self, what: str, call: Callable[[], T]) -> T:
        from scaleway_core.api import ScalewayException

        def said(exc: Exception) -> str:
            assert isinstance(exc, ScalewayException)
            return f"HTTP {exc.status_code}: {exc.response.text[:300]}"

        return sdk_call("Scaleway", what, call, ScalewayException, said)

    def create(self, request: NodeRequest) -> ProviderNode:
        from scaleway.instance.v1 import ServerAction

        s, api = self.settings, self.api
        server = self._call(
            "creating the server",
            lambda: api.create_server(
                zone=s.zone,
                commercial_type=s.commercial_type,
                name=request.name,
                image=s.image,
                project=s.project_id,
                tags=_tags(request.labels),
                dynamic_ip_required=False,  # reached over the private network only
            ),
        ).server
        if server is None:
            raise ProviderError("Scaleway: creating the server returned no server")
        content = request.user_data.encode()
        self._call(
            "setting cloud-init",
            lambda: api.set_server_user_data(server_id=server.id, key="cloud-init", content=content, zone=s.zone),
        )
        ipam = [s.ipam_ip_id] if s.ipam_ip_id else None
        self._call(
            "attaching the private network",
            lambda: api.create_private_nic(
                server_id=server.id, private_network_id=s.private_network_id, zone=s.zone, ipam_ip_ids=ipam
            ),
        )
        self._call(
            "powering on", lambda: api.server_action(server_id=server.id, zone=s.zone, action=ServerAction.POWERON)
        )
        return ProviderNode(server.id, request.name, dict(request.labels), "starting", server.creation_date)

    def find(self, labels: Mapping[str, str]) -> list[ProviderNode]:
        tags = _tags(labels)
        servers = self._call(
            "listing servers", lambda: self.api.list_servers_all(zone=self.settings.zone, tags=tags[:1])
        )
        found = []
        for server in servers:
            if not set(tags) <= set(server.tags):
                continue
            carried = dict(tag.split("=", 1) for tag in server.tags if "=" in tag)
            status = _STATUS.get(str(server.state), "starting")
            found.append(ProviderNode(server.id, server.name, carried, status, server.creation_date))
        return found

    def delete(self, node_id: str) -> None:
        from scaleway.instance.v1 import ServerAction

        zone, api = self.settings.zone, self.api
        server = self._call("reading the server", lambda: api.get_server(server_id=node_id, zone=zone)).server
        if server is None:
            return
        if str(server.state) == "running":
            self._call(
                "terminating",
                lambda: api.server_action(server_id=node_id, zone=zone, action=ServerAction.TERMINATE),
            )
            return
        self._call("deleting the server", lambda: api.delete_server(server_id=node_id, zone=zone))
        for volume in (server.volumes or {}).values():
            self._call("deleting its volume", partial(api.delete_volume, volume_id=volume.id, zone=zone))

    def gone(self, node_id: str) -> bool:
        from scaleway_core.api import ScalewayException

        try:
            read = partial(self.api.get_server, server_id=node_id, zone=self.settings.zone)
            self._call(f"checking server {node_id}", read)
        except ProviderError as exc:
            if isinstance(exc.__cause__, ScalewayException) and exc.__cause__.status_code == 404:
                return True
            raise
        return False


def provider(settings: Mapping[str, object], context: ProviderContext) -> ScalewayProvider:
    access, secret = context.secrets.get("SCW_ACCESS_KEY", ""), context.secrets.get("SCW_SECRET_KEY", "")
    if not (access and secret):
        raise ProviderError("the scaleway provider needs SCW_ACCESS_KEY and SCW_SECRET_KEY in .env")
    return ScalewayProvider(Settings.model_validate(settings), access, secret)
