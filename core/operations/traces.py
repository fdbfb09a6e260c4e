"""OpenTelemetry traces: off unless an OTLP endpoint is configured, and then nothing to change in a tool.

The MCP SDK opens a server span for every request (`tools/call search`, with the semantic
conventions' `mcp.method.name`, `gen_ai.tool.name`, and the client's trace context from `_meta`).
toolpark adds: the trace context of HTTP headers (`traceparent`) when `_meta` carries none; a
span per tool run (`execute_tool <tool>`, which outlives the request when the call became a task);
and, through the official instrumentations, spans of every database query (psycopg), S3 call
(botocore, and the object reads and listings `toolpark.storage.reads` sends itself)
and outbound HTTP request (httpx: fetched pages, OpenAI-compatible model calls). Local
model calls (embeddings on the CPU) get a span of their own.

Configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`...) with the
`traces` extra installed. Without them, the OpenTelemetry API's no-op tracer costs next to nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, StatusCode

__all__ = ["configure_tracing", "embeddings_span", "failed", "flush_traces", "header_context", "span"]

logger = logging.getLogger("toolpark.traces")

_tracer = trace.get_tracer("toolpark")

T = TypeVar("T")


def configure_tracing(service: str) -> bool:
    """Export spans over OTLP/HTTP when the environment names an endpoint; whether it does."""
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError("an OTLP endpoint is set, but traces need: pip install 'toolpark[traces]'") from exc
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(enable_commenter=False)
    BotocoreInstrumentor().instrument()  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument()
    logger.info("exporting traces over OTLP/HTTP as service %s", resource.attributes["service.name"])
    return True


def flush_traces() -> None:
    """Send the spans still buffered (at shutdown), when an exporting provider is set."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)  # the SDK's provider; the API's no-op has none
    if shutdown is not None:
        shutdown()


@contextmanager
def span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    """A child span of the current one; an exception passing through marks it failed."""
    with _tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {})) as current:
        yield current


def embeddings_span(model: str, inputs: int) -> AbstractContextManager[Span]:
    """A model call that embeds `inputs` texts, named and described as the GenAI conventions say."""
    attributes = {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": model, "toolpark.inputs": inputs}
    return span(f"embeddings {model}", kind=SpanKind.CLIENT, attributes=attributes)


def failed(current: Span, error_type: str) -> None:
    """Mark `current` failed the way the conventions say: `error.type`, and an error status."""
    current.set_attribute("error.type", error_type)
    current.set_status(StatusCode.ERROR)


async def header_context(
    headers: Mapping[str, str] | None, meta: Mapping[str, Any] | None, call_next: Callable[[], Awaitable[T]]
) -> T:
    """Run `call_next` under the trace context of the HTTP headers, unless `_meta` carries one (the
    SDK's span reads that itself) or the headers carry none."""
    if headers is None or "traceparent" not in headers or (meta and "traceparent" in meta):
        return await call_next()
    token = otel_context.attach(extract(dict(headers)))
    try:
        return await call_next()
    finally:
        otel_context.detach(token)
