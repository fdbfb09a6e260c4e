"""Who is calling: what authentication established, handed to every tool as `ctx.identity`.

The host's authentication (`toolpark.security.auth`) makes it; tools and tenancy read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ANONYMOUS", "LOCAL", "Identity", "Method"]

Method = Literal["none", "stdio", "api_key", "oidc", "frontend"]


@dataclass(frozen=True)
class Identity:
    """The caller of a request.

    `method` says how it was established: `none` (auth off, loopback only), `stdio` (the local
    process that launched us), `api_key`, `oidc` (a verified bearer token), or `frontend` (a user
    named by a trusted front end such as LibreChat, on behalf of its API key, `via`).
    `grants` are the scopes and roles per-tool requirements are checked against; `grants_from`
    says where they came from, so a refusal can name the claim or header that carried none.
    `read_only`: the caller may call read-only tools only (a key that speaks for many people at
    once, such as LiteLLM's MCP gateway, whose users would otherwise share one writable space).
    """

    subject: str
    method: Method
    name: str | None = None
    email: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    grants: frozenset[str] = field(default_factory=frozenset)
    via: str | None = None
    grants_from: str = ""
    read_only: bool = False
    shows_ui: bool = False  # its front end shows ui:// resources (AuthSettings.ui_clients)

    @property
    def authenticated(self) -> bool:
        return self.method not in ("none", "stdio")

    def may(self, requirement: str) -> bool:
        """Whether the caller holds `requirement` (a scope or role).

        Without authentication the host serves one local user, who may do everything: binding
        anywhere but loopback without auth is refused at start-up.
        """
        return not self.authenticated or requirement in self.grants


ANONYMOUS = Identity(subject="anonymous", method="none")
LOCAL = Identity(subject="local", method="stdio")
