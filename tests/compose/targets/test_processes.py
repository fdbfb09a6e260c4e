"""The processes target: supervisord itself reads the rendered config, and each program runs what
the compose target's container runs, from the same definition."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from supervisor.options import ServerOptions

from tests.compose.rendering import SPECS, fixed_secrets
from toolpark.compose.checks import SpecError
from toolpark.compose.files import read_spec
from toolpark.compose.render import render
from toolpark.compose.secrets import format_env, parse_env
from toolpark.compose.services import Probe
from toolpark.compose.spec import Deployment
from toolpark.compose.supervise import supervisord_command, supervisord_environment
from toolpark.compose.targets.processes import CONFIG, local_config, unstarted
from toolpark.compose.topology import LOOPBACK, Topology
from toolpark.compose.up import Watched, wait_healthy
from toolpark.operations.embedded import free_ports


def _write(files: dict[str, str], folder: Path) -> Path:
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    return folder


def _programs(
    folder: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, config: str = CONFIG
) -> dict[str, Any]:
    """supervisord's own reading of the config, with .env in its environment as `up` runs it."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for sub in ("logs", "run"):  # `toolpark compose up` makes them before it starts supervisord
        (folder / sub).mkdir(exist_ok=True)
    options = ServerOptions()
    options.configfile = str(folder / config)
    options.process_config(do_usage=False)
    return {p.name: p for group in options.process_group_configs for p in group.process_configs}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_supervisord_runs_the_compose_services_command_and_environment(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = read_spec(SPECS[case])
    secrets = fixed_secrets(spec)
    compose: dict[str, Any] = {}
    for name, text in render(spec, secrets).items():
        if name.startswith("compose"):
            compose |= yaml.safe_load(text)["services"]
    folder = _write(render(spec, secrets, "processes"), tmp_path)
    env = parse_env((folder / ".env").read_text())
    programs = _programs(folder, env, monkeypatch)
    topology = Topology(spec, LOOPBACK)
    if node := spec.scheduled_node:  # its programs are the local provider's to start, in a config of their own
        on_node = _programs(folder, env, monkeypatch, local_config(node))
        assert set(on_node) == {s.name for s in topology.services_on(node)} - set(unstarted(topology))
        assert not set(on_node) & set(programs)
        programs |= on_node
    assert set(programs) == set(topology.services) - set(unstarted(topology))
    for name, program in programs.items():
        service = compose[name]
        local = _Local(spec, service, folder, secrets)
        argv = shlex.split(program.command)
        expected = [local(arg) for arg in service.get("command", [])]
        if name != "openwebui":  # its image's start script reads HOST/PORT, which `serve` takes as options
            assert argv[len(argv) - len(expected) :] == expected, name
        assert set(program.environment) == set(service["environment"]), name
        for key, value in service["environment"].items():
            if key != "TOOLPARK_ALLOWED_HOSTS":  # adds loopback, where the servers are reached here
                assert program.environment[key] == local(value), f"{name}.{key}"


class _Local:
    """A compose value as the processes target must give it: secrets filled from .env, addresses on
    loopback, container paths in the rendered folder."""

    def __init__(self, spec: Deployment, service: dict[str, Any], folder: Path, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.places: dict[str, str] = {}
        for volume in service.get("volumes", []):
            source, path = volume.split(":")[:2]
            self.places[path] = str(folder / source[2:]) if source.startswith("./") else str(folder / "data" / source)
        topology = Topology(spec)
        self.addresses = {f"{s.name}:{s.port}": f"127.0.0.1:{s.port}" for s in topology.services.values()}
        for node in spec.nodes.values():
            for s in topology.services.values():
                if node.address:
                    self.addresses[f"{node.address}:{s.port}"] = f"127.0.0.1:{s.port}"

    def __call__(self, value: str) -> str:
        value = re.sub(r"\$\{([A-Z0-9_]+)[^}]*\}", lambda m: self.secrets[m.group(1)], value)
        value = value.replace("0.0.0.0", "127.0.0.1")
        for old, new in {**self.addresses, **self.places}.items():
            value = re.sub(re.escape(old) + r"(?=/|$|\s|[^0-9A-Za-z.-])", new, value)
        return value


def test_processes_render_has_no_container_files_and_loopback_sites(tmp_path: Path) -> None:
    spec = read_spec(SPECS["single-node"])
    files = render(spec, fixed_secrets(spec), "processes")
    assert not any(name.startswith("compose") or name.endswith("Dockerfile") for name in files)
    caddyfile = files["caddy/Caddyfile"]
    assert "http://:8080 {" in caddyfile and "bind 127.0.0.1" in caddyfile and "admin off" in caddyfile
    assert "chat.example.net" not in caddyfile  # no certificates to fetch on loopback


def test_a_setting_supervisord_cannot_carry_is_named(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(read_spec(SPECS["single-node"]).model_dump(mode="json")))
    data["toolpark"]["servers"]["web"]["settings"]["user_agent"] = "it's mine"
    spec = Deployment.model_validate(data)
    with pytest.raises(SpecError, match=r"toolpark-web\.environment\.TOOLPARK_WEB_USER_AGENT"):
        render(spec, fixed_secrets(spec), "processes")


def test_a_site_port_on_a_service_port_is_named(tmp_path: Path) -> None:
    data = read_spec(SPECS["single-node"]).model_dump(mode="json")
    data["processes"]["first_port"] = 8101  # retrieval's
    spec = Deployment.model_validate(data)
    with pytest.raises(SpecError, match=r"processes\.first_port"):
        render(spec, fixed_secrets(spec), "processes")


def test_secrets_are_references_in_the_config_not_values(tmp_path: Path) -> None:
    spec = read_spec(SPECS["entry-gpu"])
    secrets = fixed_secrets(spec)
    config = render(spec, secrets, "processes")[CONFIG]
    leaked = [k for k, v in secrets.items() if len(v) > 8 and v in config]
    assert not leaked and "%(ENV_VLLM_API_KEY)s" in config


def test_each_program_gets_only_the_secrets_its_definition_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real supervisord as `toolpark compose up` starts it: supervisord passed the whole .env
    (and the operator's environment) to every program; now each sees the secrets its own
    `environment=` names, and of the caller's environment only what engines read."""
    (tmp_path / ".env").write_text(format_env({"A_KEY": "value-of-a", "B_KEY": "value-of-b", "C_KEY": "value-of-c"}))
    (tmp_path / "out").mkdir()
    dump = "env > %(here)s/out/%(program_name)s.env; sleep 60"
    config = [
        "[supervisord]", "nodaemon=true", "silent=true", f"logfile={tmp_path}/supervisord.log",
        f"pidfile={tmp_path}/supervisord.pid", "",
        "[program:first]", f"command=sh -c {shlex.quote(dump)}", "environment=MINE='%(ENV_A_KEY)s'",
        "stopasgroup=true", "",
        "[program:second]", f"command=sh -c {shlex.quote(dump)}",
        "environment=DATABASE_URL='postgresql://u:%(ENV_B_KEY)s@db/x'", "stopasgroup=true", "",
    ]  # fmt: skip
    (tmp_path / CONFIG).write_text("\n".join(config))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # an engine's switch: passed on
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-operators-own")  # not the programs' business
    monkeypatch.setenv("C_KEY", "value-of-c")  # exported in the shell as well: still not passed
    process = subprocess.Popen(supervisord_command(tmp_path, CONFIG), env=supervisord_environment(tmp_path))
    try:
        seen: dict[str, dict[str, str]] = {}
        deadline = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < deadline:
            for name in ("first", "second"):
                dumped = tmp_path / "out" / f"{name}.env"
                text = dumped.read_text() if dumped.exists() else ""
                if "SUPERVISOR_PROCESS_NAME" in text:
                    seen[name] = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(30)
    first, second = seen["first"], seen["second"]
    assert first["MINE"] == "value-of-a" and second["DATABASE_URL"] == "postgresql://u:value-of-b@db/x"
    for env, others in ((first, ("value-of-b", "value-of-c")), (second, ("value-of-a", "value-of-c"))):
        assert not [name for name, value in env.items() if any(o in value for o in others)], env
        assert "AWS_SECRET_ACCESS_KEY" not in env and env["HF_HUB_OFFLINE"] == "1" and "PATH" in env


def test_up_waits_for_a_service_that_makes_progress_and_names_one_that_makes_none(tmp_path: Path) -> None:
    """A fixed start budget was a coin toss on a loaded machine (PostgreSQL's first initdb, a
    server's lifespan): a service busy past its budget now gets its time; one that spends no CPU
    and logs nothing for its budget is named, with what it did."""
    (tmp_path / ".env").write_text("")
    port = free_ports(1)[0]
    # Busy for 4 s (past its 2 s budget), then serving; and one that only sleeps.
    busy = "import time, http.server as h; t = time.time(); [0 for _ in iter(lambda: time.time() - t < 4, False)]"
    slow = f"{busy}; h.test(h.SimpleHTTPRequestHandler, port={port}, bind='127.0.0.1')"
    config = [
        "[supervisord]", "nodaemon=true", "silent=true", f"logfile={tmp_path}/supervisord.log",
        f"pidfile={tmp_path}/supervisord.pid", f"childlogdir={tmp_path}/logs", "",
        "[unix_http_server]", f"file={tmp_path}/run/supervisor.sock", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[program:slow]", f"command={sys.executable} -c {shlex.quote(slow)}", "stopasgroup=true", "startsecs=0",
        "redirect_stderr=true", f"stdout_logfile={tmp_path}/logs/slow.log", "",
        "[program:stuck]", "command=sleep 60", "stopasgroup=true", "startsecs=0",
        f"stdout_logfile={tmp_path}/logs/stuck.log", "",
    ]  # fmt: skip
    (tmp_path / CONFIG).write_text("\n".join(config))
    process = subprocess.Popen(supervisord_command(tmp_path, CONFIG), env=supervisord_environment(tmp_path))
    said: list[str] = []
    try:
        slow_ok = wait_healthy(tmp_path, [Watched("slow", Probe(port, "/"), 2)], said.append)
        stuck = wait_healthy(tmp_path, [Watched("stuck", Probe(free_ports(1)[0], "/"), 2)], said.append)
    finally:
        process.terminate()
        process.wait(30)
    assert slow_ok is None and said[0].startswith("✓ slow healthy after"), said
    assert stuck == "stuck" and "✗ stuck is not healthy: it made no progress for 2 s" in said[-1], said
