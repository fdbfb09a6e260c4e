"""The deployment's secrets: which it needs, generating the ones it may, and the .env format.

Rendered files never hold a secret: they name it (`${NAME}`) and docker compose fills it in from
the `.env` beside the compose files. Generated secrets are made once; an existing value is never
replaced, so re-rendering cannot lock anyone out of a database. Secrets that come from outside
(S3 keys) cannot be generated; `toolpark.compose.checks` reports them missing against their spec field.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from contextlib import suppress

from toolpark.compose.postgres import database_roles, password_secret
from toolpark.compose.providers import ProviderError, provider_module
from toolpark.compose.spec import Deployment, Model
from toolpark.security.keys import hash_key, new_api_key

__all__ = [
    "BOOT_KEY",
    "WEIGHTS_SECRETS",
    "complete",
    "external_secrets",
    "format_env",
    "generated_secrets",
    "model_key_secret",
    "parse_env",
]


def _token() -> str:
    return secrets.token_urlsafe(32)


# Secrets with a format of their own; every other one is a URL-safe random token. LibreChat
# wants CREDS_KEY as 32 bytes and CREDS_IV as 16 bytes, both in hex; LiteLLM keys start "sk-".
_FORMATS: dict[str, Callable[[], str]] = {
    "CREDS_KEY": lambda: secrets.token_hex(32),
    "CREDS_IV": lambda: secrets.token_hex(16),
    "TOOLPARK_OPS_KEY": new_api_key,
    "TOOLPARK_LIBRECHAT_KEY": new_api_key,
    "TOOLPARK_OPENWEBUI_KEY": new_api_key,
    "TOOLPARK_LITELLM_KEY": new_api_key,
    "LITELLM_MASTER_KEY": lambda: "sk-" + _token(),
    "LITELLM_SALT_KEY": lambda: "sk-" + _token(),
}


def generated_secrets(spec: Deployment) -> list[str]:
    """Names of the secrets this deployment uses that `complete` may generate."""
    names = ["POSTGRES_PASSWORD", *(password_secret(role) for role in database_roles(spec)), "VLLM_API_KEY"]
    names += ["TOOLPARK_OPS_KEY", "TOOLPARK_STATE_KEY"]
    if spec.librechat.enabled:
        names += ["MONGO_PASSWORD", "CREDS_KEY", "CREDS_IV", "JWT_SECRET", "JWT_REFRESH_SECRET"]
    if spec.openwebui.enabled:
        names.append("OPENWEBUI_SECRET_KEY")
        if not spec.keycloak.enabled:
            names.append("OPENWEBUI_ADMIN_PASSWORD")
    names += [key for _, key, _ in _toolpark_keys(spec)[1:]]
    if spec.keycloak.enabled:
        names.append("KEYCLOAK_ADMIN_PASSWORD")
        if spec.librechat.enabled:
            names += ["KEYCLOAK_CLIENT_SECRET", "OPENID_SESSION_SECRET"]
        if spec.openwebui.enabled:
            names.append("OPENWEBUI_CLIENT_SECRET")
    if spec.litellm.enabled:
        names += ["LITELLM_MASTER_KEY", "LITELLM_SALT_KEY"]
    if spec.scheduled_node:
        names.append(BOOT_KEY)
    return names


def model_key_secret(model: Model) -> str:
    """The secret a model's clients send as its key: the stack's inference key (VLLM_API_KEY, which
    every in-stack engine that checks keys is given), or an outside endpoint's own."""
    return model.api_key_secret or "VLLM_API_KEY"


def _toolpark_keys(spec: Deployment) -> list[tuple[str, str, bool]]:
    """The API keys the toolpark servers accept: owner, secret, and whether the owner is a trusted
    front end (one that names its user in X-User-* headers). The operator's comes first."""
    keys = [("operator", "TOOLPARK_OPS_KEY", False)]
    if spec.auth_mode == "api-key":
        if spec.librechat.enabled:
            keys.append(("librechat", "TOOLPARK_LIBRECHAT_KEY", True))
        if spec.openwebui.enabled:
            keys.append(("openwebui", "TOOLPARK_OPENWEBUI_KEY", True))
    if spec.litellm.enabled and spec.litellm.mcp_gateway:
        keys.append(("litellm", "TOOLPARK_LITELLM_KEY", False))
    return keys


# What the scheduled node shows the scheduler when it reports a boot phase (`/boot`).
BOOT_KEY = "TOOLPARK_BOOT_KEY"
# A key of the stack's S3 that reads the models' prefixes and nothing else: the GPU node holds it.
WEIGHTS_SECRETS = ("WEIGHTS_S3_ACCESS_KEY_ID", "WEIGHTS_S3_SECRET_ACCESS_KEY")


def external_secrets(spec: Deployment) -> dict[str, str]:
    """Secrets only the operator can supply, with the spec field that makes them necessary."""
    found = {"S3_ACCESS_KEY_ID": "s3", "S3_SECRET_ACCESS_KEY": "s3"} if spec.s3 is not None else {}
    for role, model in spec.models.by_role().items():
        if model.api_key_secret:
            found[model.api_key_secret] = f"models.{role}.api_key_secret"
        if model.weights:
            found |= dict.fromkeys(WEIGHTS_SECRETS, f"models.{role}.weights")
    if spec.scheduled_node:
        if (fallback := spec.scheduler.fallback_model) and fallback.api_key_secret:
            found[fallback.api_key_secret] = "scheduler.fallback_model.api_key_secret"
        # A provider that is not installed reads nothing; `toolpark compose check` names it.
        with suppress(ProviderError):
            module = provider_module(spec.scheduler.provider)
            found |= {name: "scheduler.provider" for name in getattr(module, "SECRETS", ())}
    return found


def api_keys_setting(spec: Deployment, values: Mapping[str, str]) -> str:
    """TOOLPARK_AUTH_API_KEYS: the hashes of the keys in `values`, never the keys themselves."""
    keys = [
        # The operator's key has the role `operator`, which [tenancy] rules can open shared namespaces to.
        {
            "name": owner,
            "hash": hash_key(values[secret]),
            "scopes": ["operator"] if owner == "operator" else [],
            "trusted_frontend": frontend,
            # LiteLLM's MCP gateway calls with one key for all its users and cannot name them: what
            # it writes would be every user's at once, so it reads only.
            **({"read_only": True} if owner == "litellm" else {}),
        }
        for owner, secret, frontend in _toolpark_keys(spec)
    ]
    return json.dumps(keys, separators=(",", ":"))


def complete(spec: Deployment, existing: Mapping[str, str]) -> dict[str, str]:
    """`existing` plus every generated secret it lacks, and the settings derived from them.

    Existing values win, including ones this spec no longer uses: dropping a secret is the
    operator's decision, not a re-render's.
    """
    values = dict(existing)
    for name in generated_secrets(spec):
        if not values.get(name):
            values[name] = _FORMATS.get(name, _token)()
    for name in external_secrets(spec):
        values.setdefault(name, "")
    values.setdefault("HF_TOKEN", "")  # for gated models; empty is fine for open ones
    values["TOOLPARK_AUTH_API_KEYS"] = api_keys_setting(spec, values)
    return values


_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_env(text: str) -> dict[str, str]:
    """A .env file as docker compose reads it: KEY=VALUE lines, optional single or double quotes."""
    values = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f".env line is not KEY=VALUE: {line[:40]!r}")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def format_env(values: Mapping[str, str]) -> str:
    """Single-quoted values: compose takes them literally, so `$` and `#` in a secret stay as they are."""
    lines = ["# Secrets of this deployment. Generated once; edit or add, never commit.", ""]
    for key, value in values.items():
        if "'" in value:
            raise ValueError(f"{key}: a single quote cannot be written to .env")
        lines.append(f"{key}='{value}'")
    return "\n".join(lines) + "\n"
