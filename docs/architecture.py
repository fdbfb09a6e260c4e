"""Draws docs/architecture.svg from the import graph `tests/test_layout.py` reads: one box per
part of the house, each row importing only the rows below it (the ground floor, the contract, at
the bottom), with a line for each part that imports another.

    .venv/bin/python -m docs.architecture      # tests/test_layout.py fails while the file is stale
"""

from __future__ import annotations

from pathlib import Path

from tests.test_layout import area, compose_floor, import_graph, modules

OUT = Path(__file__).with_name("architecture.svg")
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 150, 36, 24, 70, 20


def part(module: str) -> str:
    """The box a module belongs to: a core subpackage, `servers`, `plugins` or a floor of compose."""
    name = area(module)
    if name.startswith("server:") or name == "mcp_servers":
        return "mcp_servers"
    if name.startswith("plugin:") or name == "plugins":
        return "plugins"
    if name == "compose":
        return f"compose: {compose_floor(module) or 'rendering'}"
    return {"api": "toolpark", "sdk": "host", "clients": "host", "__main__": "devtools"}.get(name, name)


def parts_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    known = modules() | {"toolpark"}
    for source, target in import_graph():
        if target not in known:
            continue  # a name imported from a module, not a module
        a, b = part(source), part(target)
        graph.setdefault(a, set())
        graph.setdefault(b, set())
        if a != b and b != "toolpark":  # `toolpark` re-exports the contract: an import of it is one of the contract
            graph[a].add(b)
        elif b == "toolpark" and a != "contract":
            graph[a].add("contract")
    graph.pop("toolpark", None)
    return graph


def rows(graph: dict[str, set[str]]) -> list[list[str]]:
    """Parts by height: a part sits one row above the highest part it imports."""
    height: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in height:
            height[name] = 1 + max((of(below) for below in graph[name]), default=-1)
        return height[name]

    for name in graph:
        of(name)
    return [sorted(n for n in graph if height[n] == h) for h in range(max(height.values()) + 1)]


def svg() -> str:
    graph = parts_graph()
    layers = rows(graph)
    width = MARGIN * 2 + max(len(r) for r in layers) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + len(layers) * (BOX_H + GAP_Y) - GAP_Y
    where: dict[str, tuple[float, float]] = {}
    for level, row in enumerate(layers):
        y = height - MARGIN - BOX_H - level * (BOX_H + GAP_Y)
        left = (width - (len(row) * (BOX_W + GAP_X) - GAP_X)) / 2
        for i, name in enumerate(row):
            where[name] = (left + i * (BOX_W + GAP_X), y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="sans-serif" font-size="13">',
        '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>',
    ]
    for source in sorted(graph):
        sx, sy = where[source]
        for target in sorted(graph[source]):
            tx, ty = where[target]
            out.append(
                f'<line x1="{sx + BOX_W / 2:.0f}" y1="{sy + BOX_H:.0f}" x2="{tx + BOX_W / 2:.0f}" y2="{ty:.0f}" '
                'stroke="#bbb" marker-end="url(#a)"/>'
            )
    for name, (x, y) in sorted(where.items()):
        fill = "#e8f0fe" if name == "contract" else "#fff3e0" if name.startswith("compose") else "#f5f5f5"
        box = f'x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}"'
        out.append(f'<rect {box} rx="6" fill="{fill}" stroke="#555"/>')
        out.append(f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 5:.0f}" text-anchor="middle">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    OUT.write_text(svg())
