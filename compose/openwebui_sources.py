"""
title: toolpark sources
description: Shows where toolpark's search and fetch results came from as the answer's sources.
"""

# This file is an Open WebUI Filter function: the render copies it beside Open WebUI, whose start
# (openwebui_start.py) installs it, active and global. Open WebUI runs it in its own process, so it
# imports nothing of toolpark.
#
# Why a filter: Open WebUI makes sources from a tool's result only for its own built-in tools
# (middleware CITATION_TOOL_NAMES); an MCP tool's result reaches the model and the tool-call panel,
# never the sources under the answer. A filter's outlet runs after each answer with the message's
# output items (each function_call and its function_call_output) and may emit "source" events, which
# Open WebUI saves on the message and shows as its sources, as for its own document search.
#
# What it reads: Open WebUI hands a tool result of text plus structured content as the JSON
# {"results": [text, structured]}; the structured part says where each passage or page is from
# (retrieval's search: passages with citations; web's fetch and fetch_many: the page's URL and
# title). It reads only the results of the tool servers named in its valves.

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from pydantic import BaseModel, Field

Source = dict[str, Any]
SNIPPET = 500  # of a fetched page shown in the source's panel, as Open WebUI shows its own fetch_url


class Filter:
    class Valves(BaseModel):
        servers: str = Field(
            "retrieval,web", description="Tool servers (their ids, comma-separated) whose results give sources."
        )

    def __init__(self) -> None:
        self.valves = self.Valves()

    async def outlet(
        self, body: dict[str, Any], __event_emitter__: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    ) -> dict[str, Any]:
        messages = body.get("messages") or []
        if __event_emitter__ is None or not messages or messages[-1].get("role") != "assistant":
            return body
        if messages[-1].get("sources"):
            return body  # already given (an answer regenerated from a saved one)
        servers = [s.strip() for s in self.valves.servers.split(",") if s.strip()]
        for source in sources(messages[-1].get("output") or [], servers):
            await __event_emitter__({"type": "source", "data": source})
        return body


def sources(output: list[dict[str, Any]], servers: list[str]) -> list[Source]:
    """The sources of one answer's tool results, in the order the model got them, each place once."""
    names = {item.get("call_id"): item.get("name", "") for item in output if item.get("type") == "function_call"}
    found: dict[str, Source] = {}
    for item in output:
        if item.get("type") != "function_call_output" or item.get("status") == "failed":
            continue
        name = names.get(item.get("call_id"), "")
        if not any(name.startswith(f"{server}_") for server in servers):
            continue
        for text in (part.get("text", "") for part in item.get("output") or [] if part.get("type") == "input_text"):
            for source in _from_result(text):
                key = source["metadata"][0]["source"]
                if key in found:
                    found[key]["document"] += source["document"]
                    found[key]["metadata"] += source["metadata"]
                else:
                    found[key] = source
    return list(found.values())


def _from_result(text: str) -> Iterator[Source]:
    try:
        result = json.loads(text)
    except ValueError:
        return  # a result of text alone says nothing of where it is from
    parts = result.get("results") if isinstance(result, dict) and set(result) == {"results"} else [result]
    if not isinstance(parts, list):
        return
    page_text = next((p for p in parts if isinstance(p, str)), "")
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("passages"), list):  # retrieval's search
            yield from (_passage(p) for p in part["passages"] if isinstance(p, dict))
        elif "final_url" in part:  # web's fetch
            yield _page(part, page_text)
        elif isinstance(part.get("pages"), list):  # web's fetch_many
            yield from (_page(p["page"], "") for p in part["pages"] if isinstance(p, dict) and p.get("page"))


def _passage(passage: dict[str, Any]) -> Source:
    citation = passage.get("citation") or {}
    where = str(citation.get("source_uri") or "")
    name = str(citation.get("title") or where)
    metadata: dict[str, Any] = {"source": where, "name": name, "collection": passage.get("collection")}
    if isinstance(citation.get("page"), int):
        metadata["page"] = citation["page"] - 1  # Open WebUI counts pages from 0 and shows page + 1
    for field in ("document_id", "char_start", "char_end"):
        metadata[field] = citation.get(field)
    return {"source": {"id": where, "name": name}, "document": [str(passage.get("text", ""))], "metadata": [metadata]}


def _page(page: dict[str, Any], text: str) -> Source:
    url = str(page.get("final_url") or page.get("url") or "")
    name = str(page.get("title") or url)
    snippet = text[:SNIPPET] + ("..." if len(text) > SNIPPET else "")
    return {
        "source": {"id": url, "name": name, "url": url},
        "document": [snippet or name],
        "metadata": [{"source": url, "name": name, "url": url}],
    }
