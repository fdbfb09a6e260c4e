"""Tenant scope: the one place that decides which namespaces of data an identity may read and write.

Every data-holding server (retrieval collections, S3 prefixes, notes) asks the scope instead of
re-implementing isolation. An identity owns `user:<subject>`; roles open shared namespaces, read-
only or writable, as the operator maps them (`[tenancy]`, `TOOLPARK_TENANCY_*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toolpark.contract.errors import ToolError
from toolpark.contract.identity import Identity
from toolpark.contract.settings import SectionSettings

__all__ = ["TenancySettings", "TenantScope"]


class TenancySettings(SectionSettings):
    """Which shared namespaces each role may read or write."""

    model_config = SettingsConfigDict(env_prefix="TOOLPARK_TENANCY_", extra="forbid")

    readers: dict[str, list[str]] = Field(
        default_factory=dict, description='Role to namespaces it may read, as JSON: {"staff": ["handbook"]}.'
    )
    writers: dict[str, list[str]] = Field(
        default_factory=dict, description="Role to shared namespaces it may write (and so read), as JSON."
    )


@dataclass(frozen=True)
class TenantScope:
    """What one identity may see: its own namespace and the shared ones its roles open."""

    own: str
    readable: frozenset[str]
    writable: frozenset[str]

    @classmethod
    def of(cls, identity: Identity, settings: TenancySettings | None = None) -> TenantScope:
        rules = settings or TenancySettings()
        own = f"user:{identity.subject}"
        writable = {own} | {ns for role in identity.roles for ns in rules.writers.get(role, [])}
        readable = writable | {ns for role in identity.roles for ns in rules.readers.get(role, [])}
        return cls(own=own, readable=frozenset(readable), writable=frozenset(writable))

    def read(self, namespace: str | None = None) -> str:
        """The namespace to read (own by default), or a ToolError naming what is allowed."""
        chosen = namespace or self.own
        if chosen not in self.readable:
            raise ToolError(f"Namespace {chosen!r} is not readable for you. Readable: {self._list(self.readable)}.")
        return chosen

    def write(self, namespace: str | None = None) -> str:
        """The namespace to write (own by default), or a ToolError naming what is allowed."""
        chosen = namespace or self.own
        if chosen not in self.writable:
            raise ToolError(f"Namespace {chosen!r} is not writable for you. Writable: {self._list(self.writable)}.")
        return chosen

    @staticmethod
    def path(namespace: str) -> str:
        """A namespace as one safe path segment (for S3 prefixes and file names)."""
        return quote(namespace, safe="")

    @staticmethod
    def _list(namespaces: frozenset[str]) -> str:
        return ", ".join(sorted(namespaces))
