"""When the scheduled node should run: weekly windows, days off and one-off windows in a time zone.

Windows are read in the spec's time zone, so `mon-fri 08:00-18:00` follows daylight saving time.
A weekly window belongs to the day it starts on: `fri 18:00-02:00` runs into Saturday, and a day
off drops the windows that start on it. One-off windows apply whatever the day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Calendar", "Interval", "parse_dated_window", "parse_window"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_HORIZON_DAYS = 400  # past a year with no window, there is no next one


@dataclass(frozen=True)
class _Weekly:
    days: frozenset[int]  # Monday is 0
    start: timedelta  # from midnight
    end: timedelta  # from the start day's midnight; past 24 h when it runs past midnight


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime


def _times(text: str, source: str) -> tuple[timedelta, timedelta]:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"{source!r}: the time range must read HH:MM-HH:MM, e.g. 08:00-18:00")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or eh > 24 or sm > 59 or em > 59 or (eh == 24 and em):
        raise ValueError(f"{source!r}: {text} is not a time range of one day")
    start, end = timedelta(hours=sh, minutes=sm), timedelta(hours=eh, minutes=em)
    if end == start:
        raise ValueError(f"{source!r}: the window is empty")
    return start, end if end > start else end + timedelta(days=1)


def _day(name: str, source: str) -> int:
    if name not in _DAYS:
        raise ValueError(f"{source!r}: unknown day {name!r}; days are {', '.join(_DAYS)}")
    return _DAYS.index(name)


def parse_window(text: str) -> _Weekly:
    """`mon-fri 08:00-18:00`, `sat,sun 10:00-14:00`, `daily 00:00-24:00`, `fri-mon 20:00-06:00`."""
    days_text, _, range_text = text.strip().lower().partition(" ")
    days: set[int] = set()
    for part in days_text.split(","):
        if part == "daily":
            days.update(range(7))
        elif "-" in part:
            first, last = (_day(d, text) for d in part.split("-", 1))
            days.update(d % 7 for d in range(first, first + (last - first) % 7 + 1))
        else:
            days.add(_day(part, text))
    start, end = _times(range_text.strip(), text)
    return _Weekly(frozenset(days), start, end)


def parse_dated_window(text: str) -> tuple[date, timedelta, timedelta]:
    """`2026-12-28 10:00-16:00`."""
    day_text, _, range_text = text.strip().partition(" ")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise ValueError(f"{text!r}: the date must read YYYY-MM-DD") from None
    return (day, *_times(range_text.strip(), text))


def _at(day: date, offset: timedelta, zone: ZoneInfo) -> datetime:
    # Wall-clock time on that day in the zone (daylight saving applied), not elapsed time.
    return (datetime.combine(day, time(0)) + offset).replace(tzinfo=zone)


def _merged(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: i.start):
        if merged and interval.start <= merged[-1].end:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, interval.end))
        else:
            merged.append(interval)
    return merged


class Calendar:
    def __init__(
        self, timezone: str, windows: Iterable[str], days_off: Iterable[date] = (), extra: Iterable[str] = ()
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self._weekly = [parse_window(w) for w in windows]
        self._days_off = frozenset(days_off)
        self._extra = [parse_dated_window(w) for w in extra]

    def _intervals(self, first: date, days: int) -> Iterator[Interval]:
        for n in range(days):
            day = first + timedelta(days=n)
            if day not in self._days_off:
                for window in self._weekly:
                    if day.weekday() in window.days:
                        yield Interval(_at(day, window.start, self.zone), _at(day, window.end, self.zone))
            for extra_day, start, end in self._extra:
                if extra_day == day:
                    yield Interval(_at(day, start, self.zone), _at(day, end, self.zone))

    def around(self, now: datetime, days: int = 8, lead: timedelta = timedelta(0)) -> list[Interval]:
        """The windows from the day before `now` on, each opening `lead` early, merged where they touch."""
        local = now.astimezone(self.zone).date()
        intervals = self._intervals(local - timedelta(days=1), days + 1)
        if lead:
            # Elapsed time before the opening, so in UTC: a zone's arithmetic is wall-clock time,
            # and a night that changes daylight saving time would stretch or shrink the lead.
            intervals = (Interval(i.start.astimezone(UTC) - lead, i.end) for i in list(intervals))
        return _merged(intervals)

    def current(self, now: datetime, lead: timedelta = timedelta(0)) -> Interval | None:
        """The window `now` is in (or is `lead` ahead of), if any."""
        return next((i for i in self.around(now, 2, lead) if i.start <= now < i.end), None)

    def next_start(self, now: datetime) -> datetime | None:
        """When the next window after `now` opens; None if none within a year."""
        return next((i.start for i in self.around(now, _HORIZON_DAYS) if i.start > now), None)

    def hours_between(self, now: datetime, end: datetime, lead: timedelta = timedelta(0)) -> float:
        """Window hours from `now` to `end`, each window opening `lead` early: what the schedule
        will still spend in that time."""
        days = (end.astimezone(self.zone).date() - now.astimezone(self.zone).date()).days + 1
        seconds = sum(
            (min(i.end, end) - max(i.start, now)).total_seconds()
            for i in self.around(now, max(days, 1), lead)
            if i.end > now and i.start < end
        )
        return seconds / 3600
