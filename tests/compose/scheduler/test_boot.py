"""The scheduled node's boot, as the scheduler records and uses it (real PostgreSQL, the Hetzner API
answered from recorded exchanges): the phases the scheduler sees and the node reports, in the
history, /status, /metrics and `toolpark gpu status`; a node whose weights fail is deleted with
the reason; and the lead learned from recorded boots, across changes of daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.compose.scheduler.scheduling import hetzner_service
from toolpark.compose.files import read_env
from toolpark.compose.scheduler.cli import _print_status
from toolpark.compose.scheduler.replay import Exchange, Replay, recorded
from toolpark.compose.scheduler.service import SchedulerService
from toolpark.operations.embedded import PostgresService

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
