"""Traces of a real `toolpark serve s3` process: the object reads and listings it sends without
boto3 (toolpark.storage.reads) are client spans under the tool's span, as botocore's are."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

from tests.otlp import otlp_receiver, spans_of, under
from tests.processes import spawn, wait_ok
from toolpark.clients import http_client
from toolpark.operations.embedded import free_ports, seaweedfs, stop_process

from .test_s3 import direct

pytestmark = pytest.mark.anyio

CLIENT = 3  # the OTLP span kind


CALLS = [  # tool, arguments, the S3 operation it sends, the store's answer
    ("read_object", {"bucket": "docs", "key": "notes/a.txt"}, "GetObject", 206),
    ("list_objects", {"bucket": "docs", "prefix": "notes/"}, "ListObjectsV2", 200),
    ("read_object", {"bucket": "docs", "key": "notes/missing.txt"}, "GetObject", 404),
]


async def test_reads_and_listings_are_client_spans_of_the_tool(tmp_path: Path) -> None:
    with seaweedfs(tmp_path) as store, otlp_receiver() as receiver:
        direct(store).create_bucket(Bucket="docs")
        direct(store).put_object(Bucket="docs", Key="notes/a.txt", Body=b"traced")
        (port,) = free_ports(1)
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "TOOLPARK_S3_ENDPOINT_URL": store.endpoint_url,
            "TOOLPARK_S3_ACCESS_KEY_ID": store.access_key_id,
            "TOOLPARK_S3_SECRET_ACCESS_KEY": store.secret_access_key,
            "TOOLPARK_LOG_FORMAT": "text",
        }
        command = [sys.executable, "-m", "toolpark", "serve", "s3", "--transport", "http", "--port", str(port)]
        process = spawn(command, tmp_path / "serve.log", env, tmp_path)
        try:
            wait_ok(f"http://127.0.0.1:{port}/readyz", process, tmp_path / "serve.log")
            traces = [secrets.token_hex(16) for _ in CALLS]
            async with http_client(f"http://127.0.0.1:{port}/s3/mcp") as client:
                for (tool, arguments, _, _), trace_id in zip(CALLS, traces, strict=True):
                    await client.call_tool(tool, arguments, meta={"traceparent": f"00-{trace_id}-{'1' * 16}-01"})
            for (tool, _, operation, status), trace_id in zip(CALLS, traces, strict=True):
                spans = spans_of(receiver, trace_id, f"execute_tool {tool}", f"S3.{operation}")
                (run,) = [s for s in spans if s.name == f"execute_tool {tool}"]
                (call,) = [s for s in spans if s.name == f"S3.{operation}"]
                assert under(call, run, spans) and call.kind == CLIENT
                assert call.attributes["rpc.method"] == operation and call.attributes["aws.s3.bucket"] == "docs"
                assert call.attributes["http.response.status_code"] == status
                assert call.attributes.get("error.type") == (None if status < 300 else "NoSuchKey")
        finally:
            stop_process(process, grace_s=30)
