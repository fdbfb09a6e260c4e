"""The init script of the Postgres container: a database and a role per consumer, pgvector on."""

from __future__ import annotations

from toolpark.compose.spec import Deployment

__all__ = ["database_roles", "init_script", "password_secret"]


def database_roles(spec: Deployment) -> list[str]:
    """The roles Postgres holds for its consumers, each owning a database of the same name."""
    roles = ["toolpark"]
    if spec.keycloak.enabled:
        roles.append("keycloak")
    if spec.litellm.enabled and spec.litellm.database:
        roles.append("litellm")
    if spec.scheduled_node:
        roles.append("scheduler")
    return roles


def password_secret(role: str) -> str:
    """The .env secret holding a database role's password."""
    return f"{role.upper()}_DB_PASSWORD"


def init_script(spec: Deployment) -> str:
    """Runs once, on an empty data volume. Passwords come from the container's environment and
    reach SQL as psql variables (`:'pw'`), so no quoting in a password can break out."""
    lines = ["#!/bin/sh", "# Rendered by toolpark compose; runs once when the data volume is empty.", "set -eu"]
    for role in database_roles(spec):
        lines += [
            f"psql -v ON_ERROR_STOP=1 -U postgres -v pw=\"${password_secret(role)}\" <<'SQL'",
            f"CREATE ROLE {role} LOGIN PASSWORD :'pw';",
            f"CREATE DATABASE {role} OWNER {role};",
            "SQL",
        ]
    lines += ["psql -v ON_ERROR_STOP=1 -U postgres -d toolpark -c 'CREATE EXTENSION IF NOT EXISTS vector;'"]
    return "\n".join(lines) + "\n"
