"""The WeCom emulator's own mutable state, kept in `state.scratch["wecom"]`, and the small tools
every WeCom endpoint shares: ids, unix times, cursors and lookups over the world.

Keys of `state.scratch["wecom"]` (all created on first use):
  tokens                 access_token → expiry (datetime)
  contact_ways           config_id → the stored 「联系我」 configuration
  welcome_codes          code → WelcomeCode
  welcome_messages       what send_welcome_msg accepted, oldest first
  mass_messages          msgid → what add_msg_template recorded
  oauth_codes            code → (userid, expiry)
  archive_public_keys    publickey_ver → PEM of the tenant's archive public key
  push_log               one dict per outgoing callback (see wecom_push)
  api_changes_push       whether changes made through the API also push callbacks
  synchronous_push       True: pushes go out in the caller's thread (tests)
  push_retry_delay       seconds between delivery attempts
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.state import SandboxState
from haina.sandbox.world import CorpTag, CorpTagGroup, ExternalContact, FollowUser, GroupChat, Staff

PLATFORM = "wecom"
TOKEN_LIFETIME = timedelta(seconds=7200)
WELCOME_CODE_LIFETIME = timedelta(seconds=20)
OAUTH_CODE_LIFETIME = timedelta(minutes=5)
# [UNCONFIRMED] WeCom's spacing between callback retries is not documented; a short pause keeps
# demos lively.
PUSH_RETRY_DELAY_SECONDS = 1.0

# [UNCONFIRMED] REFERENCE §1.3 says changes made through the API do not trigger callbacks, while
# the event docs only describe members' own edits. One switch, per sandbox, defaulting to quiet.
API_CHANGES_PUSH_CALLBACKS = False

T = TypeVar("T")


@dataclass(slots=True)
class WelcomeCode:
    userid: str
    external_userid: str
    issued_at: datetime
    used: bool = False


def scratch(state: SandboxState) -> dict[str, Any]:
    with state.lock:
        data = state.scratch[PLATFORM]
        data.setdefault("tokens", {})
        data.setdefault("contact_ways", {})
        data.setdefault("welcome_codes", {})
        data.setdefault("welcome_messages", [])
        data.setdefault("mass_messages", {})
        data.setdefault("oauth_codes", {})
        data.setdefault("archive_public_keys", {})
        data.setdefault("push_log", [])
        data.setdefault("api_changes_push", API_CHANGES_PUSH_CALLBACKS)
        data.setdefault("synchronous_push", False)
        data.setdefault("push_retry_delay", PUSH_RETRY_DELAY_SECONDS)
        data.setdefault("id_counter", 0)
        data.setdefault("contacts_version", 0)
        return data


def next_id(state: SandboxState, prefix: str, length: int = 32) -> str:
    """A fresh id that looks like WeCom's and is the same for the same world and call order."""
    with state.lock:
        data = scratch(state)
        data["id_counter"] += 1
        seed = f"{state.world.corp_id}:{prefix}:{data['id_counter']}"
    digest = base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()).decode().rstrip("=")
    return (prefix + digest.replace("-", "A").replace("_", "B"))[:length]


def unix(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment else 0


def unix_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# -- cursors ---------------------------------------------------------------------------------
# A cursor holds the sort key of the last record served, so paging stays exact while records
# are added or removed between calls (a record inserted behind the cursor comes by callback).


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ...] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise WeComApiError(errors.INVALID_CURSOR)
    if not isinstance(key, list):
        raise WeComApiError(errors.INVALID_CURSOR)
    return tuple(key)


def page_after(items: list[T], key: Callable[[T], tuple], cursor: str, limit: int) -> tuple[list[T], str]:
    """Up to `limit` items whose key follows the cursor's, and the next cursor ("" when done)."""
    after = decode_cursor(cursor)
    ordered = sorted(items, key=key)
    keys = [key(item) for item in ordered]
    try:
        start = 0 if after is None else bisect.bisect_right(keys, after)
    except TypeError:
        raise WeComApiError(errors.INVALID_CURSOR)
    page = ordered[start : start + limit]
    has_more = start + limit < len(ordered)
    return page, encode_cursor(key(page[-1])) if page and has_more else ""


# -- lookups ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ContactIndex:
    fingerprint: tuple[int, int, int]
    by_external_userid: dict[str, ExternalContact] = field(default_factory=dict)
    # userid → external_userids of that member's customers, sorted (for exact keyset paging)
    by_userid: dict[str, list[str]] = field(default_factory=dict)


def touch_contacts(state: SandboxState) -> None:
    """Mark the contact index stale; called whenever contacts change through the emulator."""
    with state.lock:
        scratch(state)["contacts_version"] += 1


def contact_index(state: SandboxState) -> ContactIndex:
    """The contacts indexed by id and by member, rebuilt only when contacts changed.

    Changes are seen when they come through `state.notify("contacts", …)`/`state.add` or the
    emulator itself; an edit of `follow_users` made behind the sandbox's back is not.
    """
    with state.lock:
        data = scratch(state)
        contacts = state.world.contacts
        fingerprint = (id(contacts), len(contacts), data["contacts_version"])
        index = data.get("contact_index")
        if index is not None and index.fingerprint == fingerprint:
            return index
        index = ContactIndex(fingerprint=fingerprint)
        for contact in contacts:
            index.by_external_userid[contact.external_userid] = contact
            for follow_user in contact.follow_users:
                index.by_userid.setdefault(follow_user.userid, []).append(contact.external_userid)
        for external_userids in index.by_userid.values():
            external_userids.sort()
        data["contact_index"] = index
        return index


def find_contact(state: SandboxState, external_userid: str) -> ExternalContact | None:
    return contact_index(state).by_external_userid.get(external_userid)


def find_follow_user(contact: ExternalContact, userid: str) -> FollowUser | None:
    for follow_user in contact.follow_users:
        if follow_user.userid == userid:
            return follow_user
    return None


def staff_by_userid(state: SandboxState) -> dict[str, Staff]:
    return {member.userid: member for member in state.world.staff}


def require_staff(state: SandboxState, userid: Any) -> str:
    if not userid or not isinstance(userid, str):
        raise WeComApiError(errors.MISSING_USERID)
    if userid not in staff_by_userid(state):
        raise WeComApiError(errors.USERID_NOT_FOUND, userid)
    return userid


def tags_by_id(state: SandboxState) -> dict[str, tuple[CorpTagGroup, CorpTag]]:
    return {tag.tag_id: (group, tag) for group in state.world.tag_groups for tag in group.tags}


def find_group_chat(state: SandboxState, chat_id: str) -> GroupChat | None:
    for chat in state.world.groups:
        if chat.chat_id == chat_id:
            return chat
    return None
