"""`toolpark models push` and `check` against a real S3 (embedded SeaweedFS): a sharded safetensors
folder goes up once with its manifest; a missing shard or one cut short is refused, by the push
and by the node's check of the pushed copy, with the file named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from safetensors.numpy import save_file

from toolpark.operations.embedded import S3Service, seaweedfs

SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]


def model_folder(folder: Path) -> Path:
    """A small model folder as Hugging Face writes one: config, two shards and their index."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (folder / "tokenizer.json").write_text("{}")
    weight_map = {}
    for n, shard in enumerate(SHARDS):
        tensors = {f"layer.{n}.weight": np.full((64, 64), n, dtype=np.float32)}
        save_file(tensors, str(folder / shard))
        weight_map |= dict.fromkeys(tensors, shard)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as service:
        client(service).create_bucket(Bucket="models")
        yield service


def client(service: S3Service):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3", endpoint_url=service.endpoint_url, aws_access_key_id=service.access_key_id,
        aws_secret_access_key=service.secret_access_key, region_name="us-east-1",
    )  # fmt: skip


def models(store: S3Service, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {
        "AWS_ENDPOINT_URL": store.endpoint_url, "AWS_ACCESS_KEY_ID": store.access_key_id,
        "AWS_SECRET_ACCESS_KEY": store.secret_access_key, "AWS_REGION": "us-east-1",
    } | (env or {})  # fmt: skip
    command = [sys.executable, "-m", "toolpark", "models", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)


def test_a_pushed_model_is_all_there_and_checks_complete(store: S3Service, tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "tiny")
    pushed = models(store, "push", str(folder), "--to", "s3://models/tiny/")
    assert pushed.returncode == 0, pushed.stderr
    assert "5 files" in pushed.stdout and 'weights = "s3://models/tiny"' in pushed.stdout
    listed = client(store).list_objects_v2(Bucket="models", Prefix="tiny/")["Contents"]
    sizes = {entry["Key"]: entry["Size"] for entry in listed}
    assert sizes == {f"tiny/{p.name}": p.stat().st_size for p in folder.iterdir()} | {
        "tiny/toolpark-weights.json": sizes["tiny/toolpark-weights.json"]
    }
    checked = models(store, "check", "s3://models/tiny")
    assert checked.returncode == 0 and "5 files" in checked.stdout and "complete" in checked.stdout, checked


def test_push_refuses_a_missing_shard_or_one_cut_short_naming_it(store: S3Service, tmp_path: Path) -> None:
    missing = model_folder(tmp_path / "missing")
    (missing / SHARDS[1]).unlink()
    refused = models(store, "push", str(missing), "--to", "s3://models/missing")
    assert refused.returncode == 1
    assert f"{SHARDS[1]}: missing, and model.safetensors.index.json names it" in refused.stderr
    cut = model_folder(tmp_path / "cut")
    data = (cut / SHARDS[0]).read_bytes()
    (cut / SHARDS[0]).write_bytes(data[:-100])
    refused = models(store, "push", str(cut), "--to", "s3://models/cut")
    assert refused.returncode == 1
    assert f"{SHARDS[0]}: {len(data) - 100} bytes, and its header says {len(data)}" in refused.stderr
    # Nothing went up: the check is before the first upload.
    assert "Contents" not in client(store).list_objects_v2(Bucket="models", Prefix="missing/")
    assert "Contents" not in client(store).list_objects_v2(Bucket="models", Prefix="cut/")


def test_the_nodes_check_names_a_shard_gone_or_changed_in_the_bucket(store: S3Service, tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "model")
    assert models(store, "push", str(folder), "--to", "s3://models/changed").returncode == 0
    s3 = client(store)
    s3.delete_object(Bucket="models", Key=f"changed/{SHARDS[1]}")
    refused = models(store, "check", "s3://models/changed")
    assert refused.returncode == 1
    assert f"{SHARDS[1]}: missing in s3://models/changed, and its manifest names it" in refused.stderr
    s3.put_object(Bucket="models", Key=f"changed/{SHARDS[1]}", Body=b"short")
    refused = models(store, "check", "s3://models/changed")
    size = (folder / SHARDS[1]).stat().st_size
    assert f"{SHARDS[1]}: 5 bytes in s3://models/changed, {size} when pushed" in refused.stderr
    never = models(store, "check", "s3://models/never-pushed")
    assert never.returncode == 1 and "toolpark-weights.json: missing; push the model there" in never.stderr


def test_a_hugging_face_id_is_pushed_from_the_local_cache(store: S3Service, tmp_path: Path) -> None:
    """The cache's layout: snapshots/<revision>/ of links into blobs/, refs/main naming the revision."""
    entry = tmp_path / "hub" / "models--org--tiny"
    made = model_folder(tmp_path / "made")
    (entry / "blobs").mkdir(parents=True)
    snapshot = entry / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for path in made.iterdir():
        blob = entry / "blobs" / f"blob-{path.name}"
        path.rename(blob)
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))
    (entry / "snapshots" / "old").mkdir()
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("abc123")
    cache = {"HF_HUB_CACHE": str(tmp_path / "hub")}
    pushed = models(store, "push", "org/tiny", "--to", "s3://models/from-cache", env=cache)
    assert pushed.returncode == 0, pushed.stderr
    assert str(snapshot) in pushed.stdout
    assert models(store, "check", "s3://models/from-cache").returncode == 0
    unknown = models(store, "push", "org/other", "--to", "s3://models/x", env=cache)
    assert unknown.returncode == 1 and "models--org--other holds nothing" in unknown.stderr
