"""`toolpark compose up --target processes`: run a rendered stack under supervisord and say how each
service is doing, in the foreground, until Ctrl-C.

supervisord starts and restarts the programs; this watches them: a program supervisord gave up
on, or one that is not healthy when its start time is over, is named with the tail of its log,
and the whole stack stops (exit 1). The stack ends with its owner: supervisord gets SIGTERM when
this process ends, however it ends (Linux's parent-death signal), and stops every program's
process group.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from toolpark.compose.caddy import site_ports, sites
from toolpark.compose.local_nodes import LocalProvider
from toolpark.compose.providers import ProviderContext, node_labels, wait_gone
from toolpark.compose.services import Probe, service_definition
from toolpark.compose.startup import Starting, tree_cpu_s
from toolpark.compose.supervise import supervisord_command, supervisord_environment
from toolpark.compose.targets.processes import CONFIG, deferred, unstarted
from toolpark.compose.topology import Topology

__all__ = [
    "Watched",
    "log_tail",
    "run_stack",
    "stop_group",
    "wait_healthy",
    "watched",
]

_GAVE_UP = {"FATAL", "EXITED", "STOPPED", "UNKNOWN"}
_REPORT_S = 30  # how often `up` says what it still waits for


@dataclass(frozen=True)
class Watched:
    name: str
    probe: Probe | None
    start_s: int


def watched(topology: Topology) -> list[Watched]:
    """The services this machine runs, each with its probe and how long it may take to start. The
    scheduled node's come and go with the scheduler; it watches them."""
    skip = {*unstarted(topology), *_away(topology)}
    found = []
    for name in topology.services:
        if name not in skip:
            definition = service_definition(topology, name)
            found.append(Watched(name, definition.probe, definition.start_s))
    return found


def _away(topology: Topology) -> list[str]:
    """The services of the scheduled node, if any: the scheduler starts and stops them."""
    node = topology.spec.scheduled_node
    return [service.name for service in topology.services_on(node)] if node else []


def log_tail(folder: Path, service: str, lines: int = 30) -> str:
    path = folder / "logs" / f"{service}.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _healthy(probe: Probe | None) -> bool:
    if probe is None:
        return True
    if probe.path is None:
        with socket.socket() as connection:
            connection.settimeout(2)
            return connection.connect_ex(("127.0.0.1", probe.port)) == 0
    try:
        return httpx.get(f"http://127.0.0.1:{probe.port}{probe.path}", timeout=4).is_success
    except httpx.HTTPError:
        return False


def _supervisor(folder: Path) -> Any:
    from supervisor.xmlrpc import SupervisorTransport  # the processes extra

    transport = SupervisorTransport(None, None, f"unix://{folder / 'run' / 'supervisor.sock'}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def _states(folder: Path) -> dict[str, tuple[str, int]]:
    """Each program's state and pid (0 when it has none)."""
    try:
        infos: list[dict[str, Any]] = _supervisor(folder).getAllProcessInfo()
        return {info["name"]: (info["statename"], int(info["pid"])) for info in infos}
    except (OSError, xmlrpc.client.Fault):
        return {}  # supervisord is still starting


def _start(folder: Path, names: list[str]) -> None:
    """Starts programs supervisord was told not to start by itself (`deferred`)."""
    supervisor = _supervisor(folder)
    for name in names:
        supervisor.startProcess(name, False)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the parent (this process) ends."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _supervisord(folder: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    command = supervisord_command(folder, CONFIG)
    preexec = _die_with_parent if sys.platform == "linux" else None
    return subprocess.Popen(command, env=dict(env), start_new_session=True, preexec_fn=preexec)


def wait_healthy(folder: Path, services: list[Watched], say: Callable[[str], None]) -> str | None:
    """None once every service is healthy; else the name of the first that failed, reported. A
    service still making progress is waited for (`Starting`), and `up` says what it waits for."""
    started = time.monotonic()
    pending = {s.name: (s, Starting(s.start_s, started, folder / "logs" / f"{s.name}.log")) for s in services}
    report_at = started + _REPORT_S
    while pending:
        states, now = _states(folder), time.monotonic()
        cpu = tree_cpu_s([pid for name, (_, pid) in states.items() if name in pending and pid])
        for name, (service, starting) in list(pending.items()):
            state, pid = states.get(name, ("STARTING", 0))
            if state in _GAVE_UP:
                say(f"✗ {name} stopped ({state}); the end of logs/{name}.log:\n{log_tail(folder, name)}")
                return name
            if state == "RUNNING" and _healthy(service.probe):
                say(f"✓ {name} healthy after {now - started:.0f} s")
                del pending[name]
            elif why := starting.stuck(cpu.get(pid, 0.0) if pid else None, now):
                say(f"✗ {name} is not healthy: it {why}; the end of logs/{name}.log:\n{log_tail(folder, name)}")
                return name
        if pending and now >= report_at:
            say("… waiting for " + ", ".join(f"{name} ({s.doing(now)})" for name, (_, s) in pending.items()))
            report_at = now + _REPORT_S
        time.sleep(1)
    return None


def _unreachable_sites(topology: Topology, not_yet: Collection[str] = ()) -> str | None:
    """Caddy answers 502 where a site's upstream is not there: a route that reaches no service.
    Sites leading to a service of `not_yet` (not started yet) are left for later."""
    ports = site_ports(topology)
    # The scheduled node's routes lead to the offline page while it is away.
    left = [*unstarted(topology), *_away(topology), *not_yet]
    skipped = {f"127.0.0.1:{topology.services[name].port}" for name in left}
    for host, body in sites(topology):
        if any(line.split()[1] in skipped for line in body if "reverse_proxy" in line):
            continue  # its service needs a container
        for path, start in _probes(body):
            try:
                status = httpx.get(f"http://127.0.0.1:{ports[host]}{path}", timeout=30).status_code
            except httpx.HTTPError as exc:
                return f"✗ caddy: site {host} does not answer: {exc}"
            if status == 502:
                upstream = next(line.split()[1] for line in body[start:] if "reverse_proxy" in line)
                return f"✗ caddy: site {host}{path} reaches no service (502 from upstream {upstream})"
    return None


def _probes(body: list[str]) -> list[tuple[str, int]]:
    """Where to knock on a site, each with the line its upstream follows: every `handle /path`
    block and path matcher (`@name path /a /b`: its first path, a wildcard cut off), else the
    root. A site that publishes some paths only answers 404 at its root, never its upstream."""
    probes = []
    for index, line in enumerate(body):
        words = line.split()
        if words[0] == "handle" and words[1].startswith("/"):
            probes.append((words[1], index))
        elif words[0].startswith("@") and words[1:2] == ["path"]:
            probes.append((words[2].rstrip("*"), index))
    return probes or [("/", 0)]


def stop_group(process: subprocess.Popen[bytes], wait_s: float = 90) -> None:
    """Ask a process started in a session of its own to stop; after `wait_s`, kill its whole group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_stack(folder: Path, topology: Topology, say: Callable[[str], None]) -> int:
    """Start the rendered stack in `folder`, report, then serve until interrupted. The exit code."""
    env = supervisord_environment(folder)
    if skipped := unstarted(topology):
        say(f"not started here (they need containers; their files are rendered): {', '.join(skipped)}")
    if node := topology.spec.scheduled_node:
        away = ", ".join(name for name in _away(topology) if name not in skipped)
        say(f"the scheduled node {node} ({away}) comes and goes with the scheduler: toolpark gpu status")
    process = _supervisord(folder, env)
    stop = False

    def interrupted(*_: object) -> None:
        nonlocal stop
        stop = True
        raise KeyboardInterrupt

    # Both, explicitly: a shell that starts `up` in the background leaves SIGINT ignored.
    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # The light services first, then the heavy ones supervisord was told not to start (model
        # engines): on a small machine they would starve the light ones of CPU.
        # The light services' sites are checked before the heavy start: a broken route is named
        # in a minute, not after the model engines' minutes.
        later = deferred(topology)
        services = watched(topology)
        failed = wait_healthy(folder, [s for s in services if s.name not in later], say)
        broken = _unreachable_sites(topology, later) if failed is None else None
        if failed is None and broken is None and (heavy := [s for s in services if s.name in later]):
            say(f"starting {', '.join(s.name for s in heavy)}")
            _start(folder, [s.name for s in heavy])
            failed = wait_healthy(folder, heavy, say)
            broken = _unreachable_sites(topology) if failed is None else None
        if failed is not None:
            return 1
        if broken is not None:
            say(broken)
            return 1
        ports = site_ports(topology)
        for host, _ in sites(topology):
            say(f"{host} is served at http://127.0.0.1:{ports[host]}")
        say("stack healthy; Ctrl-C stops it")
        while process.poll() is None and not stop:
            time.sleep(1)
        return 0 if stop or process.returncode == 0 else 1
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("stopping the stack")
        stop_group(process)
        _stop_local_node(folder, topology, say)


def _stop_local_node(folder: Path, topology: Topology, say: Callable[[str], None]) -> None:
    """A node the local provider started ends with the stack: on this machine, the stack owns it."""
    spec = topology.spec
    if spec.scheduled_node is None or spec.scheduler.provider != "local":
        return
    provider = LocalProvider(ProviderContext(spec.name, spec.scheduled_node, folder))
    for node in provider.find(node_labels(spec.name, spec.scheduled_node)):
        say(f"stopping the scheduled node {node.name}")
        provider.delete(node.id)
        if not wait_gone(provider, node.id, 90, poll_s=0.5):
            say(f"✗ the scheduled node {node.name} did not stop in 90 s")
