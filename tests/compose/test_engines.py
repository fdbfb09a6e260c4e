"""Models on other inference servers than vLLM: each engine's service, health check and client
settings, and what `toolpark compose check` says a combination cannot do."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from click.testing import CliRunner

from tests.compose.rendering import SPECS, render_spec
from toolpark.compose.checks import SpecError
from toolpark.compose.files import read_spec
from toolpark.devtools.cli import main
from toolpark.mcp_servers.retrieval.stores.pgvector import open_pgvector
from toolpark.operations.embedded import postgres


def engines() -> dict[str, Any]:
    return tomllib.loads(SPECS["engines"].read_text())


def spec_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def problems(tmp_path: Path, data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        read_spec(spec_file(tmp_path, data))
    return {p.field: p.message for p in caught.value.problems}


def compose_services(data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    files = render_spec(read_spec(spec_file(tmp_path, data)))
    return yaml.safe_load(files["compose.yaml"])["services"]


def test_each_engine_runs_its_own_server_with_its_health_check(tmp_path: Path) -> None:
    services = compose_services(engines(), tmp_path)
    chat, embedding = services["llamacpp-chat"], services["ollama-embedding"]
    assert chat["image"].startswith("ghcr.io/ggml-org/llama.cpp:server-")
    assert "--jinja" in chat["command"] and chat["command"][chat["command"].index("--alias") + 1] == "qwen2.5-7b"
    assert chat["healthcheck"]["test"] == ["CMD", "curl", "-fsS", "http://localhost:8000/health"]
    assert embedding["entrypoint"] == ["/bin/sh", "-c"] and "ollama pull nomic-embed-text" in embedding["command"][0]
    assert embedding["healthcheck"]["test"] == ["CMD", "ollama", "show", "nomic-embed"]  # pulled and named
    assert not [name for name in services if name.endswith("-vision")]  # it runs outside the stack
    retrieval = services["toolpark-retrieval"]["environment"]
    assert retrieval["TOOLPARK_RETRIEVAL_EMBEDDING_URL"] == "http://ollama-embedding:11434/v1"
    assert retrieval["TOOLPARK_RETRIEVAL_EMBEDDING_TRUNCATE"] == "false"  # vLLM's field, not Ollama's
    extract = services["toolpark-extract"]["environment"]
    assert extract["TOOLPARK_EXTRACT_VISION_URL"] == "http://lmstudio.example.net:1234/v1"
    assert extract["TOOLPARK_EXTRACT_VISION_API_KEY"].startswith("${LMSTUDIO_API_KEY")  # the endpoint's own key

    data = engines()
    data["models"]["chat"] |= {"engine": "tgi", "model": "Qwen/Qwen2.5-7B-Instruct"}
    data["nodes"]["main"]["services"] = [s if s != "llamacpp" else "tgi" for s in data["nodes"]["main"]["services"]]
    tgi = compose_services(data, tmp_path)["tgi-chat"]
    assert tgi["command"][:2] == ["--model-id", "Qwen/Qwen2.5-7B-Instruct"] and tgi["shm_size"] == "1g"
    assert "/health" in tgi["healthcheck"]["test"][-1]


def test_litellm_and_librechat_reach_every_engine(tmp_path: Path) -> None:
    files = render_spec(read_spec(SPECS["engines"]))
    models = {m["model_name"]: m["litellm_params"] for m in yaml.safe_load(files["litellm/config.yaml"])["model_list"]}
    assert models["qwen2.5-7b"] == {
        "model": "openai/qwen2.5-7b", "api_base": "http://llamacpp-chat:8000/v1", "api_key": "os.environ/VLLM_API_KEY"
    }  # fmt: skip
    assert models["qwen2.5-vl-7b"]["api_base"] == "http://lmstudio.example.net:1234/v1"
    assert models["qwen2.5-vl-7b"]["api_key"] == "os.environ/LMSTUDIO_API_KEY"
    data = engines()
    data["litellm"] = {"enabled": False}
    data["nodes"]["main"]["services"].remove("litellm")
    librechat = yaml.safe_load(render_spec(read_spec(spec_file(tmp_path, data)))["librechat/librechat.yaml"])
    endpoints = {e["name"]: e["baseURL"] for e in librechat["endpoints"]["custom"]}
    assert endpoints == {
        "llama.cpp": "http://llamacpp-chat:8000/v1",
        "Models vision": "http://lmstudio.example.net:1234/v1",
    }


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (
            lambda d: d["models"]["embedding"].update(engine="tgi"),
            "models.embedding.engine",
            "TGI serves no embeddings",
        ),
        (lambda d: d["models"]["chat"].update(tool_calls=False), "models.chat.tool_calls", "LibreChat's agents"),
        (lambda d: d["models"]["vision"].pop("url"), "models.vision.url", "needs its url"),
        (lambda d: d["models"]["vision"].pop("api_key_secret"), "models.vision.api_key_secret", "not sent outside"),
        (lambda d: d["models"]["chat"].update(url="http://x:1/v1"), "models.chat.url", "only engine openai"),
        (lambda d: d["models"]["vision"].update(engine="llamacpp", port=8009), "models.vision.extra_args", "--mmproj"),
        (lambda d: d["models"]["chat"].update(engine="vllm"), "models.chat.tool_call_parser", "--tool-call-parser"),
        (lambda d: d["models"]["chat"].update(engine="ollama"), "nodes.main.services", "lists llamacpp"),
    ],
)
def test_check_explains_what_a_combination_cannot_do(tmp_path: Path, change: Any, field: str, says: str) -> None:
    data = engines()
    change(data)
    found = problems(tmp_path, data)
    assert field in found and says in found[field], found


def test_a_scheduled_node_needs_vllm_for_the_chat_model(tmp_path: Path) -> None:
    data = tomllib.loads(SPECS["entry-gpu"].read_text())
    gpu = next(n for n in data["nodes"].values() if n.get("lifecycle") == "scheduled")
    gpu["services"] = ["llamacpp" if s == "vllm" else s for s in gpu["services"]]
    data["models"]["chat"] |= {"engine": "llamacpp", "model": "qwen.gguf"}
    data["models"]["embedding"] |= {"engine": "llamacpp", "model": "e5.gguf"}
    found = problems(tmp_path, data)
    assert "vLLM's /health and /metrics" in found["models.chat.engine"]


def test_check_compares_the_embedding_model_with_stored_collections(tmp_path: Path) -> None:
    """`compose check --collections-at` reads the running store: a model other than the one the
    stored collections were embedded with (or of another width) is named with those collections."""

    async def store_one(url: str) -> None:
        async with open_pgvector(url, pool_size=1, timeout_s=10) as store:
            await store.create_collection(namespace="user:ann", name="manuals", model="nomic-embed", dimension=768,
                                          language="english", description="")  # fmt: skip

    data = engines()
    with postgres(tmp_path / "pg") as database:
        anyio.run(store_one, database.url)
        runner = CliRunner()
        same = runner.invoke(
            main, ["compose", "check", str(spec_file(tmp_path, data)), "--collections-at", database.url]
        )
        data["models"]["embedding"] |= {"served_name": "bge-m3", "dimension": 1024}
        other = runner.invoke(
            main, ["compose", "check", str(spec_file(tmp_path, data)), "--collections-at", database.url]
        )
    assert same.exit_code == 0, same.output
    assert other.exit_code != 0 and "user:ann/manuals" in other.output
    assert "768-dimensional vectors of nomic-embed; bge-m3 (1024 dimensions) would not search them" in other.output
