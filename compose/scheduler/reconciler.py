"""The reconciler: every interval, what should run (windows, override, budget, demand) against
what the provider reports (by label), and one step towards agreement. Idempotent: it keeps no
state that matters in memory, so it can be killed at any moment and started again.

- It only ever touches servers with its deployment's labels; any such server it finds is its own
  (adopted into the history if a crash kept it from being recorded).
- A node is recorded as requested before the provider is asked; one requested less than an
  interval ago and not yet listed is waited for, not created twice. Two live nodes: the extra
  one is deleted.
- A node whose vLLM is not healthy within `ready_timeout_s` is deleted and reported; creation
  failures back off exponentially.
- At a window's end, running requests get `drain_s` to finish before the node is deleted.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from toolpark.compose.calendar import Calendar
from toolpark.compose.providers import NodeRequest, Provider, ProviderError, ProviderNode, node_labels
from toolpark.compose.scheduler.history import History, NodeRecord
from toolpark.compose.spec import Scheduler

__all__ = ["Decision", "Reconciler", "Report", "month_start", "node_name"]

_MAX_BACKOFF = timedelta(minutes=30)

# What the node is doing, as /metrics and `toolpark gpu status` say it.
STATES = ("off", "starting", "ready", "draining", "deleting")


Cause = Literal["held down", "budget", "held up", "window", "lead", "demand", "reserved", "off", "provider"]

# The lead learned from boots: the p90 of the last boots' time to a healthy vLLM, a minute more,
# within these bounds; the default until three boots are known.
LEAD_BOOTS = 10
LEAD_DEFAULT = timedelta(minutes=15)
LEAD_BOUNDS = (timedelta(minutes=2), timedelta(minutes=60))


@dataclass(frozen=True)
class Decision:
    up: bool
    reason: str  # for a person
    cause: Cause  # for the code that acts on it


@dataclass(frozen=True)
class Activity:
    """vLLM's own counters: requests finished so far, and running now."""

    finished: float
    running: float


Report = Callable[[str, str | None, str, bool], None]  # kind, node, message, failure


def _within(seconds: float, call: Callable[[], object]) -> None:
    """`call` in a thread of its own, waited for `seconds`: an SDK without timeouts must not stall
    the reconciler. A call still running afterwards may yet create the node; the labels then let
    the next ticks find it like any other."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the caller below
            failed.append(exc)

    worker = threading.Thread(target=run, name="provider-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if failed:
        raise failed[0]
    if worker.is_alive():
        raise ProviderError(f"no answer within {seconds:g} s")


def node_name(deployment: str, node: str, now: datetime) -> str:
    """New for every creation: a server's name says whose it is and when it was asked for."""
    return f"{deployment}-{node}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def month_start(now: datetime, calendar: Calendar) -> datetime:
    local = now.astimezone(calendar.zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_end(now: datetime, calendar: Calendar) -> datetime:
    start = month_start(now, calendar)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


class Reconciler:
    def __init__(
        self,
        *,
        deployment: str,
        node: str,
        provider_name: str,
        settings: Scheduler,
        provider: Provider,
        history: History,
        healthy: Callable[[], bool],
        first_answer: Callable[[], bool],
        activity: Callable[[], Activity | None],
        user_data: Callable[[str], str],
        address: str | None,
        report: Report,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.calendar = Calendar(settings.timezone, settings.windows, settings.days_off, settings.extra_windows)
        self.deployment, self.node, self.provider_name = deployment, node, provider_name
        self.labels = node_labels(deployment, node)
        self.provider, self.history = provider, history
        self._healthy, self._first_answer = healthy, first_answer
        self._activity, self._user_data = activity, user_data
        self.address, self.report, self.clock = address, report, clock
        self.state = "off"
        self.time_to_ready_s: float | None = None
        self.provider_errors = 0
        self._failures = 0
        self._backoff_until: datetime | None = None
        self._draining_since: datetime | None = None
        self._last_finished: float | None = None

    # -- what should run ------------------------------------------------------------------
    def hours_this_month(self, now: datetime) -> float:
        return self.history.hours_since(month_start(now, self.calendar), now)

    def lead(self) -> tuple[timedelta, str]:
        """How long before each window the node is created, and on what grounds."""
        if self.settings.lead_minutes is not None:
            return timedelta(minutes=self.settings.lead_minutes), "set in the spec"
        times = sorted(self.history.times_to_ready(LEAD_BOOTS))
        if len(times) < 3:
            return LEAD_DEFAULT, f"the default until 3 boots are measured ({len(times)} so far)"
        p90 = times[math.ceil(0.9 * len(times)) - 1]
        lead = timedelta(minutes=math.ceil(p90 / 60) + 1)
        low, high = LEAD_BOUNDS
        return min(max(lead, low), high), f"the last {len(times)} boots' p90 of {p90 / 60:.1f} min, and a minute"

    def spare_hours(self, now: datetime) -> float | None:
        """The budget's hours this month beyond what the rest of its windows need: all that a
        wake-up may spend, so that wake-ups can never leave the windows without hours. None
        without a budget."""
        budget = self.settings.budget_hours
        if budget is None:
            return None
        reserved = self.calendar.hours_between(now, month_end(now, self.calendar), self.lead()[0])
        return budget - self.hours_this_month(now) - reserved

    def decide(self, now: datetime) -> Decision:
        override = self.history.override(now)
        zone = self.calendar.zone
        if override and override.state == "down":
            until = override.until.astimezone(zone)
            return Decision(False, f"held down by {override.set_by} until {until:%a %H:%M}", "held down")
        budget = self.settings.budget_hours
        if budget is not None and (used := self.hours_this_month(now)) >= budget:
            return Decision(
                False,
                f"the monthly budget of {budget:g} GPU hours is used ({used:.1f} h); no start before next month "
                "unless scheduler.budget_hours is raised",
                "budget",
            )
        if override:
            until = override.until.astimezone(zone)
            return Decision(True, f"held up by {override.set_by} until {until:%a %H:%M}", "held up")
        if window := self.calendar.current(now):
            return Decision(True, f"in the window until {window.end:%a %H:%M}", "window")
        lead, grounds = self.lead()
        if self.calendar.current(now, lead) and (opening := self.calendar.next_start(now)):
            minutes = lead.total_seconds() / 60
            reason = f"starting {minutes:.0f} min before the window at {opening:%a %H:%M} ({grounds})"
            return Decision(True, reason, "lead")
        if self.settings.wake_on_demand and (demand := self.history.last_demand()) is not None:
            idle_until = demand + timedelta(minutes=self.settings.idle_minutes)
            if now < idle_until:
                if (spare := self.spare_hours(now)) is not None and spare <= 0:
                    reason = "outside the windows; the budget's hours left this month are kept for the windows"
                    return Decision(False, reason, "reserved")
                reason = f"woken on demand; idle stop at {idle_until.astimezone(zone):%H:%M}"
                return Decision(True, reason, "demand")
        return Decision(False, "outside the windows", "off")

    def next_start(self, now: datetime) -> datetime | None:
        return self.calendar.next_start(now)

    # -- one step ---------------------------------------------------------------------------
    def tick(self) -> Decision:
        now = self.clock()
        try:
            observed = self.provider.find(self.labels)
        except ProviderError as exc:
            self.provider_errors += 1
            self.report("provider-error", None, f"listing the nodes failed: {exc}", True)
            return Decision(False, "the provider does not answer", "provider")
        records = self._account(observed, now)
        going = [n for n in observed if n.status == "deleting" or self._asked_to_delete(records, n)]
        for node in going:
            self._delete(node, records.get(node.name), now, "deleting")  # asks again once its time is up
        live = self._one_node([n for n in observed if n not in going], records, now)
        decision = self.decide(now)
        if not live:
            if going:
                self.state = "deleting"
            elif decision.up:
                self._create(records, now)
            else:
                self.state = "off"
            return decision
        node, record = live[0], records.get(live[0].name)
        if decision.up:
            self._draining_since = None
            self._bring_up(node, record, now)
        else:
            self._take_down(node, record, now, decision.reason)
        return decision

    @staticmethod
    def _asked_to_delete(records: dict[str, NodeRecord], node: ProviderNode) -> bool:
        record = records.get(node.name)
        return record is not None and record.delete_requested_at is not None

    def _account(self, observed: list[ProviderNode], now: datetime) -> dict[str, NodeRecord]:
        """The history brought in line with what the provider reports."""
        seen = {n.name for n in observed}
        records = {r.name: r for r in self.history.open_nodes()}
        for node in observed:
            if node.name not in records:
                self.history.requested(node.name, self.provider_name, node.created or now)
                self.report("adopted", node.name, "found a node of this deployment the history lacked; adopted", False)
        grace = timedelta(seconds=self.settings.interval_s)
        for name, record in records.items():
            if name not in seen and now - record.requested_at > grace:
                if record.delete_requested_at is not None:
                    self.history.ended(name, now, "deleted")
                    self.report("deleted", name, "the node is gone", False)
                else:
                    self.history.ended(name, now, "gone")
                    message = "the node is no longer there, and this scheduler did not delete it"
                    self.report("gone", name, message, False)
        return {r.name: r for r in self.history.open_nodes()}

    def _one_node(self, live: list[ProviderNode], records: dict[str, NodeRecord], now: datetime) -> list[ProviderNode]:
        if len(live) < 2:
            return live

        def rank(node: ProviderNode) -> tuple[bool, datetime]:
            record = records.get(node.name)
            return (record is None or record.ready_at is None, record.requested_at if record else now)

        keep, *extra = sorted(live, key=rank)
        for node in extra:
            self._delete(node, records.get(node.name), now, "a second node of this deployment; keeping one")
        return [keep]

    def _create(self, records: dict[str, NodeRecord], now: datetime) -> None:
        grace = timedelta(seconds=self.settings.interval_s)
        if any(now - r.requested_at <= grace for r in records.values()):
            self.state = "starting"  # requested a moment ago; the provider may not list it yet
            return
        if self._backoff_until and now < self._backoff_until:
            self.state = "off"
            return
        name = node_name(self.deployment, self.node, now)
        self.history.requested(name, self.provider_name, now)
        request = NodeRequest(name, self._user_data(name), dict(self.labels), self.address)
        try:
            _within(self.settings.create_timeout_s, lambda: self.provider.create(request))
        except ProviderError as exc:
            self.provider_errors += 1
            self.history.ended(name, self.clock(), "create failed")
            self._fail(name, now, f"creating the node failed: {exc}")
            return
        self.history.phase(name, "created", self.clock())
        self.state = "starting"
        self.report("created", name, f"node requested from {self.provider_name}", False)

    def _fail(self, name: str, now: datetime, message: str) -> None:
        self._failures += 1
        backoff = min(timedelta(seconds=self.settings.interval_s * 2**self._failures), _MAX_BACKOFF)
        self._backoff_until = now + backoff
        self.report("failed", name, f"{message}; next try in {backoff.total_seconds():.0f} s", True)

    def _bring_up(self, node: ProviderNode, record: NodeRecord | None, now: datetime) -> None:
        if record is None:  # adopted this very tick; the next one has its record
            return
        if record.ready_at is not None and node.status != "off":
            self.state = "ready"
            self._track_activity(now)
            return
        if node.status == "running":
            self.history.phase(node.name, "machine up", now)  # the first sighting counts
        if failed := self.history.failed_phase(node.name):
            # The node said it cannot serve (its weights are missing or cut): no use waiting for vLLM.
            why = f"reported its phase {failed.name} failed: {failed.detail}"
            self._delete(node, record, now, f"the node {why}; deleting it")
            self._fail(node.name, now, f"the node {why}")
        elif node.status != "off" and self._healthy():
            self.history.ready(node.name, now)
            self.history.phase(node.name, "healthy", now)
            self.time_to_ready_s = (now - record.requested_at).total_seconds()
            self._failures, self._backoff_until = 0, None
            self.state = "ready"
            self.report("ready", node.name, f"vLLM healthy {self.time_to_ready_s:.0f} s after the request", False)
            if self._first_answer():
                self.history.phase(node.name, "first answer", self.clock())
        elif node.status == "off" or now - record.requested_at > timedelta(seconds=self.settings.ready_timeout_s):
            # Switched off (outside the scheduler, or a crash between its create steps): ours to remove.
            why = "is switched off" if node.status == "off" else f"not healthy in {self.settings.ready_timeout_s} s"
            self._delete(node, record, now, f"the node {why}; deleting it")
            self._fail(node.name, now, f"the node {why}")
        else:
            self.state = "starting"
            if self.settings.wake_on_demand:
                # The idle time of a woken node counts from when it can serve, not from the request.
                self.history.demand(now)

    def _track_activity(self, now: datetime) -> None:
        """Requests vLLM finished or runs: activity that keeps a woken node up."""
        activity = self._activity()
        if activity is None:
            return
        if activity.running > 0 or (self._last_finished is not None and activity.finished != self._last_finished):
            self.history.demand(now)
        self._last_finished = activity.finished

    def _take_down(self, node: ProviderNode, record: NodeRecord | None, now: datetime, reason: str) -> None:
        if record is not None and record.ready_at is not None and self.settings.drain_s:
            activity = self._activity()
            self._draining_since = self._draining_since or now
            drain_over = now - self._draining_since >= timedelta(seconds=self.settings.drain_s)
            if activity and activity.running > 0 and not drain_over:
                self.state = "draining"
                return
        self._draining_since = None
        self._delete(node, record, now, f"stopping: {reason}")

    def _delete(self, node: ProviderNode, record: NodeRecord | None, now: datetime, message: str) -> None:
        asked = record.delete_requested_at if record else None
        if asked is not None:
            if now - asked < timedelta(seconds=self.settings.delete_timeout_s):
                return  # asked already; waiting for it to go
            message = f"not gone {self.settings.delete_timeout_s} s after the delete; asking again"
        try:
            self.provider.delete(node.id)
        except ProviderError as exc:
            self.provider_errors += 1
            self.report("failed", node.name, f"deleting the node failed: {exc}", True)
            return
        self.history.deleting(node.name, now)
        self.state = "deleting"
        self.report("deleting", node.name, message, asked is not None)
