"""How a result too large for one message is cut into parts a model reads one after another."""

from __future__ import annotations

import json
import random

import pytest
from mcp_types import CallToolResult, ImageContent, TextContent

from toolpark.host.tasks.parts import content_bytes, parts

WORDS = ["alpha", "beta", "Grüße", "日本語", "naïve", "x" * 40]


def _text(seed: int) -> str:
    rng = random.Random(seed)
    paragraphs = []
    for _ in range(rng.randint(20, 200)):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) for _ in range(rng.randint(1, 4))]
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _texts(found: list[list[object]]) -> list[str]:
    return ["".join(b.text for b in part if isinstance(b, TextContent)) for part in found]


@pytest.mark.parametrize(("seed", "budget"), [(1, 60), (2, 500), (3, 4000), (4, 20000)])
def test_parts_join_to_the_text_fit_the_budget_and_end_at_the_widest_boundary(seed: int, budget: int) -> None:
    text = _text(seed)
    found = parts(CallToolResult(content=[TextContent(type="text", text=text)]), budget, "toolpark://results/x")
    pieces = _texts(found)
    assert "".join(pieces) == text and all(len(p.encode()) <= budget for p in pieces)
    # A part ends at a paragraph where the next paragraph would not have fitted, never mid-character.
    assert all(p.endswith((" ", "\n")) for p in pieces[:-1])
    if budget >= 4000:  # every paragraph here is shorter: the parts end at paragraphs
        assert all(p.endswith("\n\n") for p in pieces[:-1])


def test_a_word_longer_than_a_part_is_cut_between_characters_not_inside_one() -> None:
    word = "日本" * 100  # 3 bytes a character
    pieces = _texts(parts(CallToolResult(content=[TextContent(type="text", text=word)]), 50, "uri"))
    assert "".join(pieces) == word and all(len(p.encode()) <= 50 for p in pieces) and len(pieces) == 13


def test_images_stay_whole_and_one_too_large_says_where_the_whole_result_is() -> None:
    small = ImageContent(type="image", data="A" * 300, mime_type="image/png")
    large = ImageContent(type="image", data="B" * 5000, mime_type="image/jpeg")
    result = CallToolResult(content=[TextContent(type="text", text="before"), small, large, small])
    found = parts(result, 1000, "toolpark://results/abc")
    flat = [block for part in found for block in part]
    assert [b.type for b in flat] == ["text", "image", "text", "image"]
    assert flat[1] == small and all(sum(content_bytes(b) for b in part) <= 1000 for part in found)
    assert flat[2].text.startswith("[image/jpeg, 5,000 bytes") and "toolpark://results/abc" in flat[2].text


def test_structured_content_alone_is_read_as_indented_json_line_by_line() -> None:
    data = {"rows": [{"n": n, "name": f"row {n}"} for n in range(200)]}
    found = parts(CallToolResult(content=[], structured_content=data), 800, "uri")
    pieces = _texts(found)
    assert len(pieces) > 3 and json.loads("".join(pieces)) == data
    assert all(p.endswith("\n") for p in pieces[:-1])  # whole lines
