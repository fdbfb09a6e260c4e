"""The init script of the Postgres container: a database and a role per consumer, pgvector on."""

from __future__ import annotations

from compose.spec import Deployment

__all__ = ["init_script"]


def init_script(spec: Deployment) -> str:
    """Runs once, on an empty data volume. Passwords come from the container's environment and
    reach SQL as psql variables (`:'pw'`), so no quoting in a password can break out."""
    consumers = ["toolpark"]
    if spec.keycloak.enabled:
        consumers.append("keycloak")
    if spec.litellm.enabled:
        consumers.append("litellm")
    lines = ["#!/bin/sh", "# Rendered by toolpark compose; runs once when the data volume is empty.", "set -eu"]
    for role in consumers:
        lines += [
            f"psql -v ON_ERROR_STOP=1 -U postgres -v pw=\"${role.upper()}_DB_PASSWORD\" <<'SQL'",
            f"CREATE ROLE {role} LOGIN PASSWORD :'pw';",
            f"CREATE DATABASE {role} OWNER {role};",
            "SQL",
        ]
    lines += ["psql -v ON_ERROR_STOP=1 -U postgres -d toolpark -c 'CREATE EXTENSION IF NOT EXISTS vector;'"]
    return "\n".join(lines) + "\n"
