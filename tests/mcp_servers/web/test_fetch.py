"""The web server's fetch tools against local HTTP servers, through the real HTTP host."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest

from tests.ssrf_cases import NON_PUBLIC, SPELLINGS_OF_LOOPBACK
from tests.webhost import WebHost, web_host
from toolpark.mcp_servers.web import plugin as web
from toolpark.testing import RunningHost, free_port, http_client

pytestmark = pytest.mark.anyio

PARAGRAPHS = [
    f"Paragraph {n}: the quick brown fox number {n} jumps over the lazy dog again and again." for n in range(60)
]
ARTICLE = f"""<!doctype html><html><head><title>Foxes and dogs</title>
<meta name="author" content="Jane Roe"><meta property="article:published_time" content="2024-03-05">
<link rel="canonical" href="https://example.org/foxes"></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Foxes and dogs</h1>{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
<table><tr><th>Animal</th><th>Speed</th></tr><tr><td>fox</td><td>quick</td></tr></table></article>
<footer>Copyright notice of the site</footer></body></html>"""
HTML = {"Content-Type": "text/html; charset=utf-8"}
PAPER = Path(__file__).resolve().parents[2] / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf"


@pytest.fixture
def site() -> Iterator[WebHost]:
    with web_host("site") as server:
        server.pages["/article"] = (200, HTML, ARTICLE.encode())
        server.pages["/robots.txt"] = (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private\n")
        yield server


@pytest.fixture
def serve(toolpark_http: Callable[..., RunningHost]) -> Callable[..., RunningHost]:
    def start(**settings: Any) -> RunningHost:
        egress = settings.pop("egress", {})
        return toolpark_http(web, settings={"web": settings}, egress={"allow": "127.0.0.1", **egress})

    return start


async def call(running: RunningHost, tool: str, **arguments: Any) -> tuple[bool, str, dict[str, Any] | None]:
    async with http_client(running.url("web")) as client:
        result = await client.call_tool(tool, arguments)
    return bool(result.is_error), result.content[0].text, result.structured_content  # type: ignore[union-attr]


async def test_markdown_with_metadata_in_mcp_server_fetch_format(
    serve: Callable[..., RunningHost], site: WebHost
) -> None:
    refused, text, meta = await call(serve(), "fetch", url=f"{site.url}/article", max_length=100_000)
    assert not refused, text
    assert text.startswith(f"Contents of {site.url}/article:\n# Foxes and dogs")
    assert all(p in text for p in PARAGRAPHS)
    assert "| Animal | Speed |" in text and "Copyright notice" not in text and "About" not in text
    assert meta is not None
    assert (meta["title"], meta["author"], meta["date"]) == ("Foxes and dogs", "Jane Roe", "2024-03-05")
    assert meta["canonical_url"] == "https://example.org/foxes" and meta["next_index"] is None


async def test_paging_with_start_index_reproduces_the_page_exactly(
    serve: Callable[..., RunningHost], site: WebHost
) -> None:
    running = serve()
    url = f"{site.url}/article"
    _, whole, meta = await call(running, "fetch", url=url, max_length=999_999)
    assert meta is not None
    full = whole.split(":\n", 1)[1]
    pieces, start = [], 0
    while True:
        _, text, meta = await call(running, "fetch", url=url, max_length=700, start_index=start)
        assert meta is not None
        body = text.split(":\n", 1)[1]
        if meta["next_index"] is None:
            pieces.append(body)
            break
        continuation = (
            "\n\n<error>Content truncated. Call the fetch tool with a start_index of "
            f"{meta['next_index']} to get more content.</error>"
        )
        assert body.endswith(continuation)
        pieces.append(body.removesuffix(continuation))
        start = meta["next_index"]
    assert "".join(pieces) == full and len(pieces) > 3
    _, past, _ = await call(running, "fetch", url=url, start_index=len(full) + 10)
    assert past.endswith("<error>No more content available.</error>")


async def test_robots_txt_rules(serve: Callable[..., RunningHost], site: WebHost) -> None:
    site.pages["/private"] = (200, HTML, b"<html><body><p>hidden</p></body></html>")
    running = serve()
    refused, text, _ = await call(running, "fetch", url=f"{site.url}/private")
    assert refused and "specifies that autonomous fetching of this page is not allowed" in text
    assert "Disallow: /private" in text
    allowed, _, _ = await call(running, "fetch", url=f"{site.url}/article")
    assert not allowed
    ignoring = serve(ignore_robots_txt=True)
    assert not (await call(ignoring, "fetch", url=f"{site.url}/private"))[0]


@pytest.mark.parametrize(("status", "refused"), [(401, True), (403, True), (404, False), (410, False)])
async def test_robots_txt_status_semantics(
    serve: Callable[..., RunningHost], site: WebHost, status: int, refused: bool
) -> None:
    site.pages["/robots.txt"] = (status, {"Content-Type": "text/plain"}, b"")
    was_refused, text, _ = await call(serve(), "fetch", url=f"{site.url}/article")
    assert was_refused is refused
    if refused:
        assert f"received status {status}" in text


async def test_redirects_are_followed(serve: Callable[..., RunningHost], site: WebHost) -> None:
    refused, text, meta = await call(
        serve(), "fetch", url=f"{site.url}/redirect?to=/article&status=301", max_length=99999
    )
    assert not refused and meta is not None and meta["final_url"] == f"{site.url}/article"
    assert "Paragraph 59" in text


async def test_readers_comments_are_not_part_of_the_page(serve: Callable[..., RunningHost], site: WebHost) -> None:
    """Regression: trafilatura keeps comments by default, so reader comments leaked into fetch."""
    comments = (
        '<section id="comments" class="comments"><h2>Comments</h2><ol class="commentlist">'
        '<li class="comment"><div class="comment-body"><p>Reader Bob says: foxes never visit villages, '
        "I saw it myself in 1999.</p></div></li></ol></section>"
    )
    site.pages["/commented"] = (200, HTML, ARTICLE.replace("</body>", comments + "</body>").encode())
    refused, text, _ = await call(serve(), "fetch", url=f"{site.url}/commented", max_length=100_000)
    assert not refused and "Paragraph 59" in text and "Reader Bob" not in text


@pytest.mark.parametrize("location", ["http://[::1", "http://host:port/", "//[zz]/"])
async def test_a_redirect_to_an_unparseable_location_is_refused_clearly(
    serve: Callable[..., RunningHost], site: WebHost, location: str
) -> None:
    """Regression: such a Location came back as an internal error with an incident id."""
    site.pages["/broken-redirect"] = (302, {"Location": location}, b"")
    refused, text, _ = await call(serve(), "fetch", url=f"{site.url}/broken-redirect")
    assert refused and "not a valid URL" in text and "incident" not in text


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("br", brotli.compress)])
async def test_compressed_pages(
    serve: Callable[..., RunningHost], site: WebHost, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    site.pages["/packed"] = (200, {**HTML, "Content-Encoding": encoding}, compress(ARTICLE.encode()))
    refused, text, _ = await call(serve(), "fetch", url=f"{site.url}/packed", max_length=100_000)
    assert not refused and "Paragraph 42" in text
    assert "br" in site.requests[-1].get("accept-encoding", "")


@pytest.mark.parametrize(
    ("headers", "declaration", "codec"),
    [
        ({"Content-Type": "text/html; charset=iso-8859-1"}, "", "iso-8859-1"),
        ({"Content-Type": "text/html"}, '<meta charset="windows-1252">', "windows-1252"),
        (
            {"Content-Type": "text/html"},
            '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">',
            "koi8-r",
        ),
    ],
)
async def test_charsets_other_than_utf8(
    serve: Callable[..., RunningHost], site: WebHost, headers: dict[str, str], declaration: str, codec: str
) -> None:
    words = "Здравствуйте, мир" if codec == "koi8-r" else "Grüße aus Köln, café crème"
    page = f"<html><head>{declaration}<title>t</title></head><body><article><p>{words}. " + "Filler text. " * 30
    site.pages["/legacy"] = (200, headers, (page + "</p></article></body></html>").encode(codec))
    refused, text, _ = await call(serve(), "fetch", url=f"{site.url}/legacy", format="text")
    assert not refused and words in text


async def test_huge_streaming_response_stops_at_the_byte_cap(serve: Callable[..., RunningHost], site: WebHost) -> None:
    started = time.monotonic()
    refused, text, _ = await call(serve(max_page_bytes=5_000_000), "fetch", url=f"{site.url}/big?mb=2048")
    assert refused and "larger than the limit of 5000000 bytes" in text
    assert time.monotonic() - started < 30


async def test_slow_loris_is_stopped_by_the_timeout(serve: Callable[..., RunningHost], site: WebHost) -> None:
    started = time.monotonic()
    refused, text, _ = await call(serve(egress={"total_timeout_s": 2}), "fetch", url=f"{site.url}/trickle")
    assert refused and "timed out" in text and time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("page", "note"),
    [
        (
            b"<html><body><form><input name=user><input type=password name=pw><button>Sign in</button></form>"
            b"</body></html>",
            "sign-in wall",
        ),
        (b"<html><head><script>render()</script></head><body><div id=app></div></body></html>", "no readable text"),
    ],
    ids=["login-wall", "empty"],
)  # fmt: skip
async def test_login_walls_and_empty_pages_get_a_note(
    serve: Callable[..., RunningHost], site: WebHost, page: bytes, note: str
) -> None:
    site.pages["/page"] = (200, HTML, page)
    refused, text, meta = await call(serve(), "fetch", url=f"{site.url}/page")
    assert not refused and meta is not None and note in (meta["note"] or "") and note in text


async def test_revalidation_uses_304_and_fresh_pages_need_no_request(
    serve: Callable[..., RunningHost], site: WebHost
) -> None:
    site.pages["/etag"] = (200, {**HTML, "ETag": '"v1"', "Cache-Control": "max-age=0"}, ARTICLE.encode())
    site.pages["/fresh"] = (200, {**HTML, "Cache-Control": "max-age=600"}, ARTICLE.encode())
    running = serve(page_memo_s=0)
    first = await call(running, "fetch", url=f"{site.url}/etag")
    second = await call(running, "fetch", url=f"{site.url}/etag")
    assert first == second and not first[0]
    etag_requests = [r for r in site.requests if r[":path"] == "/etag"]
    assert len(etag_requests) == 2 and etag_requests[1].get("if-none-match") == '"v1"'
    await call(running, "fetch", url=f"{site.url}/fresh")
    await call(running, "fetch", url=f"{site.url}/fresh")
    assert sum(path == "/fresh" for path, _ in site.seen) == 1


async def test_raw_formats_and_other_content_types(serve: Callable[..., RunningHost], site: WebHost) -> None:
    site.pages["/data.json"] = (200, {"Content-Type": "application/json"}, b'{"answer": 42}')
    site.pages["/pixel.png"] = (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    running = serve()
    _, raw, _ = await call(running, "fetch", url=f"{site.url}/article", raw=True, max_length=100_000)
    assert "<nav>" in raw and "<article>" in raw
    _, text, _ = await call(running, "fetch", url=f"{site.url}/article", format="text", max_length=100_000)
    assert "Paragraph 3" in text and "# Foxes" not in text
    _, html, _ = await call(running, "fetch", url=f"{site.url}/article", format="html", max_length=100_000)
    assert "<p>Paragraph 3" in html
    _, data, _ = await call(running, "fetch", url=f"{site.url}/data.json")
    assert "Content type application/json cannot be simplified to markdown" in data and '{"answer": 42}' in data
    refused, image, meta = await call(running, "fetch", url=f"{site.url}/pixel.png")
    assert not refused and meta is not None and "image/png content, 108 bytes" in image


async def test_http_errors_are_tool_errors(serve: Callable[..., RunningHost], site: WebHost) -> None:
    site.pages["/gone"] = (404, HTML, b"<html><body>Not here</body></html>")
    refused, text, _ = await call(serve(), "fetch", url=f"{site.url}/gone")
    assert refused and text == f"Failed to fetch {site.url}/gone - status code 404"


async def test_fetch_many_reports_each_page(serve: Callable[..., RunningHost], site: WebHost) -> None:
    site.pages["/gone"] = (404, HTML, b"")
    urls = [f"{site.url}/article", f"{site.url}/gone", "http://10.0.0.1/"]
    refused, text, meta = await call(serve(), "fetch_many", urls=urls, max_length=200)
    assert not refused and meta is not None
    assert [p["ok"] for p in meta["pages"]] == [True, False, False]
    assert "status code 404" in meta["pages"][1]["error"] and "private address" in meta["pages"][2]["error"]
    assert text.count("---") == 2 and "Content truncated" in text
    too_many, message, _ = await call(serve(fetch_many_max=2), "fetch_many", urls=urls)
    assert too_many and "at most 2 URLs" in message


@pytest.mark.parametrize(("address", "reason"), NON_PUBLIC)
async def test_ssrf_suite_through_the_fetch_tool(
    toolpark_http: Callable[..., RunningHost], address: str, reason: str
) -> None:
    running = toolpark_http(web, settings={"web": {"ignore_robots_txt": True}})
    refused, text, _ = await call(running, "fetch", url=f"http://{address}:8080/latest/meta-data/")
    assert refused and f"is a {reason} address" in text


@pytest.mark.parametrize("spelling", SPELLINGS_OF_LOOPBACK)
async def test_ssrf_spellings_through_the_fetch_tool(
    toolpark_http: Callable[..., RunningHost], site: WebHost, spelling: str
) -> None:
    running = toolpark_http(web)
    refused, _, _ = await call(running, "fetch", url=f"http://{spelling}:{site.port}/robots.txt")
    assert refused and site.seen == []


async def test_robots_check_goes_through_egress_too(toolpark_http: Callable[..., RunningHost], site: WebHost) -> None:
    running = toolpark_http(web)  # loopback not opened: robots.txt itself must be refused
    refused, text, _ = await call(running, "fetch", url=f"{site.url}/article")
    assert refused and "loopback address" in text and site.seen == []


async def test_search_against_a_searxng_stand_in(toolpark_http: Callable[..., RunningHost]) -> None:
    """SearXNG itself is not installable here; a local server answers its JSON API in its shape."""
    answer = {"results": [{"title": f"Result {n}", "url": f"https://example.org/{n}", "content": f"About {n}"}
                          for n in range(20)] + [{"title": "no url"}]}  # fmt: skip
    with web_host("searxng") as searxng:
        searxng.documents["/search"] = json.dumps(answer).encode()
        running = toolpark_http(web, settings={"web": {"searxng_url": searxng.url}})
        refused, _, found = await call(running, "search", query="foxes", max_results=3, language="de")
        assert (await running.get("/readyz")).status_code == 200
    dead = toolpark_http(web, settings={"web": {"searxng_url": f"http://127.0.0.1:{free_port()}"}})
    down = await dead.get("/readyz")
    assert down.status_code == 503 and "SearXNG search" in down.json()["plugins"]["web"]["detail"]
    assert not refused and found is not None
    assert found["results"] == [
        {"title": f"Result {n}", "url": f"https://example.org/{n}", "snippet": f"About {n}"} for n in range(3)
    ]
    query = searxng.requests[0][":path"]
    assert "q=foxes" in query and "format=json" in query and "language=de" in query


async def test_search_is_hidden_without_searxng(toolpark_http: Callable[..., RunningHost]) -> None:
    async with http_client(toolpark_http(web).url("web")) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"fetch", "fetch_many", "read_more"}  # read_more: the host's own, for results over the cap


async def test_pdfs_are_read_through_the_extract_library(serve: Callable[..., RunningHost], site: WebHost) -> None:
    pdf = PAPER.read_bytes()
    site.pages["/paper.pdf"] = (200, {"Content-Type": "application/pdf"}, pdf)
    refused, text, meta = await call(serve(), "fetch", url=f"{site.url}/paper.pdf", max_length=100_000)
    assert not refused and meta is not None
    assert "--- page 1 ---\nHello, here is some text without a meaning" in text and "--- page 4 ---" in text
