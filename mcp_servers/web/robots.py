"""robots.txt for autonomous fetches, with the semantics of the reference `mcp-server-fetch`:
401 or 403 on robots.txt means nothing may be fetched, any other 4xx means everything may,
and the rules are matched with Protego for the autonomous user agent."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from toolpark.contract.errors import ToolError
from toolpark.contract.outbound import Fetched
from toolpark.security.egress import EgressRefused

__all__ = ["RobotsPolicy", "robots_url"]

Get = Callable[[str], Awaitable[Fetched]]


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))


class RobotsPolicy:
    """Decides whether a URL may be fetched autonomously; verdicts per site are kept `ttl_s`."""

    def __init__(self, user_agent: str, ttl_s: float = 600.0) -> None:
        self.user_agent = user_agent
        self.ttl_s = ttl_s
        self._sites: dict[str, tuple[float, int, Protego | None, str]] = {}

    async def check(self, url: str, get: Get) -> None:
        """Raise a ToolError the model can relay when robots.txt forbids fetching `url`."""
        where = robots_url(url)
        status, rules, text = await self._site(where, get)
        if status in (401, 403):
            raise ToolError(
                f"When fetching robots.txt ({where}), received status {status} so assuming that autonomous "
                "fetching is not allowed. The assistant must let the user know that it could not view the page."
            )
        if rules is not None and not rules.can_fetch(url, self.user_agent):
            raise ToolError(
                f"The sites robots.txt ({where}), specifies that autonomous fetching of this page is not allowed, "
                f"<useragent>{self.user_agent}</useragent>\n<url>{url}</url><robots>\n{text}\n</robots>\n"
                "The assistant must let the user know that it failed to view the page. The assistant may provide "
                "further guidance based on the above information."
            )

    async def _site(self, where: str, get: Get) -> tuple[int, Protego | None, str]:
        known = self._sites.get(where)
        if known and time.monotonic() - known[0] < self.ttl_s:
            return known[1], known[2], known[3]
        try:
            response = await get(where)
        except EgressRefused:
            raise  # a policy refusal says so itself; it is no connection issue
        except ToolError as exc:
            raise ToolError(f"Failed to fetch robots.txt {where} due to a connection issue: {exc}") from exc
        rules, text = None, ""
        if not 400 <= response.status_code < 500:
            text = response.text
            rules = Protego.parse("\n".join(line for line in text.splitlines() if not line.strip().startswith("#")))
        self._sites[where] = (time.monotonic(), response.status_code, rules, text)
        return response.status_code, rules, text
