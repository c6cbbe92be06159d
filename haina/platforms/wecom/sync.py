"""WeCom streams: customers, customer groups and corp tags (REFERENCE §1.3, §1.4).

WeCom has no "modified since" query, so each run is a full crawl (changes in between arrive as
callbacks) and a finished run's cursor is empty: the next run crawls again. A crawl is resumable
mid-way: the cursor holds the members being read and WeCom's own cursor.

* contacts: members with customer-contact permission (get_follow_user_list), sorted, read up to
  100 at a time through batch/get_by_user with its cursor. WeCom lists a customer once per
  member who follows them, so a Contact of a page carries the follow relations of that page.
* groups: groupchat/list with its cursor, then groupchat/get for each chat of the page.
* tags: get_corp_tag_list, one page.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from haina.platforms.base import BadRecord, Page
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.http import PlatformError
from haina.platforms.reading import RecordError, bad_record
from haina.platforms.wecom import errors
from haina.platforms.wecom.mapping import map_batch_contacts, map_group, map_tag_groups

if TYPE_CHECKING:
    from haina.platforms.wecom.client import WeComClient

MEMBERS_PER_CALL = 100  # batch/get_by_user takes at most 100 userids
CONTACTS_PER_CALL = 100  # and at most 100 records a page
GROUPS_PER_CALL = 100  # groupchat/list allows up to 1000; 100 keeps a page's get calls modest


def _text_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"not a cursor of the contacts stream: {value!r}")
    return value


@dataclass(slots=True)
class ContactsStream:
    name: str = "contacts"

    def pages(self, client: WeComClient, cursor: dict[str, Any] | None, *, until: datetime) -> Iterator[Page]:
        cursor = cursor or {}
        members = sorted(set(client.follow_users()))
        after = str(cursor.get("after", ""))
        chunk = _text_list(cursor["members"]) if cursor.get("members") else self.next_chunk(members, after)
        position = str(cursor.get("cursor", ""))
        while chunk:
            try:
                raws, next_position = client.contacts_of(chunk, position, CONTACTS_PER_CALL)
            except PlatformError as error:
                if error.code == str(errors.INVALID_CURSOR) and position:
                    position = ""  # WeCom forgot the cursor: read these members again
                    continue
                raise
            contacts, bad = map_batch_contacts(raws, client.corp_id)
            if next_position:
                position = next_position
            else:
                after, chunk, position = chunk[-1], self.next_chunk(members, chunk[-1]), ""
            saved = {"members": chunk, "cursor": position, "after": after} if chunk else {}
            done_share = bisect.bisect_right(members, after) / len(members) if members else 1.0
            yield Page(list[CanonicalRecord](contacts), saved, not chunk, bad, done_share)
            if not chunk:
                return
        yield Page([], {}, True, progress=1.0)

    @staticmethod
    def next_chunk(members: list[str], after: str) -> list[str]:
        """The next members to read, in userid order, after the last one read."""
        start = bisect.bisect_right(members, after) if after else 0
        return members[start : start + MEMBERS_PER_CALL]


@dataclass(slots=True)
class GroupsStream:
    name: str = "groups"

    def pages(self, client: WeComClient, cursor: dict[str, Any] | None, *, until: datetime) -> Iterator[Page]:
        position = str((cursor or {}).get("cursor", ""))
        while True:
            listed, next_position = client.group_chats(position, GROUPS_PER_CALL)
            records: list[CanonicalRecord] = []
            bad: list[BadRecord] = []
            for entry in listed:
                chat_id = entry.get("chat_id") if isinstance(entry, dict) else None
                if not isinstance(chat_id, str) or not chat_id:
                    bad.append(bad_record(entry, "a group_chat_list entry without chat_id", "chat_id"))
                    continue
                try:
                    raw = client.group_chat(chat_id)
                except PlatformError as error:
                    if error.code == str(errors.INVALID_CHAT_ID):
                        continue  # dismissed between list and get
                    raise
                try:
                    records.append(map_group(raw, client.corp_id))
                except RecordError as error:
                    bad.append(bad_record(raw, error.reason, "chat_id"))
            position = next_position
            yield Page(records, {"cursor": position} if position else {}, not position, bad)
            if not position:
                return


@dataclass(slots=True)
class TagsStream:
    """Corp tags. Canonical has no tag shape yet, so the records are wecom.mapping.CorpTag."""

    name: str = "tags"

    def pages(self, client: WeComClient, cursor: dict[str, Any] | None, *, until: datetime) -> Iterator[Page]:
        tags, bad = map_tag_groups(client.corp_tags(), client.corp_id)
        yield Page(cast(list[CanonicalRecord], tags), {}, True, bad, 1.0)


CONTACTS = ContactsStream()
GROUPS = GroupsStream()
TAGS = TagsStream()
