"""The whole assistant on this machine, as an operator runs it: a spec, `toolpark compose up
--target processes`, and the parts from the package registries (vLLM's CPU build with SmolLM2 and
MiniLM from scripts/vllm-env; LiteLLM and Open WebUI from scripts/stack-env; Caddy from Debian).
S3 is outside the stack in the design; an embedded SeaweedFS stands for it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.processes import env_folder
from tests.vllm_server import prepare
from toolpark.compose.files import read_env
from toolpark.compose.secrets import WEIGHTS_SECRETS, format_env
from toolpark.compose.up import stop_group
from toolpark.host.loading import first_party_servers
from toolpark.operations.embedded import add_reader, free_block, free_ports, seaweedfs

SERVERS = tuple(first_party_servers())
BUCKET = "assistant-files"
MODELS_BUCKET = "models"  # where `toolpark models push` puts weights the GPU node streams


def spec(ports: list[int], s3_url: str) -> dict[str, Any]:
    """A single-node spec: every service of the design that runs here, LibreChat's files rendered."""
    vllm, home = prepare(), env_folder("stack-env")
    chat, embed, litellm, librechat, webui, postgres, *servers = ports
    first = free_block(4, avoid=ports)
    return {
        "name": "e2e",
        "acme_email": "ops@example.org",
        "chat_hostname": "chat.example.org",
        "tools_hostname": "tools.example.org",
        "llm_hostname": "llm.example.org",
        "nodes": {"main": {"services": ["caddy", "postgres", "toolpark", "vllm", "litellm", "librechat", "mongodb",
                                       "openwebui"], "gpus": 1}},
        "models": {
            # The hermes parser reads SmolLM2's <tool_call> blocks; strict level `parameter` makes vLLM
            # hold a call's arguments to the tool's schema, which a 135M model needs.
            "chat": {"model": str(vllm.chat_model), "served_name": "smollm2", "tool_call_parser": "hermes",
                     "port": chat, "max_model_len": 8192, "gpu_memory_utilization": 0.5,
                     "extra_args": ["--tool-strict-level", "parameter"]},
            "embedding": {"model": str(vllm.embedding_model), "served_name": "minilm", "port": embed,
                          "gpu_memory_utilization": 0.2},
        },
        # LiteLLM's database features need Prisma, which downloads its engines at first start.
        "litellm": {"port": litellm, "database": False, "mcp_gateway": True},
        "librechat": {"port": librechat},
        # A 135M model does not pick a tool by itself: the spec forces the search (`tool_choice`), and
        # one round of tool calls keeps the forced second call from looping. Sampled, its arguments
        # vary (once `mode: keyword` with an invented query, which matches nothing): greedy decoding
        # makes the run repeatable.
        "openwebui": {"enabled": True, "port": webui, "hostname": "webui.example.org", "tools": ["retrieval"],
                      "tool_choice": "retrieval_search", "max_tool_calls": 1, "model_params": {"temperature": 0}},
        "keycloak": {"enabled": False},
        "postgres": {"port": postgres},
        "s3": {"endpoint_url": s3_url, "bucket": BUCKET},
        "toolpark": {"servers": {
            name: {"port": port} for name, port in zip(SERVERS, servers, strict=True)
        } | {"retrieval": {"port": servers[SERVERS.index("retrieval")], "settings": {"read_only": False},
                           "tenancy": {"writers": {"operator": ["shared"]},
                                       "readers": {"user": ["shared"], "admin": ["shared"]}}},
             # The tests' own web pages are on loopback, which the egress policy otherwise refuses.
             "web": {"port": servers[SERVERS.index("web")], "egress": {"allow": "127.0.0.1"}}}},
        "processes": {
            "first_port": first,
            "vllm": [str(vllm.python), "-m", "vllm.entrypoints.openai.api_server"],
            "litellm": [str(home / "litellm" / "bin" / "litellm")],
            "openwebui": [str(home / "openwebui" / "bin" / "open-webui")],
        },
    }  # fmt: skip


@dataclass
class Stack:
    folder: Path
    spec: dict[str, Any]
    log: Path

    @property
    def env(self) -> dict[str, str]:
        return read_env(self.folder / ".env")

    def site(self, name: str) -> str:
        """The loopback address of a public site, in the order `toolpark compose up` reports them."""
        for line in self.log.read_text().splitlines():
            if line.startswith(f"{name} is served at "):
                return line.rsplit(" ", 1)[1]
        raise AssertionError(f"no site {name} in the up log:\n{self.log.read_text()[-2000:]}")


@contextmanager
def running(folder: Path, spec_path: Path, log: Path, *, expect_failure: bool = False) -> Iterator[str]:
    """`toolpark compose up` until it reports the stack healthy; expecting a failure, `up` of the
    folder as rendered (and perhaps broken) until it exits. Yields what it printed."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    command = [sys.executable, "-m", "toolpark", "compose", "up", str(spec_path), "--out", str(folder)]
    command += ["--rendered"] if expect_failure else []
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment,
                                   start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 900
        while "stack healthy" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(2)
        text = log.read_text()
        if not expect_failure and "stack healthy" not in text:
            pytest.fail(f"the stack did not come up:\n{text[-5000:]}")
        if expect_failure:
            process.wait(300)
        yield log.read_text()
    finally:
        stop_group(process, 120)


@dataclass
class Prepared:
    folder: Path
    spec_path: Path
    spec: dict[str, Any]


@contextmanager
def prepared(base: Path) -> Iterator[Prepared]:
    """A spec on free ports with its S3 (and the keys in .env), for the length of the block."""
    (base / "s3").mkdir()
    weights_key = add_reader(base / "s3", MODELS_BUCKET)  # the GPU node's: it reads the models only
    with seaweedfs(base / "s3") as s3:
        client = boto3.client(
            "s3", endpoint_url=s3.endpoint_url, aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key, region_name="us-east-1",
        )  # fmt: skip
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=MODELS_BUCKET)
        data = spec(free_ports(10, below=40000), s3.endpoint_url)
        folder = base / "deploy"
        folder.mkdir()
        # S3's keys come from its operator: they go into .env before the first render.
        keys = {"S3_ACCESS_KEY_ID": s3.access_key_id, "S3_SECRET_ACCESS_KEY": s3.secret_access_key}
        keys |= dict(zip(WEIGHTS_SECRETS, weights_key, strict=True))
        (folder / ".env").write_text(format_env(keys))
        spec_path = base / "deploy.yaml"
        spec_path.write_text(yaml.safe_dump(data))
        yield Prepared(folder, spec_path, data)


@contextmanager
def whole_stack(base: Path) -> Iterator[Stack]:
    with prepared(base) as ready:
        log = base / "up.log"
        with running(ready.folder, ready.spec_path, log):
            yield Stack(ready.folder, ready.spec, log)
