"""Reply-time QA, pure: how long a customer waited for an answer, counting only working hours.

Working hours are one window per weekday (Monday first) in the tenant's time zone, or none for a
day off; a wait that starts at 20:58 with hours 09:00–21:00 and ends at 09:03 the next day is 5
minutes. A conversation waits from the first customer message not yet answered until the next
staff message, which the answering staff member is measured by.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_WINDOW = (9 * 60, 21 * 60)
DEFAULT_TARGET_MINUTES = 5
WORST = 20


@dataclass(frozen=True)
class WorkingHours:
    # Minutes after local midnight [start, end) per weekday, Monday first; None = day off.
    days: tuple[tuple[int, int] | None, ...] = (DEFAULT_WINDOW,) * 7
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("working hours need one entry per weekday")
        for window in self.days:
            if window is not None and not (0 <= window[0] < window[1] <= 24 * 60):
                raise ValueError(f"a working window must be start < end within a day, not {window}")

    def window_on(self, day: date) -> tuple[datetime, datetime] | None:
        minutes = self.days[day.weekday()]
        if minutes is None:
            return None
        zone = ZoneInfo(self.timezone)
        midnight = datetime.combine(day, time(0), tzinfo=zone)
        # Aware arithmetic moves the wall clock: 09:00 local whatever the UTC offset that day.
        return midnight + timedelta(minutes=minutes[0]), midnight + timedelta(minutes=minutes[1])


def working_minutes(start: datetime, end: datetime, hours: WorkingHours) -> float:
    """Minutes of [start, end) inside working hours (0 when end <= start)."""
    if end <= start:
        return 0.0
    zone = ZoneInfo(hours.timezone)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    seconds = 0.0
    while day <= last:
        window = hours.window_on(day)
        if window is not None:
            low, high = max(start, window[0]), min(end, window[1])
            if high > low:
                seconds += (high - low).total_seconds()
        day += timedelta(days=1)
    return seconds / 60


@dataclass(frozen=True)
class Wait:
    conversation_id: str
    staff_userid: str  # who answered (or whose conversation waits)
    since: datetime  # the first unanswered customer message
    replied_at: datetime | None  # None: still waiting at the end of the period
    minutes: float  # working minutes waited


def waits(
    rows: Iterable[tuple[str, datetime, bool, str]], hours: WorkingHours, until: datetime
) -> list[Wait]:
    """Every wait of (conversation id, sent at, is from staff, staff userid) rows ordered by
    conversation and time: answered ones, and the ones still open at `until`."""
    found: list[Wait] = []
    conversation = ""
    waiting_since: datetime | None = None
    owner = ""

    def close_open() -> None:
        if waiting_since is not None:
            found.append(
                Wait(conversation, owner, waiting_since, None, working_minutes(waiting_since, until, hours))
            )

    for conversation_id, sent_at, is_from_staff, staff_userid in rows:
        if conversation_id != conversation:
            close_open()
            conversation, waiting_since, owner = conversation_id, None, staff_userid
        if not is_from_staff:
            if waiting_since is None:
                waiting_since, owner = sent_at, staff_userid
        elif waiting_since is not None:
            found.append(
                Wait(
                    conversation_id,
                    staff_userid,
                    waiting_since,
                    sent_at,
                    working_minutes(waiting_since, sent_at, hours),
                )
            )
            waiting_since = None
    close_open()
    return found


@dataclass(frozen=True)
class StaffQuality:
    staff_userid: str
    replies: int
    median_minutes: float  # working minutes
    within_target: float  # share of replies within the target, 0..1
    breaches: int  # replies over the target
    unanswered: int  # waits still open at the end, already over the target


@dataclass(frozen=True)
class Quality:
    target_minutes: int
    staff: list[StaffQuality]
    worst: list[Wait] = field(default_factory=list)  # breaches, longest first


def summarise(all_waits: Sequence[Wait], target_minutes: int, worst: int = WORST) -> Quality:
    """Per staff member (by userid): replies, median, share within target, breaches; and the
    longest breaches (answered or still open) across everyone."""
    answered: dict[str, list[float]] = {}
    unanswered: dict[str, int] = {}
    for wait in all_waits:
        if wait.replied_at is not None:
            answered.setdefault(wait.staff_userid, []).append(wait.minutes)
        elif wait.minutes > target_minutes:
            unanswered[wait.staff_userid] = unanswered.get(wait.staff_userid, 0) + 1
    staff = []
    for userid in sorted(set(answered) | set(unanswered)):
        values = answered.get(userid, [])
        within = sum(1 for value in values if value <= target_minutes)
        staff.append(
            StaffQuality(
                staff_userid=userid,
                replies=len(values),
                median_minutes=round(median(values), 1) if values else 0.0,
                within_target=round(within / len(values), 3) if values else 0.0,
                breaches=len(values) - within,
                unanswered=unanswered.get(userid, 0),
            )
        )
    breaches = [wait for wait in all_waits if wait.minutes > target_minutes]
    breaches.sort(key=lambda wait: (-wait.minutes, wait.since, wait.conversation_id))
    return Quality(target_minutes, staff, breaches[:worst])
