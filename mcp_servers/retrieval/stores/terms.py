"""Words to index terms, and BM25 weights, for stores whose keyword search is computed here (Chroma)
or fed with weights made here (Qdrant's sparse vectors, whose IDF Qdrant keeps).

Terms are lower-cased words, stemmed by Snowball for the collection's language (as PostgreSQL's
`english` and `german` text search configurations stem them), unstemmed for `simple`.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import cache

import snowballstemmer

__all__ = ["BM25_B", "BM25_K1", "bm25", "term_id", "terms", "words"]

BM25_K1 = 1.2
BM25_B = 0.75
AVERAGE_TERMS = 120  # a chunk's usual length in terms, for the length normalisation of sparse vectors
_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMED = {"english": "english", "german": "german", "french": "french", "spanish": "spanish", "dutch": "dutch"}


def words(text: str) -> list[str]:
    """The lower-cased words of a text."""
    return [w.lower() for w in _WORD.findall(text)]


@cache
def _stemmer(language: str) -> snowballstemmer.stemmer | None:
    algorithm = _STEMMED.get(language)
    return snowballstemmer.stemmer(algorithm) if algorithm else None


def terms(text: str, language: str) -> list[str]:
    """The index terms of a text, in order, repeats kept."""
    stemmer = _stemmer(language)
    found = words(text)
    return stemmer.stemWords(found) if stemmer else found


def term_id(term: str) -> int:
    """A stable 32-bit id of a term: the index of a sparse vector."""
    return zlib.crc32(term.encode())


def bm25(tf: int, length: int, average: float = AVERAGE_TERMS) -> float:
    """BM25's saturated, length-normalised term frequency (the IDF factor comes apart)."""
    return tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * length / max(average, 1.0)))


def sparse(text: str, language: str) -> dict[int, float]:
    """A chunk's sparse vector: term id -> BM25 term weight."""
    found = terms(text, language)
    return {term_id(t): bm25(n, len(found)) for t, n in Counter(found).items()}


def idf(total: int, containing: int) -> float:
    """BM25's inverse document frequency (the non-negative form Lucene uses)."""
    return math.log(1 + (total - containing + 0.5) / (containing + 0.5))


def rank(query: str, texts: Sequence[str], language: str, total: int, containing: dict[str, int]) -> list[float]:
    """BM25 scores of `texts` for `query`, with document frequencies `containing` per query term
    and `total` chunks in all."""
    wanted = set(terms(query, language))
    scored = []
    bags = [terms(text, language) for text in texts]
    average = sum(map(len, bags)) / max(len(bags), 1)
    for bag in bags:
        counts = Counter(bag)
        scored.append(
            sum(idf(total, containing.get(t, 1)) * bm25(counts[t], len(bag), average) for t in wanted if t in counts)
        )
    return scored
