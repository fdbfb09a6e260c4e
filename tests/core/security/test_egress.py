"""The SSRF suite: outbound requests through the `fetch` tool of the real HTTP host.

Every refused address is refused before a connection is made, so no test sends traffic beyond
loopback. Where a test needs a "public" destination it uses a loopback server the operator
allowlist opens, which the policy treats the same way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mcp import Client

from tests.ssrf_cases import NON_PUBLIC, SPELLINGS_OF_LOOPBACK
from tests.webhost import WebHost, web_host
from toolpark.plugins.everything import plugin as everything
from toolpark.security.addresses import IPAddress, blocked_reason
from toolpark.testing import RunningHost

pytestmark = pytest.mark.anyio


@pytest.fixture
def web() -> Iterator[WebHost]:
    with web_host("server-1") as server:
        yield server


class ScriptedResolver:
    """DNS that answers from a script; repeats its last answer once the script runs out."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        script = self.answers[host]
        answer = script.pop(0) if len(script) > 1 else script[0]
        return [ipaddress.ip_address(a) for a in answer]


async def fetch(running: RunningHost, url: str, **arguments: Any) -> tuple[bool, str, dict[str, Any] | None]:
    async with Client(running.url("everything")) as client:
        result = await client.call_tool("fetch", {"url": url, **arguments})
    return bool(result.is_error), result.content[0].text, result.structured_content  # type: ignore[union-attr]


@pytest.mark.parametrize(("address", "reason"), NON_PUBLIC)
async def test_every_non_public_address_class_is_refused(
    toolpark_http: Callable[..., RunningHost], address: str, reason: str
) -> None:
    running = toolpark_http(everything)
    refused, message, _ = await fetch(running, f"http://{address}:8080/latest/meta-data/")
    assert refused and f"is a {reason} address" in message


@pytest.mark.parametrize("spelling", SPELLINGS_OF_LOOPBACK)
async def test_odd_ipv4_spellings_of_loopback_are_refused(
    toolpark_http: Callable[..., RunningHost], web: WebHost, spelling: str
) -> None:
    running = toolpark_http(everything)
    refused, message, _ = await fetch(running, f"http://{spelling}:{web.port}/secret")
    assert refused and ("is a loopback address" in message or "is not a valid URL" in message)
    assert web.seen == []


async def test_allowlist_opens_a_chosen_loopback_host(toolpark_http: Callable[..., RunningHost], web: WebHost) -> None:
    running = toolpark_http(everything, egress={"allow": f"127.0.0.1:{web.port}"})
    refused, message, page = await fetch(running, f"{web.url}/hello")
    assert not refused, message
    assert page is not None and page["status"] == 200 and page["text"].startswith("server-1 /hello")
    other_port_refused, _, _ = await fetch(running, f"http://127.0.0.1:{web.port + 1}/")
    assert other_port_refused


async def test_dns_answer_is_pinned_between_check_and_connect(toolpark_http: Callable[..., RunningHost]) -> None:
    """The name resolves to an allowed address for the check and to a forbidden one afterwards;
    the request must go to the checked address, with the name in the Host header."""
    with web_host("allowed", "127.0.0.2") as allowed, web_host("forbidden", "127.0.0.1", allowed.port) as forbidden:
        resolver = ScriptedResolver({"rebind.test": [["127.0.0.2"], ["127.0.0.1"]]})
        running = toolpark_http(everything, egress={"allow": "127.0.0.2/32"}, resolver=resolver)
        refused, message, page = await fetch(running, f"http://rebind.test:{allowed.port}/who")
    assert not refused, message
    assert page is not None and page["text"] == f"allowed /who host=rebind.test:{allowed.port}"
    assert resolver.lookups == ["rebind.test"]
    assert forbidden.seen == []


async def test_name_resolving_to_private_address_is_refused_without_revealing_it(
    toolpark_http: Callable[..., RunningHost],
) -> None:
    resolver = ScriptedResolver({"intranet.test": [["10.20.30.40"]]})
    running = toolpark_http(everything, resolver=resolver)
    refused, message, _ = await fetch(running, "http://intranet.test/")
    assert refused and "intranet.test is a private address" in message
    assert "10.20.30.40" not in message


async def test_any_forbidden_address_among_several_refuses(toolpark_http: Callable[..., RunningHost]) -> None:
    resolver = ScriptedResolver({"mixed.test": [["127.0.0.2", "127.0.0.1"]]})
    running = toolpark_http(everything, egress={"allow": "127.0.0.2"}, resolver=resolver)
    refused, message, _ = await fetch(running, "http://mixed.test/")
    assert refused and "loopback" in message


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:{port}/admin", "http://169.254.169.254/latest/", "http://[::ffff:127.0.0.1]:{port}/"]
)
async def test_redirect_from_allowed_host_to_forbidden_one_is_refused(
    toolpark_http: Callable[..., RunningHost], target: str
) -> None:
    with web_host("allowed", "127.0.0.2") as allowed, web_host("internal", "127.0.0.1", allowed.port) as internal:
        running = toolpark_http(everything, egress={"allow": "127.0.0.2"})
        to = target.format(port=internal.port)
        refused, message, _ = await fetch(running, f"{allowed.url}/redirect?to={to}")
    assert refused and "address, which tools may not reach" in message
    assert internal.seen == [] and [p for p, _ in allowed.seen] == ["/redirect"]


async def test_allowed_redirects_are_followed_and_capped(
    toolpark_http: Callable[..., RunningHost], web: WebHost
) -> None:
    running = toolpark_http(everything, egress={"allow": "127.0.0.1", "max_redirects": 3})
    refused, _, page = await fetch(running, f"{web.url}/redirect?to=/landed&status=301")
    assert not refused and page is not None and page["text"].startswith("server-1 /landed")
    assert page["url"] == f"{web.url}/landed"
    looped, loop_message, _ = await fetch(running, f"{web.url}/loop")
    assert looped and "more than 3 redirects" in loop_message
    assert sum(path == "/loop" for path, _ in web.seen) == 4


@pytest.mark.parametrize("declare", ["0", "1"])
async def test_body_over_the_cap_is_refused(
    toolpark_http: Callable[..., RunningHost], web: WebHost, declare: str
) -> None:
    running = toolpark_http(everything, egress={"allow": "127.0.0.1"})
    refused, message, _ = await fetch(running, f"{web.url}/big?mb=50&declare={declare}", max_bytes=1_000_000)
    assert refused and "limit of 1000000 bytes" in message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/", "gopher://127.0.0.1/", "//nohost"])
async def test_only_http_and_https(toolpark_http: Callable[..., RunningHost], url: str) -> None:
    running = toolpark_http(everything)
    refused, message, _ = await fetch(running, url)
    assert refused and "Refused" in message


async def test_slow_server_hits_the_timeout(toolpark_http: Callable[..., RunningHost], web: WebHost) -> None:
    running = toolpark_http(everything, egress={"allow": "127.0.0.1", "read_timeout_s": 0.5})
    refused, message, _ = await fetch(running, f"{web.url}/slow?s=3")
    assert refused and "timed out" in message


async def test_refusals_are_counted(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything)
    await fetch(running, "http://127.0.0.1/")
    await fetch(running, "http://10.0.0.1/")
    metrics = (await running.get("/metrics")).text
    # by the plugin and tool that asked, never the address
    assert 'toolpark_egress_refusals_total{plugin="everything",reason="loopback",tool="fetch"} 1.0' in metrics
    assert 'toolpark_egress_refusals_total{plugin="everything",reason="private",tool="fetch"} 1.0' in metrics


def test_public_addresses_pass() -> None:
    for address in ("8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"):
        assert blocked_reason(ipaddress.ip_address(address)) is None
