"""Who takes a live code's adds: weekly schedules in Asia/Shanghai, daily limits, backups and the
whole pool as the last resort, at fixed moments (pure logic, no clock of its own)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from haina.engage.livecodes.pool import (
    SHANGHAI,
    DutyReason,
    Member,
    Pool,
    TimeRange,
    day_start,
    is_scheduled,
    on_duty,
)

WEEKDAYS = frozenset({1, 2, 3, 4, 5})
DAY = Member("zhangsan", WEEKDAYS, (TimeRange(time(9), time(18)),), daily_limit=2)
EVENING = Member("lisi", frozenset({1, 2, 3, 4, 5, 6, 7}), (TimeRange(time(18), time(23, 30)),))
NIGHT = Member("wangwu", frozenset({5}), (TimeRange(time(22), time(2)),))  # Friday night, into Saturday
POOL = Pool((DAY, EVENING, NIGHT), backups=("zhaoliu",))


def shanghai(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment in November 2026 given in Shanghai time (2026-11-23 is a Monday)."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (shanghai(23, 8, 59, 59), False),  # Monday, a second before the start
        (shanghai(23, 9), True),  # the start is included
        (shanghai(23, 17, 59, 59), True),
        (shanghai(23, 18), False),  # the end is excluded
        (shanghai(28, 10), False),  # Saturday
        (shanghai(29, 10), False),  # Sunday
    ],
)
def test_day_shift_boundaries_in_shanghai(moment: datetime, expected: bool) -> None:
    assert is_scheduled(DAY, moment) is expected
    # The same moment given in UTC answers the same: the schedule is read in Shanghai time.
    assert is_scheduled(DAY, moment.astimezone(UTC)) is expected


def test_monday_9am_shanghai_is_sunday_in_utc() -> None:
    moment = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 Monday in Shanghai, 01:00 UTC
    assert moment.weekday() == 0 and is_scheduled(DAY, moment)
    sunday_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # 07:30 Monday in Shanghai
    assert not is_scheduled(DAY, sunday_utc)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (shanghai(27, 21, 59), False),  # Friday before the night shift
        (shanghai(27, 23, 59, 59), True),
        (shanghai(28, 0, 0), True),  # midnight: Saturday, still Friday's shift
        (shanghai(28, 1, 59, 59), True),
        (shanghai(28, 2, 0), False),
        (shanghai(28, 22, 30), False),  # Saturday night is not scheduled
        (shanghai(27, 1, 0), False),  # Friday early morning belongs to Thursday's (unscheduled) night
    ],
)
def test_overnight_shift_runs_past_midnight(moment: datetime, expected: bool) -> None:
    assert is_scheduled(NIGHT, moment) is expected


def test_member_without_ranges_works_all_day_on_their_weekdays() -> None:
    weekend = Member("sunqi", frozenset({6, 7}))
    assert is_scheduled(weekend, shanghai(28, 0, 0))
    assert is_scheduled(weekend, shanghai(29, 23, 59))
    assert not is_scheduled(weekend, shanghai(30, 0, 0))  # Monday


def test_schedule_picks_members_on_duty() -> None:
    duty = on_duty(POOL, shanghai(23, 10), {})
    assert duty.userids == ["zhangsan"] and duty.reason == DutyReason.SCHEDULE
    duty = on_duty(POOL, shanghai(23, 20), {})
    assert duty.userids == ["lisi"]
    duty = on_duty(POOL, shanghai(27, 22, 30), {})
    assert duty.userids == ["lisi", "wangwu"]


def test_daily_limit_reached_moves_adds_to_others_then_backups() -> None:
    both = Pool(
        (DAY, Member("qianba", WEEKDAYS, (TimeRange(time(9), time(18)),), daily_limit=1)), ("zhaoliu",)
    )
    assert on_duty(both, shanghai(23, 10), {"zhangsan": 1}).userids == ["zhangsan", "qianba"]
    duty = on_duty(both, shanghai(23, 10), {"zhangsan": 2})
    assert duty.userids == ["qianba"] and duty.full == ["zhangsan"]
    duty = on_duty(both, shanghai(23, 10), {"zhangsan": 2, "qianba": 1})
    assert duty.userids == ["zhaoliu"] and duty.reason == DutyReason.BACKUP
    assert sorted(duty.full) == ["qianba", "zhangsan"]


def test_nobody_scheduled_uses_backups_else_the_whole_pool() -> None:
    sunday_morning = shanghai(29, 7)
    duty = on_duty(POOL, sunday_morning, {})
    assert duty.userids == ["zhaoliu"] and duty.reason == DutyReason.BACKUP
    duty = on_duty(Pool(POOL.members), sunday_morning, {})
    assert duty.userids == ["zhangsan", "lisi", "wangwu"] and duty.reason == DutyReason.FALLBACK


def test_zero_limit_means_no_limit() -> None:
    unlimited = Pool((Member("zhangsan", WEEKDAYS, (), daily_limit=0),))
    assert on_duty(unlimited, shanghai(23, 10), {"zhangsan": 10_000}).reason == DutyReason.SCHEDULE


def test_day_start_is_shanghai_midnight() -> None:
    # 23:30 UTC on the 22nd is 07:30 on the 23rd in Shanghai: the day started at 16:00 UTC.
    assert day_start(datetime(2026, 11, 22, 23, 30, tzinfo=UTC)) == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert day_start(datetime(2026, 11, 22, 15, 59, tzinfo=UTC)) == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
