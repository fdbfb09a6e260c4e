"""The extract server on real PDFs and images, through the real HTTP host.

The fixtures are copies of the shared data set's PDFs (see tests/fixtures/pdfs/README.md).
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.webhost import in_background, respond, web_host
from toolpark.mcp_servers.extract import plugin as extract
from toolpark.testing import RunningHost, free_port, http_client, serve_http

pytestmark = pytest.mark.anyio

PDFS = Path(__file__).resolve().parents[2] / "fixtures" / "pdfs"


def b64(name: str) -> str:
    return base64.b64encode((PDFS / name).read_bytes()).decode()


@pytest.fixture(scope="module")
def running() -> Iterator[RunningHost]:
    with serve_http(extract, documents={"workers": 2}) as host:
        yield host


async def call(running: RunningHost, tool: str, **arguments: Any) -> Any:
    async with http_client(running.url("extract")) as client:
        return await client.call_tool(tool, arguments)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def still_serving(running: RunningHost) -> None:
    result = await call(running, "extract_text", data_base64=b64("pdflatex-4-pages.pdf"), pages="4", ocr="never")
    assert not result.is_error and "the length of words" in text_of(result)


async def test_born_digital_text_per_page(running: RunningHost) -> None:
    result = await call(running, "extract_text", data_base64=b64("pdflatex-4-pages.pdf"), pages="2-3")
    text = text_of(result)
    assert not result.is_error
    assert text.startswith("--- page 2 ---\ninformation. Really? Is there no information?")
    assert "--- page 3 ---\nyou information about the selected font" in text and "--- page 1 ---" not in text
    meta = result.structured_content
    assert [p["page"] for p in meta["pages"]] == [2, 3] and not any(p["ocr"] for p in meta["pages"])


async def test_two_columns_read_in_order(running: RunningHost) -> None:
    text = text_of(await call(running, "extract_text", data_base64=b64("multicolumn.pdf"), pages="1"))
    assert "Abstract\nThis is a sample document with two columns filled\nwith Lorem Ipsum text." in text


async def test_scanned_page_is_read_by_ocr(running: RunningHost) -> None:
    result = await call(running, "extract_text", data_base64=b64("linn.pdf"))
    text = text_of(result)
    assert result.structured_content["pages"][0]["ocr"] is True
    for words in ("LinnSequencer", "32 Track MIDI Sequence Recorder", "composition and performance tool"):
        assert words in text


async def test_tables_have_the_right_cells(running: RunningHost) -> None:
    result = await call(running, "extract_tables", data_base64=b64("nics-background-checks-2015-11.pdf"))
    rows = result.structured_content["tables"][0]["rows"]
    by_state = {row[0]: row for row in rows}
    assert by_state["Alabama"][1:4] == ["18,870", "23,022", "22,650"] and by_state["Alabama"][-1] == "71,137"
    assert by_state["Alaska"][-1] == "7,095" and by_state["Colorado"][1] == "4,144"
    assert "| Alabama | 18,870 | 23,022 | 22,650 |" in text_of(result)


async def test_encrypted_pdf_needs_its_password(running: RunningHost) -> None:
    locked = await call(running, "extract_text", data_base64=b64("libreoffice-writer-password.pdf"))
    wrong = await call(running, "extract_text", data_base64=b64("libreoffice-writer-password.pdf"), password="nope")
    opened = await call(
        running, "extract_text", data_base64=b64("libreoffice-writer-password.pdf"), password="openpassword"
    )
    assert locked.is_error and "encrypted: call again with its password" in text_of(locked)
    assert wrong.is_error and "password given is wrong" in text_of(wrong)
    assert not opened.is_error and "Lorem ipsum dolor sit amet" in text_of(opened)


async def test_forms_and_right_to_left_text(running: RunningHost) -> None:
    forms = text_of(await call(running, "extract_text", data_base64=b64("pdflatex-forms.pdf")))
    arabic = text_of(await call(running, "extract_text", data_base64=b64("habibi.pdf")))
    assert all(word in forms for word in ("Name", "Check", "Submit"))
    assert "habibi" in arabic and "يبيبَح" in arabic  # as stored: logical order reversed by the producer


async def test_info_with_outline(running: RunningHost) -> None:
    info = (await call(running, "document_info", data_base64=b64("pdflatex-outline.pdf"))).structured_content
    assert info["kind"] == "pdf" and info["pages"] == 4
    assert [(o["title"], o["page"]) for o in info["outline"][:4]] == [("Foo", 2), ("Bar", 2), ("Baz", 2), ("Foo", 2)]
    assert info["metadata"]["Producer"].startswith("pdfTeX")


async def test_rendered_pages_have_the_requested_size(running: RunningHost) -> None:
    at_72 = await call(running, "render_pages", data_base64=b64("pdflatex-4-pages.pdf"), pages="1-2", dpi=72)
    capped = await call(running, "render_pages", data_base64=b64("pdflatex-4-pages.pdf"), dpi=300, max_pixels=100_000)
    images = [b for b in at_72.content if b.type == "image"]
    assert len(images) == 2 and images[0].mime_type == "image/png"
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert (picture.width, picture.height) == (596, 842)  # A4 at 72 dpi
    small = capped.structured_content["images"][0]
    assert small["width"] * small["height"] <= 100_000 and abs(small["width"] / small["height"] - 596 / 842) < 0.01


async def test_ocr_of_an_image(running: RunningHost) -> None:
    rendered = await call(running, "render_pages", data_base64=b64("pdflatex-4-pages.pdf"), pages="1", dpi=200)
    png = next(b for b in rendered.content if b.type == "image").data
    result = await call(running, "ocr", data_base64=png)
    info = await call(running, "document_info", data_base64=png)
    assert "Hello, here is some text without a meaning" in text_of(result)
    assert info.structured_content["kind"] == "image" and info.structured_content["width"] == 1654


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels in a few bytes: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((PDFS / "pdflatex-4-pages.pdf").read_bytes()[:5000], "not a readable PDF"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 40, "not a readable PDF"),
        (bytes(range(256)) * 40, "not an image this server can read"),
        (_png_header_only(60_000, 60_000), "server's limit of 100000000 pixels"),
    ],
    ids=["truncated-pdf", "random-pdf", "random-bytes", "decompression-bomb"],
)
async def test_bad_documents_are_clear_errors(running: RunningHost, data: bytes, message: str) -> None:
    result = await call(running, "extract_text", data_base64=base64.b64encode(data).decode())
    assert result.is_error and message in text_of(result)
    await still_serving(running)


async def test_a_job_past_its_timeout_is_killed_and_the_worker_replaced(
    toolpark_http: Callable[..., RunningHost],
) -> None:
    host = toolpark_http(extract, documents={"workers": 1, "job_timeout_s": 1, "ocr_dpi": 600})
    result = await call(host, "ocr", data_base64=b64("linn.pdf"))
    assert result.is_error and "did not finish within 1 s and was stopped" in text_of(result)
    workers = host.host.services.documents.workers
    assert workers is not None and workers.replaced == 1
    await still_serving(host)


async def test_a_job_over_the_memory_limit_fails_cleanly(toolpark_http: Callable[..., RunningHost]) -> None:
    host = toolpark_http(extract, documents={"workers": 1, "worker_memory_mb": 400, "max_image_pixels": 500_000_000})
    big = Image.new("L", (20000, 20000))
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    result = await call(host, "render_pages", data_base64=base64.b64encode(buffer.getvalue()).decode())
    assert result.is_error and ("memory" in text_of(result) or "crashed" in text_of(result))
    await still_serving(host)


async def test_results_are_cached_by_content(running: RunningHost) -> None:
    await call(running, "extract_text", data_base64=b64("pdflatex-outline.pdf"), pages="1")
    workers = running.host.services.documents.workers
    assert workers is not None
    jobs = workers.jobs
    again = await call(running, "extract_text", data_base64=b64("pdflatex-outline.pdf"), pages="1", start_index=10)
    assert not again.is_error and workers.jobs == jobs


async def test_long_text_continues_at_start_index(running: RunningHost) -> None:
    first = await call(running, "extract_text", data_base64=b64("pdflatex-4-pages.pdf"), max_chars=500)
    following = first.structured_content["next_index"]
    assert following == 500 and f"start_index={following}" in text_of(first)
    second = await call(
        running, "extract_text", data_base64=b64("pdflatex-4-pages.pdf"), max_chars=500, start_index=following
    )
    assert second.structured_content["start_index"] == 500


async def test_urls_go_through_egress_and_paths_need_an_opened_directory(
    toolpark_http: Callable[..., RunningHost], tmp_path: Path
) -> None:
    (tmp_path / "doc.pdf").write_bytes((PDFS / "pdflatex-forms.pdf").read_bytes())
    with web_host("files") as files:
        files.pages["/doc.pdf"] = (200, {"Content-Type": "application/pdf"}, (PDFS / "pdflatex-forms.pdf").read_bytes())
        closed = toolpark_http(extract, documents={"workers": 1})
        refused = await call(closed, "extract_text", url=f"{files.url}/doc.pdf")
        no_path = await call(closed, "extract_text", path="doc.pdf")
        opened = toolpark_http(
            extract,
            settings={"extract": {"allowed_dir": str(tmp_path)}},
            documents={"workers": 1},
            egress={"allow": "127.0.0.1"},
        )
        by_url = await call(opened, "extract_text", url=f"{files.url}/doc.pdf")
        by_path = await call(opened, "extract_text", path="doc.pdf")
        escape = await call(opened, "extract_text", path="../doc.pdf")
        nul = await call(opened, "extract_text", path="doc.pdf\x00.txt")
        two = await call(opened, "extract_text", path="doc.pdf", url=f"{files.url}/doc.pdf")
    assert refused.is_error and "loopback address" in text_of(refused)
    assert no_path.is_error and "not enabled" in text_of(no_path)
    assert "Submit" in text_of(by_url) and "Submit" in text_of(by_path)
    assert escape.is_error and "outside the directory" in text_of(escape)
    assert nul.is_error and "control characters" in text_of(nul)  # once an internal error
    assert two.is_error and "exactly one of" in text_of(two)


async def test_list_files_shows_what_path_may_name_and_nothing_beyond(
    toolpark_http: Callable[..., RunningHost], tmp_path: Path
) -> None:
    """A model cannot guess paths: with a directory opened, list_files says what is there."""
    opened, outside = tmp_path / "opened", tmp_path / "outside"
    (opened / "reports").mkdir(parents=True)
    outside.mkdir()
    (opened / "reports" / "q3.pdf").write_bytes((PDFS / "pdflatex-forms.pdf").read_bytes())
    (opened / "notes.txt").write_text("notes")
    (outside / "secret.pdf").write_bytes(b"%PDF-secret")
    (opened / "leak.pdf").symlink_to(outside / "secret.pdf")  # a link out of the directory
    for n in range(205):
        (opened / "reports" / f"page-{n:03}.txt").write_text(str(n))
    host = toolpark_http(extract, settings={"extract": {"allowed_dir": str(opened)}}, documents={"workers": 1})
    first = (await call(host, "list_files")).structured_content
    paths = [f["path"] for f in first["files"]]
    assert paths[:2] == ["notes.txt", "reports/page-000.txt"] and len(paths) == 200 and "leak.pdf" not in paths
    rest = (await call(host, "list_files", start=first["next_start"])).structured_content
    assert [f["path"] for f in rest["files"]][-1] == "reports/q3.pdf" and rest["next_start"] is None
    pdfs = (await call(host, "list_files", pattern="*.pdf")).structured_content["files"]
    assert pdfs == [{"path": "reports/q3.pdf", "size": (PDFS / "pdflatex-forms.pdf").stat().st_size}]
    assert "Submit" in text_of(await call(host, "extract_text", path=pdfs[0]["path"]))  # the listed path reads
    async with http_client(toolpark_http(extract, documents={"workers": 1}).url("extract")) as client:
        assert "list_files" not in {t.name for t in (await client.list_tools()).tools}  # nothing opened


async def test_page_ranges_are_checked(running: RunningHost) -> None:
    outside = await call(running, "extract_text", data_base64=b64("pdflatex-4-pages.pdf"), pages="3-9")
    garbage = await call(running, "extract_text", data_base64=b64("pdflatex-4-pages.pdf"), pages="two")
    assert outside.is_error and "has 4 pages" in text_of(outside)
    assert garbage.is_error and "Invalid page range 'two'" in text_of(garbage)


async def test_readiness_names_a_vision_endpoint_that_does_not_answer(
    toolpark_http: Callable[..., RunningHost],
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    host = toolpark_http(extract, settings={"extract": {"vision_url": dead}}, documents={"workers": 1})
    ready = await host.get("/readyz")
    assert ready.status_code == 503 and "vision endpoint" in ready.json()["plugins"]["extract"]["detail"]
    text = await call(host, "extract_text", data_base64=b64("pdflatex-4-pages.pdf"), pages="1")
    assert not text.is_error  # what does not need the model still works


async def test_describe_against_an_openai_compatible_stand_in(toolpark_http: Callable[..., RunningHost]) -> None:
    """No vision model runs on this machine's CPU in test time; a local server answers the OpenAI chat
    API in its shape, and the test checks the request the tool sends (the vLLM issue runs the real one)."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict[str, Any]] = []

    class Chat(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            seen.append({"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))})
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "A page of text."}}]}).encode()
            respond(self, 200, body, {"Content-Type": "application/json"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Chat)
    with in_background(server):
        vision = f"http://127.0.0.1:{server.server_address[1]}/v1"
        host = toolpark_http(
            extract, settings={"extract": {"vision_url": vision, "vision_model": "qwen-vl"}}, documents={"workers": 1}
        )
        result = await call(host, "describe", data_base64=b64("pdflatex-4-pages.pdf"), page=2, prompt="What is this?")
        without = toolpark_http(extract, documents={"workers": 1})
        async with http_client(without.url("extract")) as client:
            names = {t.name for t in (await client.list_tools()).tools}
    assert not result.is_error and text_of(result) == "A page of text."
    (request,) = seen
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "qwen-vl"
    text_part, image_part = request["body"]["messages"][0]["content"]
    assert text_part == {"type": "text", "text": "What is this?"}
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert "describe" not in names
