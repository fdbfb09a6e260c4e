"""The GPU node's boot, weights streamed from the stack's S3 against local files, in one run: vLLM
with `--load-format runai_streamer` reading s3://models/... (as the scheduled node does with
`weights = "s3://..."`, after `toolpark models check`) against the same models from a folder on
disk (the baseline: a node that already holds them). Each row: seconds to the weights' check (S3
only), to a healthy vLLM, and to its first answer (one chat token; one embedding); the first boot
of each compiles, the next reuse its compile cache, as a node does once its cache is saved.

    .venv/bin/python -m bench.gpu_boot [--rounds 2]

Here: the CPU vLLM the tests use (scripts/vllm-env), SmolLM2-135M (270 MB) and MiniLM (90 MB),
SeaweedFS on loopback, read with a key that only reads the models' bucket. A GPU node's figures
(a 7B model, an L4, the network) are in docs/deploying/gpu-boot.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import boto3
import httpx

from tests.vllm_server import VllmEnv, prepare, vllm_server
from toolpark.compose.weights import WeightsLocation, check_remote, push
from toolpark.operations.embedded import S3Service, add_reader, seaweedfs

MODELS = {"smollm2": ("chat", ["--max-model-len", "2048"]), "minilm": ("embedding", ["--runner", "pooling"])}


def _client(store: S3Service, key: tuple[str, str] | None = None):  # type: ignore[no-untyped-def]
    key_id, secret = key or (store.access_key_id, store.secret_access_key)
    return boto3.client("s3", endpoint_url=store.endpoint_url, aws_access_key_id=key_id,
                        aws_secret_access_key=secret, region_name="us-east-1")  # fmt: skip


def _first_answer(url: str, name: str, role: str) -> None:
    if role == "chat":
        body = {"model": name, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        httpx.post(f"{url}/chat/completions", json=body, timeout=120).raise_for_status()
    else:
        httpx.post(f"{url}/embeddings", json={"model": name, "input": ["hi"]}, timeout=120).raise_for_status()


def _boot(env: VllmEnv, model: Path | str, name: str, environ: dict[str, str], log: Path) -> tuple[float, float]:
    role, args = MODELS[name]
    if isinstance(model, str):
        args = [*args, "--load-format", "runai_streamer"]
    began = time.monotonic()
    with vllm_server(env, model, name, *args, log=log, environ=environ) as server:
        healthy = time.monotonic() - began
        _first_answer(server.url, name, role)
        return healthy, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="Boots of each; the first compiles (cold).")
    rounds = parser.parse_args().rounds
    env = prepare()
    folders = {"smollm2": env.chat_model, "minilm": env.embedding_model}
    rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "s3").mkdir()
        reader = add_reader(base / "s3", "models")
        with seaweedfs(base / "s3") as store:
            admin = _client(store)
            admin.create_bucket(Bucket="models")
            for name, folder in folders.items():
                began = time.monotonic()
                files = push(folder, WeightsLocation("models", name), admin)
                print(f"pushed {name}: {sum(files.values()) / 1e6:.0f} MB in {time.monotonic() - began:.1f} s")
            s3 = {
                "AWS_ENDPOINT_URL": store.endpoint_url, "AWS_ACCESS_KEY_ID": reader[0],
                "AWS_SECRET_ACCESS_KEY": reader[1], "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true", "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING": "0",
            }  # fmt: skip
            for n in range(rounds):
                for name, folder in folders.items():
                    # A compile cache of each boot's own: the first round compiles, the next reuse it,
                    # as a node does with the cache its first boot saved.
                    local = {"VLLM_CACHE_ROOT": str(base / "cache" / f"{name}-local")}
                    healthy, answered = _boot(env, folder, name, local, base / f"{name}-local-{n}.log")
                    rows.setdefault((name, "local folder"), []).append((0.0, healthy, answered))
                    began = time.monotonic()
                    check_remote(WeightsLocation("models", name), _client(store, reader))
                    checked = time.monotonic() - began
                    streamed = s3 | {"VLLM_CACHE_ROOT": str(base / "cache" / f"{name}-s3")}
                    healthy, answered = _boot(env, f"s3://models/{name}", name, streamed, base / f"{name}-s3-{n}.log")
                    rows.setdefault((name, "S3, streamed"), []).append((checked, checked + healthy, checked + answered))
    print("\nseconds from the start; S3 rows include the weights' check; boot 1 compiles, later boots reuse its cache")
    header = ("model", "weights from", "boot", "checked", "healthy", "first answer")
    print("| {:<8} | {:<13} | {:>4} | {:>7} | {:>7} | {:>12} |".format(*header))
    print(f"|{'-' * 10}|{'-' * 15}|{'-' * 6}|{'-' * 9}|{'-' * 9}|{'-' * 14}|")
    for (name, source), runs in rows.items():
        for n, (checked, healthy, answered) in enumerate(runs, 1):
            shown = f"{checked:.2f}" if source != "local folder" else "-"
            print(f"| {name:<8} | {source:<13} | {n:>4} | {shown:>7} | {healthy:>7.1f} | {answered:>12.1f} |")


if __name__ == "__main__":
    main()
