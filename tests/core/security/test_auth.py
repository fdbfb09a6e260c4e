"""Authentication and identity through the real HTTP host, with tokens signed here and a local JWKS."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from string import punctuation
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from mcp.shared.exceptions import MCPError

from tests.nodejs import run_node
from tests.signing import Signer
from tests.webhost import WebHost, web_host
from toolpark.operations.logs import JsonFormatter
from toolpark.plugins.everything import plugin as everything
from toolpark.plugins.notes import plugin as notes
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client, post_initialize

pytestmark = pytest.mark.anyio

ISSUER = "https://sso.example.test/realms/main"
AUDIENCE = "toolpark"
ADMIN_KEY, USER_KEY, FRONTEND_KEY = "tpk_admin-secret-1", "tpk_user-secret-2", "tpk_frontend-secret-3"
GATEWAY_KEY = "tpk_gateway-secret-4"
API_KEYS = [
    {"name": "ops", "hash": hash_key(ADMIN_KEY), "scopes": ["admin"]},
    {"name": "script", "hash": hash_key(USER_KEY)},
    {"name": "librechat", "hash": hash_key(FRONTEND_KEY), "trusted_frontend": True},
    {"name": "litellm", "hash": hash_key(GATEWAY_KEY), "read_only": True},
]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("key-1", ISSUER, AUDIENCE)


@pytest.fixture
def jwks(signer: Signer) -> Iterator[WebHost]:
    with web_host("sso") as server:
        server.documents["/certs"] = json.dumps({"keys": [signer.jwk()]}).encode()
        yield server


@pytest.fixture
def secured(toolpark_http: Callable[..., RunningHost], jwks: WebHost) -> RunningHost:
    return toolpark_http(
        everything,
        auth={
            "api_keys": API_KEYS,
            "oidc_issuer": ISSUER,
            "oidc_audience": AUDIENCE,
            "oidc_jwks_url": f"{jwks.url}/certs",
            "oidc_required_roles": ["mcp-user"],
            "jwks_min_refresh_s": 60,
        },
        rate_limit_per_minute=600,
        rate_limit_burst=1000,
    )


async def whoami(running: RunningHost, **headers: str) -> dict[str, Any]:
    async with http_client(running.url("everything"), headers=headers, mode="legacy") as client:
        result = await client.call_tool("whoami", {})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def initialize(running: RunningHost, **headers: str) -> httpx.Response:
    return post_initialize(running.url("everything"), **headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_identifies_the_user(secured: RunningHost, signer: Signer) -> None:
    me = await whoami(secured, **bearer(signer.token()))
    assert me == {
        "subject": "user-123", "method": "oidc", "name": "ada", "roles": ["mcp-user", "staff"], "via": "librechat",
        "namespace": "user:user-123",
    }  # fmt: skip


def _hs256_with_public_key(signer: Signer) -> str:
    # The classic key confusion: the verifier's public key used as an HMAC secret. PyJWT refuses to
    # sign with a PEM key as HMAC secret, so the token is assembled by hand.
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": signer.kid}).encode())
    now = int(time.time())
    payload = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300}).encode())
    signature = hmac.new(signer.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _tampered(signer: Signer) -> str:
    header, payload, signature = signer.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(signer: Signer) -> str:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 300}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": signer.kid})


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: s.token(exp=int(time.time()) - 120), "expired"),
        (lambda s: s.token(nbf=int(time.time()) + 600), "not valid yet"),
        (lambda s: s.token(iss="https://evil.example.test/realms/main"), "another issuer"),
        (lambda s: s.token(aud="someone-else"), "another audience"),
        (_unsigned, "'none' are not accepted"),
        (_hs256_with_public_key, "'HS256' are not accepted"),
        (lambda s: s.token(kid="key-unknown"), "unknown key"),
        (_tampered, "signature does not verify"),
        (lambda s: s.token(realm_access={"roles": ["staff"]}), "lacks the role(s) mcp-user"),
        (lambda s: "not-a-jwt", "not a known API key"),
        (lambda s: Signer("key-1", ISSUER, AUDIENCE).token(), "signature does not verify"),
    ],
    ids=[
        "expired", "not-yet-valid", "wrong-issuer", "wrong-audience", "alg-none", "hs256-public-key",
        "unknown-kid", "tampered", "missing-role", "garbage", "other-key-same-kid",
    ],
)  # fmt: skip
def test_bad_tokens_get_401_with_a_challenge(
    secured: RunningHost, signer: Signer, make: Callable[[Signer], str], reason: str
) -> None:
    response = initialize(secured, **bearer(make(signer)))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="toolpark", error="invalid_token"')
    assert reason in response.json()["error_description"]


def test_missing_credentials_get_401(secured: RunningHost) -> None:
    response = initialize(secured)
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    assert initialize(secured, Authorization="Basic dXNlcjpwYXNz").status_code == 401


def test_unknown_kid_refetches_the_jwks_within_a_bound(secured: RunningHost, signer: Signer, jwks: WebHost) -> None:
    assert initialize(secured, **bearer(signer.token())).status_code == 200
    fetches = sum(path == "/certs" for path, _ in jwks.seen)
    for n in range(5):
        assert initialize(secured, **bearer(signer.token(kid=f"forged-{n}"))).status_code == 401
    assert sum(path == "/certs" for path, _ in jwks.seen) - fetches <= 1


def test_rotated_key_is_picked_up(toolpark_http: Callable[..., RunningHost], signer: Signer, jwks: WebHost) -> None:
    running = toolpark_http(
        everything,
        auth={"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE, "oidc_jwks_url": f"{jwks.url}/certs",
              "jwks_min_refresh_s": 0},
    )  # fmt: skip
    assert initialize(running, **bearer(signer.token())).status_code == 200
    rotated = Signer("key-2", ISSUER, AUDIENCE)
    jwks.documents["/certs"] = json.dumps({"keys": [signer.jwk(), rotated.jwk()]}).encode()
    assert initialize(running, **bearer(rotated.token())).status_code == 200


async def test_keycloak_default_tokens_checked_by_azp(
    toolpark_http: Callable[..., RunningHost], signer: Signer, jwks: WebHost
) -> None:
    running = toolpark_http(
        everything,
        auth={"oidc_issuer": ISSUER, "oidc_audience": "librechat", "oidc_audience_claim": "azp",
              "oidc_jwks_url": f"{jwks.url}/certs"},
    )  # fmt: skip
    me = await whoami(running, **bearer(signer.token(aud="account")))
    assert me["subject"] == "user-123"
    wrong = initialize(running, **bearer(signer.token(aud="account", azp="other-client")))
    assert wrong.status_code == 401 and "azp" in wrong.json()["error_description"]


async def test_api_keys_identify_their_owner(secured: RunningHost) -> None:
    me = await whoami(secured, **bearer(USER_KEY))
    assert (me["subject"], me["method"], me["via"]) == ("key:script", "api_key", "script")
    assert initialize(secured, **bearer(USER_KEY + "x")).status_code == 401


async def test_trusted_frontend_names_the_user(secured: RunningHost) -> None:
    name = "b64:" + base64.b64encode("Zoë Ærø".encode()).decode()
    me = await whoami(
        secured, **bearer(FRONTEND_KEY), **{"X-User-ID": "oidc|u-77", "X-User-Name": name, "X-User-Roles": "staff"}
    )
    assert me == {
        "subject": "oidc|u-77", "method": "frontend", "name": "Zoë Ærø", "roles": ["staff"], "via": "librechat",
        "namespace": "user:oidc|u-77",
    }  # fmt: skip
    without_user = await whoami(secured, **bearer(FRONTEND_KEY))
    assert without_user["subject"] == "key:librechat"


async def test_open_webuis_percent_encoded_names_arrive_whole(secured: RunningHost) -> None:
    """Open WebUI percent-encodes what is beyond ASCII in every header it fills, and leaves `%` and
    the other punctuation as they are (`open_webui.utils.headers.parse_custom_headers`)."""
    sent = {name: quote(name, safe=punctuation + " \t") for name in ("Jürgen Müller", "渡辺 50%25 ☃")}
    assert sent["Jürgen Müller"] == "J%C3%BCrgen M%C3%BCller"  # what goes over the wire
    for name, header in sent.items():
        me = await whoami(secured, **bearer(FRONTEND_KEY), **{"X-User-ID": "u-1", "X-User-Name": header})
        assert me["name"] == name


def test_user_header_from_anyone_else_is_refused(secured: RunningHost, signer: Signer) -> None:
    for credential in (USER_KEY, signer.token()):
        response = initialize(secured, **bearer(credential), **{"X-User-ID": "someone-else"})
        assert response.status_code == 403 and "not a trusted front end" in response.json()["error_description"]


def test_a_credential_or_user_named_twice_is_refused(secured: RunningHost) -> None:
    """Which of two Authorization (or X-User-ID) headers counts differs from proxy to framework; the
    host kept the last, so a proxy that checks the first could be passed with another's key."""
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    accept = ("Accept", "application/json, text/event-stream")
    twice = [
        [("Authorization", f"Bearer {USER_KEY}"), ("Authorization", f"Bearer {ADMIN_KEY}")],
        [("Authorization", f"Bearer {FRONTEND_KEY}"), ("X-User-ID", "ada"), ("x-user-id", "grace")],
    ]
    for headers in twice:
        response = httpx.post(secured.url("everything"), json=message, headers=[accept, *headers])
        assert response.status_code == 400, response.text
        assert "send one" in response.json()["error_description"]
    assert initialize(secured, **bearer(ADMIN_KEY)).status_code == 200


def test_a_front_end_naming_no_user_or_one_with_control_characters_is_refused(secured: RunningHost) -> None:
    def b64(text: str) -> str:
        return "b64:" + base64.b64encode(text.encode()).decode()

    for user in ("b64:", b64("   "), b64("ada\x00admin"), b64("ada\nadmin"), "x" * 300):
        response = initialize(secured, **bearer(FRONTEND_KEY), **{"X-User-ID": user})
        assert response.status_code == 400, (user, response.text)
        assert "X-User-ID" in response.json()["error_description"]


async def test_no_user_takes_the_subject_of_an_api_key_or_of_the_local_user(
    secured: RunningHost, signer: Signer
) -> None:
    """Per-user spaces are keyed by subject: a front-end user (or a token's sub) named `key:script`
    owned API key script's notes, collections and S3 folder."""
    for user in ("key:script", "key:", "anonymous", "local"):
        response = initialize(secured, **bearer(FRONTEND_KEY), **{"X-User-ID": user})
        assert response.status_code == 400 and "keeps for its own identities" in response.text, (user, response.text)
    token = initialize(secured, **bearer(signer.token(sub="key:ops")))
    assert token.status_code == 401 and "keeps for its own identities" in token.text
    assert (await whoami(secured, **bearer(USER_KEY)))["subject"] == "key:script"


async def test_a_read_only_key_sees_and_calls_read_only_tools_only(secured: RunningHost) -> None:
    """LiteLLM's gateway calls for all its users with one key: whatever it wrote would be everyone's."""
    async with http_client(secured.url("everything"), headers=bearer(GATEWAY_KEY)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        refused = await client.call_tool("confirm_delete", {"filename": "report.txt"})
        me = await client.call_tool("whoami", {})
    assert "whoami" in names and "confirm_delete" not in names
    assert refused.is_error and "may call read-only tools only" in refused.content[0].text  # type: ignore[union-attr]
    assert not me.is_error
    async with http_client(secured.url("everything"), headers=bearer(USER_KEY)) as client:
        assert "confirm_delete" in {tool.name for tool in (await client.list_tools()).tools}


async def test_anonymous_callers_cannot_name_a_user(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything)
    me = await whoami(running, **{"X-User-ID": "alice"})
    assert (me["subject"], me["method"]) == ("anonymous", "none")


async def test_tools_requiring_a_scope_are_hidden_and_refused_naming_what_is_missing(
    secured: RunningHost, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """A caller without the role sees fewer tools; a call anyway gets a denial that names the role and
    where the caller's grants came from (the claim that carried none), is logged, and is counted."""
    async with http_client(secured.url("everything"), headers=bearer(USER_KEY)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        denied = await client.call_tool("admin_only", {})
    async with http_client(secured.url("everything"), headers=bearer(signer.token())) as client:
        denied_token = await client.call_tool("admin_only", {})
    async with http_client(secured.url("everything"), headers=bearer(ADMIN_KEY)) as client:
        admin_names = {t.name for t in (await client.list_tools()).tools}
        granted = await client.call_tool("admin_only", {})
    assert "admin_only" not in names and "admin_only" in admin_names and len(names) < len(admin_names)
    assert denied.is_error and denied.content[0].text == (  # type: ignore[union-attr]
        "Tool 'admin_only' needs the role or scope 'admin'; the scopes of API key 'script' carried none. "
        "Ask the operator to grant 'admin'."
    )
    reason = denied_token.content[0].text  # type: ignore[union-attr]
    assert "(realm_access, resource_access) and its scope claim carried 'mcp-user', 'staff'" in reason
    assert not granted.is_error
    assert "denied everything/admin_only to key:script: missing 'admin'" in caplog.text
    metrics = (await secured.get("/metrics")).text
    assert 'toolpark_tool_calls_total{outcome="denied",plugin="everything",tool="admin_only"} 2.0' in metrics


def test_a_session_belongs_to_the_credential_that_opened_it(secured: RunningHost) -> None:
    opened = initialize(secured, **bearer(USER_KEY))
    session = opened.headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream", "mcp-session-id": session,
               "mcp-protocol-version": "2025-11-25"}  # fmt: skip
    stolen = httpx.post(secured.url("everything"), json=ping, headers={**headers, **bearer(ADMIN_KEY)})
    own = httpx.post(secured.url("everything"), json=ping, headers={**headers, **bearer(USER_KEY)})
    assert stolen.status_code == 404 and own.status_code == 200


async def test_rate_limit_per_caller_and_plugin(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(
        [everything, notes], auth={"api_keys": API_KEYS}, rate_limit_per_minute=6, rate_limit_burst=3
    )
    async with http_client(running.url("everything"), headers=bearer(USER_KEY)) as client:
        results = [await client.call_tool("echo", {"text": "x"}) for _ in range(4)]
    async with http_client(running.url("everything"), headers=bearer(ADMIN_KEY)) as client:
        other = await client.call_tool("echo", {"text": "x"})
    async with http_client(running.url("notes"), headers=bearer(USER_KEY)) as client:
        elsewhere = await client.call_tool("list_notes", {})  # another plugin: another budget
    assert [r.is_error for r in results] == [False, False, False, True]
    assert "too many calls to the 'everything' tools" in results[3].content[0].text  # type: ignore[union-attr]
    assert not other.is_error and not elsewhere.is_error
    metrics = (await running.get("/metrics")).text
    assert 'toolpark_rate_limited_total{limit="plugin",plugin="everything",tool="echo"} 1.0' in metrics


async def test_tool_listings_and_tool_searches_are_rate_limited_per_caller(
    toolpark_http: Callable[..., RunningHost],
) -> None:
    """Each listing asks every plugin's choices for the caller (database queries): it had no limit."""
    options = {"auth": {"api_keys": API_KEYS}, "rate_limit_per_minute": 6, "rate_limit_burst": 3}
    running = toolpark_http(everything, **options)
    async with http_client(running.url("everything"), headers=bearer(USER_KEY)) as client:
        for _ in range(3):
            await client.list_tools()
        with pytest.raises(MCPError) as refused:
            await client.list_tools()
        assert not (await client.call_tool("echo", {"text": "x"})).is_error  # calls have their own budget
    async with http_client(running.url("everything"), headers=bearer(ADMIN_KEY)) as client:
        await client.list_tools()  # another caller, another bucket
    assert "too many tool listings" in refused.value.error.message
    searching = toolpark_http([everything, notes], combined=True, tool_search=True, **options)
    async with http_client(searching.url(), headers=bearer(USER_KEY)) as client:
        found = [await client.call_tool("search_tools", {"query": "echo a text"}) for _ in range(4)]
    assert [r.is_error for r in found] == [False, False, False, True]
    assert "too many tool listings" in found[3].content[0].text  # type: ignore[union-attr]


async def test_a_tool_with_its_own_rate_limit_refuses_only_itself(toolpark_http: Callable[..., RunningHost]) -> None:
    """`costly` declares 6 calls a minute in bursts of 2: the third call is refused naming the tool,
    while the plugin's other tools and other callers go on."""
    running = toolpark_http(everything, auth={"api_keys": API_KEYS})
    async with http_client(running.url("everything"), headers=bearer(USER_KEY)) as client:
        results = [await client.call_tool("costly", {"text": "x"}) for _ in range(3)]
        other_tool = await client.call_tool("echo", {"text": "x"})
    async with http_client(running.url("everything"), headers=bearer(ADMIN_KEY)) as client:
        other_caller = await client.call_tool("costly", {"text": "x"})
    assert [r.is_error for r in results] == [False, False, True]
    assert "tool 'costly' takes 6 calls a minute from each caller" in results[2].content[0].text  # type: ignore[union-attr]
    assert not other_tool.is_error and not other_caller.is_error
    metrics = (await running.get("/metrics")).text
    assert 'toolpark_rate_limited_total{limit="tool",plugin="everything",tool="costly"} 1.0' in metrics


async def test_metrics_count_calls_and_auth_failures(secured: RunningHost) -> None:
    async with http_client(secured.url("everything"), headers=bearer(USER_KEY)) as client:
        await client.call_tool("echo", {"text": "x"})
        await client.call_tool("test_error_handling", {})
    initialize(secured, **bearer("wrong"))
    metrics = (await secured.get("/metrics")).text
    assert 'toolpark_tool_calls_total{outcome="ok",plugin="everything",tool="echo"} 1.0' in metrics
    assert 'toolpark_tool_calls_total{outcome="error",plugin="everything",tool="test_error_handling"} 1.0' in metrics
    latency = 'mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="echo",'
    assert latency + 'mcp_method_name="tools/call",plugin="everything"} 1.0' in metrics
    assert 'seconds_count{error_type="tool_error",gen_ai_tool_name="test_error_handling"' in metrics
    assert 'toolpark_auth_failures_total{endpoint="everything",reason="unknown_credential"} 1.0' in metrics
    assert "toolpark_tool_calls_in_flight" in metrics


async def test_call_logs_are_json_with_context_and_no_secrets(
    secured: RunningHost, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    token = signer.token()
    with caplog.at_level(logging.INFO):
        await whoami(secured, **bearer(token))
        initialize(secured, **bearer("tpk_not-a-key"))
    lines = [json.loads(JsonFormatter().format(record)) for record in caplog.records]
    call = next(line for line in lines if line.get("tool") == "whoami")
    assert call["plugin"] == "everything" and call["subject"] == "user-123" and call["outcome"] == "ok"
    assert call["request_id"] is not None and call["duration_ms"] >= 0
    everything_logged = "\n".join(json.dumps(line) for line in lines)
    assert token not in everything_logged and "tpk_not-a-key" not in everything_logged
    assert any(line.get("reason") == "unknown_credential" for line in lines)


@pytest.fixture
def discoverable(toolpark_http: Callable[..., RunningHost]) -> Iterator[tuple[RunningHost, WebHost, Signer]]:
    """The host taking tokens of a local issuer that publishes its OAuth metadata (RFC 8414) and keys.
    Keycloak cannot run here; this issuer serves the documents a client reads before the login page."""
    with web_host("sso") as issuer_host:
        issuer = f"{issuer_host.url}/realms/main"
        signer = Signer("key-1", issuer, AUDIENCE)
        metadata = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "jwks_uri": f"{issuer}/protocol/openid-connect/certs",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        }
        for path in (
            "/.well-known/oauth-authorization-server/realms/main",
            "/realms/main/.well-known/openid-configuration",
        ):
            issuer_host.documents[path] = json.dumps(metadata).encode()
        issuer_host.documents["/realms/main/protocol/openid-connect/certs"] = json.dumps(
            {"keys": [signer.jwk()]}
        ).encode()
        running = toolpark_http(
            everything, auth={"oidc_issuer": issuer, "oidc_audience": AUDIENCE, "oidc_scopes": "openid,toolpark-mcp"}
        )
        yield running, issuer_host, signer


def test_each_endpoint_publishes_its_protected_resource_metadata(
    discoverable: tuple[RunningHost, WebHost, Signer],
) -> None:
    """RFC 9728: the metadata sits at the well-known prefix before the endpoint's path and names the
    endpoint, the issuer and the scopes; the 401 points at it, as the MCP authorization spec asks."""
    running, issuer_host, signer = discoverable
    endpoint = running.url("everything")
    refused = initialize(running)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    where = f"{running.base_url}/.well-known/oauth-protected-resource/everything/mcp"
    assert f'resource_metadata="{where}"' in challenge and 'scope="openid toolpark-mcp"' in challenge
    document = httpx.get(where).json()
    assert document == {
        "resource": endpoint,
        "authorization_servers": [f"{issuer_host.url}/realms/main"],
        "scopes_supported": ["openid", "toolpark-mcp"],
        "bearer_methods_supported": ["header"],
        "resource_name": "toolpark everything",
    }
    assert initialize(running, **bearer(signer.token())).status_code == 200
    elsewhere = initialize(running, **bearer(signer.token(aud="another-service")))
    assert elsewhere.status_code == 401 and f'resource_metadata="{where}"' in elsewhere.headers["www-authenticate"]


def test_the_typescript_oauth_client_finds_the_issuer_from_the_401(
    discoverable: tuple[RunningHost, WebHost, Signer],
) -> None:
    """The TypeScript SDK's OAuth client, as MCP clients other than LibreChat use it, goes from the 401
    to the login page of the right issuer, asking for the endpoint as the token's resource."""
    running, issuer_host, _ = discoverable
    run = run_node("oauth-discovery.mjs", running.url("everything"), "mcp-clients", timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["failure"] == "UnauthorizedError"  # the browser step is where a test stops
    assert f"{running.base_url}/.well-known/oauth-protected-resource/everything/mcp" in seen["fetched"]
    login = seen["authorization"]
    assert login["origin"] == issuer_host.url and login["path"] == "/realms/main/protocol/openid-connect/auth"
    params = login["params"]
    assert params["resource"] == running.url("everything") and params["client_id"] == "mcp-clients"
    assert params["scope"] == "openid toolpark-mcp" and params["code_challenge_method"] == "S256"
