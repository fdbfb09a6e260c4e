"""`toolpark gpu run`: the scheduler as a service on the entry server.

A thread runs the reconciler every interval (at once when demand arrives); an HTTP server on the
scheduler's port answers:
- `GET /status`: what runs, why, the next window, hours and cost this month, recent events;
- `GET /metrics`: the same for Prometheus;
- `/offline` (any method): Caddy sends a request here when the scheduled node does not answer;
  a page or an OpenAI-style JSON error saying when the model is back. With wake on demand, a
  request from a signed-in user or a key holder (`wakers`) starts it, within the caller's daily
  cap and the budget's hours the month's windows leave over; anyone else is told how to;
- `POST /wake`: the offline page's button (Caddy maps `/.toolpark/wake` on the node's sites here),
  with the session cookie or a key typed into the form;
- `POST /override`: the operator's `toolpark gpu up|down|auto` (bearer: TOOLPARK_OPS_KEY);
- `GET /bootstrap`: the booting node trades its one-time token for its files.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import io
import json
import logging
import re
import secrets
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs

import anyio
import httpx
import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from toolpark.compose.files import read_env
from toolpark.compose.providers import ProviderContext, load_provider
from toolpark.compose.references import REFERENCE
from toolpark.compose.scheduler.history import History
from toolpark.compose.scheduler.reconciler import STATES, Activity, Reconciler
from toolpark.compose.scheduler.refusals import Refusals
from toolpark.compose.scheduler.wakers import Wakers
from toolpark.compose.scheduler_files import SPEC_FILE
from toolpark.compose.secrets import BOOT_KEY, format_env
from toolpark.compose.services import service_definition
from toolpark.compose.spec import Deployment
from toolpark.compose.targets import target_named
from toolpark.compose.targets.compose import TOKEN_PLACEHOLDER, compose_path, user_data_file
from toolpark.compose.topology import Topology
from toolpark.compose.weights import WeightsError, WeightsLocation, cache_key_name, s3_client

__all__ = ["Offline", "SchedulerService", "load_deployment"]

log = logging.getLogger("toolpark.scheduler")

_BOOTSTRAP_VALID = timedelta(hours=1)
_DAY = timedelta(days=1)
_BODY_BYTES = 4096
_LONGEST = timedelta(days=31).total_seconds()  # an override for longer is a change of the schedule
_CACHE_BYTES = 4 * 1024**3  # vLLM's compile cache is tens of MB; a bound all the same
_NODE_PHASES = ("images", "weights")  # what the node itself reports; the scheduler sees the rest
_METRIC = re.compile(r"^(vllm:request_success_total|vllm:num_requests_running)\{[^}]*\}\s+([0-9.eE+-]+)$", re.M)


class Offline(NamedTuple):
    """What the offline page says, whether the node is (now) on its way, and whether the page
    offers its button (to one who could wake the node by proving who they are)."""

    text: str
    starting: bool
    wake_form: bool = False


# The offline page's button: the browser sends its session cookie along; one without a session
# types a key of this deployment (LiteLLM's or toolpark's).
_WAKE_FORM = (
    '<form method="post" action="/.toolpark/wake"><p>Start it now: press the button if you are signed in, '
    'or enter your key.</p><input type="password" name="key" autocomplete="off" aria-label="key">'
    "<button>Start the model</button></form>"
)


async def _read_small(request: Request) -> bytes | None:
    """The request's body, or None past _BODY_BYTES: the forms and overrides here are a few words."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _BODY_BYTES:
            return None
    return body


def _json(body: bytes | None) -> Any:
    try:
        return json.loads(body) if body is not None else None
    except (ValueError, RecursionError):  # deeply nested arrays exhaust the parser's recursion
        return None


def load_deployment(folder: Path) -> tuple[Deployment, Topology]:
    data = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
    spec = Deployment.model_validate(data["spec"])
    return spec, Topology(spec, target_named(data["target"]).addressing)


def _bearer(request: Request) -> str:
    """The bearer credential; none when two Authorization headers leave which one counts open."""
    sent = request.headers.getlist("authorization")
    return sent[0].removeprefix("Bearer ").strip() if len(sent) == 1 else ""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Metrics(Collector):
    def __init__(self, service: SchedulerService) -> None:
        self.service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        reconciler, now = self.service.reconciler, datetime.now(UTC)
        state = GaugeMetricFamily("toolpark_gpu_node_state", "The node's state (1 = current).", labels=["state"])
        for name in STATES:
            state.add_metric([name], 1.0 if reconciler.state == name else 0.0)
        yield state
        ready = GaugeMetricFamily("toolpark_gpu_node_time_to_ready_seconds", "Request to healthy vLLM, last node.")
        ready.add_metric([], reconciler.time_to_ready_s or 0.0)
        yield ready
        hours = reconciler.hours_this_month(now)
        yield GaugeMetricFamily("toolpark_gpu_hours_this_month", "Node hours this calendar month.", value=hours)
        cost = hours * self.service.spec.scheduler.hourly_price
        yield GaugeMetricFamily("toolpark_gpu_cost_this_month", "Node cost this month (spec's currency).", value=cost)
        phases = GaugeMetricFamily(
            "toolpark_gpu_boot_phase_seconds",
            "The last boot: seconds from the request to each phase.",
            labels=["phase"],
        )
        for boot in self.service.history.boots(1):
            for phase in boot.phases:
                phases.add_metric([phase.name], phase.seconds)
        yield phases
        errors = CounterMetricFamily("toolpark_gpu_provider_errors", "Failed provider calls since start.")
        errors.add_metric([], reconciler.provider_errors)
        yield errors


class SchedulerService:
    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.spec, self.topology = load_deployment(folder)
        node = self.spec.scheduled_node
        if node is None:
            raise ValueError(f"{folder / SPEC_FILE}: no node has lifecycle = 'scheduled'")
        self.node = node
        self.secrets = read_env(folder / ".env")
        self.wakers = Wakers(self.secrets)
        self.refusals = Refusals()
        settings = self.spec.scheduler
        self.history = History(database_url, self.spec.name)
        context = ProviderContext(self.spec.name, node, folder, self.secrets)
        provider = load_provider(settings.provider, settings.provider_settings, context)
        self.vllm = self.topology.model_url("scheduler", "chat").removesuffix("/v1")
        self.reconciler = Reconciler(
            deployment=self.spec.name,
            node=node,
            provider_name=settings.provider,
            settings=settings,
            provider=provider,
            history=self.history,
            healthy=self._healthy,
            first_answer=self._first_answer,
            activity=self._activity,
            user_data=self._user_data,
            address=self.spec.nodes[node].address,
            report=self._report,
        )
        self.registry = CollectorRegistry()
        self.registry.register(_Metrics(self))
        self._wake = threading.Event()
        self._stop = threading.Event()

    # -- what the reconciler is given -------------------------------------------------------
    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.vllm}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def _first_answer(self) -> bool:
        """One token of chat from the new node: the boot's last phase, what the first user waits for."""
        body = {"model": self.spec.models.chat.served_name, "messages": [{"role": "user", "content": "Hi"}]}
        headers = {"Authorization": f"Bearer {self.secrets.get('VLLM_API_KEY', '')}"}
        try:
            answer = httpx.post(f"{self.vllm}/v1/chat/completions", json=body | {"max_tokens": 1}, headers=headers,
                                timeout=120)  # fmt: skip
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def _activity(self) -> Activity | None:
        try:
            text = httpx.get(f"{self.vllm}/metrics", timeout=5).text
        except httpx.HTTPError:
            return None
        totals = {"vllm:request_success_total": 0.0, "vllm:num_requests_running": 0.0}
        for name, value in _METRIC.findall(text):
            totals[name] += float(value)
        return Activity(totals["vllm:request_success_total"], totals["vllm:num_requests_running"])

    def _user_data(self, name: str) -> str:
        path = self.folder / user_data_file(self.node)
        if not path.exists():
            return ""  # the local provider has the files already
        token = secrets.token_urlsafe(32)
        self.history.grant(_hash(token), name, datetime.now(UTC) + _BOOTSTRAP_VALID)
        return path.read_text(encoding="utf-8").replace(TOKEN_PLACEHOLDER, token)

    def _report(self, kind: str, node: str | None, message: str, failure: bool) -> None:
        fields = {"event": f"gpu.{kind}", "deployment": self.spec.name, "node": node}
        log.log(logging.WARNING if failure else logging.INFO, message, extra=fields)
        event = {**fields, "message": message}
        try:
            self.history.event(kind, node, message)
        except Exception as exc:  # the history must not stop the report of a failure
            log.warning("could not record the event: %s", exc)
        if failure and self.spec.scheduler.webhook:
            try:
                httpx.post(self.spec.scheduler.webhook, json=event, timeout=5)
            except httpx.HTTPError as exc:
                log.warning("the webhook %s failed: %s", self.spec.scheduler.webhook, exc)

    # -- the loop ---------------------------------------------------------------------------
    def loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconciler.tick()
            except Exception as exc:  # one bad tick must not end the scheduler
                log.exception("reconciling failed")
                self._report("error", None, f"reconciling failed: {exc}", True)
            self._wake.wait(self.spec.scheduler.interval_s)
            self._wake.clear()

    # -- HTTP -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        reconciler, settings = self.reconciler, self.spec.scheduler
        decision = reconciler.decide(now)
        next_start = reconciler.next_start(now)
        lead, grounds = reconciler.lead()
        hours = reconciler.hours_this_month(now)
        override = self.history.override(now)
        return {
            "deployment": self.spec.name,
            "node": self.node,
            "provider": settings.provider,
            "state": reconciler.state,
            "wanted": decision.up,
            "reason": decision.reason,
            "next_window": next_start.isoformat() if next_start else None,
            "lead_minutes": round(lead.total_seconds() / 60),
            "lead_grounds": grounds,
            "timezone": settings.timezone,
            "hours_this_month": round(hours, 3),
            "budget_hours": settings.budget_hours,
            "cost_this_month": round(hours * settings.hourly_price, 2),
            "currency": settings.currency,
            "wake_on_demand": settings.wake_on_demand,
            "override": {"state": override.state, "until": override.until.isoformat(), "by": override.set_by}
            if override
            else None,
            "time_to_ready_s": reconciler.time_to_ready_s,
            "boots": [
                {
                    "node": boot.node,
                    "requested_at": boot.requested_at.isoformat(),
                    "outcome": boot.outcome,
                    "phases": [
                        {"phase": p.name, "seconds": round(p.seconds, 1), "ok": p.ok, "detail": p.detail}
                        for p in boot.phases
                    ],
                }
                for boot in self.history.boots(5)
            ],
            "events": [
                {"at": e.at.isoformat(), "kind": e.kind, "node": e.node, "message": e.message}
                for e in self.history.events(10)
            ],
        }

    # Sync handlers: Starlette runs them in its thread pool, so the history's queries do not
    # block the event loop.
    def _status(self, request: Request) -> Response:
        return JSONResponse(self.status())

    def _metrics(self, request: Request) -> Response:
        return PlainTextResponse(generate_latest(self.registry).decode(), media_type="text/plain; version=0.0.4")

    def offline_message(self, now: datetime, caller: str | None = None) -> Offline:
        """What the offline page says to `caller` (None: one who proved nothing). A proven caller's
        request outside the windows wakes the node."""
        settings, reconciler = self.spec.scheduler, self.reconciler
        decision = reconciler.decide(now)
        refusal = ""
        if not decision.up and settings.wake_on_demand and decision.cause == "off":
            if caller is None:
                refusal = "Signed-in users, and requests with a key of this deployment, start it now."
            else:
                refusal = self._wake_up(now, caller)
                decision = reconciler.decide(now)
        if decision.up:
            return Offline("The model is starting; it usually takes a few minutes. Try again shortly.", True)
        start = reconciler.next_start(now)
        zone = reconciler.calendar.zone
        when = f"{start.astimezone(zone):%A %d %B %H:%M} ({settings.timezone})" if start else "further notice"
        text = f"The model is offline until {when}: {decision.reason}."
        if refusal:
            text += f" {refusal}"
        elif decision.cause not in ("budget", "reserved"):
            text += " An operator can start it now with `toolpark gpu up`."
        return Offline(text, False, wake_form=caller is None and bool(refusal))

    def _wake_up(self, now: datetime, caller: str) -> str:
        """Wakes the node for `caller`; what stands in the way otherwise."""
        settings = self.spec.scheduler
        if (spare := self.reconciler.spare_hours(now)) is not None and spare <= 0:
            return "The budget's hours left this month are kept for the windows."
        if self.history.wakes_since(caller, now - _DAY) >= settings.wake_daily_cap:
            self._report("wake-refused", None, f"{caller} reached the daily cap of wake-ups", False)
            return f"You started it {settings.wake_daily_cap} times in the last 24 hours, the most allowed."
        self.history.woken(caller, now)
        self._report("woken", None, f"woken on demand by {caller}", False)
        self._wake.set()
        return ""

    def _caller(self, request: Request, key: str = "") -> str | None:
        return self.wakers.caller(request.headers.getlist("authorization"), request.cookies, key)

    def _answer(self, request: Request, caller: str | None) -> Response:
        answer = self.offline_message(datetime.now(UTC), caller)
        headers = {"Retry-After": "60" if answer.starting else "600", "Cache-Control": "no-store"}
        if "text/html" in request.headers.get("accept", ""):
            text = html.escape(answer.text)
            page = f"<!doctype html><title>Model offline</title><h1>The model is away</h1><p>{text}</p>"
            return HTMLResponse(page + (_WAKE_FORM if answer.wake_form else ""), status_code=503, headers=headers)
        error = {"message": answer.text, "type": "model_starting" if answer.starting else "model_offline", "code": 503}
        return JSONResponse({"error": error}, status_code=503, headers=headers)

    def _offline(self, request: Request) -> Response:
        return self._answer(request, self._caller(request))

    async def _wake_form(self, request: Request) -> Response:
        body = await _read_small(request)
        if body is None:
            return PlainTextResponse("the form is larger than a key\n", status_code=413)
        key = parse_qs(body.decode("latin-1")).get("key", [""])[0].strip()
        caller = self._caller(request, key)
        return await anyio.to_thread.run_sync(self._answer, request, caller)

    def _holds(self, request: Request, secret_name: str) -> bool:
        """Whether the request's bearer is the .env secret `secret_name` (never when it is unset)."""
        key = self.secrets.get(secret_name, "")
        return bool(key) and hmac.compare_digest(_bearer(request).encode(), key.encode())

    async def _override(self, request: Request) -> Response:
        if not self._holds(request, "TOOLPARK_OPS_KEY"):
            return JSONResponse({"error": "the operator key (TOOLPARK_OPS_KEY) is needed"}, status_code=401)
        body = _json(await _read_small(request))
        state, seconds = (body.get("state"), body.get("for_s")) if isinstance(body, dict) else ("?", None)
        number = isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 < seconds <= _LONGEST
        if state not in ("up", "down", None) or (seconds is not None and not number):
            message = f"a JSON object: state up, down or null; for_s seconds, up to {_LONGEST:.0f}"
            return JSONResponse({"error": message}, status_code=400)
        by = str(body.get("by") or "operator")[:64]
        held: Literal["up", "down"] | None = "up" if state == "up" else "down" if state == "down" else None
        return await anyio.to_thread.run_sync(self._hold, held, seconds, by)

    def _hold(self, state: Literal["up", "down"] | None, seconds: float | None, by: str) -> Response:
        now = datetime.now(UTC)
        until = None
        if state is not None:
            window = self.reconciler.calendar.current(now)
            default = window.end if state == "down" and window else now + timedelta(hours=2)
            until = now + timedelta(seconds=seconds) if seconds else default
        self.history.set_override(state, until, by)
        held = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
        self._report("override", None, f"{by}: {state or 'auto'}{held}", False)
        self._wake.set()
        return JSONResponse(self.status())

    def _bootstrap(self, request: Request) -> Response:
        # The TCP peer: the node reaches this port directly, and no forwarded header is believed.
        peer = request.client.host if request.client else "?"
        if self.refusals.throttled(peer):
            return PlainTextResponse("too many bootstrap requests without a valid token\n", status_code=429)
        token = _bearer(request)
        name = self.history.redeem(_hash(token), datetime.now(UTC)) if token else None
        if name is None:
            if summary := self.refusals.refused(peer):
                self._report("bootstrap-refused", None, summary, True)
            return PlainTextResponse("unknown, used or expired bootstrap token\n", status_code=403)
        self.history.phase(name, "bootstrap", datetime.now(UTC))
        self._report("bootstrap", name, "the node fetched its files", False)
        data = bundle(self.folder, self.topology, self.node, self.secrets)
        return Response(data, media_type="application/gzip")

    async def _boot(self, request: Request) -> Response:
        """A phase the booting node reports (its images pulled, its weights checked), for the
        newest node of this deployment: there is one at a time."""
        if not self._holds(request, BOOT_KEY):
            return JSONResponse({"error": f"the node's boot key ({BOOT_KEY}) is needed"}, status_code=401)
        body = _json(await _read_small(request))
        phase, ok = (body.get("phase"), body.get("ok")) if isinstance(body, dict) else (None, None)
        if phase not in _NODE_PHASES or not isinstance(ok, bool):
            message = f"a JSON object: phase one of {', '.join(_NODE_PHASES)}, ok true or false, detail (text)"
            return JSONResponse({"error": message}, status_code=400)
        detail = str(body.get("detail") or "")[:1000] or None
        return await anyio.to_thread.run_sync(self._record_phase, phase, ok, detail)

    def _record_phase(self, phase: str, ok: bool, detail: str | None) -> Response:
        nodes = self.history.open_nodes()
        if not nodes:
            return JSONResponse({"error": "no node of this deployment is starting"}, status_code=409)
        name = nodes[-1].name
        self.history.phase(name, phase, datetime.now(UTC), ok, detail, each=True)
        said = f"{phase}: {'done' if ok else 'failed'}" + (f" ({detail})" if detail else "")
        self._report("boot-phase", name, said, not ok)
        if not ok:
            self._wake.set()  # the reconciler removes the node now, not an interval later
        return JSONResponse({"node": name, "phase": phase, "ok": ok})

    def _cache_place(self, request: Request) -> tuple[Any, str, str] | Response:
        """The S3 client, bucket and key of the compile cache a request names; or the refusal."""
        if not self._holds(request, BOOT_KEY):
            return JSONResponse({"error": f"the node's boot key ({BOOT_KEY}) is needed"}, status_code=401)
        model = self.spec.models.by_role().get(request.path_params["role"])
        if model is None or model.weights is None or self.spec.s3 is None:
            return JSONResponse({"error": "that model has no weights in S3 to keep a cache beside"}, status_code=404)
        where = WeightsLocation.parse(model.weights)
        try:
            name = cache_key_name(where, request.query_params.get("key", ""))
        except WeightsError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return self._s3(), where.bucket, name

    def _s3(self) -> Any:
        """The stack's S3 with its operator's key (from .env), which may write the cache."""
        s3 = self.spec.s3
        assert s3 is not None
        return s3_client(
            s3.endpoint_url, region=s3.region, key_id=self.secrets.get("S3_ACCESS_KEY_ID"),
            secret=self.secrets.get("S3_SECRET_ACCESS_KEY"), path_style=s3.path_style,
        )  # fmt: skip

    def _cache_kept(self, request: Request) -> Response:
        place = self._cache_place(request)
        if isinstance(place, Response):
            return place
        client, bucket, name = place
        listed = client.list_objects_v2(Bucket=bucket, Prefix=name).get("Contents", [])
        if not any(entry["Key"] == name for entry in listed):
            return JSONResponse({"kept": False}, status_code=404)
        return JSONResponse({"kept": True})

    async def _cache_save(self, request: Request) -> Response:
        """The node's compile cache (tar.gz), kept beside its weights under its key."""
        place = await anyio.to_thread.run_sync(self._cache_place, request)
        if isinstance(place, Response):
            return place
        client, bucket, name = place
        with tempfile.TemporaryFile() as spool:
            async for chunk in request.stream():
                spool.write(chunk)
                if spool.tell() > _CACHE_BYTES:
                    return JSONResponse({"error": f"a compile cache over {_CACHE_BYTES} bytes"}, status_code=413)
            size = spool.tell()
            spool.seek(0)
            await anyio.to_thread.run_sync(lambda: client.upload_fileobj(spool, bucket, name))
        said = f"kept the compile cache s3://{bucket}/{name} ({size / 1e6:.1f} MB)"
        await anyio.to_thread.run_sync(self._report, "compile-cache", None, said, False)
        return JSONResponse({"kept": True, "bytes": size})

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        return Starlette(
            routes=[
                Route("/status", self._status),
                Route("/metrics", self._metrics),
                Route("/offline", self._offline, methods=methods),
                Route("/wake", self._wake_form, methods=["POST"]),
                Route("/override", self._override, methods=["POST"]),
                Route("/bootstrap", self._bootstrap),
                Route("/boot", self._boot, methods=["POST"]),
                Route("/boot/cache/{role}", self._cache_kept, methods=["GET"]),
                Route("/boot/cache/{role}", self._cache_save, methods=["POST"]),
            ]
        )

    def serve(self) -> None:
        thread = threading.Thread(target=self.loop, name="reconciler", daemon=True)
        thread.start()
        host, port = self.topology.bind_host, self.spec.scheduler.port
        # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any loopback peer.
        config = uvicorn.Config(self.app(), host=host, port=port, log_level="warning", proxy_headers=False)
        try:
            uvicorn.Server(config).run()
        finally:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=30)
            self.history.close()


def bundle(folder: Path, topology: Topology, node: str, secrets: Mapping[str, str]) -> bytes:
    """tar.gz of what the node runs: its compose file, the files its services mount, and the
    secrets those name (only those: the node never sees the entry server's own)."""
    names = [compose_path(topology.spec, node)]
    for service in topology.services_on(node):
        names += [file for file in service_definition(topology, service.name).files if file != "."]
    texts = {name: (folder / name).read_text(encoding="utf-8") for name in dict.fromkeys(names)}
    needed = {ref for text in texts.values() for ref in REFERENCE.findall(text)} | {BOOT_KEY}  # the start script's
    texts[".env"] = format_env({key: value for key, value in secrets.items() if key in needed})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in texts.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
