"""The schedule's windows: weekly in a time zone (daylight saving included), past midnight, days
off and one-off windows; and the errors a mistyped window gets."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from toolpark.compose.calendar import Calendar, parse_window

BERLIN = ZoneInfo("Europe/Berlin")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_working_hours_open_and_close_on_the_local_clock() -> None:
    calendar = Calendar("Europe/Berlin", ["mon-fri 08:00-18:00"])
    assert calendar.current(at(2026, 11, 27, 17, 59)) is not None  # a Friday
    assert calendar.current(at(2026, 11, 27, 18, 0)) is None
    assert calendar.current(at(2026, 11, 28, 12, 0)) is None  # Saturday
    assert calendar.next_start(at(2026, 11, 27, 18, 0)) == at(2026, 11, 30, 8, 0)


def test_daylight_saving_moves_the_window_in_utc_not_on_the_wall_clock() -> None:
    calendar = Calendar("Europe/Berlin", ["mon-fri 08:00-18:00"])
    winter = calendar.next_start(at(2026, 3, 26, 19, 0))  # Thursday before the switch
    summer = calendar.next_start(at(2026, 3, 27, 19, 0))  # Friday; the clocks go forward on Sunday
    assert winter is not None and winter.astimezone(UTC).hour == 7
    assert summer is not None and summer.astimezone(UTC).hour == 6 and summer.astimezone(BERLIN).hour == 8


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    calendar = Calendar("Europe/Berlin", ["fri 22:00-02:00"])
    assert calendar.current(at(2026, 11, 28, 1, 30)) is not None  # Saturday night, Friday's window
    assert calendar.current(at(2026, 11, 28, 2, 0)) is None
    off = Calendar("Europe/Berlin", ["fri 22:00-02:00"], days_off=[date(2026, 11, 27)])
    assert off.current(at(2026, 11, 28, 1, 30)) is None


def test_days_off_drop_weekly_windows_and_extra_windows_apply_anyway() -> None:
    calendar = Calendar(
        "Europe/Berlin",
        ["mon-fri 08:00-18:00"],
        days_off=[date(2026, 12, 24), date(2026, 12, 25)],
        extra=["2026-12-25 10:00-12:00", "2026-12-27 09:00-11:00"],
    )
    assert calendar.current(at(2026, 12, 24, 9, 0)) is None
    assert calendar.current(at(2026, 12, 25, 11, 0)) is not None
    assert calendar.next_start(at(2026, 12, 25, 12, 0)) == at(2026, 12, 27, 9, 0)  # a Sunday


def test_touching_windows_are_one() -> None:
    window = Calendar("UTC", ["mon 08:00-12:00", "mon 12:00-14:00"]).current(datetime(2026, 11, 30, 9, tzinfo=UTC))
    assert window is not None and window.end.hour == 14


def test_no_window_at_all_has_no_next_start() -> None:
    assert Calendar("UTC", []).next_start(datetime(2026, 11, 30, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon-fri 8-18", "HH:MM-HH:MM"),
        ("mon-fry 08:00-18:00", "unknown day 'fry'"),
        ("mon 08:00-08:00", "empty"),
        ("mon 25:00-26:00", "not a time range"),
        ("monday 08:00-18:00", "unknown day .monday."),
        ("mon", "HH:MM-HH:MM"),
    ],
)
def test_a_mistyped_window_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_day_ranges_wrap_over_the_week_end() -> None:
    assert parse_window("fri-mon 20:00-06:00").days == frozenset({4, 5, 6, 0})
    assert parse_window("daily 00:00-24:00").days == frozenset(range(7))
