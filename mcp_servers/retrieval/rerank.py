"""Reranking through an OpenAI-style rerank endpoint (`POST /v1/rerank`, as vLLM, Jina and Cohere
serve it): the search's candidates go in with the query, and come back ordered by relevance."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from toolpark.clients import api_error
from toolpark.contract.errors import ToolError

__all__ = ["Reranker"]


class Reranker:
    def __init__(self, client: httpx.AsyncClient, *, model: str) -> None:
        self.client = client
        self.model = model

    async def order(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        """(index into `documents`, relevance) of the best `top_n`, best first."""
        try:
            response = await self.client.post(
                "rerank", json={"model": self.model, "query": query, "documents": list(documents), "top_n": top_n}
            )
        except httpx.HTTPError as exc:
            raise ToolError(f"The rerank endpoint failed: {type(exc).__name__}; search again without rerank.") from exc
        if response.is_error:  # as raise_for_status: 4xx and 5xx
            reason = api_error(response.status_code, response.content)
            raise ToolError(f"The rerank endpoint refused the request: {reason}; search again without rerank.")
        try:
            ranked = [(int(r["index"]), float(r["relevance_score"])) for r in response.json()["results"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ToolError("The rerank endpoint's answer is not a rerank response.") from exc
        if any(not 0 <= index < len(documents) for index, _ in ranked):
            raise ToolError("The rerank endpoint returned an index outside the candidates.")
        return sorted(ranked, key=lambda pair: -pair[1])[:top_n]
