"""Session-wide llama.cpp servers for the `llamacpp` tests (opt-in: `pytest --llamacpp`, as scripts/test runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.llamacpp_server import LlamaCppServer, llamacpp_server, rendered_command
from tests.processes import env_folder


@pytest.fixture(scope="session")
def llamacpp_home() -> Path:
    return env_folder("llamacpp-env")  # bin/llama-server and models/


@pytest.fixture(scope="session")
def llamacpp_chat(llamacpp_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    log = tmp_path_factory.mktemp("llamacpp") / "chat.log"
    command = rendered_command(llamacpp_home, "chat", "smollm2")
    with llamacpp_server(llamacpp_home, "smollm2", command, log) as server:
        yield server


@pytest.fixture(scope="session")
def llamacpp_embeddings(llamacpp_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    log = tmp_path_factory.mktemp("llamacpp") / "embeddings.log"
    command = rendered_command(llamacpp_home, "embedding", "smollm2-embed")
    with llamacpp_server(llamacpp_home, "smollm2-embed", command, log) as server:
        yield server
