"""Safe outbound HTTP for every server that fetches user-supplied URLs.

Each hop of a request is checked before anything is sent: the scheme is http(s), the host is
resolved once and every address it resolves to must be public (or opened by the operator),
and the connection goes to that pinned address with the original Host header and TLS SNI,
so DNS rebinding cannot swap the address between the check and the connect. Redirects are
followed by hand, each hop checked again, up to a cap. The body is read as a stream and cut
off at a byte cap; connect, read and total time are bounded.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Protocol

import anyio
import httpx
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toolpark.contract.errors import ToolError
from toolpark.contract.outbound import Fetched
from toolpark.contract.settings import CommaList, SectionSettings
from toolpark.security.addresses import IPAddress, Openings, blocked_reason

__all__ = ["Egress", "EgressRefused", "EgressSettings", "Resolver", "SystemResolver"]

_REDIRECTS = {301, 302, 303, 307, 308}


class EgressSettings(SectionSettings):
    """Outbound HTTP policy for tools that fetch URLs (`[egress]`, `TOOLPARK_EGRESS_*`)."""

    model_config = SettingsConfigDict(env_prefix="TOOLPARK_EGRESS_", extra="forbid")

    allow: CommaList = Field(
        default_factory=list,
        description="Non-public destinations to open anyway: host names, host:port, IPs or CIDRs (comma-separated).",
    )
    proxy: str | None = Field(None, description="HTTP(S) proxy for all outbound requests.")
    max_bytes: int = Field(20_000_000, ge=1, description="Largest response body read, in bytes.")
    max_redirects: int = Field(5, ge=0, le=20, description="Redirect hops followed, each checked again.")
    connect_timeout_s: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    read_timeout_s: float = Field(30.0, gt=0, description="Seconds to wait for each chunk of the response.")
    total_timeout_s: float = Field(60.0, gt=0, description="Seconds for a whole fetch, redirects included.")
    user_agent: str = Field("toolpark/0.1", description="User-Agent header of outbound requests.")


class EgressRefused(ToolError):
    """An outbound request was not made, or was stopped, because policy forbids it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Resolver(Protocol):
    """Turns a host name into the addresses to connect to."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo), which also reads decimal and octal IPv4 forms."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


class Egress:
    """The one outbound HTTP client of a process. Open with `async with`, or call `aclose()`."""

    def __init__(
        self,
        settings: EgressSettings | None = None,
        *,
        resolver: Resolver | None = None,
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or EgressSettings()
        self.openings = Openings.parse(self.settings.allow)
        self.resolver: Resolver = resolver or SystemResolver()
        self._on_refusal = on_refusal
        self._client = httpx.AsyncClient(
            proxy=self.settings.proxy,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self.settings.read_timeout_s, connect=self.settings.connect_timeout_s),
            # No keep-alive: a pooled connection is keyed by the pinned IP, and reusing one opened
            # for another host name (another SNI) would send this request under that name's TLS.
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": self.settings.user_agent},
        )

    async def __aenter__(self) -> Egress:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _refuse(self, message: str, reason: str) -> EgressRefused:
        if self._on_refusal is not None:
            self._on_refusal(reason)
        return EgressRefused(message, reason)

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> Fetched:
        """Fetch `url` and read its whole body, refusing one larger than `max_bytes`."""
        async with self.stream(url, method=method, headers=headers) as response:
            content = await self.read(response, max_bytes or self.settings.max_bytes)
            return Fetched(str(response.url), response.status_code, response.headers, content)

    @asynccontextmanager
    async def stream(
        self, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """The final response after checked redirects, its body not yet read.

        `response.url` is the URL as the caller wrote it (host name, not the pinned address). Read
        the body with `read`, or iterate it; the total timeout covers the whole block.
        """
        limit = self.settings.total_timeout_s
        try:
            with anyio.fail_after(limit):
                response = await self._follow(self._parse(url), method, headers)
                try:
                    yield response
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ToolError(f"Fetching {url} timed out (limit {limit:g} s). The site may be slow or down.") from exc
        except httpx.RemoteProtocolError as exc:
            if "location header" in str(exc).lower():  # httpx parses a redirect's target as it reads it
                message = f"Refused: {url} redirected to a Location that is not a valid URL."
                raise self._refuse(message, "invalid_url") from exc
            raise ToolError(f"Could not fetch {url}: the site broke the HTTP protocol ({exc}).") from exc
        except httpx.TransportError as exc:
            raise ToolError(f"Could not fetch {url}: {type(exc).__name__}. The site may be down.") from exc

    async def _follow(self, url: httpx.URL, method: str, headers: Mapping[str, str] | None) -> httpx.Response:
        for hop in range(self.settings.max_redirects + 1):
            response = await self._client.send(await self._pinned_request(method, url, headers), stream=True)
            # Report the URL as the caller wrote it, not the pinned address it was sent to.
            response.request.url = url
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            await response.aclose()
            if hop == self.settings.max_redirects:
                break
            url = self._redirect_target(url, location)
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method = "GET"
        raise self._refuse(f"Refused: more than {self.settings.max_redirects} redirects.", "redirects")

    def _redirect_target(self, url: httpx.URL, location: str) -> httpx.URL:
        try:
            return self._parse(str(url.join(location)))
        except (httpx.InvalidURL, ValueError) as exc:  # join parses the Location header itself
            raise self._refuse(
                f"Refused: {url} redirected to {location!r}, which is not a valid URL.", "invalid_url"
            ) from exc

    def _parse(self, url: str) -> httpx.URL:
        try:
            return httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise self._refuse(f"Refused: {url!r} is not a valid URL ({exc}).", "invalid_url") from exc

    async def read(self, response: httpx.Response, max_bytes: int) -> bytes:
        """The decoded body, refused as soon as it passes `max_bytes` (Content-Length checked first)."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            message = f"Refused: the response is {declared} bytes, over the limit of {max_bytes} bytes."
            raise self._refuse(message, "size")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise self._refuse(f"Refused: the response is larger than the limit of {max_bytes} bytes.", "size")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _pinned_request(self, method: str, url: httpx.URL, headers: Mapping[str, str] | None) -> httpx.Request:
        if url.scheme not in ("http", "https"):
            raise self._refuse(f"Refused: only http and https URLs can be fetched, not {url.scheme}:.", "scheme")
        host = url.host
        if not host:
            raise self._refuse(f"Refused: {url} has no host.", "no_host")
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self._addresses(host, port)
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason and not self.openings.allows(host, port, ip):
                # Name the host as the caller wrote it; the address it resolved to stays here.
                raise self._refuse(f"Refused: {host} is a {reason} address, which tools may not reach.", reason)
        if not addresses:  # only with a proxy, which resolves names this machine cannot
            return self._client.build_request(method, url, headers=headers)
        pinned = url.copy_with(host=str(addresses[0]))
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        host_header = {"Host": url.netloc.decode("ascii")}
        return self._client.build_request(
            method, pinned, headers={**(headers or {}), **host_header}, extensions=extensions
        )

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            found = await self.resolver.resolve(host, port)
        except OSError as exc:
            if self.settings.proxy:
                return []
            raise self._refuse(f"Could not resolve {host}: {exc.strerror or exc}.", "dns") from exc
        if not found and not self.settings.proxy:
            raise self._refuse(f"Could not resolve {host}.", "dns")
        return found
