"""Structure-aware chunking: sections by heading, then paragraphs, then sentences, packed up to a
token budget with a sentence-aligned overlap. Every chunk is an exact slice of its text, so a
citation's `char_start:char_end` points at what the model read; page numbers are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

__all__ = ["Chunk", "approximate_tokens", "chunk_pages", "chunk_text", "embedded_text"]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=[ \t]*\n\s*\n|\s*\Z)", re.DOTALL)
# A sentence ends at . ! ? or an ellipsis, with any closing quotes or brackets (\u201d, \u2019), before
# whitespace; a line that starts a list item also ends one.
_SENTENCE = re.compile("\\S.*?(?:[.!?\u2026][\"'\u201d\u2019)\\]]*(?=\\s)|\\n(?=\\s*[-*\u2022\\d])|\\Z)", re.DOTALL)
_WORD = re.compile(r"\S+")

Counter = Callable[[str], int]


def approximate_tokens(text: str) -> int:
    """Word pieces a BERT-style tokenizer makes of `text`, near enough for budgeting (~1.3 per word)."""
    return (len(_WORD.findall(text)) * 13 + 9) // 10


@dataclass(frozen=True)
class Chunk:
    text: str
    char_start: int
    char_end: int
    page: int | None
    headings: tuple[str, ...]


def embedded_text(headings: Sequence[str], text: str) -> str:
    """What a chunk is embedded (and indexed for keyword search) as: the headings it sits under, then
    its text, so a passage under "Trains" is found for trains though it never says so."""
    return " ".join((*headings, text))


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    headings: tuple[str, ...]


def _units(text: str, max_tokens: int, count: Counter) -> Iterator[_Unit]:
    """Sentences (or, for over-long ones, runs of words) with the headings they sit under."""
    headings: list[tuple[int, str]] = []
    cuts = [(m.start(), m.end(), len(m.group(1)), m.group(2)) for m in _HEADING.finditer(text)]
    bounds = [0, *(c[0] for c in cuts), len(text)]
    for index, (section_start, section_end) in enumerate(pairwise(bounds)):
        if index > 0:
            _, heading_end, level, title = cuts[index - 1]
            headings = [(lv, t) for lv, t in headings if lv < level] + [(level, title)]
            section_start = heading_end
        path = tuple(title for _, title in headings)
        body = text[section_start:section_end]
        for paragraph in _PARAGRAPH.finditer(body):
            for sentence in _SENTENCE.finditer(paragraph.group()):
                start = section_start + paragraph.start() + sentence.start()
                end = start + len(sentence.group())
                yield from _split_long(text, start, end, path, max_tokens, count)


def _split_long(
    text: str, start: int, end: int, path: tuple[str, ...], max_tokens: int, count: Counter
) -> Iterator[_Unit]:
    tokens = count(text[start:end])
    if tokens <= max_tokens:
        yield _Unit(start, end, tokens, path)
        return
    words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
    piece: list[tuple[int, int]] = []
    for word in words:
        if piece and count(text[piece[0][0] : word[1]]) > max_tokens:
            yield _Unit(piece[0][0], piece[-1][1], count(text[piece[0][0] : piece[-1][1]]), path)
            piece = []
        piece.append(word)
    if piece:
        yield _Unit(piece[0][0], piece[-1][1], count(text[piece[0][0] : piece[-1][1]]), path)


def chunk_text(
    text: str,
    *,
    page: int | None = None,
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    count: Counter = approximate_tokens,
) -> list[Chunk]:
    """Chunks of `text` of at most `max_tokens`, repeating up to `overlap_tokens` of whole sentences."""
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be at least 0 and below max_tokens")
    chunks: list[Chunk] = []
    current: list[_Unit] = []

    def emit() -> None:
        first, last = current[0], current[-1]
        chunks.append(Chunk(text[first.start : last.end], first.start, last.end, page, first.headings))

    for unit in _units(text, max_tokens, count):
        section_changed = bool(current) and unit.headings != current[-1].headings
        if current and (section_changed or sum(u.tokens for u in current) + unit.tokens > max_tokens):
            emit()
            carried: list[_Unit] = []
            if not section_changed:  # overlap within a section only
                for previous in reversed(current):
                    size = sum(u.tokens for u in carried) + previous.tokens
                    if size > overlap_tokens or size + unit.tokens > max_tokens:
                        break
                    carried.insert(0, previous)
            current = carried
        current.append(unit)
    if current:
        emit()
    return chunks


def chunk_pages(
    pages: Iterable[tuple[int | None, str]],
    *,
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    count: Counter = approximate_tokens,
) -> list[Chunk]:
    """Chunks of each page's text, numbered by page; offsets are within the page's text."""
    return [
        chunk
        for page, text in pages
        for chunk in chunk_text(text, page=page, max_tokens=max_tokens, overlap_tokens=overlap_tokens, count=count)
    ]
