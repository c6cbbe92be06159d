"""Waiting time counted in working hours (pure): overnight, days off, exactly at the boundaries,
and the per-staff summary."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from haina.archive.insights.quality import WorkingHours, summarise, waits, working_minutes

SH = ZoneInfo("Asia/Shanghai")
DEFAULT = WorkingHours()  # every day 09:00–21:00 Beijing time
WEEKDAYS_ONLY = WorkingHours(((540, 1260),) * 5 + (None, None))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """24 November 2026 is a Tuesday; day 0 = that Tuesday."""
    return datetime(2026, 11, 24, hour, minute, tzinfo=SH) + timedelta(days=day)


def test_overnight_counts_only_working_minutes() -> None:
    assert working_minutes(at(0, 20, 58), at(1, 9, 3), DEFAULT) == pytest.approx(5)
    assert working_minutes(at(0, 23, 0), at(1, 9, 1), DEFAULT) == pytest.approx(1)
    assert working_minutes(at(0, 22, 0), at(0, 23, 0), DEFAULT) == 0  # outside hours entirely
    assert working_minutes(at(0, 10, 0), at(0, 10, 7), DEFAULT) == pytest.approx(7)
    assert working_minutes(at(0, 20, 0), at(2, 10, 0), DEFAULT) == pytest.approx(60 + 720 + 60)


def test_exactly_at_the_boundaries() -> None:
    assert working_minutes(at(0, 21, 0), at(1, 9, 0), DEFAULT) == 0
    assert working_minutes(at(0, 9, 0), at(0, 9, 5), DEFAULT) == pytest.approx(5)
    assert working_minutes(at(0, 20, 55), at(0, 21, 0), DEFAULT) == pytest.approx(5)
    assert working_minutes(at(0, 10, 0), at(0, 10, 0), DEFAULT) == 0
    assert working_minutes(at(0, 10, 0), at(0, 9, 0), DEFAULT) == 0  # reply before: nothing


def test_weekend_off_when_configured() -> None:
    friday_evening, monday_morning = at(3, 20, 50), at(6, 9, 10)
    assert friday_evening.weekday() == 4 and monday_morning.weekday() == 0
    assert working_minutes(friday_evening, monday_morning, WEEKDAYS_ONLY) == pytest.approx(20)
    assert working_minutes(friday_evening, monday_morning, DEFAULT) == pytest.approx(10 + 720 * 2 + 10)
    saturday = at(4, 12, 0)
    assert working_minutes(saturday, saturday + timedelta(hours=3), WEEKDAYS_ONLY) == 0


def test_times_in_utc_are_measured_in_the_tenant_zone() -> None:
    utc_start = at(0, 20, 58).astimezone(ZoneInfo("UTC"))
    assert working_minutes(utc_start, at(1, 9, 3).astimezone(ZoneInfo("UTC")), DEFAULT) == pytest.approx(5)
    other = WorkingHours(((540, 1260),) * 7, "Europe/Berlin")
    assert working_minutes(at(0, 16, 0), at(0, 17, 0), other) == pytest.approx(60)  # 09:00–10:00 Berlin


def test_invalid_hours_are_refused() -> None:
    with pytest.raises(ValueError):
        WorkingHours(((600, 540),) * 7)
    with pytest.raises(ValueError):
        WorkingHours(((540, 1260),) * 6)


def test_waits_and_the_summary() -> None:
    rows = [
        # conversation a (rocky): customer twice, rocky answers 3 min after the first; then a
        # question at 20:58 answered at 09:03 the next day (5 working minutes).
        ("a", at(0, 10, 0), False, "rocky"),
        ("a", at(0, 10, 1), False, "rocky"),
        ("a", at(0, 10, 3), True, "rocky"),
        ("a", at(0, 20, 58), False, "rocky"),
        ("a", at(1, 9, 3), True, "rocky"),
        # conversation b (tommy): 30 minutes, then a question nobody answers before the end.
        ("b", at(0, 11, 0), False, "tommy"),
        ("b", at(0, 11, 30), True, "tommy"),
        ("b", at(1, 14, 0), False, "tommy"),
    ]
    until = at(1, 15, 0)
    found = waits(rows, DEFAULT, until)
    assert [
        (w.conversation_id, w.staff_userid, round(w.minutes, 3), w.replied_at is None) for w in found
    ] == [
        ("a", "rocky", 3.0, False),
        ("a", "rocky", 5.0, False),
        ("b", "tommy", 30.0, False),
        ("b", "tommy", 60.0, True),
    ]
    summary = summarise(found, target_minutes=5)
    rocky, tommy = summary.staff
    assert (rocky.staff_userid, rocky.replies, rocky.median_minutes, rocky.within_target, rocky.breaches) == (
        "rocky", 2, 4.0, 1.0, 0,
    )  # fmt: skip
    assert (tommy.replies, tommy.within_target, tommy.breaches, tommy.unanswered) == (1, 0.0, 1, 1)
    assert [(w.conversation_id, round(w.minutes)) for w in summary.worst] == [("b", 60), ("b", 30)]
