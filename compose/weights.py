"""Model weights in the stack's own S3: checked, pushed once, checked again where they are read.

A scheduled GPU node that downloads its model from Hugging Face at every boot pays for the whole
download every morning. Instead `toolpark models push` puts the model folder in the stack's bucket
once, and vLLM streams it from there (`--load-format runai_streamer`, `compose/services.py`).

What makes a folder loadable is checked before anything is uploaded, and again on the node before
vLLM starts, so that a missing or cut shard is named instead of surfacing as a loader's traceback
after minutes of streaming:
- `config.json` is there (vLLM reads it first);
- every shard the safetensors index names is there;
- every `.safetensors` file is as long as its own header says (8 bytes of length, the JSON header,
  then the tensors up to the largest end offset): a copy cut short fails here.
The push ends with a manifest (`toolpark-weights.json`: each file and its size), written last, so
a push that stopped half-way has none and the node's check says to push again.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_FOLDER",
    "MANIFEST",
    "WeightsError",
    "WeightsLocation",
    "cache_key_name",
    "check_folder",
    "check_remote",
    "pack_cache",
    "push",
    "restore_cache",
    "s3_client",
    "source_folder",
]

MANIFEST = "toolpark-weights.json"
_HEADER_MAX = 100 * 1024 * 1024  # safetensors' own limit on the header's size


class WeightsError(Exception):
    """A model folder or a pushed copy that vLLM could not load; the message names the file."""


@dataclass(frozen=True)
class WeightsLocation:
    bucket: str
    prefix: str  # no trailing slash

    @classmethod
    def parse(cls, url: str) -> WeightsLocation:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket or not prefix.strip("/"):
            raise WeightsError(f"{url!r}: say where as s3://bucket/prefix (a folder in the bucket, not its root)")
        return cls(bucket, prefix.strip("/"))

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def s3_client(
    endpoint: str | None,
    *,
    region: str | None = None,
    key_id: str | None = None,
    secret: str | None = None,
    path_style: bool = True,
) -> Any:
    """A boto3 S3 client (the s3 extra brings boto3); keys left out come from boto3's own chain.
    Path-style addressing for a store on an address of its own (SeaweedFS, MinIO: no bucket DNS
    names); AWS itself (no endpoint) chooses."""
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path" if path_style else "virtual"}) if endpoint else None
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=config,
    )  # fmt: skip


def source_folder(model: str) -> Path:
    """A model folder on disk, or a Hugging Face id found in the local Hugging Face cache (its
    snapshot for the ref `main`, or its only one). Nothing is downloaded."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if model.count("/") != 1 or path.exists():
        raise WeightsError(f"{model}: not a folder, nor a Hugging Face id (org/name) to find in its cache")
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    entry = hub.expanduser() / f"models--{model.replace('/', '--')}"
    snapshots = sorted((entry / "snapshots").glob("*")) if (entry / "snapshots").is_dir() else []
    ref = entry / "refs" / "main"
    if ref.is_file() and (entry / "snapshots" / ref.read_text().strip()).is_dir():
        return entry / "snapshots" / ref.read_text().strip()
    if len(snapshots) == 1:
        return snapshots[0]
    found = f"{len(snapshots)} snapshots and no refs/main" if snapshots else "nothing"
    raise WeightsError(f"{model}: {entry} holds {found}; download it there first, or name its folder")


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    """The folder's files by their names in the bucket; symbolic links followed (a Hugging Face
    snapshot links into its blobs), hidden files and folders left out."""
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in name.split("/")) and name != MANIFEST:
            yield name, path


def _tensors_end(path: Path) -> int:
    """How long a safetensors file must be, by its own header."""
    with path.open("rb") as file:
        head = file.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path.name}: {len(head)} bytes, shorter than a safetensors header")
        length = int.from_bytes(head, "little")
        if length > _HEADER_MAX:
            raise WeightsError(f"{path.name}: not a safetensors file (its header would be {length} bytes)")
        try:
            header = json.loads(file.read(length))
        except ValueError:
            raise WeightsError(f"{path.name}: its safetensors header is not JSON (cut short?)") from None
    ends: list[int] = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    return 8 + length + max(ends, default=0)


def check_folder(folder: Path) -> dict[str, int]:
    """Each file vLLM would read and its size; WeightsError naming the first file that is wrong."""
    files = {name: path for name, path in _files(folder)}
    if "config.json" not in files:
        raise WeightsError(f"config.json: missing in {folder} (is it a model folder?)")
    shards = [name for name in files if name.endswith(".safetensors")]
    if not shards:
        raise WeightsError(f"{folder}: no .safetensors file; vLLM's streaming loader reads safetensors only")
    for index in (name for name in files if name.endswith(".safetensors.index.json")):
        named = json.loads(files[index].read_bytes()).get("weight_map", {}).values()
        for shard in sorted(set(named)):
            if shard not in files:
                raise WeightsError(f"{shard}: missing, and {index} names it")
    for shard in shards:
        size, expected = files[shard].stat().st_size, _tensors_end(files[shard])
        if size != expected:
            raise WeightsError(f"{shard}: {size} bytes, and its header says {expected} (a copy cut short?)")
    return {name: path.stat().st_size for name, path in files.items()}


def push(folder: Path, where: WeightsLocation, client: Any) -> dict[str, int]:
    """Checks the folder, uploads each file, then the manifest; what it uploaded."""
    files = check_folder(folder)
    for name in files:
        client.upload_file(str(folder / name), where.bucket, where.key(name))
    manifest = {"files": files, "bytes": sum(files.values())}
    client.put_object(Bucket=where.bucket, Key=where.key(MANIFEST), Body=json.dumps(manifest, indent=1).encode())
    return files


CACHE_FOLDER = ".toolpark/vllm-cache"  # beside the weights: vLLM's compile caches, by key


def cache_key_name(where: WeightsLocation, key: str) -> str:
    """Where the compile cache of `key` is kept in the bucket."""
    if not key.isalnum() or len(key) > 64:
        raise WeightsError(f"{key!r}: a compile cache's key is letters and digits")
    return where.key(f"{CACHE_FOLDER}/{key}.tar.gz")


def restore_cache(where: WeightsLocation, key: str, folder: Path, client: Any) -> int:
    """vLLM's compile cache saved under `key`, unpacked into `folder`; its size, 0 if none is saved."""
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=where.bucket, Key=cache_key_name(where, key))["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return 0
        raise WeightsError(f"the compile cache {key} could not be read: {exc}") from None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(body, spool)
        size = spool.tell()
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r:gz") as tar:
            tar.extractall(folder, filter="data")  # no links or paths out of the folder
    return size


def pack_cache(folder: Path, out: Any) -> None:
    """`folder` (vLLM's compile cache) as a tar.gz into the file `out`."""
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)


def check_remote(where: WeightsLocation, client: Any) -> dict[str, int]:
    """The pushed copy against its manifest: every file there, each of its size."""
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=where.bucket, Key=where.key(MANIFEST))["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        if code in ("NoSuchKey", "404"):
            raise WeightsError(f"{where}/{MANIFEST}: missing; push the model there (toolpark models push)") from None
        raise WeightsError(f"{where}/{MANIFEST}: could not be read ({code}): {exc}") from None
    files: dict[str, int] = json.loads(body)["files"]
    present: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.key("")):
        for entry in page.get("Contents", []):
            present[entry["Key"].removeprefix(where.key(""))] = entry["Size"]
    for name, size in files.items():
        if name not in present:
            raise WeightsError(f"{name}: missing in {where}, and its manifest names it; push the model again")
        if present[name] != size:
            raise WeightsError(f"{name}: {present[name]} bytes in {where}, {size} when pushed; push the model again")
    return files
