"""A wrong spec is refused with errors that name the field to fix; a changed value reaches every
file that uses it; secrets are generated once and never overwritten."""

from __future__ import annotations

import json
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.compose.rendering import ROOT, SPECS, render_spec, without_env
from toolpark.compose.checks import SpecError
from toolpark.compose.files import read_spec, write_deployment
from toolpark.compose.render import ENV_FILE
from toolpark.compose.secrets import parse_env
from toolpark.devtools.cli import main


def example() -> dict[str, Any]:
    return tomllib.loads(SPECS["entry-gpu"].read_text())


def spec_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "deploy.yaml"  # the YAML form of the same spec
    path.write_text(yaml.safe_dump(data))
    return path


def fields(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        read_spec(spec_file(tmp_path, data))
    return [p.field for p in caught.value.problems]


def test_unknown_server_is_named(tmp_path: Path) -> None:
    data = example()
    data["toolpark"]["servers"]["wether"] = {"port": 8110}
    assert fields(tmp_path, data) == ["toolpark.servers.wether"]


def test_unknown_tool_call_parser_is_named(tmp_path: Path) -> None:
    data = example()
    data["models"]["chat"]["tool_call_parser"] = "qwen25"
    assert fields(tmp_path, data) == ["models.chat.tool_call_parser"]


def test_port_clash_names_both_fields(tmp_path: Path) -> None:
    data = example()
    data["models"]["embedding"]["port"] = 8000  # the chat model's port, on the same node
    with pytest.raises(SpecError) as caught:
        read_spec(spec_file(tmp_path, data))
    (problem,) = caught.value.problems
    assert problem.field == "models.embedding.port" and "models.chat.port" in problem.message


def test_ports_on_different_nodes_do_not_clash(tmp_path: Path) -> None:
    data = example()
    data["toolpark"]["servers"]["web"]["port"] = 8000  # entry node; 8000 is vLLM's on the GPU node
    read_spec(spec_file(tmp_path, data))


def test_server_settings_are_checked_against_the_servers_own_model(tmp_path: Path) -> None:
    data = example()
    data["toolpark"]["servers"]["retrieval"]["settings"] = {"read_only": "perhaps", "chunk_tokns": 100}
    assert sorted(fields(tmp_path, data)) == [
        "toolpark.servers.retrieval.settings.chunk_tokns",
        "toolpark.servers.retrieval.settings.read_only",
    ]


def test_document_settings_are_checked_against_the_hosts_model(tmp_path: Path) -> None:
    data = example()
    data["toolpark"]["servers"]["extract"]["documents"] = {"workers": 0, "ocr_langs": "eng"}
    assert sorted(fields(tmp_path, data)) == [
        "toolpark.servers.extract.documents.ocr_langs",
        "toolpark.servers.extract.documents.workers",
    ]


def test_egress_settings_are_checked_and_reach_the_servers_environment(tmp_path: Path) -> None:
    data = example()
    data["toolpark"]["servers"]["web"]["egress"] = {"allow": "intranet.example.org", "max_redirect": 2}
    assert fields(tmp_path, data) == ["toolpark.servers.web.egress.max_redirect"]
    data["toolpark"]["servers"]["web"]["egress"] = {"allow": "intranet.example.org,10.1.0.0/16"}
    services = yaml.safe_load(render_spec(read_spec(spec_file(tmp_path, data)))["compose.entry.yaml"])["services"]
    assert services["toolpark-web"]["environment"]["TOOLPARK_EGRESS_ALLOW"] == "intranet.example.org,10.1.0.0/16"
    assert "TOOLPARK_EGRESS_ALLOW" not in services["toolpark-extract"]["environment"]


def _conversations_on_the_scheduled_node(data: dict[str, Any]) -> None:
    data["nodes"]["entry"]["services"].remove("mongodb")
    data["nodes"]["gpu"]["services"].append("mongodb")


def _servers_on_the_scheduled_node(data: dict[str, Any]) -> None:
    data["nodes"]["entry"]["services"].remove("toolpark")
    data["nodes"]["gpu"]["services"].append("toolpark")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["nodes"]["gpu"].update(gpus=0), "nodes.gpu.gpus"),
        (lambda d: d["nodes"]["gpu"].pop("address"), "nodes.gpu.address"),
        (lambda d: d["nodes"]["gpu"]["services"].remove("librechat"), "nodes"),
        (lambda d: d["nodes"]["entry"]["services"].append("vllm"), "nodes.gpu.services"),
        (lambda d: d["keycloak"].update(enabled=False), "nodes.entry.services"),
        (lambda d: d.pop("sso_hostname"), "sso_hostname"),
        (lambda d: d["keycloak"].update(required_role="staff"), "keycloak.required_role"),
        (lambda d: d["models"]["chat"].update(gpu_memory_utilization=0.9), "models.embedding.gpu_memory_utilization"),
        (lambda d: d["images"].update(vllm="vllm/vllm-openai:latest"), "images.vllm"),
        (lambda d: d.pop("s3"), "toolpark.servers.s3"),
        (lambda d: d["litellm"].update(prot=4000), "litellm.prot"),
        (lambda d: d["scheduler"].update(windows=["mon-fri 8-18"]), "scheduler.windows"),
        (lambda d: d["scheduler"].update(windows=["mon-fry 08:00-18:00"]), "scheduler.windows"),
        (lambda d: d["scheduler"].update(timezone="Europe/Berln"), "scheduler.timezone"),
        (lambda d: d["scheduler"].update(extra_windows=["28.12.2026 10:00-16:00"]), "scheduler.extra_windows"),
        (lambda d: d["scheduler"].update(provider="ovh"), "scheduler.provider"),
        (lambda d: d["scheduler"]["provider_settings"].update(zon="fr-par-1"), "scheduler.provider_settings.zon"),
        (lambda d: d["scheduler"]["provider_settings"].pop("image"), "scheduler.provider_settings.image"),
        (lambda d: d["nodes"]["gpu"]["services"].append("postgres"), "nodes.gpu.services"),
        (_conversations_on_the_scheduled_node, "nodes.gpu.services"),  # they went with its disk each evening
        (lambda d: d["nodes"]["entry"].update(lifecycle="scheduled"), "nodes.gpu.lifecycle"),
        (_servers_on_the_scheduled_node, "toolpark.source"),  # a path there: the node has no checkout
    ],
)
def test_each_mistake_names_its_field(tmp_path: Path, change: Any, field: str) -> None:
    data = example()
    change(data)
    assert field in fields(tmp_path, data)


def test_check_names_a_missing_secret(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, example())
    runner = CliRunner()
    assert runner.invoke(main, ["compose", "render", str(spec), "--out", str(tmp_path / "out")]).exit_code == 0
    result = runner.invoke(main, ["compose", "check", str(spec), "--env", str(tmp_path / "out" / ENV_FILE)])
    assert result.exit_code == 1
    assert "s3: secret S3_ACCESS_KEY_ID is missing" in result.output
    assert "scheduler.provider: secret SCW_SECRET_KEY is missing" in result.output  # the provider's own
    env = tmp_path / "out" / ENV_FILE
    filled = env.read_text().replace("S3_ACCESS_KEY_ID=''", "S3_ACCESS_KEY_ID='AKIA1'")
    filled = filled.replace("SCW_ACCESS_KEY=''", "SCW_ACCESS_KEY='SCWABCDEFGHIJKLMNOPQ'")
    filled = filled.replace("SCW_SECRET_KEY=''", "SCW_SECRET_KEY='8e3f4b8a-1b1e-4c55-9a3e-2f1d2c3b4a59'")
    env.write_text(filled.replace("S3_SECRET_ACCESS_KEY=''", "S3_SECRET_ACCESS_KEY='s3cr3t'"))
    result = runner.invoke(main, ["compose", "check", str(spec), "--env", str(env)])
    assert result.exit_code == 0, result.output


def test_check_reports_every_problem_at_once(tmp_path: Path) -> None:
    data = example()
    data["models"]["chat"]["tool_call_parser"] = "nope"
    data["toolpark"]["servers"]["nope"] = {"port": 9000}
    result = CliRunner().invoke(main, ["compose", "check", str(spec_file(tmp_path, data))])
    assert result.exit_code == 1
    assert "models.chat.tool_call_parser" in result.output and "has 1 problem" in result.output
    data["models"]["chat"]["tool_call_parser"] = "hermes"
    result = CliRunner().invoke(main, ["compose", "check", str(spec_file(tmp_path, data))])
    assert "toolpark.servers.nope: no toolpark server named 'nope'" in result.output


@pytest.mark.parametrize(
    ("signup", "enabled", "role", "said"),
    [
        (None, "false", "pending", "only its admin adds accounts"),
        ("approval", "true", "pending", "anyone may sign up, and waits until its admin lets them in"),
        ("open", "true", "user", "anyone may sign up and at once calls every toolpark server as a user"),
    ],
)
def test_open_webui_sign_ups_wait_for_an_admin_unless_the_spec_opens_them(
    tmp_path: Path, signup: str | None, enabled: str, role: str, said: str
) -> None:
    """Sign-up was on with role `user`: every stranger called every toolpark server, and the first
    became the admin. The admin is now made before the site opens; `compose check` names the choice."""
    data = example()
    data["keycloak"]["enabled"] = False
    data["nodes"]["entry"]["services"].remove("keycloak")
    data["openwebui"] = {"enabled": True, "hostname": "webui.example.org"} | ({"signup": signup} if signup else {})
    data["nodes"]["entry"]["services"].append("openwebui")  # its accounts and chats outlive the GPU node
    env = yaml.safe_load(render_spec(read_spec(spec_file(tmp_path, data)))["compose.entry.yaml"])["services"]
    env = env["openwebui"]["environment"]
    assert (env["ENABLE_SIGNUP"], env["DEFAULT_USER_ROLE"]) == (enabled, role)
    assert env["WEBUI_ADMIN_EMAIL"] == "ops@example.org" and env["WEBUI_ADMIN_PASSWORD"].startswith("${OPENWEBUI_ADMIN")
    checked = CliRunner().invoke(main, ["compose", "check", str(spec_file(tmp_path, data))])
    assert checked.exit_code == 0 and said in checked.output and "the admin is ops@example.org" in checked.output


def test_open_webui_starts_under_the_start_that_installs_the_sources_filter(tmp_path: Path) -> None:
    """The image's own command runs under the rendered start, with the image's Python; both files are
    rendered as the package holds them and mounted read-only where the entry point names them."""
    data = example()
    data["openwebui"] = {"enabled": True, "hostname": "webui.example.org"}
    data["nodes"]["entry"]["services"].append("openwebui")
    files = render_spec(read_spec(spec_file(tmp_path, data)))
    service = yaml.safe_load(files["compose.entry.yaml"])["services"]["openwebui"]
    assert service["entrypoint"] == [
        "python3", "/app/toolpark/start.py", "/app/toolpark/toolpark_sources.py", "--"
    ] and service["command"] == ["bash", "start.sh"]  # fmt: skip
    mounts = {
        "./openwebui/start.py:/app/toolpark/start.py:ro",
        "./openwebui/toolpark_sources.py:/app/toolpark/toolpark_sources.py:ro",
    }
    assert mounts <= set(service["volumes"]), service["volumes"]
    package = ROOT / "compose"
    assert files["openwebui/start.py"] == (package / "openwebui_start.py").read_text()
    assert files["openwebui/toolpark_sources.py"] == (package / "openwebui_sources.py").read_text()


def test_litellms_gateway_key_is_read_only_and_compose_check_says_why(tmp_path: Path) -> None:
    data = example()
    data["litellm"]["mcp_gateway"] = True
    env = parse_env(render_spec(read_spec(spec_file(tmp_path, data)))[ENV_FILE])
    keys = {key["name"]: key for key in json.loads(env["TOOLPARK_AUTH_API_KEYS"])}
    assert keys["litellm"]["read_only"] is True and not keys["operator"].get("read_only")
    checked = CliRunner().invoke(main, ["compose", "check", str(spec_file(tmp_path, data))])
    assert "cannot name them" in checked.output and "read-only tools only" in checked.output


def test_init_writes_the_example_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "deploy.toml"
    assert runner.invoke(main, ["compose", "init", str(target)]).exit_code == 0
    # The example, building the image from this checkout (where the test's toolpark is installed from).
    example_text = SPECS["entry-gpu"].read_text()
    assert target.read_text() == example_text.replace('source = "/opt/toolpark"', f"source = {json.dumps(str(ROOT))}")
    assert runner.invoke(main, ["compose", "init", str(target)]).exit_code == 1
    assert runner.invoke(main, ["compose", "check", str(target)]).exit_code == 0


def test_render_says_what_to_do_on_each_node(tmp_path: Path) -> None:
    """The always-on node gets the folder and builds the image; the scheduled node gets nothing by
    hand (its cloud-init fetches its files from the scheduler); DNS names every public hostname."""
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["compose", "render", str(SPECS["entry-gpu"]), "--out", str(out)])
    assert done.exit_code == 0, done.output
    steps = done.output.split("\nnext:\n", 1)[1]
    assert f"1. node entry (10.0.0.1): copy {out}/ there" in steps
    assert "docker compose -f compose.entry.yaml up -d --build" in steps
    assert "2. node gpu: nothing to copy" in steps and "compose.gpu.yaml" in steps
    assert "DNS: point chat.example.org, sso.example.org at node entry's public address" in steps
    # What the scheduled node runs at boot: it fetches its bundle and starts its own compose file.
    assert "docker compose -f compose.gpu.yaml up -d" in (out / "scheduler/gpu.cloud-init.yaml").read_text()


def test_render_without_a_source_says_how_to_build_and_push_the_image(tmp_path: Path) -> None:
    data = example()
    del data["toolpark"]["source"]
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["compose", "render", str(spec_file(tmp_path, data)), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "1. build the image toolpark:0.1.0 and push it" in done.output
    assert f"-t toolpark:0.1.0 {out}/toolpark && docker push toolpark:0.1.0" in done.output
    assert "up -d --build" not in done.output and "build:" not in (out / "compose.entry.yaml").read_text()


def test_the_image_builds_from_what_the_source_holds(tmp_path: Path) -> None:
    """Without Docker here: every path the rendered Dockerfile copies from the build context named
    `source` exists in the checkout that `compose init` names, and every compose service running the
    image builds it from that context."""
    out = tmp_path / "out"
    files = render_spec(read_spec(SPECS["entry-gpu"]))
    copied = re.findall(r"^COPY --from=source (.+) \S+$", files["toolpark/Dockerfile"], re.MULTILINE)
    assert copied and all((ROOT / path).exists() for line in copied for path in line.split())
    entry = yaml.safe_load(files["compose.entry.yaml"])["services"]
    built = {name for name, service in entry.items() if service["image"] == "toolpark:0.1.0"}
    assert built and all(
        entry[n]["build"] == {"context": "./toolpark", "additional_contexts": {"source": "/opt/toolpark"}}
        for n in built
    )
    assert not out.exists()


def test_render_for_processes_says_how_to_run_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = SPECS["single-node"]
    done = CliRunner().invoke(main, ["compose", "render", str(spec), "--out", str(out), "--target", "processes"])
    assert done.exit_code == 0, done.output
    assert f"1. run it on this machine: toolpark compose up {spec} --out {out} --rendered" in done.output
    assert "librechat, mongodb: rendered, not started" in done.output


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {path for path in before if before[path] != after.get(path)}


def _mentioning(files: dict[str, str], value: str) -> set[str]:
    return {path for path, text in files.items() if value in text}


@pytest.mark.parametrize(
    ("field", "old", "new"),
    [
        (("chat_hostname",), "chat.example.org", "talk.example.com"),
        (("models", "chat", "served_name"), "qwen2.5-7b-instruct", "mistral-small"),
        (("nodes", "gpu", "address"), "10.0.0.2", "10.9.8.7"),
        (("keycloak", "audience"), "tools-audience", "mcp-tools"),
    ],
)
def test_one_change_reaches_every_file_that_uses_it(tmp_path: Path, field: tuple[str, ...], old: str, new: str) -> None:
    data = example()
    target = data
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = old
    before = without_env(render_spec(read_spec(spec_file(tmp_path, data))))
    target[field[-1]] = new
    after = without_env(render_spec(read_spec(spec_file(tmp_path, data))))
    users = _mentioning(before, old)
    assert len(users) >= 2, f"{old} should appear in several files: {users}"
    assert _changed(before, after) == users
    assert not _mentioning(after, old)
    assert _mentioning(after, new) == users


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    spec = read_spec(SPECS["entry-gpu"])
    out = tmp_path / "out"
    first = write_deployment(spec, out)
    env = out / ENV_FILE
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = parse_env(env.read_text())
    assert "POSTGRES_PASSWORD" in first.generated and len(values["POSTGRES_PASSWORD"]) >= 40
    assert len(values["CREDS_KEY"]) == 64 and len(values["CREDS_IV"]) == 32
    again = write_deployment(spec, out)
    assert again.generated == [] and parse_env(env.read_text()) == values
    # An operator's own value and a secret the spec no longer uses both survive; a deleted one comes back.
    edited = {k: v for k, v in values.items() if k != "JWT_SECRET"} | {"POSTGRES_PASSWORD": "mine", "OLD": "x"}
    env.write_text("".join(f"{k}='{v}'\n" for k, v in edited.items()))
    third = write_deployment(spec, out)
    result = parse_env(env.read_text())
    assert third.generated == ["JWT_SECRET"] and result["POSTGRES_PASSWORD"] == "mine" and result["OLD"] == "x"


def test_rendering_never_writes_through_a_link_planted_at_its_temporary_file(tmp_path: Path) -> None:
    """`.env.tmp` opened without O_EXCL followed a link: the secrets went wherever it pointed."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.write_text("someone else's file\n")
    (out / f"{ENV_FILE}.tmp").symlink_to(elsewhere)
    write_deployment(read_spec(SPECS["entry-gpu"]), out)
    assert elsewhere.read_text() == "someone else's file\n"
    assert "POSTGRES_PASSWORD" in parse_env((out / ENV_FILE).read_text())
    assert not (out / f"{ENV_FILE}.tmp").exists() and stat.S_IMODE((out / ENV_FILE).stat().st_mode) == 0o600
