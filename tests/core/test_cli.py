"""The `toolpark` command as an operator runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner

from toolpark.devtools.cli import main
from toolpark.testing import free_port


def test_list_shows_tools_and_settings_with_env_names() -> None:
    result = CliRunner().invoke(main, ["list", "--json"])
    assert result.exit_code == 0, result.output
    everything = next(p for p in json.loads(result.output) if p["name"] == "everything")
    assert {"echo", "test_simple_text"} <= {t["name"] for t in everything["tools"]}
    timeout = next(s for s in everything["settings"] if s["env"] == "TOOLPARK_EVERYTHING_CALL_TIMEOUT_S")
    assert timeout["default"] == "30.0"


def test_plugin_new_reports_what_it_wrote(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["plugin", "new", "weather", "--dir", str(tmp_path)])
    again = runner.invoke(main, ["plugin", "new", "weather", "--dir", str(tmp_path)])
    assert first.exit_code == 0 and "toolpark-weather" in first.output
    assert again.exit_code != 0 and "already exists" in again.output


def test_serve_names_an_unknown_plugin() -> None:
    result = CliRunner().invoke(main, ["serve", "no-such-plugin"])
    assert result.exit_code != 0 and "no plugin named no-such-plugin" in result.output


def test_bad_setting_is_reported_not_raised(monkeypatch: object) -> None:
    result = CliRunner().invoke(main, ["serve", "everything"], env={"TOOLPARK_EVERYTHING_MAX_CONCURRENCY": "zero"})
    assert result.exit_code != 0 and "max_concurrency" in result.output


def test_up_serves_and_prints_a_librechat_block(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "toolpark", "up", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, "toolpark up did not become ready"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    block = yaml.safe_load(out.split("For librechat.yaml:")[1])
    url = f"http://127.0.0.1:{port}/web/mcp"
    assert block["mcpServers"]["web"] == {"type": "streamable-http", "url": url, "timeout": 60000}
    assert "everything" not in block["mcpServers"], "up serves the first-party servers, not the examples"
    assert block["mcpSettings"]["allowedAddresses"] == [f"127.0.0.1:{port}"]
    assert f"web: {url}" in out
    assert '"plugin web ready"' in err or "plugin web ready" in err


def test_refuses_to_serve_anonymously_beyond_loopback() -> None:
    result = CliRunner().invoke(main, ["serve", "everything", "--transport", "http", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to serve 0.0.0.0 without authentication" in result.output


def test_auth_new_key_prints_a_key_and_its_entry() -> None:
    from toolpark.security.auth import ApiKey, hash_key

    result = CliRunner().invoke(main, ["auth", "new-key", "librechat", "--scope", "notes:write", "--trusted-frontend"])
    assert result.exit_code == 0
    key = result.output.split("not stored): ")[1].split()[0]
    entry = ApiKey.model_validate_json(result.output.split("[auth].api_keys: ")[1])
    assert entry.hash == hash_key(key) and entry.scopes == ["notes:write"] and entry.trusted_frontend
