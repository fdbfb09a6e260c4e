"""The Caddyfile: one site per public service, TLS from Let's Encrypt, streaming-safe proxying."""

from __future__ import annotations

from toolpark.compose.stack import mcp_path
from toolpark.compose.topology import Topology

__all__ = ["caddyfile"]


def _proxy(upstream: str, indent: str = "\t") -> list[str]:
    # flush_interval -1 passes every chunk on at once: chat tokens and MCP's server-sent events
    # must not wait in a buffer. Caddy does this for text/event-stream already; LibreChat's
    # and LiteLLM's streams are not always labelled so.
    return [f"{indent}reverse_proxy {upstream} {{", f"{indent}\tflush_interval -1", f"{indent}}}"]


def caddyfile(topology: Topology) -> str:
    spec = topology.spec
    lines = ["{", f"\temail {spec.acme_email}", "}", ""]
    sites: list[tuple[str, list[str]]] = [(spec.chat_hostname, _proxy(topology.address("caddy", "librechat")))]
    if spec.keycloak.enabled and spec.sso_hostname:
        sites.append((spec.sso_hostname, _proxy(topology.address("caddy", "keycloak"))))
    if spec.litellm.enabled and spec.llm_hostname:
        sites.append((spec.llm_hostname, _proxy(topology.address("caddy", "litellm"))))
    if spec.tools_hostname:
        # `handle` blocks are exclusive and tried most specific first: each server's MCP path goes
        # to that server, anything else is a 404 rather than some default upstream.
        body: list[str] = []
        for name in spec.toolpark.servers:
            upstream = topology.address("caddy", f"toolpark-{name}")
            body += [f"\thandle {mcp_path(name)} {{", *_proxy(upstream, "\t\t"), "\t}"]
        body += ["\thandle {", "\t\trespond 404", "\t}"]
        sites.append((spec.tools_hostname, body))
    for host, body in sites:
        lines += [f"{host} {{", "\theader Strict-Transport-Security max-age=31536000", *body, "}", ""]
    return "\n".join(lines)
