"""Small runs of the scale benchmarks (`bench/retrieval_scale.py`, `bench/concurrent_users.py`) on a
little data of the same shape as ../shared/data, so that they cannot rot: each runs end to end
against its real parts and prints its tables. Nothing here times anything."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "pdfs"
WORDS = [
    "wing",
    "flow",
    "pressure",
    "boundary",
    "layer",
    "shock",
    "supersonic",
    "heat",
    "transfer",
    "laminar",
    "turbulent",
    "nozzle",
    "jet",
    "cylinder",
    "plate",
    "body",
    "drag",
    "lift",
    "mach",
    "number",
    "slender",
    "cone",
    "wake",
    "vortex",
    "separation",
    "panel",
    "flutter",
]


def little_data(folder: Path) -> Path:
    """Cranfield's files (30 abstracts, 5 queries), two web pages and two PDFs, in the shared layout."""
    pick = random.Random(3)

    def sentence() -> str:
        return " ".join(pick.choice(WORDS) for _ in range(pick.randint(6, 14))).capitalize() + "."

    (folder / "cranfield").mkdir(parents=True)
    abstracts = [f".I {n}\n.T\ntitle {n}\n.A\n.B\n.W\n" + " ".join(sentence() for _ in range(5)) for n in range(1, 31)]
    (folder / "cranfield" / "cran.all.1400").write_text("\n".join(abstracts) + "\n")
    (folder / "cranfield" / "cran.qry").write_text("".join(f".I {n:03d}\n.W\n{sentence()}\n" for n in range(1, 6)))
    (folder / "web" / "pages").mkdir(parents=True)
    for n in range(2):
        body = "".join(f"<p>{sentence()} {sentence()}</p>" for _ in range(8))
        page = (
            f"<html><head><title>Page {n}</title></head><body><article><h1>Page {n}</h1>{body}</article></body></html>"
        )
        (folder / "web" / "pages" / f"page-{n}.html").write_text(page)
    (folder / "pdfs").mkdir()
    for name in ("multicolumn.pdf", "pdflatex-4-pages.pdf"):
        shutil.copy(FIXTURES / name, folder / "pdfs" / name)
    return folder


def _run(tmp_path: Path, script: str, *arguments: str) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, str(ROOT / "bench" / script), "--data", str(little_data(tmp_path / "data")), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_retrieval_scale_benchmark_runs_small(tmp_path: Path) -> None:
    out = _run(
        tmp_path, "retrieval_scale.py", "--passages", "3000", "--queries", "5", "--baseline-queries", "5",
        "--shared-buffers", "128MB",
    )  # fmt: skip
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| shared/archive")]
    modes = {(row[2], row[3]) for row in rows}
    assert {("vector", "full"), ("vector", "half"), ("hybrid", "half"), ("keyword", "")} <= modes, out
    # Exact search over a few thousand passages: the HNSW index finds nearly all of the true ten.
    recalls = [float(row[6].strip(" |")) for row in rows if row[2] == "vector"]
    assert recalls and min(recalls) >= 0.9, out
    assert re.search(r"\| qdrant \(client local mode\).* \| vector \|", out), out
    assert re.search(r"\| milvus \(Milvus Lite 3\).* \| vector \|", out), out
    assert "PostgreSQL's memory after the runs" in out


@pytest.mark.stack
def test_the_concurrent_users_benchmark_runs_small(tmp_path: Path) -> None:
    """Three users for 20 s against the entry node's services (no front ends), every call answered."""
    out = _run(
        tmp_path, "concurrent_users.py", "--users", "3", "--minutes", "0.34", "--think", "1", "--no-frontends",
        "--documents", "30",
    )  # fmt: skip
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.splitlines() if line.startswith("| ")}
    for tool in ("search", "fetch", "extract_text"):
        assert int(rows[tool][1]) > 0 and rows[tool][4].strip(" |") == "0", out
    for service in ("toolpark retrieval", "toolpark web", "toolpark extract", "scheduler", "caddy", "postgresql"):
        assert float(rows[service][1]) > 0, out  # its memory, at idle
    assert "toolpark's share" in out
