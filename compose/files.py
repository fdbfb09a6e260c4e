"""The one place `toolpark compose` touches the disk: reading a spec and .env, writing a render."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from toolpark.compose.checks import Problem, SpecError, missing_secrets, problems, validation_problems
from toolpark.compose.render import ENV_FILE, render
from toolpark.compose.secrets import complete, parse_env
from toolpark.compose.spec import Deployment

__all__ = ["Written", "read_env", "read_spec", "write_deployment"]


def read_spec(path: Path) -> Deployment:
    """The spec in `path` (TOML, or YAML by its suffix), checked whole; `SpecError` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(str(path), f"cannot be read: {exc.strerror}")], str(path)) from exc
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise SpecError(
            [Problem(str(path), f"is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}")], str(path)
        ) from exc
    try:
        spec = Deployment.model_validate(data or {})
    except ValidationError as exc:
        raise SpecError(validation_problems(exc), str(path)) from exc
    if found := problems(spec):
        raise SpecError(found, str(path))
    return spec


def read_env(path: Path) -> dict[str, str]:
    """The values in a .env file; none when it does not exist yet."""
    return parse_env(path.read_text(encoding="utf-8")) if path.exists() else {}


@dataclass(frozen=True)
class Written:
    files: list[str]
    generated: list[str]
    missing: list[Problem]


def write_deployment(spec: Deployment, out: Path, target: str = "compose") -> Written:
    """Render into `out`. Secrets already in `out/.env` are kept; missing ones are generated."""
    existing = read_env(out / ENV_FILE)
    secrets = complete(spec, existing)
    files = render(spec, secrets, target)
    for relative, content in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        # .env holds every secret: readable by its owner only, from the first byte on. The
        # temporary file is made new (O_EXCL), never opened through a link planted in its place.
        mode = 0o600 if relative == ENV_FILE else (0o755 if relative.endswith(".sh") else 0o644)
        temporary.unlink(missing_ok=True)  # a left-over file, or a link: the link itself goes
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(temporary, mode)
        temporary.replace(path)
    generated = sorted(k for k in secrets if k not in existing and secrets[k] and k != "TOOLPARK_AUTH_API_KEYS")
    return Written(sorted(files), generated, missing_secrets(spec, secrets))
