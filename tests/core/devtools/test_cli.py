"""The `toolpark` command as an operator runs it."""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import anyio
import pytest
import yaml
from click.testing import CliRunner
from mcp_types import CallToolResult

from tests.processes import ctrl_c, started, survivors
from toolpark.clients import http_client
from toolpark.devtools.cli import main
from toolpark.testing import free_port


def test_list_shows_tools_and_settings_with_env_names() -> None:
    result = CliRunner().invoke(main, ["list", "--json"])
    assert result.exit_code == 0, result.output
    everything = next(p for p in json.loads(result.output) if p["name"] == "everything")
    assert {"echo", "test_simple_text"} <= {t["name"] for t in everything["tools"]}
    timeout = next(s for s in everything["settings"] if s["env"] == "TOOLPARK_EVERYTHING_CALL_TIMEOUT_S")
    assert timeout["default"] == "30.0"


def test_list_marks_tools_off_by_default_and_keeps_whole_sentences() -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    extract = result.output.split("\nextract ", 1)[1].split("\n  settings:", 1)[0]
    assert re.search(r"\(\d+ tokens for the model, the tools off by default excluded\)", extract)
    assert "    describe (off by default): Ask the configured vision model" in extract
    summaries = [line.split(": ", 1)[1] for line in extract.splitlines()[2:]]
    assert summaries and all(s.endswith((".", ")")) for s in summaries), summaries  # no line cut mid-sentence


def test_help_loads_no_host() -> None:
    """`toolpark --help` took 1.5 s importing the MCP SDK and every command's libraries; the parser
    imports click alone, and each command what it runs when it runs (bench/cli_start.py times it)."""
    probe = (
        "import sys\nfrom toolpark.devtools.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    *shown, loaded = done.stdout.strip().splitlines()
    assert any("compose" in line for line in shown) and any("ingest" in line for line in shown)
    assert not {"mcp", "mcp_types", "pydantic", "httpx", "starlette"} & set(loaded.split()), loaded


def test_plugin_new_reports_what_it_wrote(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["plugin", "new", "weather", "--dir", str(tmp_path)])
    again = runner.invoke(main, ["plugin", "new", "weather", "--dir", str(tmp_path)])
    assert first.exit_code == 0 and "toolpark-weather" in first.output
    assert again.exit_code != 0 and "already exists" in again.output


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("auth", "[auth] is a host section of toolpark.toml (and TOOLPARK_AUTH_* its env vars)"),
        ("state", "TOOLPARK_STATE_* would take the host's TOOLPARK_STATE_KEY, TOOLPARK_STATE_KEY_PREVIOUS"),
    ],
)
def test_plugin_new_refuses_a_name_the_host_reads(tmp_path: Path, name: str, reason: str) -> None:
    result = CliRunner().invoke(main, ["plugin", "new", name, "--dir", str(tmp_path)])
    assert result.exit_code != 0 and reason in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_serve_names_an_unknown_plugin() -> None:
    result = CliRunner().invoke(main, ["serve", "no-such-plugin"])
    assert result.exit_code != 0 and "no plugin named no-such-plugin" in result.output


def test_bad_setting_is_reported_not_raised(monkeypatch: object) -> None:
    result = CliRunner().invoke(main, ["serve", "everything"], env={"TOOLPARK_EVERYTHING_MAX_CONCURRENCY": "zero"})
    assert result.exit_code != 0 and "max_concurrency" in result.output


CONFIG_MISTAKES = [
    # (what the user did: env, toolpark.toml text or None for no file, the line that must say what to fix)
    ({"TOOLPARK_EGRESS_ALOW": "x"}, "", "TOOLPARK_EGRESS_ALOW is not a setting; did you mean TOOLPARK_EGRESS_ALLOW?"),
    ({"TOOLPARK_PROT": "9000"}, "", "TOOLPARK_PROT is not a setting; did you mean TOOLPARK_PORT?"),
    ({}, None, "no such configuration file"),
    ({}, "[host]\nport = \n", "not valid TOML: Invalid value (at line 2, column 8)"),
    ({}, "[hosts]\nport = 1\n", "no table [hosts] is read; did you mean [host]?"),
    ({}, "[host]\nport = 99999\n", "TOOLPARK_PORT (`port` in toolpark.toml): Input should be less than or equal"),
    ({"TOOLPARK_EVERYTHING_MAX_CONCURRENCY": "zero"}, "", "TOOLPARK_EVERYTHING_MAX_CONCURRENCY (`max_concurrency`"),
]


@pytest.mark.parametrize(("env", "toml", "said"), CONFIG_MISTAKES)
def test_a_configuration_mistake_is_one_line_naming_the_fix(
    tmp_path: Path, env: dict[str, str], toml: str | None, said: str
) -> None:
    """A real process, as a user runs it: exit 1, the reason on stderr, no traceback."""
    config = tmp_path / "toolpark.toml"
    if toml is not None:
        config.write_text(toml)
    done = subprocess.run(
        [sys.executable, "-m", "toolpark", "serve", "everything", "--config", str(config)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    """It cost 43 s: the embedded PostgreSQL and SeaweedFS started, then uvicorn found the port taken."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "toolpark", "up", "--port", str(port)],
            env={**os.environ, "TOOLPARK_DATA_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1 and f"127.0.0.1:{port} cannot be listened on" in done.stderr, done.stderr
    assert time.monotonic() - began < 15 and "Traceback" not in done.stderr
    assert not (tmp_path / "postgres").exists()  # nothing was started


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


async def call(url: str, tool: str, arguments: dict[str, object]) -> CallToolResult:
    async with http_client(url) as client:
        return await client.call_tool(tool, arguments)


def test_up_serves_and_prints_a_librechat_block(tmp_path: Path) -> None:
    port = free_port()
    process = started(["up"], tmp_path, port)
    pdf = base64.b64encode((FIXTURES / "pdfs" / "pdflatex-4-pages.pdf").read_bytes()).decode()
    extracted = anyio.run(call, f"http://127.0.0.1:{port}/extract/mcp", "extract_text", {"data_base64": pdf})
    assert not extracted.is_error  # the parser's worker processes run
    took = ctrl_c(process)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    # It took 20 s, SeaweedFS waited out 15 of them, and each parser worker printed a traceback.
    assert took < 8 and "Traceback" not in err, (took, err[-3000:])
    block = yaml.safe_load(out.split("For librechat.yaml:")[1])
    url = f"http://127.0.0.1:{port}/web/mcp"
    assert block["mcpServers"]["web"] == {"type": "streamable-http", "url": url, "timeout": 60000}
    assert "everything" not in block["mcpServers"], "up serves the first-party servers, not the examples"
    assert block["mcpSettings"]["allowedAddresses"] == [f"127.0.0.1:{port}"]
    assert f"web: {url}" in out
    assert '"plugin web ready"' in err or "plugin web ready" in err
    # Printed once every server answers (it came 25 s before, then scrolled off under the log).
    assert out.startswith("\ntoolpark is ready: ") and "; Ctrl-C stops them." in out.splitlines()[1]
    assert survivors(tmp_path) == [], "Ctrl-C left embedded services running"


def test_embedded_services_end_with_their_server_on_sigterm(tmp_path: Path) -> None:
    """Regression: stopping `toolpark serve retrieval` left its embedded PostgreSQL running."""
    process = started(["serve", "retrieval", "s3", "--transport", "http"], tmp_path, free_port())
    assert any("postgres" in line for line in survivors(tmp_path))  # the check sees them while they run
    assert any("weed" in line for line in survivors(tmp_path))
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal, as supervisors expect.
    assert process.returncode == -signal.SIGTERM and "Application shutdown complete" in err, err[-2000:]
    deadline = time.monotonic() + 10
    while survivors(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert survivors(tmp_path) == []


def log_lines(stderr_is_a_terminal: bool, tmp_path: Path) -> list[str]:
    """What `toolpark serve everything` logs while starting, with stderr a terminal or a pipe."""
    primary, secondary = pty.openpty() if stderr_is_a_terminal else os.pipe()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "toolpark", "serve", "everything", "--transport", "http", "--port", str(port)],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    received = b""
    deadline = time.monotonic() + 30
    while b"Uvicorn running" not in received and time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            received += os.read(primary, 65536)
    process.send_signal(signal.SIGINT)
    process.wait(30)
    os.close(primary)
    return [line for line in received.decode().splitlines() if line.strip()]


def test_logs_are_plain_at_a_terminal_and_json_elsewhere(tmp_path: Path) -> None:
    plain, piped = log_lines(True, tmp_path), log_lines(False, tmp_path)
    assert any("plugin everything ready" in line for line in plain)
    assert not any(line.lstrip().startswith("{") for line in plain)
    assert [json.loads(line)["level"] for line in piped if "plugin everything ready" in line] == ["info"]


def test_refuses_to_serve_anonymously_beyond_loopback() -> None:
    result = CliRunner().invoke(main, ["serve", "everything", "--transport", "http", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to serve 0.0.0.0 without authentication" in result.output


def test_auth_new_key_prints_a_key_and_its_entry() -> None:
    from toolpark.security.auth import AuthSettings
    from toolpark.security.keys import ApiKey, hash_key

    result = CliRunner().invoke(main, ["auth", "new-key", "librechat", "--scope", "notes:write", "--trusted-frontend"])
    assert result.exit_code == 0
    key = result.output.split("not stored): ")[1].split()[0]
    table = tomllib.loads(result.output.split("one such table per key:")[1].split("or in the environment")[0])
    (entry,) = (ApiKey.model_validate(item) for item in table["auth"]["api_keys"])
    assert entry.hash == hash_key(key) and entry.scopes == ["notes:write"] and entry.trusted_frontend
    env = result.output.split("TOOLPARK_AUTH_API_KEYS='")[1].split("'")[0]
    assert AuthSettings(api_keys=json.loads(env)).api_keys == [entry]  # what the env var accepts
