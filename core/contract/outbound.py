"""Outbound HTTP as a tool sees it (`ctx.egress`); the host's SSRF-safe client (`toolpark.security.egress`)
is what answers."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx  # at run time only `Fetched.text` needs it: `import toolpark` stays lighter by 40 ms

__all__ = ["Fetched", "OutboundHTTP"]


@dataclass(frozen=True)
class Fetched:
    """A whole response read within the byte cap."""

    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        import httpx

        return httpx.Response(self.status_code, headers=self.headers, content=self.content).text


class OutboundHTTP(Protocol):
    """Fetches user-supplied URLs: each hop checked, the body capped, the time bounded."""

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> Fetched:
        """Fetch `url` and read its whole body, refusing one larger than `max_bytes`."""
        ...

    def stream(
        self, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """The final response after checked redirects, its body not yet read (read it with `read`)."""
        ...

    async def read(self, response: httpx.Response, max_bytes: int) -> bytes:
        """The body of a `stream`ed response, refused as soon as it passes `max_bytes`."""
        ...
