"""Main-content extraction on real web pages: the web server's conversion vs mcp-server-fetch's.

Data: the trafilatura evaluation pages in `<data>/web` (see shared/data/README.md). For each page,
each "with" snippet found in the output is a true positive (else a false negative) and each
"without" snippet found is a false positive: precision, recall and F1 as the trafilatura
project reports them. Both outputs are markdown; link targets and emphasis marks are removed
from both before matching, since the snippets are plain text.

The baseline is mcp-server-fetch's own `extract_content_from_html`: readabilipy with
`use_readability=True` (Mozilla's Readability.js under Node when readabilipy's JavaScript
dependencies are installed, its pure-Python mode otherwise), then markdownify. Both run in this
process on the same decoded HTML. Targets: F1 >= 0.90 and above the baseline, at >= 3x its speed.

    .venv/bin/python bench/web_extraction.py [--data ../shared/data] [--baseline node|python|both]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import markdownify
import readabilipy.simple_json
from readabilipy.simple_json import have_node

from toolpark.documents.decoding import decode
from toolpark.documents.html import convert_html

ROOT = Path(__file__).resolve().parent.parent


def mcp_server_fetch(html: str, *, node: bool) -> str:
    """mcp-server-fetch's conversion; a page it crashes on yields nothing, as its users would get."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            simplified = readabilipy.simple_json.simple_json_from_html_string(html, use_readability=node)
    except Exception:
        return ""
    if not simplified["content"]:
        return "<error>Page failed to be simplified from HTML</error>"
    return str(markdownify.markdownify(simplified["content"], heading_style=markdownify.ATX))


def toolpark(html: str) -> str:
    return convert_html(html, fmt="markdown").text


def plain(markdown: str) -> str:
    """The text a reader sees: markdown's syntax removed, the characters it escaped kept, so that a
    snippet with `*` or `_` in it can still be found (the scorer measures the converter, not itself)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # links and images: their text
    text = re.sub(r"(?m)^\s*\|?(\s*:?-{3,}:?\s*\|)+\s*$", " ", text)  # table rules
    text = re.sub(r"(?m)^\s{0,3}(#{1,6}|>+|[-*+]|\d+[.)])\s+", "", text)  # headings, quotes, list items
    text = re.sub(r"(?<![\\\w])(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=[^\s\\])\1(?!\w)", r"\2", text)  # emphasis, code
    text = text.replace("|", " ")  # table cells
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>~])", r"\1", text)  # escapes: the character itself
    return " ".join(text.split())


def evaluate(convert: Callable[[str], str], pages: list[tuple[str, list[str], list[str]]]) -> tuple[float, ...]:
    tp = fp = fn = 0
    elapsed = 0.0
    for html, wanted, unwanted in pages:
        started = time.perf_counter()
        out = convert(html)
        elapsed += time.perf_counter() - started
        text = plain(out)
        found = [" ".join(s.split()) in text for s in wanted]
        tp += sum(found)
        fn += len(found) - sum(found)
        fp += sum(" ".join(s.split()) in text for s in unwanted)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return precision, recall, 2 * precision * recall / (precision + recall), len(pages) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--baseline", choices=["node", "python", "both"], default="both")
    args = parser.parse_args()
    root = args.data / "web"
    evaluation = json.loads((root / "evaldata.json").read_text())
    pages = []
    for entry in evaluation.values():
        raw = (root / "pages" / entry["file"]).read_bytes()
        pages.append((decode(raw, "text/html"), entry["with"], entry["without"]))

    runs: list[tuple[str, Callable[[str], str]]] = [("toolpark web (trafilatura markdown)", toolpark)]
    modes = ["node", "python"] if args.baseline == "both" else [args.baseline]
    for mode in modes:
        if mode == "node" and not have_node():
            print("Readability.js unavailable (needs node and `npm install` in readabilipy/javascript); skipped")
            continue
        label = "mcp-server-fetch (Readability.js via node)" if mode == "node" else "mcp-server-fetch (pure Python)"
        runs.append((label, lambda html, node=(mode == "node"): mcp_server_fetch(html, node=node)))

    print(f"\n{len(pages)} pages from {root}")
    print("| converter | precision | recall | F1 | pages/s |")
    print("|---|---|---|---|---|")
    results = {}
    for label, convert in runs:
        results[label] = evaluate(convert, pages)
        p, r, f1, rate = results[label]
        print(f"| {label} | {p:.3f} | {r:.3f} | {f1:.3f} | {rate:.1f} |")
    ours = results[runs[0][0]]
    for label, (_, _, f1, rate) in list(results.items())[1:]:
        print(f"\nvs {label}: F1 {ours[2]:.3f} vs {f1:.3f}, speed {ours[3] / rate:.1f}x (targets: F1 >= 0.90, >= 3x)")


if __name__ == "__main__":
    main()
