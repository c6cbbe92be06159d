"""The member directory of a tenant's WeCom corp: names for the userids the engage console shows.

`members(corp)` reads the contact book's root department (user/simplelist) once per connection
and keeps it in process memory for `TTL`. When WeCom refuses (the app was not granted
contact-book permission, 48002, or any other error) the follow-user list stands in, each member
named by its userid; that is logged once per connection and never raised to a page.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.connections.wecom_corps import Corp
from haina.core import clock
from haina.platforms.http import PlatformError
from haina.platforms.wecom import errors
from haina.platforms.wecom import users as wecom_users

logger = logging.getLogger(__name__)

TTL = timedelta(minutes=10)
# After an error other than a refusal (throttling, a network fault) try the contact book sooner.
RETRY_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Member:
    userid: str
    name: str
    position: str = ""
    departments: tuple[int, ...] = ()


_cache: dict[str, tuple[datetime, list[Member]]] = {}
_warned: set[str] = set()
_lock = threading.Lock()


def forget() -> None:
    """Drop every cached directory (tests, and after a connection's credentials change)."""
    with _lock:
        _cache.clear()
        _warned.clear()


def _fallback(corp: Corp) -> list[Member]:
    try:
        return [Member(userid, userid) for userid in corp.client.follow_users()]
    except PlatformError as error:
        logger.warning("wecom connection %s: follow users unavailable either: %s", corp.connection.id, error)
        return []


def _read(corp: Corp) -> tuple[list[Member], timedelta]:
    try:
        found = wecom_users.department_users(corp.client, wecom_users.ROOT_DEPARTMENT, fetch_child=True)
    except PlatformError as error:
        connection_id = corp.connection.id
        with _lock:
            first = connection_id not in _warned
            _warned.add(connection_id)
        if first:
            logger.warning(
                "wecom connection %s: contact book unreadable (%s); members are shown by userid",
                connection_id,
                error,
            )
        refused = error.code == str(errors.NO_API_PERMISSION)
        return _fallback(corp), TTL if refused else RETRY_AFTER
    members = [Member(user.userid, user.name, user.position, user.departments) for user in found]
    return members, TTL


def members(corp: Corp) -> list[Member]:
    """The corp's members with their names, from the cache when younger than TTL."""
    key = corp.connection.id
    now = clock.now()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and now < cached[0]:
            return list(cached[1])
    # WeCom is called outside the lock: one slow corp must not hold up the others' pages.
    found, lifetime = _read(corp)
    with _lock:
        _cache[key] = (now + lifetime, found)
    return list(found)


def names(corp: Corp | None) -> dict[str, str]:
    """userid → name for every known member ({} without a corp): what a page passes to its
    template as `member_names`."""
    if corp is None:
        return {}
    return {member.userid: member.name for member in members(corp)}


def name_of(corp: Corp, userid: str) -> str:
    """The member's name, or the userid when the directory does not know it."""
    return names(corp).get(userid, userid)


def label(corp: Corp, userid: str) -> str:
    """ "李娜 (lina)", or the userid alone when the name is unknown."""
    return label_from(names(corp), userid)


def label_from(member_names: dict[str, str], userid: str) -> str:
    """The label of `userid` from an already read `member_names` (no WeCom call)."""
    name = member_names.get(userid, "")
    return f"{name} ({userid})" if name and name != userid else userid


def tenant_names(session: Session, tenant_id: str) -> dict[str, str]:
    """userid → name over the tenant's active WeCom corps, one cached directory read each: what a
    console page passes to its template as `member_names` ({} without a corp)."""
    found: dict[str, str] = {}
    for corp in wecom_corps.corps_of(session, tenant_id):
        for userid, name in names(corp).items():
            found.setdefault(userid, name)
    return found
