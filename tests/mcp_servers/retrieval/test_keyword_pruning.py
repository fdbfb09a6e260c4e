"""Keyword search on pgvector in a large collection scores the chunks holding the query's rarer
terms (KEYWORD_CANDIDATES bounds their number), each over all the query's terms: their scores are
the ones scoring every matching chunk gives, their order the same, and a query with a rare term
gets the best of the chunks holding it; within the bound, the ranking is scoring everything's."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from toolpark.mcp_servers.retrieval.chunking import Chunk
from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores import pgvector
from toolpark.mcp_servers.retrieval.stores.opening import open_store

COMMON = ["flow", "pressure", "wing", "speed", "layer", "surface", "number", "body"]
RARE = [f"term{n}" for n in range(60)]


def _texts(count: int) -> list[str]:
    """Chunks where each common word is in about half and each rare word in a few, at various lengths."""
    pick = random.Random(5)
    texts = []
    for _ in range(count):
        words = [w for w in COMMON if pick.random() < 0.5] + pick.sample(RARE, pick.randint(0, 3))
        words += [pick.choice(COMMON + RARE) for _ in range(pick.randint(0, 8))]
        pick.shuffle(words)
        texts.append(" ".join(words) or "empty")
    return texts


async def _rankings(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_store("pgvector", database, None, pool_size=2, timeout_s=30) as store:
        collection = await store.create_collection(
            namespace="bench", name="pruning", model="m", dimension=2, language="english", description=""
        )
        texts = _texts(600)
        for part in range(6):
            body = texts[part * 100 : (part + 1) * 100]
            chunks = [Chunk(text=t, page=None, char_start=0, char_end=len(t), headings=()) for t in body]
            await store.ingest(
                collection, source_uri=f"doc-{part}", title=None, content_hash=str(part), metadata={"part": part},
                chunks=chunks, vectors=[[1.0, 0.0]] * len(chunks),
            )  # fmt: skip
        queries = [
            "flow term3 pressure", "wing speed term17 term40 layer", "surface number body flow", "term59 term58",
            "speed flow pressure wing layer surface number body term1", "body term22",
        ]  # fmt: skip

        async def ranked(query: str, filters: Any, budget: int, k: int) -> list[tuple[int, float, str]]:
            monkeypatch.setattr(pgvector, "KEYWORD_CANDIDATES", budget)
            hits = await store.search(collection, mode="keyword", query=query, vector=None, k=k, filters=filters)
            return [(h.citation.chunk_id, h.citation.score, h.text) for h in hits]

        for query in queries:
            for filters in (None, [Condition(field="part", value=2)]):
                everything = await ranked(query, filters, 10**9, 500)
                assert await ranked(query, filters, 10**9, 10) == everything[:10]
                exact = {chunk: score for chunk, score, _ in everything}
                rare = [word for word in query.split() if word.startswith("term")]
                holding = sum(rare[0] in t.split() for t in texts) if rare else 1
                for budget in (1, holding):  # not even the rarest term's chunks; exactly those
                    pruned = await ranked(query, filters, budget, 10)
                    assert all(abs(score - exact[chunk]) < 1e-9 for chunk, score, _ in pruned), query
                    assert [score for _, score, _ in pruned] == sorted((s for _, s, _ in pruned), reverse=True)
                    assert pruned or filters, query
                if len(rare) == 1:  # the best of the chunks holding the query's one rare term
                    best = [hit[0] for hit in everything if rare[0] in hit[2].split()][:10]
                    assert [hit[0] for hit in pruned] == best, query


def test_keyword_search_in_a_large_collection_scores_the_chunks_of_its_rare_terms(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    anyio.run(_rankings, database, monkeypatch)
