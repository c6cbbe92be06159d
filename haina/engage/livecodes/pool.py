"""Who is on duty for a channel live code right now: pure logic, no storage, no clock of its own.

A pool lists members, each with a weekly schedule (weekdays 1 = Monday … 7 = Sunday, and time
ranges in Asia/Shanghai; an empty range list means all day; a range whose end is not after its
start runs past midnight into the next day) and a daily add limit (0 = none). Members on duty
and under their limit take the adds; when none is, the backup members do; when there are none,
the whole pool does, so a printed code never stops working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALL_WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)
# WeCom takes at most 100 members on one contact way (REFERENCE §1.3).
MAX_USERS = 100


class DutyReason:
    SCHEDULE = "schedule"  # members on duty and under their limit
    BACKUP = "backup"  # nobody on duty is under limit: the backup members
    FALLBACK = "fallback"  # no backups either: the whole pool


@dataclass(frozen=True)
class TimeRange:
    start: time
    end: time  # exclusive; end <= start: runs past midnight

    @property
    def is_overnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Member:
    userid: str
    weekdays: frozenset[int] = frozenset(ALL_WEEKDAYS)
    ranges: tuple[TimeRange, ...] = ()
    daily_limit: int = 0


@dataclass(frozen=True)
class Pool:
    members: tuple[Member, ...]
    backups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Duty:
    userids: list[str]
    reason: str
    full: list[str] = field(default_factory=list)  # on duty but at their daily limit


def local_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day of a moment (daily limits count per this day)."""
    return moment.astimezone(SHANGHAI).date()


def day_start(moment: datetime) -> datetime:
    """Midnight in Asia/Shanghai of the moment's local day, as an aware datetime."""
    return datetime.combine(local_day(moment), time.min, tzinfo=SHANGHAI)


def is_scheduled(member: Member, now: datetime) -> bool:
    """Whether the member's weekly schedule covers `now` (in Asia/Shanghai)."""
    local = now.astimezone(SHANGHAI)
    weekday = local.isoweekday()
    clock_time = local.time().replace(tzinfo=None)
    if not member.ranges:
        return weekday in member.weekdays
    yesterday = (local - timedelta(days=1)).isoweekday()
    for span in member.ranges:
        if span.is_overnight:
            # Starts on a scheduled day and runs into the next one.
            if weekday in member.weekdays and clock_time >= span.start:
                return True
            if yesterday in member.weekdays and clock_time < span.end:
                return True
        elif weekday in member.weekdays and span.start <= clock_time < span.end:
            return True
    return False


def on_duty(pool: Pool, now: datetime, adds_today_by_staff: Mapping[str, int]) -> Duty:
    """The members a live code should send new customers to at `now`, and why."""
    scheduled = [member for member in pool.members if is_scheduled(member, now)]
    full = [
        member.userid
        for member in scheduled
        if member.daily_limit and adds_today_by_staff.get(member.userid, 0) >= member.daily_limit
    ]
    available = _unique(member.userid for member in scheduled if member.userid not in full)
    if available:
        return Duty(available[:MAX_USERS], DutyReason.SCHEDULE, full)
    backups = _unique(pool.backups)
    if backups:
        return Duty(backups[:MAX_USERS], DutyReason.BACKUP, full)
    everyone = _unique(member.userid for member in pool.members)
    return Duty(everyone[:MAX_USERS], DutyReason.FALLBACK, full)


def _unique(userids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(userids))
