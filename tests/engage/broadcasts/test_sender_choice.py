"""Which member sends a mass message to a customer followed by several: the one who added the
customer most recently (WeCom's add time); an unknown time counts as oldest; ties by userid."""

from __future__ import annotations

from datetime import UTC, datetime

from haina.customers.service import WeComFollow
from haina.engage.broadcasts.service import _pick


def follow(staff: str, added: datetime | None) -> WeComFollow:
    return WeComFollow("c1", "cust1", "corp", "wmX", staff, (), True, added)


def test_the_most_recent_adder_sends() -> None:
    old = follow("aaron", datetime(2026, 3, 1, tzinfo=UTC))
    new = follow("zoe", datetime(2026, 9, 1, 8, 0))  # naive (SQLite): read as UTC
    unknown = follow("bella", None)
    assert _pick([old, unknown, new]).staff_userid == "zoe"
    assert _pick([unknown, old]).staff_userid == "aaron"
    assert _pick([follow("yan", None), follow("bo", None)]).staff_userid == "bo"
