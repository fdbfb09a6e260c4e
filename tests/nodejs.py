"""Running the Node-side peers (Node 22, the conformance suite, the TypeScript SDK) from tests.

`scripts/test` installs them with `npm ci` in tests/node; a missing install fails the test
with that hint rather than skipping it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


def node_binary() -> Path:
    found = sorted((NODE_DIR / "node_modules").glob("node-linux-*/bin/node"))
    if not found:
        pytest.fail("Node 22 is missing: run scripts/test, or `npm ci` in tests/node")
    return found[0]


def run_node(*args: str, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run node with `args` in tests/node, capturing text output; `env` adds to the environment."""
    return subprocess.run(
        [str(node_binary()), *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
    )
