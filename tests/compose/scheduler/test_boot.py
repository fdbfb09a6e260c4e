"""The scheduled node's boot, as the scheduler records and uses it (real PostgreSQL, the Hetzner API
answered from recorded exchanges): the phases the scheduler sees and the node reports, in the
history, /status, /metrics and `toolpark gpu status`; a node whose weights fail is deleted with
the reason; and the lead learned from recorded boots, across changes of daylight saving time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.exceptions import ClientError
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.compose.scheduler.scheduling import hetzner_service
from tests.compose.test_weights import model_folder
from toolpark.compose.files import read_env
from toolpark.compose.scheduler.cli import _print_status
from toolpark.compose.scheduler.replay import Exchange, Replay, recorded
from toolpark.compose.scheduler.service import SchedulerService
from toolpark.compose.weights import WeightsLocation, push
from toolpark.operations.embedded import PostgresService, add_reader, free_ports, seaweedfs

BERLIN = "Europe/Berlin"


def _record_boots(service: SchedulerService, minutes: list[float]) -> None:
    """Past boots that reached a healthy vLLM after these many minutes each."""
    day = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    for n, taken in enumerate(minutes):
        requested = day - timedelta(days=n + 1)
        service.history.requested(f"assistant-gpu-past-{n}", "hetzner", requested)
        service.history.ready(f"assistant-gpu-past-{n}", requested + timedelta(minutes=taken))
        service.history.ended(f"assistant-gpu-past-{n}", requested + timedelta(hours=10), "deleted")


def _boot_key(service: SchedulerService) -> dict[str, str]:
    return {"Authorization": f"Bearer {read_env(service.folder / '.env')['TOOLPARK_BOOT_KEY']}"}


def test_the_lead_is_learned_from_the_boots_p90_and_the_node_is_created_that_early(
    tmp_path: Path, database: PostgresService
) -> None:
    service = hetzner_service(tmp_path, database, timezone=BERLIN, windows=["mon-fri 08:00-18:00"])
    reconciler = service.reconciler
    assert reconciler.lead()[0] == timedelta(minutes=15)  # no boot measured yet: the default
    _record_boots(service, [4, 5, 6, 5, 7, 6, 5, 18, 19.5, 5])  # p90 (nearest rank): 18
    lead, grounds = reconciler.lead()
    assert lead == timedelta(minutes=19) and "the last 10 boots' p90 of 18.0 min" in grounds
    # Monday 2026-11-09, 08:00 in Berlin is 07:00 UTC: wanted from 06:41 UTC on.
    assert not reconciler.decide(datetime(2026, 11, 9, 6, 40, 59, tzinfo=UTC)).up
    early = reconciler.decide(datetime(2026, 11, 9, 6, 41, tzinfo=UTC))
    assert early.up and early.cause == "lead"
    assert early.reason.startswith("starting 19 min before the window at Mon 08:00")
    # At 06:42 the tick creates the node (the provider's create, as recorded).
    answers = recorded("hetzner")
    reconciler.clock = lambda: datetime(2026, 11, 9, 6, 42, tzinfo=UTC)
    with Replay([_empty(answers), *answers["create"]]) as replay:
        reconciler.tick()
    assert [s.method for s in replay.sent][2] == "POST" and reconciler.state == "starting"
    assert service.history.boots(1)[0].phases[0].name == "created"
    status = TestClient(service.app()).get("/status").json()
    assert status["lead_minutes"] == 19 and "p90" in status["lead_grounds"]
    shown = CliRunner().invoke(_print_command(), [], obj=status)
    assert "started 19 min before each window" in shown.output and "counts toward the budget" in shown.output


@pytest.mark.parametrize(
    ("night", "first_up"),
    [
        # 29 March 2026: clocks go from 02:00 to 03:00. The window opens at 04:00 CEST (02:00 UTC); three
        # hours before is 23:00 UTC, 00:00 CET on the wall. Wall-clock arithmetic would say 01:00 CET.
        ("2026-03-29", datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
        # 25 October 2026: clocks go from 03:00 back to 02:00. 04:00 CET is 03:00 UTC; three hours
        # before is 00:00 UTC, 02:00 CEST. Wall-clock arithmetic would say 01:00 CEST, an hour early.
        ("2026-10-25", datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_lead_is_elapsed_time_across_a_change_of_daylight_saving_time(
    tmp_path: Path, database: PostgresService, night: str, first_up: datetime
) -> None:
    service = hetzner_service(
        tmp_path, database, timezone=BERLIN, windows=[], extra_windows=[f"{night} 04:00-10:00"], lead_minutes=180
    )
    decide = service.reconciler.decide
    assert not decide(first_up - timedelta(seconds=1)).up
    assert decide(first_up).cause == "lead" and decide(first_up + timedelta(hours=2, minutes=59)).cause == "lead"
    assert decide(first_up + timedelta(hours=3)).cause == "window"
    # The lead's three hours count toward the budget, like the window's six.
    hours = service.reconciler.calendar.hours_between(first_up - timedelta(hours=1), first_up + timedelta(days=1),
                                                      timedelta(minutes=180))  # fmt: skip
    assert hours == pytest.approx(9)


def test_boot_phases_are_recorded_shown_and_a_failed_weights_check_deletes_the_node(
    tmp_path: Path, database: PostgresService
) -> None:
    service = hetzner_service(tmp_path, database, windows=["daily 00:00-24:00"])
    answers = recorded("hetzner")
    name = answers["find"][0].response["servers"][0]["name"]
    requested = datetime.now(UTC) - timedelta(minutes=5)
    service.history.requested(name, "hetzner", requested)
    service.history.phase(name, "created", requested + timedelta(seconds=2))
    client = TestClient(service.app())
    # The node's reports: only with its key, only the phases it knows of.
    assert client.post("/boot", json={"phase": "images", "ok": True}).status_code == 401
    bad = client.post("/boot", json={"phase": "healthy", "ok": True}, headers=_boot_key(service))
    assert bad.status_code == 400 and "images, weights" in bad.json()["error"]
    assert client.post("/boot", json={"phase": "images", "ok": True}, headers=_boot_key(service)).status_code == 200
    # Each model's weights are checked and reported: the embedding's passed, the chat model's did not.
    embedding = {"phase": "weights", "ok": True, "detail": "s3://models/bge-m3: 8 files, 2.27 GB, complete"}
    assert client.post("/boot", json=embedding, headers=_boot_key(service)).status_code == 200
    why = "model-00002-of-00004.safetensors: missing in s3://models/qwen, and its manifest names it"
    failed = client.post("/boot", json={"phase": "weights", "ok": False, "detail": why}, headers=_boot_key(service))
    assert failed.json() == {"node": name, "phase": "weights", "ok": False}
    # The next tick sees the machine running, and deletes it for the failed phase, with the reason.
    with Replay([*answers["find"], answers["delete"][0]]) as replay:
        service.reconciler.tick()
    assert [s.method for s in replay.sent] == ["GET", "DELETE"]
    events = {event.kind: event.message for event in service.history.events()}
    assert f"reported its phase weights failed: {why}" in events["failed"]
    boot = service.history.boots(1)[0]
    assert [p.name for p in boot.phases] == ["created", "machine up", "images", "weights"]
    assert [p.ok for p in boot.phases] == [True, True, True, False]
    status = client.get("/status").json()
    assert status["boots"][0]["phases"][3] == {"phase": "weights", "seconds": pytest.approx(300, abs=5),
                                               "ok": False, "detail": why}  # fmt: skip
    metrics = client.get("/metrics").text
    assert 'toolpark_gpu_boot_phase_seconds{phase="created"} 2.0' in metrics
    assert 'toolpark_gpu_boot_phase_seconds{phase="weights"}' in metrics
    shown = CliRunner().invoke(_print_command(), [], obj=status)
    assert f"{name}: created 2 · machine up 300 · images 300 · weights 300 FAILED" in shown.output
    assert f"weights: {why}" in shown.output


def _empty(answers: dict[str, list[Exchange]]) -> Exchange:
    found = dict(answers["find"][0].response) | {"servers": []}
    return Exchange("GET", "/v1/servers", 200, found, answers["find"][0].query)


def _print_command():  # type: ignore[no-untyped-def]
    """`toolpark gpu status`'s printing, as a command CliRunner can run on a status (its `obj`)."""
    import click

    @click.command()
    @click.pass_obj
    def show(status: dict[str, object]) -> None:
        _print_status(status)  # type: ignore[arg-type]

    return show


def test_the_compile_cache_is_kept_beside_the_weights_by_the_scheduler_and_restored_by_the_check(
    tmp_path: Path, database: PostgresService
) -> None:
    """The node's key only reads the models' bucket: it sends its compile cache to the scheduler,
    which keeps it with the stack's own key; the next boot's check restores it (real SeaweedFS)."""
    (tmp_path / "s3").mkdir()
    reader = add_reader(tmp_path / "s3", "models")
    with seaweedfs(tmp_path / "s3") as store:
        admin = s3_client(store.endpoint_url, store.access_key_id, store.secret_access_key)
        admin.create_bucket(Bucket="models")
        admin.create_bucket(Bucket="files")
        push(model_folder(tmp_path / "tiny"), WeightsLocation("models", "tiny"), admin)

        def weights(data: dict[str, Any]) -> None:
            data["s3"] = {"endpoint_url": store.endpoint_url, "bucket": "files"}
            data["models"]["chat"]["weights"] = "s3://models/tiny"

        keys = {"S3_ACCESS_KEY_ID": store.access_key_id, "S3_SECRET_ACCESS_KEY": store.secret_access_key,
                "WEIGHTS_S3_ACCESS_KEY_ID": reader[0], "WEIGHTS_S3_SECRET_ACCESS_KEY": reader[1]}  # fmt: skip
        service = hetzner_service(tmp_path, database, keys, edit=weights)
        port = free_ports(1)[0]
        server = uvicorn.Server(uvicorn.Config(service.app(), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            compiled = tmp_path / "vllm-cache"
            (compiled / "torch_compile_cache" / "abc").mkdir(parents=True)
            (compiled / "torch_compile_cache" / "abc" / "graph.py").write_text("# a compiled graph\n")
            (compiled / "modelinfos.json").write_text("{}")
            node = os.environ | {"TOOLPARK_BOOT_KEY": read_env(service.folder / ".env")["TOOLPARK_BOOT_KEY"]}
            save = ["save-cache", str(compiled), "--key", "k1", "--to", f"http://127.0.0.1:{port}/boot/cache/chat"]
            first = _models(*save, env=node)
            assert first.returncode == 0 and "saved the compile cache k1" in first.stdout, first.stderr
            assert _models(*save, env=node).stdout.strip() == "the compile cache k1 is kept already"
            stranger = _models(*save, env=os.environ | {"TOOLPARK_BOOT_KEY": "guessed"})
            assert stranger.returncode == 1 and "401" in stranger.stderr
            # The next boot: the check, with the node's read-only key, restores it.
            restored = tmp_path / "restored"
            reading = os.environ | {"AWS_ENDPOINT_URL": store.endpoint_url, "AWS_ACCESS_KEY_ID": reader[0],
                                    "AWS_SECRET_ACCESS_KEY": reader[1], "AWS_REGION": "us-east-1"}  # fmt: skip
            checked = _models("check", "s3://models/tiny", "--cache", str(restored), "--cache-key", "k1", env=reading)
            assert checked.returncode == 0 and "compile cache k1 restored" in checked.stdout, checked.stderr
            assert (restored / "torch_compile_cache" / "abc" / "graph.py").read_text() == "# a compiled graph\n"
            fresh = _models("check", "s3://models/tiny", "--cache", str(tmp_path / "x"), "--cache-key", "k2",
                            env=reading)  # fmt: skip
            assert "no compile cache yet" in fresh.stdout
            # That key reads; it writes nothing.
            with pytest.raises(ClientError, match="AccessDenied"):
                s3_client(store.endpoint_url, *reader).put_object(Bucket="models", Key="tiny/x", Body=b"x")
        finally:
            server.should_exit = True
            thread.join()
    kinds = [event.kind for event in service.history.events()]
    assert kinds.count("compile-cache") == 1


def _models(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "toolpark", "models", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def s3_client(endpoint: str, key_id: str, secret: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret,
                        region_name="us-east-1")  # fmt: skip
