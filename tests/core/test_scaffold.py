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
