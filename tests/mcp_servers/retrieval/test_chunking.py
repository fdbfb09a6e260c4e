"""Structure-aware chunking: exact slices, token bounds, sentence overlap, sections and pages."""

from __future__ import annotations

from itertools import pairwise

import pytest

from toolpark.mcp_servers.retrieval.chunking import approximate_tokens, chunk_pages, chunk_text

GUIDE = (
    "# Guide\n\nIntro paragraph one. It has two sentences!\n\n## Install\n\nRun the installer. Then restart "
    "the machine.\n\n## Use\n\n" + " ".join(f"Sentence number {i} explains a detail of usage." for i in range(40))
)


def test_chunks_are_exact_slices_within_the_budget() -> None:
    chunks = chunk_text(GUIDE, max_tokens=60, overlap_tokens=15)
    assert all(GUIDE[c.char_start : c.char_end] == c.text for c in chunks)
    assert all(approximate_tokens(c.text) <= 60 for c in chunks)
    for i in range(40):
        assert any(f"Sentence number {i} explains" in c.text for c in chunks)


def test_sections_start_new_chunks_and_carry_their_headings() -> None:
    chunks = chunk_text(GUIDE, max_tokens=60, overlap_tokens=15)
    assert chunks[0].headings == ("Guide",) and chunks[0].text.startswith("Intro paragraph")
    assert (
        chunks[1].headings == ("Guide", "Install") and chunks[1].text == "Run the installer. Then restart the machine."
    )
    assert {c.headings for c in chunks[2:]} == {("Guide", "Use")}


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    chunks = chunk_text(GUIDE, max_tokens=60, overlap_tokens=15)[2:]
    for before, after in pairwise(chunks):
        assert after.char_start < before.char_end
        assert before.text.endswith(GUIDE[after.char_start : before.char_end])
        assert GUIDE[after.char_start : before.char_end].startswith("Sentence number")


def test_a_sentence_longer_than_the_budget_is_split_by_words() -> None:
    words = " ".join(f"w{i}" for i in range(500))
    chunks = chunk_text(words, max_tokens=50, overlap_tokens=0)
    assert len(chunks) > 5 and all(approximate_tokens(c.text) <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks) == words


def test_pages_are_kept() -> None:
    chunks = chunk_pages([(1, "First page text."), (2, "Second page. More of it.")], max_tokens=50)
    assert [(c.page, c.text) for c in chunks] == [(1, "First page text."), (2, "Second page. More of it.")]


def test_bad_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap_tokens"):
        chunk_text("x", max_tokens=10, overlap_tokens=10)


def test_trailing_whitespace_does_not_lose_the_text() -> None:
    chunks = chunk_text("First. Second.  \n\n  Third. ", max_tokens=50, overlap_tokens=0)
    assert [c.text for c in chunks] == ["First. Second.  \n\n  Third."]
