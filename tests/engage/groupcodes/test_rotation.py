"""rotation.choose: which groups a group live code's join way lists, given counts and the limit."""

from __future__ import annotations

from haina.engage.groupcodes.rotation import choose

POOL = ["g1", "g2", "g3", "g4", "g5", "g6", "g7"]


def test_groups_with_room_are_listed_in_pool_order_at_most_five() -> None:
    rotation = choose(POOL, {"g1": 10}, 180, auto_create=False)
    assert rotation.chat_ids == ["g1", "g2", "g3", "g4", "g5"]
    assert not rotation.is_exhausted and not rotation.is_awaiting_new_group


def test_full_groups_leave_and_the_next_come_in() -> None:
    counts = {"g1": 180, "g2": 199, "g3": 5}
    assert choose(POOL, counts, 180, auto_create=False).chat_ids == ["g3", "g4", "g5", "g6", "g7"]


def test_a_full_group_in_the_middle_is_skipped() -> None:
    counts = {"g1": 2, "g2": 3, "g3": 1}
    assert choose(["g1", "g2", "g3"], counts, 3, auto_create=False).chat_ids == ["g1", "g3"]


def test_a_group_below_the_limit_by_one_still_takes_members() -> None:
    assert choose(["g1", "g2"], {"g1": 179}, 180, auto_create=False).chat_ids == ["g1", "g2"]


def test_all_full_without_auto_create_keeps_the_last_and_flags_exhausted() -> None:
    rotation = choose(["g1", "g2"], {"g1": 3, "g2": 4}, 3, auto_create=False)
    assert rotation.chat_ids == ["g2"]
    assert rotation.is_exhausted and not rotation.is_awaiting_new_group


def test_all_full_with_auto_create_keeps_the_last_for_wecom_to_create_the_next() -> None:
    rotation = choose(["g1", "g2"], {"g1": 3, "g2": 3}, 3, auto_create=True)
    assert rotation.chat_ids == ["g2"]
    assert rotation.is_awaiting_new_group and not rotation.is_exhausted


def test_a_group_auto_created_into_the_pool_is_listed_once_others_are_full() -> None:
    counts = {"g1": 3, "g2": 3, "wr_new": 2}
    assert choose(["g1", "g2", "wr_new"], counts, 3, auto_create=True).chat_ids == ["wr_new"]


def test_an_empty_pool_is_exhausted() -> None:
    rotation = choose([], {}, 3, auto_create=True)
    assert rotation.chat_ids == [] and rotation.is_exhausted
