"""What a scheduled node changes in the rendered stack: the scheduler beside PostgreSQL, its port
published for the node's bootstrap, Caddy's offline page on the routes to the node, retrieval
told where to ask when search is back (or to embed locally meanwhile), LiteLLM's fallback."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from tests.compose.rendering import SPECS, fixed_secrets
from toolpark.compose.checks import problems
from toolpark.compose.files import write_deployment
from toolpark.compose.render import render
from toolpark.compose.spec import Deployment
from toolpark.devtools.cli import main


def example() -> dict[str, Any]:
    return tomllib.loads(SPECS["entry-gpu"].read_text())


def _render(data: dict[str, Any]) -> dict[str, str]:
    spec = Deployment.model_validate(data)
    assert not problems(spec), problems(spec)
    return render(spec, fixed_secrets(spec))


def test_the_scheduler_runs_beside_postgres_and_the_node_reaches_it_privately() -> None:
    files = _render(example())
    entry = yaml.safe_load(files["compose.entry.yaml"])["services"]
    gpu = yaml.safe_load(files["compose.gpu.yaml"])["services"]
    assert "scheduler" in entry and "scheduler" not in gpu
    assert entry["scheduler"]["ports"] == ["10.0.0.1:8190:8190"]  # the private address only
    assert entry["scheduler"]["environment"]["TOOLPARK_SCHEDULER_DATABASE_URL"].startswith(
        "postgresql://scheduler:${SCHEDULER_DB_PASSWORD}@postgres:5432/scheduler"
    )
    assert gpu["vllm-chat"]["ports"] == ["10.0.0.2:8000:8000"]  # the scheduler's health check
    assert "CREATE ROLE scheduler" in files["postgres/init-databases.sh"]


def test_caddy_sends_the_routes_to_the_node_to_the_offline_page_and_no_others() -> None:
    caddyfile = _render(example())["caddy/Caddyfile"]
    sites = {block.split(" {", 1)[0]: block for block in caddyfile.split("\n\n") if " {" in block}
    assert "rewrite * /offline" in sites["chat.example.org"]  # LibreChat is on the GPU node
    assert "rewrite * /offline" not in sites["sso.example.org"]  # Keycloak is on the entry node
    assert "handle /.toolpark/wake {\n\t\trewrite * /wake" in sites["chat.example.org"]  # the page's button
    assert "/.toolpark/wake" not in sites["sso.example.org"]


def test_litellms_public_site_publishes_its_openai_api_and_no_admin_routes() -> None:
    data = example()
    data["llm_hostname"] = "llm.example.org"
    data["litellm"]["mcp_gateway"] = True
    caddyfile = _render(data)["caddy/Caddyfile"]
    site = next(block for block in caddyfile.split("\n\n") if block.startswith("llm.example.org {"))
    assert "\t@published path /v1/* /chat/completions /completions /embeddings /models" in site
    assert "/mcp /mcp/*" in site and "handle {\n\t\trespond 404" in site
    assert "handle /.toolpark/wake" in site  # LiteLLM is on the scheduled node here


def test_the_node_writes_its_secrets_bundle_only_after_umask_077() -> None:
    user_data = yaml.safe_load(_render(example())["scheduler/gpu.cloud-init.yaml"])
    script = user_data["write_files"][0]["content"]
    assert script.index("umask 077") < script.index("-o bundle.tar.gz") < script.index("tar -xzf")


def test_retrieval_asks_the_scheduler_when_search_is_back() -> None:
    env = yaml.safe_load(_render(example())["compose.entry.yaml"])["services"]["toolpark-retrieval"]["environment"]
    assert env["TOOLPARK_RETRIEVAL_EMBEDDING_STATUS_URL"] == "http://scheduler:8190/status"
    assert "TOOLPARK_RETRIEVAL_EMBEDDING_FALLBACK_LOCAL" not in env


def test_a_local_embedding_stand_in_only_for_the_same_model() -> None:
    data = example()
    data["scheduler"]["embedding_fallback"] = True
    found = problems(Deployment.model_validate(data))
    assert [p.field for p in found] == ["scheduler.embedding_fallback"] and "bge-m3" in found[0].message
    data["models"]["embedding"]["model"] = "sentence-transformers/all-MiniLM-L6-v2"
    env = yaml.safe_load(_render(data)["compose.entry.yaml"])["services"]["toolpark-retrieval"]["environment"]
    assert env["TOOLPARK_RETRIEVAL_EMBEDDING_FALLBACK_LOCAL"] == "true"


def test_litellm_on_the_entry_node_falls_back_to_the_spec_s_model() -> None:
    data = example()
    data["scheduler"]["fallback_model"] = {"model": "openai/gpt-4o-mini", "api_key_secret": "OPENAI_API_KEY"}
    found = problems(Deployment.model_validate(data))
    assert [p.field for p in found] == ["scheduler.fallback_model"]  # LiteLLM is on the GPU node there
    data["nodes"]["gpu"]["services"].remove("litellm")
    data["nodes"]["entry"]["services"].append("litellm")
    files = _render(data)
    config = yaml.safe_load(files["litellm/config.yaml"])
    assert config["router_settings"] == {"fallbacks": [{"qwen2.5-7b-instruct": ["qwen2.5-7b-instruct-fallback"]}]}
    fallback = config["model_list"][-1]
    assert fallback["litellm_params"] == {"model": "openai/gpt-4o-mini", "api_key": "os.environ/OPENAI_API_KEY"}
    litellm = yaml.safe_load(files["compose.entry.yaml"])["services"]["litellm"]
    assert litellm["environment"]["OPENAI_API_KEY"].startswith("${OPENAI_API_KEY")


def test_gpu_commands_find_the_scheduler_at_its_nodes_private_address(tmp_path: Path) -> None:
    write_deployment(Deployment.model_validate(example()), tmp_path)
    result = CliRunner().invoke(main, ["gpu", "status", "--deploy", str(tmp_path)])
    assert result.exit_code == 1 and "http://10.0.0.1:8190" in result.output  # nothing listens there in a test
    missing = CliRunner().invoke(main, ["gpu", "up", "--deploy", str(tmp_path / "nowhere"), "--for", "2h"])
    assert missing.exit_code == 1 and "holds no rendered scheduler" in missing.output
    wrong = CliRunner().invoke(main, ["gpu", "up", "--deploy", str(tmp_path), "--for", "two hours"])
    assert wrong.exit_code == 2 and "say how long as 2h" in wrong.output


def test_weights_in_s3_stream_into_vllm_after_a_check_and_its_compile_cache_is_saved_after() -> None:
    data = example()
    data["models"]["chat"]["weights"] = "s3://models/qwen2.5-7b-instruct"
    files = _render(data)
    gpu = yaml.safe_load(files["compose.gpu.yaml"])["services"]
    vllm, check, after = gpu["vllm-chat"], gpu["vllm-chat-check"], gpu["vllm-chat-after"]
    assert vllm["command"][:4] == ["--model", "s3://models/qwen2.5-7b-instruct", "--load-format", "runai_streamer"]
    assert "HF_TOKEN" not in vllm["environment"] and vllm["environment"]["HF_HUB_OFFLINE"] == "1"
    assert vllm["environment"]["AWS_ACCESS_KEY_ID"].startswith("${WEIGHTS_S3_ACCESS_KEY_ID:?")
    assert vllm["environment"]["VLLM_CACHE_ROOT"] == "/vllm-cache" and "vllm-chat-cache:/vllm-cache" in vllm["volumes"]
    # The check first, in the toolpark image, with the S3 settings and the boot key only.
    assert vllm["depends_on"]["vllm-chat-check"] == {"condition": "service_completed_successfully"}
    assert check["image"] == data["toolpark"]["image"] and check["restart"] == "no"
    assert check["command"][:3] == ["models", "check", "s3://models/qwen2.5-7b-instruct"]
    assert check["command"][-2:] == ["--report", "http://10.0.0.1:8190/boot"]
    assert set(check["environment"]) == {
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
        "AWS_EC2_METADATA_DISABLED", "TOOLPARK_BOOT_KEY",
    }  # fmt: skip
    # The compile cache goes to the scheduler once vLLM is healthy, under the key the check restores.
    key = check["command"][check["command"].index("--cache-key") + 1]
    assert after["depends_on"] == {"vllm-chat": {"condition": "service_healthy"}}
    assert after["command"][:5] == ["models", "save-cache", "/vllm-cache", "--key", key]
    assert "http://10.0.0.1:8190/boot/cache/chat" in after["command"] and after["volumes"] == check["volumes"]
    # The embedding model, from Hugging Face as before.
    assert gpu["vllm-embedding"]["command"][:2] == ["--model", "BAAI/bge-m3"] and "vllm-embedding-check" not in gpu
    # A new image or other arguments compile anew: another key.
    data["images"] = {"vllm": "vllm/vllm-openai:v0.33.0"}
    again = yaml.safe_load(_render(data)["compose.gpu.yaml"])["services"]["vllm-chat-check"]["command"]
    assert again[again.index("--cache-key") + 1] != key
