"""The Caddyfile: one site per public service, TLS from Let's Encrypt, streaming-safe proxying."""

from __future__ import annotations

from toolpark.compose.references import mcp_path
from toolpark.compose.topology import Topology
from toolpark.security.discovery import WELL_KNOWN

__all__ = ["caddyfile", "site_ports", "sites"]


def _proxy(upstream: str, indent: str = "\t", *options: str) -> list[str]:
    # No `flush_interval -1`: Caddy passes server-sent events and responses of unknown length on at
    # once by itself, while -1 made Caddy 2.6 cut responses short under concurrent load
    # (tests/core/host/tasks/test_failover.py caught it) and keeps an upstream request running after its
    # client has gone.
    if not options:
        return [f"{indent}reverse_proxy {upstream}"]
    return [f"{indent}reverse_proxy {upstream} {{", *(f"{indent}\t{option}" for option in options), f"{indent}}}"]


# What LiteLLM's public site serves: its OpenAI-compatible API (with and without /v1) and, with the
# gateway on, /mcp. Its admin UI and management routes (/ui, /key, /user, /team, /spend, ...) are
# guarded by the master key alone, which the front ends hold too: they stay on the private network.
_LITELLM_API = ("/v1/*", "/chat/completions", "/completions", "/embeddings", "/models", "/responses", "/responses/*")


def _published(topology: Topology, service: str) -> tuple[str, ...] | None:
    """The paths a site publishes of its service; None: all of them."""
    if service != "litellm":
        return None
    return _LITELLM_API + (("/mcp", "/mcp/*") if topology.spec.litellm.mcp_gateway else ())


def _site(topology: Topology, service: str) -> list[str]:
    own = topology.address("caddy", service)
    paths = _published(topology, service)
    if paths is None:
        serve = ["\thandle {", *_proxy(own, "\t\t"), "\t}"]
    else:
        serve = [f"\t@published path {' '.join(paths)}", "\thandle @published {", *_proxy(own, "\t\t"), "\t}"]
        serve += ["\thandle {", "\t\trespond 404", "\t}"]
    if not topology.on_scheduled_node(service):
        return _proxy(own) if paths is None else serve
    # While the scheduled node is away its upstream does not answer (502): the scheduler says why
    # and when it is back, as a page or as JSON, and wakes it for a signed-in user or a key holder.
    # The page's button posts to /.toolpark/wake, which goes to the scheduler always.
    scheduler = topology.address("caddy", "scheduler")
    return [
        *["\thandle /.toolpark/wake {", "\t\trewrite * /wake", *_proxy(scheduler, "\t\t"), "\t}"],
        *serve,
        # GET: the request's body went to the first upstream and cannot be read again.
        *["\thandle_errors {", "\t\trewrite * /offline", *_proxy(scheduler, "\t\t", "method GET"), "\t}"],
    ]


def sites(topology: Topology) -> list[tuple[str, list[str]]]:
    """Each public hostname with the body of its site."""
    spec = topology.spec
    found: list[tuple[str, list[str]]] = []
    if spec.librechat.enabled:
        found.append((spec.chat_hostname, _site(topology, "librechat")))
    if spec.openwebui_hostname:
        found.append((spec.openwebui_hostname, _site(topology, "openwebui")))
    if spec.keycloak.enabled and spec.sso_hostname:
        found.append((spec.sso_hostname, _site(topology, "keycloak")))
    if spec.litellm.enabled and spec.llm_hostname:
        found.append((spec.llm_hostname, _site(topology, "litellm")))
    if spec.tools_hostname:
        # `handle` blocks are exclusive and tried most specific first: each server's MCP path goes
        # to that server, anything else is a 404 rather than some default upstream.
        body: list[str] = []
        for name in spec.toolpark.servers:
            upstream = topology.address("caddy", f"toolpark-{name}")
            # The endpoint and its RFC 9728 metadata (for MCP clients that log users in themselves).
            paths = f"{mcp_path(name)} {WELL_KNOWN}{mcp_path(name)}"
            body += [f"\t@{name} path {paths}", f"\thandle @{name} {{", *_proxy(upstream, "\t\t"), "\t}"]
        body += ["\thandle {", "\t\trespond 404", "\t}"]
        found.append((spec.tools_hostname, body))
    return found


def site_ports(topology: Topology) -> dict[str, int]:
    """On one machine (the processes target) each site listens on its own loopback port."""
    first = topology.spec.processes.first_port
    return {host: first + index for index, (host, _) in enumerate(sites(topology))}


def caddyfile(topology: Topology) -> str:
    spec = topology.spec
    if topology.one_machine:
        # Plain HTTP on loopback ports: no certificates to fetch, no admin endpoint to clash on.
        lines = ["{", "\tadmin off", "}", ""]
        ports = site_ports(topology)
        for host, body in sites(topology):
            lines += [f"http://:{ports[host]} {{", "\tbind 127.0.0.1", *body, "}", ""]
        return "\n".join(lines)
    lines = ["{", f"\temail {spec.acme_email}", "}", ""]
    for host, body in sites(topology):
        lines += [f"{host} {{", "\theader Strict-Transport-Security max-age=31536000", *body, "}", ""]
    return "\n".join(lines)
