"""`toolpark plugin new`: a new plugin package copied from `plugins/template`."""

from __future__ import annotations

import shlex
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from toolpark.contract.plugin import check_plugin_name
from toolpark.contract.settings import env_prefix
from toolpark.devtools.origin import toolpark_origin
from toolpark.host.config import name_clash

__all__ = ["install_line", "new_plugin"]

_MODULE_DIR = "__module__"


def new_plugin(name: str, directory: Path, description: str | None = None) -> Path:
    """Write the package `toolpark-<name>` under `directory` and return its path.

    Refuses an invalid name or an existing target, so nothing is ever overwritten.
    """
    check_plugin_name(name)
    if clash := name_clash(name):
        raise ValueError(f"plugin name {name!r} is taken: {clash}")
    if description is not None and any(c in description for c in '"\\\n'):
        raise ValueError("the description is one line without quotes or backslashes")
    target = directory / f"toolpark-{name}"
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    module = f"toolpark_{name.replace('-', '_')}"
    tokens = {
        "{{name}}": name,
        "{{module}}": module,
        "{{description}}": description or f"The {name} tool server.",
        "{{env_prefix}}": env_prefix(name),
    }
    _copy(files("toolpark.plugins") / "template", target, tokens, module)
    return target


def _copy(source: Traversable, target: Path, tokens: dict[str, str], module: str) -> None:
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name == "__pycache__":
            continue
        name = module if entry.name == _MODULE_DIR else _fill(entry.name, tokens)
        if entry.is_dir():
            _copy(entry, target / name, tokens, module)
        else:
            (target / name).write_text(_fill(entry.read_text(encoding="utf-8"), tokens), encoding="utf-8")


def _fill(text: str, tokens: dict[str, str]) -> str:
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


def install_line(target: Path) -> str:
    """The commands that install the new plugin with its tests and run them, in any venv: toolpark is
    not on PyPI, so the plugin's `toolpark` dependency is installed first from where this toolpark
    came from (a checkout, or a git URL)."""
    origin = toolpark_origin()
    first = f"pip install {_quoted(origin.pip_requirement())} && " if origin else ""
    return f'cd {shlex.quote(str(target))} && {first}pip install -e ".[test]" && python -m pytest'


def _quoted(requirement: str) -> str:
    return " ".join(shlex.quote(part) for part in requirement.split(" ", 1))
