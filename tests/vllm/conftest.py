"""Session-wide vLLM servers for the `vllm` tests (opt-in: `pytest --vllm`, as scripts/test runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.vllm_server import VllmEnv, VllmServer, prepare, vllm_server


@pytest.fixture(scope="session")
def vllm_env() -> VllmEnv:
    return prepare()


@pytest.fixture(scope="session")
def vllm_embeddings(vllm_env: VllmEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    log = tmp_path_factory.mktemp("vllm") / "embeddings.log"
    with vllm_server(vllm_env, vllm_env.embedding_model, "minilm", "--runner", "pooling", log=log) as server:
        yield server


@pytest.fixture(scope="session")
def vllm_chat(vllm_env: VllmEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    # The hermes parser reads SmolLM2's <tool_call> blocks; strict level `parameter` makes vLLM
    # constrain a call's arguments to the tool's JSON schema, which a 135M model needs.
    args = ["--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--tool-strict-level", "parameter"]
    log = tmp_path_factory.mktemp("vllm") / "chat.log"
    with vllm_server(vllm_env, vllm_env.chat_model, "smollm2", *args, "--max-model-len", "8192", log=log) as server:
        yield server
