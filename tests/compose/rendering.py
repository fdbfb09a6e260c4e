"""Rendering the test specs with fixed secrets, so the output is the same on every run."""

from __future__ import annotations

from pathlib import Path

from toolpark.compose.files import read_spec
from toolpark.compose.render import ENV_FILE, render
from toolpark.compose.secrets import complete, external_secrets, generated_secrets
from toolpark.compose.spec import Deployment

ROOT = Path(__file__).resolve().parents[2]
SPECS = {
    "entry-gpu": ROOT / "compose" / "example.toml",  # the example `toolpark compose init` writes
    "single-node": Path(__file__).parent / "specs" / "single-node.toml",
    "engines": Path(__file__).parent / "specs" / "engines.toml",
}
GOLDEN = Path(__file__).parent / "golden"


def fixed_secrets(spec: Deployment) -> dict[str, str]:
    names = [*generated_secrets(spec), *external_secrets(spec)]
    return complete(spec, {name: f"test-{name.lower().replace('_', '-')}" for name in names})


def render_spec(spec: Deployment) -> dict[str, str]:
    return render(spec, fixed_secrets(spec))


def rendered(case: str) -> dict[str, str]:
    return render_spec(read_spec(SPECS[case]))


def without_env(files: dict[str, str]) -> dict[str, str]:
    return {path: text for path, text in files.items() if path != ENV_FILE}
