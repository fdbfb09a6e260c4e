"""An OTLP/HTTP trace receiver for tests, on the official proto types (`opentelemetry-proto`).

The OpenTelemetry Collector is not installable here; this answers `POST /v1/traces` as a collector
does (protobuf in, an empty `ExportTraceServiceResponse` out) and keeps every span it received.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.webhost import in_background, respond


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    service: str


@dataclass
class Receiver:
    url: str
    spans: list[ReceivedSpan] = field(default_factory=list)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "int_value", "bool_value", "double_value") else None


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    received = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        received.spans.append(
                            ReceivedSpan(
                                name=span.name, trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(), kind=span.kind,
                                attributes={a.key: _value(a.value) for a in span.attributes},
                                service=str(resource.get("service.name", "")),
                            )
                        )  # fmt: skip
            answer = ExportTraceServiceResponse().SerializeToString()
            respond(self, 200, answer, {"Content-Type": "application/x-protobuf"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    with in_background(server):
        yield received


def spans_of(receiver: Receiver, trace_id: str, *wanted: str) -> list[ReceivedSpan]:
    """The trace's spans once those named `wanted` have arrived (the request span, ended after the
    response is sent, may come after the others), or whatever arrived within 15 s."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [span for span in list(receiver.spans) if span.trace_id == trace_id]
        if set(wanted) <= {span.name for span in found}:
            return found
        time.sleep(0.1)
    return [span for span in list(receiver.spans) if span.trace_id == trace_id]


def under(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    by_id = {s.span_id: s for s in spans}
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        if span is ancestor:
            return True
    return False
