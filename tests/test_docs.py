"""The docs stay true: the tutorials' code runs, and the architecture picture is the import graph's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from docs.architecture import OUT, svg
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import serve_http

ROOT = Path(__file__).resolve().parent.parent
CONNECT = ROOT / "docs" / "examples" / "connect.py"


def _connect(url: str, tool: str) -> str:
    done = subprocess.run([sys.executable, str(CONNECT), url, tool], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_client_example_lists_tools_and_calls_one() -> None:
    with serve_http(everything) as running:
        out = _connect(running.url("everything"), "test_simple_text")
        assert out.splitlines()[0].startswith("tools: ") and "test_error_handling" in out.splitlines()[0]
        assert out.splitlines()[1] == "result:" and "simple text" in out.lower()
        failed = _connect(running.url("everything"), "test_error_handling")
        assert failed.splitlines()[1] == "error:"


def test_the_architecture_picture_is_current() -> None:
    assert OUT.read_text() == svg(), "docs/architecture.svg is stale: run .venv/bin/python -m docs.architecture"
