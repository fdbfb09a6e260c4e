"""The sources filter Open WebUI runs after each answer, on tool results as Open WebUI 0.12 keeps
them in the message's output (a function_call, then its function_call_output whose text is the
JSON {"results": [text, structured]} for a result of text and structured content). The results
are made with the servers' own output models; the stack's browser test runs it in Open WebUI."""

from __future__ import annotations

import json
from typing import Any

import anyio

from toolpark.compose.openwebui_sources import Filter
from toolpark.mcp_servers.retrieval.stores.protocol import Citation
from toolpark.mcp_servers.retrieval.tools import Passage, Results
from toolpark.mcp_servers.web.tools import FetchedPage


def _citation(document_id: int, page: int | None, start: int) -> Citation:
    return Citation(
        document_id=document_id, chunk_id=start, source_uri=f"s3://docs/policy-{document_id}.pdf",
        title=f"Policy {document_id}", page=page, char_start=start, char_end=start + 40, score=0.03,
    )  # fmt: skip


def _calls(*results: tuple[str, str, str]) -> list[dict[str, Any]]:
    """Output items for (tool name, status, the result's text as Open WebUI hands it on)."""
    items: list[dict[str, Any]] = []
    for n, (name, status, text) in enumerate(results):
        items.append({"type": "function_call", "call_id": f"c{n}", "name": name, "arguments": "{}"})
        items.append({"type": "function_call_output", "call_id": f"c{n}", "status": status,
                      "output": [{"type": "input_text", "text": text}]})  # fmt: skip
    return items


def _handed_on(text: str, structured: Any) -> str:
    """What Open WebUI's process_tool_result makes of a text block and the structured content."""
    return json.dumps({"results": [text, json.loads(structured.model_dump_json())]}, indent=2)


def _emitted(output: list[dict[str, Any]], **message: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    async def emit(event: dict[str, Any]) -> None:
        events.append(event)

    body = {"messages": [{"role": "user", "content": "?"}, {"role": "assistant", "output": output, **message}]}
    returned = anyio.run(lambda: Filter().outlet(body, __event_emitter__=emit))
    assert returned is body
    assert all(event["type"] == "source" for event in events)
    return [event["data"] for event in events]


def test_each_searched_document_is_one_source_with_its_passages_pages_and_collection() -> None:
    passages = [
        Passage(text="Trains in second class.", citation=_citation(1, 3, 0), collection="shared/travel"),
        Passage(text="Night trains need approval.", citation=_citation(2, None, 10), collection="mine"),
        Passage(text="First class over four hours.", citation=_citation(1, 4, 900), collection="shared/travel"),
    ]
    result = _handed_on("[1] Policy 1, page 3 ...", Results(query="trains", mode="hybrid", passages=passages))
    sources = _emitted(_calls(("retrieval_search", "completed", result)))
    assert [s["source"] for s in sources] == [
        {"id": "s3://docs/policy-1.pdf", "name": "Policy 1"},
        {"id": "s3://docs/policy-2.pdf", "name": "Policy 2"},
    ]
    first = sources[0]
    assert first["document"] == ["Trains in second class.", "First class over four hours."]
    # Open WebUI counts pages from 0 and shows "page 3" for 2; a text without pages has none.
    assert [m["page"] for m in first["metadata"]] == [2, 3] and "page" not in sources[1]["metadata"][0]
    assert first["metadata"][0]["collection"] == "shared/travel" and first["metadata"][1]["char_start"] == 900


def test_a_fetched_page_is_a_source_named_by_its_url_with_the_start_of_its_text() -> None:
    page = FetchedPage(
        url="https://example.org/a", final_url="https://example.org/b", status=200, content_type="text/html",
        format="markdown", title="Trains", start_index=0, next_index=None, total_length=800,
    )  # fmt: skip
    text = "x" * 800
    (source,) = _emitted(_calls(("web_fetch", "completed", _handed_on(text, page))))
    assert source["source"] == {"id": "https://example.org/b", "name": "Trains", "url": "https://example.org/b"}
    assert source["document"] == ["x" * 500 + "..."] and source["metadata"][0]["source"] == "https://example.org/b"


def test_other_tools_failed_calls_plain_text_and_sourced_answers_give_none() -> None:
    result = _handed_on(
        "[1] ...",
        Results(query="q", mode="hybrid", passages=[Passage(text="t", citation=_citation(1, 1, 0), collection="c")]),
    )
    assert _emitted(_calls(("calendar_search", "completed", result))) == []  # not a toolpark server
    assert _emitted(_calls(("retrieval_search", "failed", result))) == []
    assert _emitted(_calls(("retrieval_search", "completed", "No passages in 'c' match 'q'."))) == []
    assert _emitted(_calls(("retrieval_search", "completed", result)), sources=[{"source": {}}]) == []
    assert len(_emitted(_calls(("retrieval_search", "completed", result)))) == 1
