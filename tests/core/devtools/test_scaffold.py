"""`toolpark plugin new` writes a package that lints clean, installs, registers, and passes its own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolpark.devtools.scaffold import new_plugin


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False)


def test_generated_plugin_installs_and_passes_its_tests(tmp_path: Path) -> None:
    package = new_plugin("field-notes", tmp_path, "Keeps field notes.")
    assert package == tmp_path / "toolpark-field-notes"
    module = package / "toolpark_field_notes"
    # The shape of the first-party servers: declaration, tools, and a command of its own.
    assert {p.name for p in module.iterdir()} >= {"__init__.py", "plugin.py", "tools.py", "command.py"}
    assert not list(package.rglob("*{{*")), "a template token was left in a file name"
    for source in package.rglob("*"):
        if source.is_file():
            assert "{{" not in source.read_text(), f"a template token was left in {source}"

    lint = run(sys.executable, "-m", "ruff", "check", "--no-cache", ".", cwd=package)
    assert lint.returncode == 0, lint.stdout

    site = tmp_path / "site"
    install = run(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--target", str(site), str(package), cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}

    listed = run(sys.executable, "-m", "toolpark", "list", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert [t["name"] for t in plugins["field-notes"]["tools"]] == ["greet"]
    assert "TOOLPARK_FIELD_NOTES_GREETING" in {s["env"] for s in plugins["field-notes"]["settings"]}

    command = run(sys.executable, "-m", "toolpark", "field-notes", cwd=tmp_path, env=env)
    assert command.returncode == 0, command.stderr
    assert command.stdout.startswith("greet: Greet someone by name.")

    tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package, env=env)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "5 passed" in tests.stdout  # its own four and the MCP contract


def test_refuses_to_overwrite_or_misname(tmp_path: Path) -> None:
    new_plugin("notes", tmp_path)
    with pytest.raises(FileExistsError):
        new_plugin("notes", tmp_path)
    with pytest.raises(ValueError, match="lowercase"):
        new_plugin("Bad Name", tmp_path)
    with pytest.raises(ValueError, match="quotes"):
        new_plugin("quoted", tmp_path, 'say "hi"')


def test_the_core_alone_runs_the_cli_and_a_new_plugins_tests(tmp_path: Path) -> None:
    """What a plugin author installs: `pip install toolpark` with no extra, in a fresh venv with the
    pip it ships. `toolpark --help` once failed there (the host imported the PDF stack at start)."""
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path).returncode == 0
    python, toolpark = venv / "bin" / "python", venv / "bin" / "toolpark"
    root = Path(__file__).resolve().parents[3]
    installed = run(str(python), "-m", "pip", "install", "--quiet", str(root), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]
    extras = run(str(python), "-c", "import pypdfium2", cwd=tmp_path)
    assert extras.returncode != 0, "the bare install has the extract extra's libraries: it proves nothing"

    helped = run(str(toolpark), "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr[-3000:]
    listed = run(str(toolpark), "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "extract: unavailable, it needs" in listed.stdout and "pip install 'toolpark[extract]'" in listed.stdout
    assert "notes 0.1.0" in listed.stdout  # an example plugin needs nothing more
    # `ingest` is a client of a running retrieval server: the core's MCP client is all it needs.
    (tmp_path / "notes.txt").write_text("a note")
    unserved = run(str(toolpark), "ingest", "notes.txt", "--collection", "c", "--url", "http://127.0.0.1:9/mcp",
                   cwd=tmp_path)  # fmt: skip
    assert unserved.returncode == 1 and "Traceback" not in unserved.stderr, unserved.stderr[-3000:]
    assert "http://127.0.0.1:9/mcp: " in unserved.stderr  # the server it could not reach, in one line
    planned = run(str(toolpark), "gpu", "plan", "deploy.toml", cwd=tmp_path)  # it died on `import requests`
    assert planned.returncode == 1 and "Traceback" not in planned.stderr, planned.stderr[-3000:]
    assert "needs the gpu extra" in planned.stderr and "pip install 'toolpark[gpu]'" in planned.stderr

    made = run(str(toolpark), "plugin", "new", "field-notes", "--dir", str(tmp_path), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    # The printed next step, as the author pastes it into a fresh venv of the plugin's own: toolpark
    # is not on PyPI, so the plugin's `toolpark` dependency once failed to install there.
    (line,) = [text.removeprefix("next: ") for text in made.stdout.splitlines() if text.startswith("next: ")]
    assert f"pip install {root}" in line, line
    fresh = tmp_path / "plugin-venv"
    assert run(sys.executable, "-m", "venv", str(fresh), cwd=tmp_path).returncode == 0
    env = {**os.environ, "PATH": f"{fresh / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(fresh)}
    env["PIP_QUIET"] = "1"
    done = run(
        "bash", "-c", line.replace("python -m pytest", "python -m pytest -q -p no:cacheprovider"), cwd=tmp_path, env=env
    )
    assert done.returncode == 0 and "5 passed" in done.stdout, (done.stdout + done.stderr)[-3000:]
