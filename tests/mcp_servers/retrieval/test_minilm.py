"""The local embedder (all-MiniLM-L6-v2 in NumPy) gives sentence-transformers' vectors: those
of a few texts (empty, short, German, one past the model's 256 tokens) as sentence-transformers
made them are kept in the fixtures, and it never imports sentence-transformers, transformers or torch,
whose imports alone are hundreds of MB of memory."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import numpy as np

from tests.processes import ROOT
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder

REFERENCE = ROOT / "tests" / "fixtures" / "minilm" / "sentence_transformers_vectors.json"


def test_the_local_embedder_gives_sentence_transformers_vectors() -> None:
    reference = json.loads(REFERENCE.read_text())
    embedder = LocalEmbedder()
    ours = np.array(anyio.run(embedder.embed, reference["texts"]))
    theirs = np.array(reference["vectors"])
    assert embedder.dimension == 384 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-5, np.abs(ours - theirs).max(axis=1)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Batching and length-sorting do not change a text's vector.
    alone = np.array(anyio.run(embedder.embed, reference["texts"][1:2]))
    assert np.abs(alone[0] - ours[1]).max() < 1e-5


def test_the_local_embedder_loads_neither_sentence_transformers_nor_transformers_nor_torch() -> None:
    program = (
        "import sys, anyio\n"
        "from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder\n"
        "anyio.run(LocalEmbedder().embed, ['lighthouse'])\n"
        "print(sorted(m for m in ('sentence_transformers', 'transformers', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
