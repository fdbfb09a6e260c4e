"""The shape of the house: what imports what, and what the wheel installs.

Folders keep the product's layout (`core/`, `mcp_servers/`, `plugins/`, `compose/`); everything
installs under the one import name `toolpark`. The rules: a server never imports another server;
core never imports compose, a server or an example plugin; the libraries (documents, storage)
never import a server; the runtime (contract, host, security, operations) never imports the
client-side apps or the developer tools.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"core": "toolpark", "mcp_servers": "toolpark.mcp_servers", "plugins": "toolpark.plugins",
           "compose": "toolpark.compose"}  # fmt: skip
RUNTIME = ("contract", "host", "security", "operations")
LIBRARIES = ("documents", "storage")
APPS = ("chat", "devtools", "testing")

Edge = tuple[str, str]


def module_name(path: Path) -> str:
    """The installed name of a source file, e.g. mcp_servers/web/tools.py -> toolpark.mcp_servers.web.tools."""
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts[1:])
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[relative.parts[0]], *parts])


def imports(path: Path) -> set[str]:
    """Every toolpark module `path` imports, resolving `from toolpark.x import y` to toolpark.x.y when y is one."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "toolpark" or name.startswith("toolpark.")}


def import_graph() -> set[Edge]:
    edges = set()
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if "template" not in path.parts:
                edges.update((module_name(path), target) for target in imports(path))
    return edges


def area(module: str) -> str:
    """`server:<name>`, `plugin:<name>`, `compose`, or the core subpackage (`host`, `documents`, ...)."""
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "mcp_servers":
        return f"server:{parts[2]}"
    if len(parts) > 2 and parts[1] == "plugins":
        return f"plugin:{parts[2]}"
    if len(parts) > 1 and parts[1] in ("compose", "mcp_servers", "plugins"):
        return parts[1]
    return parts[1] if len(parts) > 1 else "api"


def broken_rules(edges: set[Edge]) -> list[str]:
    problems = []
    for source, target in sorted(edges):
        a, b = area(source), area(target)
        if a == b:
            continue
        if a.startswith("server:") and b.startswith("server:"):
            problems.append(f"{source} imports {target}: a server never imports another server")
        core = not a.startswith(("server:", "plugin:")) and a not in ("compose", "mcp_servers", "plugins")
        if core and (b.startswith(("server:", "plugin:")) or b == "compose"):
            problems.append(f"{source} imports {target}: core never imports compose, a server or a plugin")
        if a in LIBRARIES and b.startswith("server:"):
            problems.append(f"{source} imports {target}: a library never imports a server")
        if a in RUNTIME and b in APPS:
            problems.append(f"{source} imports {target}: the runtime never imports the apps or dev tools")
    return problems


def test_the_tree_keeps_the_import_rules() -> None:
    edges = import_graph()
    assert ("toolpark.mcp_servers.retrieval.tools", "toolpark.documents.html") in edges  # the graph sees imports
    assert broken_rules(edges) == []


def test_a_broken_rule_is_named() -> None:
    edges = import_graph() | {
        ("toolpark.mcp_servers.web.tools", "toolpark.mcp_servers.extract.tools"),
        ("toolpark.host.serving", "toolpark.compose.spec"),
        ("toolpark.documents.pdf", "toolpark.mcp_servers.extract"),
        ("toolpark.security.auth", "toolpark.chat.agent"),
    }
    assert broken_rules(edges) == [
        "toolpark.documents.pdf imports toolpark.mcp_servers.extract: core never imports compose, a server or a plugin",
        "toolpark.documents.pdf imports toolpark.mcp_servers.extract: a library never imports a server",
        "toolpark.host.serving imports toolpark.compose.spec: core never imports compose, a server or a plugin",
        "toolpark.mcp_servers.web.tools imports toolpark.mcp_servers.extract.tools: "
        "a server never imports another server",
        "toolpark.security.auth imports toolpark.chat.agent: the runtime never imports the apps or dev tools",
    ]


def test_the_wheel_installs_only_toolpark_and_every_source_file(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    built = subprocess.run([*command, str(ROOT)], capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("toolpark-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"toolpark", wheel.name.split("-py3")[0] + ".dist-info"}
    sources = {
        f"{module_name(path).replace('.', '/')}{'/__init__' if path.name == '__init__.py' else ''}.py"
        for folder in FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if "template" not in path.parts
    }
    assert sources - set(names) == set(), "a source folder is missing from [tool.setuptools] packages"
    assert "toolpark/plugins/template/__module__/plugin.py" in names
    assert "toolpark/mcp_servers/retrieval/stores/migrations/0001_schema.sql" in names
