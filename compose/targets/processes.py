"""The processes target: the whole stack on one machine, as programs under supervisord.

Each program runs what the compose target's container runs: the same command line, environment
and rendered config files, from the same `ServiceDef`. Three things are translated, each the same
way for every service: addresses become loopback ports (its `LOOPBACK` addressing), container
paths become paths in the rendered folder (`%(here)s`, the folder of supervisord.conf: the render
can move), and `${SECRET}` references become supervisord's `%(ENV_SECRET)s`, filled from the
.env that `toolpark compose up` loads. The image's entry point is replaced by a local program
(`[processes]` in the spec). LibreChat, MongoDB and Keycloak have no such program here; their
files are still rendered, and `unstarted` names them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from toolpark.compose.caddy import site_ports
from toolpark.compose.checks import Problem, SpecError
from toolpark.compose.openwebui import SOURCES_FILE
from toolpark.compose.references import REFERENCE
from toolpark.compose.services import ServiceDef, service_definition
from toolpark.compose.spec import Processes
from toolpark.compose.topology import LOOPBACK, Topology

__all__ = ["CONFIG", "TARGET", "ProcessesTarget", "deferred", "local_config", "supervisor_config", "unstarted"]

CONFIG = "supervisord.conf"


def local_config(node: str) -> str:
    """The supervisord config of a scheduled node, beside the main one in the rendered folder."""
    return f"supervisord.{node}.conf"


_HERE = "%(here)s"
_INITDB = "/docker-entrypoint-initdb.d/"

# The program that stands in for each image's entry point, given the service's command.
_Local = Callable[[Processes, ServiceDef, list[str]], list[str]]
_LOCAL: dict[str, _Local] = {
    "vllm": lambda p, d, command: [*p.vllm, *command],
    "llamacpp": lambda p, d, command: [*p.llamacpp, *command],
    "litellm": lambda p, d, command: [*p.litellm, *command],
    "toolpark": lambda p, d, command: [*p.toolpark, *command],
    "scheduler": lambda p, d, command: [*p.toolpark, *command],
    # The caddy image has no entry point: its command starts with `caddy` itself.
    "caddy": lambda p, d, command: [*p.caddy, *command[1:]],
    # The image's start script reads HOST and PORT; `open-webui serve` takes them as options. The
    # start that installs the sources filter runs as `toolpark compose openwebui-start`.
    "openwebui": lambda p, d, command: [
        *p.toolpark, "compose", "openwebui-start", f"{_HERE}/{SOURCES_FILE}", "--",
        *p.openwebui, "serve", "--host", d.environment["HOST"], "--port", d.environment["PORT"],
    ],
    # The image's entry point creates the cluster and runs /docker-entrypoint-initdb.d on first
    # start; `toolpark compose postgres-entrypoint` does the same with the PostgreSQL toolpark ships.
    "postgres": lambda p, d, command: [
        *p.toolpark, "compose", "postgres-entrypoint",
        *(f"--init={_HERE}/{file}" for file, path in d.files.items() if path.startswith(_INITDB)),
        "--", *command,
    ],
}  # fmt: skip


_HEAVY_START_S = 300  # a service that may take this long to start loads a model: it starts last


def deferred(topology: Topology) -> list[str]:
    """Programs of the main supervisord that `up` starts only once the others are healthy: the
    model engines, whose loading would starve the light services of CPU on a small machine."""
    return [
        name
        for name, service in topology.services.items()
        if service.component in _LOCAL
        and not topology.on_scheduled_node(name)
        and service_definition(topology, name).start_s >= _HEAVY_START_S
    ]


def unstarted(topology: Topology) -> list[str]:
    """Services of the spec that have no local program: rendered, not run."""
    return [name for name, service in topology.services.items() if service.component not in _LOCAL]


def _local_paths(definition: ServiceDef) -> Callable[[str], str]:
    """Container paths in a value, replaced by their places in the rendered folder."""
    places = {path: f"{_HERE}/{file}" if file != "." else _HERE for file, path in definition.files.items()}
    places |= {path: f"{_HERE}/data/{volume}" for volume, path in definition.volumes.items()}
    pattern = re.compile("|".join(re.escape(p) + r"(?=/|$|\s)" for p in sorted(places, key=len, reverse=True)))

    def translate(value: str) -> str:
        return pattern.sub(lambda m: places[m.group(0)], value) if places else value

    return translate


def _supervisor_value(value: str) -> str:
    """`%` is supervisord's expansion character; `${NAME}` becomes its `%(ENV_NAME)s`."""
    return REFERENCE.sub(lambda m: f"%(ENV_{m.group(1)})s", value.replace("%", "%%"))


def _environment(service: str, env: dict[str, str]) -> str:
    """supervisord reads KEY='value' pairs; a single-quoted value keeps commas, double quotes
    and `#` (JSON settings). It has no escape for a single quote, so none may appear."""
    pairs = []
    for key, value in env.items():
        if "'" in value or "\n" in value:
            raise SpecError([Problem(f"{service}.environment.{key}", "a value with ' or a newline cannot run here")])
        pairs.append(f"{key}='{value}'")
    return ",".join(pairs)


def _depth(topology: Topology, service: str, seen: frozenset[str] = frozenset()) -> int:
    providers = [link.provider for link in topology.links if link.consumer == service and link.provider not in seen]
    return 1 + max((_depth(topology, p, seen | {service}) for p in providers), default=0)


def _port_clashes(topology: Topology) -> list[Problem]:
    taken: dict[int, str] = {}
    found = []
    ports = [(s.port, s.port_field) for s in topology.services.values() if s.component in _LOCAL and s.name != "caddy"]
    ports += [(port, f"processes.first_port ({host})") for host, port in site_ports(topology).items()]
    for port, field in ports:
        if port in taken:
            found.append(Problem(field, f"port {port} on this machine is also {taken[port]}"))
        taken.setdefault(port, field)
    return found


def supervisor_config(topology: Topology, node: str | None = None) -> str:
    """supervisord.conf for the stack on this machine, or for the scheduled `node` alone (the
    scheduler's local provider runs that one); `topology` must be a loopback one."""
    assert topology.one_machine, "the processes target's topology has its LOOPBACK addressing"
    if clashes := _port_clashes(topology):
        raise SpecError(clashes, "the processes target")
    suffix = f".{node}" if node else ""
    lines = [
        "; Rendered by `toolpark compose render --target processes`: change the spec, not this file.",
        "; Run it with `toolpark compose up --target processes`, which loads .env for the %(ENV_...)s references.",
        "[supervisord]",
        "nodaemon=true",
        "silent=true",  # its own log is in logs/; `toolpark compose up` reports
        f"logfile={_HERE}/logs/supervisord{suffix}.log",
        f"pidfile={_HERE}/run/supervisord{suffix}.pid",
        f"childlogdir={_HERE}/logs",
        "",
        "[unix_http_server]",
        f"file={_HERE}/run/supervisor{suffix}.sock",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_HERE}/run/supervisor{suffix}.sock",
        "",
    ]
    later = deferred(topology) if node is None else []
    for name, service in topology.services.items():
        local = _LOCAL.get(service.component)
        if local is None or topology.on_scheduled_node(name) != (node is not None):
            continue
        definition = service_definition(topology, name)
        translate = _local_paths(definition)
        command = [translate(_supervisor_value(a)) for a in definition.command]
        command = local(topology.spec.processes, definition, command)
        toolpark = topology.spec.processes.toolpark
        if definition.check_first:
            # `toolpark models check ... -- PROGRAM`: the program runs only once the check passes.
            command = [*toolpark, *(translate(a) for a in definition.check_first), "--", *command]
        env = {key: translate(_supervisor_value(value)) for key, value in definition.environment.items()}
        lines += [
            f"[program:{name}]",
            # supervisord splits `command` as a POSIX shell would.
            "command=" + shlex.join(command),
            *(["autostart=false"] if name in later else []),
            f"directory={_HERE}",
            f"environment={_environment(name, env)}",
            f"priority={100 * _depth(topology, name)}",
            f"startsecs={min(definition.start_s, 10)}",
            "startretries=3",
            "autorestart=unexpected",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=30",
            "redirect_stderr=true",
            f"stdout_logfile={_HERE}/logs/{name}.log",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=2",
            "",
        ]
        if definition.after_healthy:
            # It waits for the program's health itself, then ends: started once, never again.
            after = [*toolpark, *(translate(a) for a in definition.after_healthy)]
            lines += [
                f"[program:{name}-after]",
                "command=" + shlex.join(after),
                f"directory={_HERE}",
                f"environment={_environment(name, env)}",
                "startsecs=0",
                "autorestart=false",
                "redirect_stderr=true",
                f"stdout_logfile={_HERE}/logs/{name}-after.log",
                "",
            ]
    return "\n".join(lines)


class ProcessesTarget:
    """Every service a program under supervisord on this machine (the scheduled node's under a
    supervisord of its own, which the `local` provider starts)."""

    name = "processes"
    addressing = LOOPBACK

    def render(self, topology: Topology) -> dict[str, str]:
        files = {CONFIG: supervisor_config(topology)}
        if node := topology.spec.scheduled_node:
            files[local_config(node)] = supervisor_config(topology, node)
        return files

    def next_steps(self, topology: Topology, spec_path: str, out: str) -> list[str]:
        steps = [f"run it on this machine: toolpark compose up {spec_path} --out {out} --rendered (Ctrl-C stops it)"]
        if topology.spec.scheduled_node:
            steps.append(f"the scheduled node's programs start in its windows: toolpark gpu status --deploy {out}")
        if left := unstarted(topology):
            steps.append(f"{', '.join(left)}: rendered, not started (no local program); run them in containers")
        ports = site_ports(topology)
        steps += [f"open http://127.0.0.1:{port} for {host}" for host, port in ports.items()]
        return steps


TARGET = ProcessesTarget()
