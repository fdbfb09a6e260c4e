"""The scheduler service against a real PostgreSQL (its history) and real HTTP: the budget, the
operator's overrides, the node's one-time bootstrap, the offline page, /metrics and the webhook.
Retrieval reads the scheduler's /status when its embedding endpoint is away.
The cloud (Hetzner) is answered from recorded exchanges, a stand-in for an API this machine
cannot reach; a request the recording does not expect fails the test."""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
import time
import tomllib
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx
import jwt
import pytest
import uvicorn
from starlette.testclient import TestClient

from tests.compose.rendering import SPECS
from tests.compose.scheduler.scheduling import EMPTY, hetzner_service, listed
from toolpark.compose.checks import problems
from toolpark.compose.files import read_env
from toolpark.compose.scheduler.replay import Exchange, Replay, recorded
from toolpark.compose.spec import Deployment
from toolpark.compose.targets.compose import TOKEN_PLACEHOLDER
from toolpark.mcp_servers.retrieval.embeddings import EndpointUnavailable, LocalEmbedder, OpenAIEmbedder, WhileAway
from toolpark.operations.embedded import PostgresService, free_ports


def test_a_used_budget_stops_every_start_with_a_clear_message(tmp_path: Path, database: PostgresService) -> None:
    service = hetzner_service(tmp_path, database, budget_hours=1.5, windows=["daily 00:00-24:00"])
    # Mid-month, with two node hours behind it this month.
    now = datetime.now(UTC).replace(day=15, hour=12, minute=0, second=0, microsecond=0)
    service.reconciler.clock = lambda: now
    service.history.requested("assistant-gpu-earlier", "hetzner", now - timedelta(hours=3))
    service.history.ended("assistant-gpu-earlier", now - timedelta(hours=1), "deleted")
    with Replay([EMPTY]) as replay:  # a create would be a request the recording lacks
        decision = service.reconciler.tick()
    assert len(replay.sent) == 1 and "label_selector" in replay.sent[0].url
    assert not decision.up and "budget of 1.5 GPU hours is used (2.0 h)" in decision.reason
    answer = service.offline_message(now, "key:operator")
    assert not answer.starting and "budget" in answer.text and "toolpark gpu up" not in answer.text
    assert service.history.last_demand() is None  # a request does not wake a node the budget forbids


def test_the_operator_holds_the_node_up_or_down_with_a_key_and_it_expires(
    tmp_path: Path, database: PostgresService
) -> None:
    service = hetzner_service(tmp_path, database, windows=[], wake_on_demand=False)
    client = TestClient(service.app())
    assert client.post("/override", json={"state": "up"}).status_code == 401
    wrong = {"Authorization": "Bearer sk-not-the-key"}
    assert client.post("/override", json={"state": "up"}, headers=wrong).status_code == 401
    key = {"Authorization": f"Bearer {service.secrets['TOOLPARK_OPS_KEY']}"}
    twice = [("Authorization", key["Authorization"]), ("Authorization", "Bearer sk-not-the-key")]
    assert client.post("/override", json={"state": "up"}, headers=twice).status_code == 401
    status = client.post("/override", json={"state": "up", "for_s": 3600, "by": "ops"}, headers=key).json()
    assert status["wanted"] and status["reason"].startswith("held up by ops until")
    now = datetime.now(UTC)
    assert service.history.override(now + timedelta(minutes=59)) is not None
    assert service.history.override(now + timedelta(minutes=61)) is None  # expired: the schedule decides
    for bad in ({"state": "sideways"}, {"state": "up", "for_s": -5}, {"state": "up", "for_s": True}, ["up"]):
        assert client.post("/override", json=bad, headers=key).status_code == 400, bad
    assert client.post("/override", content=b"{up", headers=key).status_code == 400
    for body in (b"[" * 100_000 + b"]" * 100_000, b"[" * 2000 + b"]" * 2000):  # too large; too deep
        assert client.post("/override", content=body, headers=key).status_code == 400
    status = client.post("/override", json={"state": None}, headers=key).json()
    assert not status["wanted"] and status["reason"] == "outside the windows" and status["override"] is None
    assert [e["kind"] for e in status["events"]][:2] == ["override", "override"]


def test_the_node_trades_a_one_time_token_for_its_files_and_only_its_secrets(
    tmp_path: Path, database: PostgresService
) -> None:
    service = hetzner_service(tmp_path, database)
    user_data = service._user_data("assistant-gpu-new")
    assert TOKEN_PLACEHOLDER not in user_data
    token = re.search(r"- /usr/local/sbin/toolpark-node-start\n  - (\S+)", user_data)
    assert token is not None
    client = TestClient(service.app())
    assert client.get("/bootstrap").status_code == 403
    assert client.get("/bootstrap", headers={"Authorization": "Bearer guessed"}).status_code == 403
    got = client.get("/bootstrap", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert got.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(got.content), mode="r:gz") as tar:
        names = set(tar.getnames())
        env_file = tar.extractfile(".env")
        assert env_file is not None
        env = env_file.read().decode()
    assert {"compose.gpu.yaml", "litellm/config.yaml", "librechat/librechat.yaml", ".env"} <= names
    secrets = read_env(service.folder / ".env")
    for needed in ("VLLM_API_KEY", "LITELLM_MASTER_KEY", "LITELLM_DB_PASSWORD", "MONGO_PASSWORD"):
        assert secrets[needed] in env, needed
    for kept in ("POSTGRES_PASSWORD", "TOOLPARK_OPS_KEY", "HCLOUD_TOKEN", "KEYCLOAK_ADMIN_PASSWORD"):
        assert secrets[kept] not in env, kept
    again = client.get("/bootstrap", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert again.status_code == 403  # once only
    kinds = [event.kind for event in service.history.events()]
    assert kinds.count("bootstrap") == 1 and kinds.count("bootstrap-refused") == 1  # reported once, counted


def test_the_offline_page_says_when_the_model_is_back(tmp_path: Path, database: PostgresService) -> None:
    day = datetime.now(UTC).date() + timedelta(days=2)
    service = hetzner_service(
        tmp_path, database, wake_on_demand=False, windows=[], extra_windows=[f"{day} 10:00-12:00"]
    )
    client = TestClient(service.app())
    page = client.get("/offline", headers={"Accept": "text/html"})
    start = service.reconciler.next_start(datetime.now(UTC))
    assert start is not None and start.date() == day and start.hour == 10
    assert page.status_code == 503 and page.headers["retry-after"] == "600"
    assert f"offline until {start.astimezone(service.reconciler.calendar.zone):%A %d %B %H:%M}" in page.text
    error = client.post("/offline", json={"model": "qwen"}).json()["error"]
    assert error["type"] == "model_offline" and "toolpark gpu up" in error["message"]


def _session(secret: str, user: str, minutes: int = 60) -> str:
    """A front-end session as LibreChat (refreshToken: `{id, sessionId}`, JWT_REFRESH_SECRET) and Open
    WebUI (token: `{id}`, WEBUI_SECRET_KEY) sign them: HS256 JWTs, jsonwebtoken's and PyJWT's default."""
    claims = {"id": user, "sessionId": "s1", "exp": datetime.now(UTC) + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_only_a_signed_in_user_or_a_key_holder_wakes_the_node(tmp_path: Path, database: PostgresService) -> None:
    service = hetzner_service(tmp_path, database, windows=[], wake_on_demand=True, idle_minutes=20)
    client = TestClient(service.app())
    master, refresh = service.secrets["LITELLM_MASTER_KEY"], service.secrets["JWT_REFRESH_SECRET"]
    # Anyone else, by any method, is told how to start it, and nothing is counted.
    page = client.get("/offline", headers={"Accept": "text/html"})
    assert page.status_code == 503 and 'action="/.toolpark/wake"' in page.text
    assert "Signed-in users, and requests with a key of this deployment, start it now" in page.text
    strangers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer sk-guessed"},
        {"Authorization": f"Basic {master}"},
        {"Cookie": f"refreshToken={_session('not-the-secret-of-this-deployment-at-all', 'mallory')}"},
        {"Cookie": f"refreshToken={_session(refresh, 'ada', minutes=-5)}"},  # expired
        {"Cookie": f"token={_session(refresh, 'ada')}"},  # LibreChat's secret on Open WebUI's cookie
    ]
    for headers in strangers:
        error = client.post("/offline", json={"model": "qwen"}, headers=headers).json()["error"]
        assert error["type"] == "model_offline", headers
    # Two Authorization headers prove nothing: which one a proxy passes on is its own choice.
    two = client.post("/offline", headers=[("Authorization", f"Bearer {master}"), ("Authorization", "Bearer x")])
    assert two.json()["error"]["type"] == "model_offline"
    assert service.history.last_demand() is None
    assert not service.reconciler.decide(datetime.now(UTC)).up

    # A LibreChat session wakes it, and the event names who.
    woken = client.get("/offline", headers={"Cookie": f"refreshToken={_session(refresh, 'ada')}"})
    assert woken.json()["error"]["type"] == "model_starting"
    decision = service.reconciler.decide(datetime.now(UTC))
    assert decision.up and decision.reason.startswith("woken on demand")
    assert not service.reconciler.decide(datetime.now(UTC) + timedelta(minutes=21)).up
    assert "woken on demand by librechat:ada" in [e.message for e in service.history.events()]


@pytest.mark.parametrize("proof", ["master key", "toolpark key", "form key", "open webui session"])
def test_each_kind_of_proof_wakes_the_node(tmp_path: Path, database: PostgresService, proof: str) -> None:
    toolpark_key = "tpk_the-operators-key-for-this-test"
    webui = "open-webui-secret-of-this-deployment"
    keys = {"TOOLPARK_OPS_KEY": toolpark_key, "OPENWEBUI_SECRET_KEY": webui}
    service = hetzner_service(tmp_path, database, keys, windows=[], wake_on_demand=True)
    client = TestClient(service.app())
    master = service.secrets["LITELLM_MASTER_KEY"]
    if proof == "form key":
        # The offline page's button: no JSON, no session, the key typed into its form.
        answer = client.post("/wake", data={"key": toolpark_key}, headers={"Accept": "text/html"})
        assert answer.status_code == 503 and "The model is starting" in answer.text
        assert client.post("/wake", content=b"key=" + b"x" * 5000).status_code == 413
    else:
        headers = {
            "master key": {"Authorization": f"Bearer {master}"},
            "toolpark key": {"Authorization": f"Bearer {toolpark_key}"},
            "open webui session": {"Cookie": f"token={_session(webui, 'grace')}"},
        }[proof]
        assert client.post("/offline", headers=headers).json()["error"]["type"] == "model_starting"
    who = {"master key": "key:litellm-master", "open webui session": "openwebui:grace"}.get(proof, "key:operator")
    assert f"woken on demand by {who}" in [e.message for e in service.history.events()]


def test_a_caller_wakes_the_node_at_most_the_daily_cap(tmp_path: Path, database: PostgresService) -> None:
    service = hetzner_service(tmp_path, database, windows=[], wake_on_demand=True, idle_minutes=1, wake_daily_cap=2)
    now = datetime.now(UTC)
    for hours_ago in (20, 10):  # two wake-ups today, each long idle since
        service.history.woken("librechat:ada", now - timedelta(hours=hours_ago))
    answer = service.offline_message(now, "librechat:ada")
    assert not answer.starting and "You started it 2 times in the last 24 hours" in answer.text
    assert not service.reconciler.decide(now).up
    assert service.offline_message(now, "librechat:grace").starting  # the cap is per caller
    later = now + timedelta(hours=4, minutes=1)  # the first one is more than a day old by then
    assert service.offline_message(later, "librechat:ada").starting


def test_wake_ups_never_spend_the_hours_the_windows_need(tmp_path: Path, database: PostgresService) -> None:
    # Mid-month, 10 h used; the rest of the month's window (evenings, 2 h a day, each started 15
    # min ahead: the default lead while no boot is measured) needs the rest.
    now = datetime.now(UTC).replace(day=10, hour=12, minute=0, second=0, microsecond=0)
    days_left = (now.replace(month=now.month % 12 + 1, day=1, year=now.year + (now.month == 12)) - now).days
    windows_need = 2.25 * days_left
    scheduler = {"timezone": "UTC", "windows": ["daily 20:00-22:00"], "days_off": [], "wake_on_demand": True}
    service = hetzner_service(tmp_path, database, budget_hours=10 + windows_need + 0.25, **scheduler)
    service.history.requested("assistant-gpu-earlier", "hetzner", now - timedelta(hours=11))
    service.history.ended("assistant-gpu-earlier", now - timedelta(hours=1), "deleted")
    spare = service.reconciler.spare_hours(now)
    assert spare == pytest.approx(0.25, abs=0.01)
    assert service.offline_message(now, "key:operator").starting  # a quarter hour is left to spend
    # Once the spare hours are spent, a woken node stops and no caller wakes it again ...
    spent = now + timedelta(minutes=20)
    service.history.requested("assistant-gpu-woken", "hetzner", now)
    decision = service.reconciler.decide(spent)
    assert not decision.up and decision.cause == "reserved", decision
    answer = service.offline_message(spent, "key:litellm-master")
    assert not answer.starting and "kept for the windows" in answer.text
    # ... while the window still opens: its hours were kept.
    assert service.reconciler.decide(spent.replace(hour=20, minute=30)).up


def test_wake_on_demand_without_a_budget_is_refused_by_compose_check() -> None:
    data = tomllib.loads(SPECS["entry-gpu"].read_text())
    del data["scheduler"]["budget_hours"]
    found = problems(Deployment.model_validate(data))
    message = "wake_on_demand needs a monthly budget_hours: without one, wake-ups have no bound on cost"
    assert [(p.field, p.message) for p in found if p.field.startswith("scheduler")] == [
        ("scheduler.budget_hours", message)
    ]
    data["scheduler"]["wake_on_demand"] = False
    assert not [p for p in problems(Deployment.model_validate(data)) if p.field.startswith("scheduler")]


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_provider_failure_is_counted_logged_and_posted_to_the_webhook(
    tmp_path: Path, database: PostgresService
) -> None:
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        service = hetzner_service(tmp_path, database, webhook=f"http://127.0.0.1:{hook.server_port}/hook")
        refused = {"error": {"code": "unauthorized", "message": "unable to authenticate", "details": {}}}
        with Replay([Exchange("GET", "/v1/servers", 401, refused)]):
            service.reconciler.tick()
    finally:
        hook.shutdown()
    assert _Hook.received and _Hook.received[-1]["event"] == "gpu.provider-error"
    assert "unable to authenticate" in _Hook.received[-1]["message"]
    metrics = TestClient(service.app()).get("/metrics").text
    assert "toolpark_gpu_provider_errors_total 1.0" in metrics
    assert 'toolpark_gpu_node_state{state="off"} 1.0' in metrics
    assert "toolpark_gpu_hours_this_month 0.0" in metrics and "toolpark_gpu_cost_this_month 0.0" in metrics


def test_guessed_bootstrap_tokens_are_counted_and_throttled_not_posted_each(
    tmp_path: Path, database: PostgresService
) -> None:
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _Hook.received.clear()
    try:
        service = hetzner_service(tmp_path, database, webhook=f"http://127.0.0.1:{hook.server_port}/hook")
        client = TestClient(service.app())
        answers = [client.get("/bootstrap", headers={"Authorization": f"Bearer guess-{n}"}) for n in range(200)]
        # A forwarded header names nobody: the peer is the connection's own.
        spoofed = client.get("/bootstrap", headers={"Authorization": "Bearer x", "X-Forwarded-For": "10.9.9.9"})
        statuses = [answer.status_code for answer in answers]
        assert statuses[:20] == [403] * 20 and set(statuses[20:]) == {429} and spoofed.status_code == 429
        refused = [e for e in service.history.events(50) if e.kind == "bootstrap-refused"]
        assert len(refused) == 1 and "from testclient" in refused[0].message
        assert [event["event"] for event in _Hook.received] == ["gpu.bootstrap-refused"]
        # A period on, the peer is heard again, and the report counts the refusals not yet reported.
        service.refusals.clock = lambda: time.monotonic() + 601
        assert client.get("/bootstrap").status_code == 403
    finally:
        hook.shutdown()
    assert "20 bootstrap request(s) without a valid token" in service.history.events(1)[0].message


def _until_started(server: uvicorn.Server) -> None:
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.anyio
async def test_retrieval_says_when_search_is_back_or_embeds_locally_meanwhile(
    tmp_path: Path, database: PostgresService
) -> None:
    day = datetime.now(UTC).date() + timedelta(days=2)
    service = hetzner_service(
        tmp_path, database, wake_on_demand=False, windows=[], extra_windows=[f"{day} 10:00-12:00"]
    )
    away, port = free_ports(2)  # the GPU node's vLLM, not there; the scheduler's HTTP port
    server = uvicorn.Server(uvicorn.Config(service.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        await anyio.to_thread.run_sync(_until_started, server)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{away}/v1/") as endpoint:
            status_url = f"http://127.0.0.1:{port}/status"
            embedder = WhileAway(OpenAIEmbedder(endpoint, model="minilm", retries=0), status_url=status_url)
            with pytest.raises(EndpointUnavailable) as caught:
                await embedder.embed(["lighthouse keepers"])
            stand_in = WhileAway(
                OpenAIEmbedder(endpoint, model="minilm", retries=0),
                fallback=lambda: anyio.to_thread.run_sync(LocalEmbedder),
            )
            vectors = await stand_in.embed(["lighthouse keepers", "keepers of lighthouses"])
    finally:
        server.should_exit = True
        thread.join()
    assert len(vectors) == 2 and stand_in.dimension == 384 and stand_in.model == "minilm"
    start = service.reconciler.next_start(datetime.now(UTC))
    assert start is not None
    assert "The embedding endpoint is unreachable (ConnectError)." in str(caught.value)
    assert f"The model node is off (outside the windows); search works again at {start.isoformat()}" in str(
        caught.value
    )


def test_a_node_never_healthy_is_deleted_reported_and_not_retried_at_once(
    tmp_path: Path, database: PostgresService
) -> None:
    service = hetzner_service(tmp_path, database, windows=["daily 00:00-24:00"], ready_timeout_s=600)
    answers = recorded("hetzner")
    name = answers["find"][0].response["servers"][0]["name"]
    service.history.requested(name, "hetzner", datetime.now(UTC) - timedelta(hours=1))
    # Listed and running, but its vLLM (10.0.0.2 here: not there) never answered: deleted.
    with Replay([*answers["find"], answers["delete"][0]]) as replay:
        service.reconciler.tick()
    assert [s.method for s in replay.sent] == ["GET", "DELETE"]
    events = {event.kind: event.message for event in service.history.events()}
    assert "not healthy in 600 s" in events["failed"] and "next try in" in events["failed"]
    # Gone at the next look; still wanted, but the failure backs off: no create yet.
    with Replay([EMPTY]) as replay:
        decision = service.reconciler.tick()
    assert decision.up and len(replay.sent) == 1 and service.reconciler.state == "off"
    assert service.history.events()[0].kind == "deleted"


def test_a_second_node_is_adopted_then_deleted_keeping_the_ready_one(tmp_path: Path, database: PostgresService) -> None:
    service = hetzner_service(tmp_path, database, windows=["daily 00:00-24:00"])
    answers = recorded("hetzner")
    kept = answers["find"][0].response["servers"][0]["name"]
    service.history.requested(kept, "hetzner", datetime.now(UTC) - timedelta(hours=1))
    service.history.ready(kept, datetime.now(UTC) - timedelta(minutes=50))
    both = dict(answers["find"][0].response)
    both["servers"] = [listed(answers, 4242, kept), listed(answers, 4343, "assistant-gpu-from-a-crash")]
    listing = Exchange("GET", "/v1/servers", 200, both, answers["find"][0].query)
    removal = Exchange("DELETE", "/v1/servers/4343", 200, answers["delete"][0].response)
    with Replay([listing, removal]) as replay:
        service.reconciler.tick()
    assert replay.sent[-1].method == "DELETE" and replay.sent[-1].url.endswith("/servers/4343")
    kinds = [event.kind for event in service.history.events()]
    assert kinds[:2] == ["deleting", "adopted"] and service.reconciler.state == "ready"
    assert {record.name for record in service.history.open_nodes()} == {kept, "assistant-gpu-from-a-crash"}
