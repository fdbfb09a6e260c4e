"""`toolpark plugin new`: a new plugin package copied from `plugins/template`."""

from __future__ import annotations

import json
import shlex
from importlib.metadata import PackageNotFoundError, distribution
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from toolpark.contract.plugin import check_plugin_name
from toolpark.contract.settings import env_prefix
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
    came from (a checkout, or a git URL), as pip recorded it (PEP 610's direct_url.json)."""
    source = _toolpark_source()
    first = f"pip install {source} && " if source else ""
    return f'cd {shlex.quote(str(target))} && {first}pip install -e ".[test]" && python -m pytest'


def _toolpark_source() -> str | None:
    try:
        recorded = distribution("toolpark").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not recorded:
        return None  # from an index: the plugin's own install finds it there
    found = json.loads(recorded)
    url: str = found["url"]
    if vcs := found.get("vcs_info"):
        return shlex.quote(f"{vcs['vcs']}+{url}@{vcs['commit_id']}")
    place = shlex.quote(url.removeprefix("file://"))
    return f"-e {place}" if found.get("dir_info", {}).get("editable") else place
