"""The tool-call parsers `toolpark compose` accepts are exactly those the pinned vLLM registers."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.vllm_server import VllmEnv
from toolpark.compose.spec import TOOL_CALL_PARSERS

pytestmark = pytest.mark.vllm


def test_compose_knows_the_tool_call_parsers_of_vllm(vllm_env: VllmEnv) -> None:
    script = "import json; from vllm.tool_parsers import ToolParserManager as M; print(json.dumps(M.list_registered()))"
    done = subprocess.run([str(vllm_env.python), "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert set(json.loads(done.stdout.strip().splitlines()[-1])) == TOOL_CALL_PARSERS
