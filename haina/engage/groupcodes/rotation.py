"""Which customer groups a group live code's join way lists now: a pure function of the pool,
the member counts and the code's limit.

Groups at or over the limit leave the list; the next ones of the pool, in order, come in (WeCom
lists at most five). With none left, the last group stays listed either way (a join way cannot
list nothing): with auto-create WeCom then opens a new group once it is full by WeCom's own cap,
without it the code is flagged "pool exhausted" so the team adds groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_LISTED = 5


@dataclass(frozen=True)
class Rotation:
    chat_ids: list[str]
    is_exhausted: bool  # every group is full and WeCom may not create one
    is_awaiting_new_group: bool  # every group is full; WeCom will create the next one


def choose(
    pool: Sequence[str],
    counts: Mapping[str, int],
    limit: int,
    *,
    auto_create: bool,
    max_listed: int = MAX_LISTED,
) -> Rotation:
    """The groups to list, in pool order, given each group's member count (missing = 0)."""
    if not pool:
        return Rotation([], is_exhausted=True, is_awaiting_new_group=False)
    open_groups = [chat_id for chat_id in pool if counts.get(chat_id, 0) < limit]
    if open_groups:
        return Rotation(open_groups[:max_listed], is_exhausted=False, is_awaiting_new_group=False)
    return Rotation([pool[-1]], is_exhausted=not auto_create, is_awaiting_new_group=auto_create)
