"""Authentication for the HTTP host, configured once for every plugin (`[auth]`, `TOOLPARK_AUTH_*`).

Callers present `Authorization: Bearer <credential>`: an API key (stored only as its SHA-256,
compared in constant time) or an OIDC access token. An API key marked as a trusted front end
(LibreChat) may name the end user in `X-User-*` headers; nobody else may. Failures are HTTP 401
with a `WWW-Authenticate` header, before any MCP message is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from toolpark.contract.identity import ANONYMOUS, Identity
from toolpark.contract.settings import CommaList, SectionSettings
from toolpark.security.identity import RESERVED_PREFIX, check_subject, decode_header_value
from toolpark.security.keys import ApiKey, find_key
from toolpark.security.oidc import InvalidToken, Jwks, TokenVerifier

__all__ = ["AuthMiddleware", "AuthSettings", "Authenticator"]

logger = logging.getLogger("toolpark.auth")

IDENTITY_SCOPE_KEY = "toolpark.identity"


class AuthSettings(SectionSettings):
    """Who may call the HTTP host: API keys and/or OIDC tokens; off when neither is configured."""

    model_config = SettingsConfigDict(env_prefix="TOOLPARK_AUTH_", extra="forbid")

    api_keys: list[ApiKey] = Field(
        default_factory=list,
        description="API keys as JSON: name, hash (`toolpark auth new-key`), scopes, trusted_frontend, read_only.",
    )
    oidc_issuer: str | None = Field(None, description="Issuer URL of OIDC tokens, e.g. https://sso/realms/main.")
    oidc_audience: str | None = Field(None, description="Client id tokens must be issued for.")
    oidc_audience_claim: Literal["aud", "azp"] = Field(
        "aud", description="Where the audience is: `aud` (with an audience mapper) or Keycloak's default `azp`."
    )
    oidc_jwks_url: str | None = Field(None, description="JWKS URL; default: Keycloak's, under the issuer.")
    oidc_required_roles: CommaList = Field(
        default_factory=list, description="Realm or client roles every token must carry (comma-separated)."
    )
    oidc_scopes: CommaList = Field(
        default_factory=lambda: ["openid"],
        description="Scopes a client asks the issuer for to call these endpoints (published for OAuth discovery).",
    )
    public_url: str | None = Field(
        None, description="Scheme and host clients reach the endpoints at; default: the Host of each request."
    )
    oidc_leeway_s: float = Field(30.0, ge=0, le=300, description="Clock skew allowed on exp/nbf, in seconds.")
    jwks_min_refresh_s: float = Field(30.0, ge=0, description="Least seconds between JWKS fetches for unknown kids.")
    user_header: str = Field("X-User-ID", description="Header a trusted front end names the user in.")
    user_name_header: str = Field("X-User-Name", description="Header with the user's display name.")
    user_email_header: str = Field("X-User-Email", description="Header with the user's email.")
    user_roles_header: str = Field("X-User-Roles", description="Header with the user's roles, comma-separated.")
    ui_clients: CommaList = Field(
        default_factory=list,
        description="Clients whose front end shows ui:// resources in its tool-call panel (LibreChat): API key "
        "names or tokens' client ids. Their search and fetch results carry a card of their sources.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.api_keys or self.oidc_issuer)


class Unauthorized(Exception):
    def __init__(self, message: str, reason: str, status: int = 401) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class Authenticator:
    """Turns request headers into an `Identity`, or refuses them."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.verifier: TokenVerifier | None = None
        if settings.oidc_issuer:
            if not settings.oidc_audience:
                raise ValueError("auth: oidc_audience is required with oidc_issuer")
            issuer = settings.oidc_issuer.rstrip("/")
            jwks_url = settings.oidc_jwks_url or f"{issuer}/protocol/openid-connect/certs"
            self.verifier = TokenVerifier(
                issuer=issuer,
                audience=settings.oidc_audience,
                jwks=Jwks(jwks_url, min_refresh_s=settings.jwks_min_refresh_s),
                audience_claim=settings.oidc_audience_claim,
                required_roles=frozenset(settings.oidc_required_roles),
                leeway_s=settings.oidc_leeway_s,
            )

    def refuse_repeated(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        """A request naming its credential or its user twice is refused: which of two a proxy on the
        way passes on, or a framework keeps, differs, so either could be the one that counts."""
        s = self.settings
        if not s.enabled:
            return
        watched = {"authorization", *(h.lower() for h in (s.user_header, s.user_name_header, s.user_email_header,
                                                          s.user_roles_header))}  # fmt: skip
        seen: set[str] = set()
        for key, _ in raw:
            name = key.decode("latin-1").lower()
            if name in watched:
                if name in seen:
                    raise Unauthorized(f"send one {name} header, not several", "repeated_header", status=400)
                seen.add(name)

    async def identify(self, headers: Mapping[str, str]) -> Identity:
        if not self.settings.enabled:
            return ANONYMOUS
        found = await self._identify(headers)
        return replace(found, shows_ui=True) if found.via in self.settings.ui_clients else found

    async def _identify(self, headers: Mapping[str, str]) -> Identity:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("send Authorization: Bearer <API key or access token>", "missing")
        credential = credential.strip()
        key = find_key(credential, self.settings.api_keys)
        if key is not None:
            return self._key_identity(key, headers)
        if self.verifier is not None and credential.count(".") == 2:
            try:
                token = await self.verifier.verify(credential)
            except InvalidToken as exc:
                raise Unauthorized(str(exc), exc.reason) from exc
            self._refuse_user_headers(headers, "an OIDC token")
            try:
                subject = check_subject(token.subject, "the token's sub claim")
            except ValueError as exc:
                raise Unauthorized(str(exc), "bad_subject") from exc
            return Identity(
                subject=subject,
                method="oidc",
                name=token.name,
                email=token.email,
                roles=token.roles,
                grants=token.roles | token.scopes,
                via=token.client,
                grants_from="your token's realm and client roles (realm_access, resource_access) and its scope claim",
            )
        raise Unauthorized("the credential is not a known API key or a valid token", "unknown_credential")

    def _key_identity(self, key: ApiKey, headers: Mapping[str, str]) -> Identity:
        grants = frozenset(key.scopes)
        from_key = f"the scopes of API key {key.name!r}"
        if not key.trusted_frontend:
            self._refuse_user_headers(headers, f"API key {key.name!r}")
            # A key's scopes are also its roles, so tenancy rules can open shared namespaces to it.
            return Identity(
                subject=f"{RESERVED_PREFIX}{key.name}", method="api_key", roles=grants, grants=grants, via=key.name,
                grants_from=from_key, read_only=key.read_only,
            )  # fmt: skip
        s = self.settings
        user = headers.get(s.user_header.lower())
        if not user:
            return Identity(
                subject=f"{RESERVED_PREFIX}{key.name}", method="api_key", grants=grants, via=key.name,
                grants_from=from_key, read_only=key.read_only,
            )  # fmt: skip
        try:
            roles_header = decode_header_value(headers.get(s.user_roles_header.lower(), ""))
            roles = frozenset(r.strip() for r in roles_header.split(",") if r.strip())
            return Identity(
                subject=check_subject(decode_header_value(user), s.user_header),
                method="frontend",
                name=_optional(headers.get(s.user_name_header.lower())),
                email=_optional(headers.get(s.user_email_header.lower())),
                roles=roles,
                grants=grants | roles,
                via=key.name,
                grants_from=f"the {s.user_roles_header} header your front end sent and {from_key}",
                read_only=key.read_only,
            )
        except ValueError as exc:
            raise Unauthorized(str(exc), "bad_user_header", status=400) from exc

    def _refuse_user_headers(self, headers: Mapping[str, str], caller: str) -> None:
        # Only a trusted front end may speak for a user; anyone else sending the header is either
        # misconfigured (all its users would share one identity) or trying to impersonate.
        if self.settings.user_header.lower() in headers:
            raise Unauthorized(f"{caller} is not a trusted front end and may not send {self.settings.user_header}",
                               "untrusted_user_header", status=403)  # fmt: skip


def _optional(value: str | None) -> str | None:
    return decode_header_value(value) if value else None


class AuthMiddleware:
    """ASGI middleware in front of the MCP endpoints: identify, or answer 401/403."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        on_failure: Callable[[str], None],
        metadata_url: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.on_failure = on_failure
        self.metadata_url = metadata_url  # with OIDC: where this endpoint's RFC 9728 metadata is

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            self.authenticator.refuse_repeated(scope["headers"])
            identity = await self.authenticator.identify(headers)
        except Unauthorized as exc:
            self.on_failure(exc.reason)
            logger.info("refused a request: %s", exc.reason, extra={"outcome": "unauthorized", "reason": exc.reason})
            metadata = self.metadata_url(scope) if self.metadata_url else None
            await _refusal(exc, metadata, self.authenticator.settings.oidc_scopes)(scope, receive, send)
            return
        scope[IDENTITY_SCOPE_KEY] = identity
        if identity.authenticated:
            # The SDK binds each MCP session to the principal that opened it; others get 404.
            principal = AccessToken(
                token="", client_id=identity.via or identity.method, scopes=sorted(identity.grants),
                subject=identity.subject,
            )  # fmt: skip
            scope["user"] = AuthenticatedUser(principal)
        await self.app(scope, receive, send)


def _refusal(exc: Unauthorized, metadata: str | None, scopes: list[str]) -> ASGIApp:
    """401 with the RFC 6750 challenge (with OIDC also RFC 9728's `resource_metadata` and the scopes to
    ask for, as the MCP authorization spec has it), or 403/400 for a caller known but not allowed."""
    if exc.status != 401:
        return JSONResponse({"error": "forbidden", "error_description": str(exc)}, status_code=exc.status)
    error = "invalid_request" if exc.reason == "missing" else "invalid_token"
    description = str(exc).replace('"', "'")
    challenge = f'Bearer realm="toolpark", error="{error}", error_description="{description}"'
    if metadata is not None:
        challenge += f', resource_metadata="{metadata}", scope="{" ".join(scopes)}"'
    return JSONResponse(
        {"error": error, "error_description": str(exc)}, status_code=401, headers={"WWW-Authenticate": challenge}
    )


def identity_from_scope(scope: Mapping[str, Any] | None) -> Identity | None:
    return None if scope is None else scope.get(IDENTITY_SCOPE_KEY)
