"""Group live codes (群活码): one QR code that sends customers into the code's pool of customer
groups, rotating to the next group as each fills to the code's member limit.

The QR code is a WeCom join way (groupchat/add_join_way) listing at most five groups; WeCom puts
a scanner into the first listed group with room. `refresh` reads the pool's member counts
(groupchat/get: the spine does not store group membership from change_external_chat callbacks),
records new scan joins for the statistics, adopts groups WeCom auto-created, and updates the join
way when rotation.choose picks another list. The periodic job (tasks.py) runs it for every code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import new_id
from haina.core.errors import Conflict, InvalidInput, NotFound
from haina.engage.groupcodes import repository, rotation
from haina.engage.groupcodes.models import GroupCode, GroupCodeJoin
from haina.engage.groupcodes.schemas import GroupCodeIn, GroupCodePatch
from haina.platforms.http import PlatformError
from haina.platforms.wecom import errors, join_ways

logger = logging.getLogger(__name__)

MAX_AVAILABLE_GROUPS = 200
STATE_PREFIX = "hgc_"
FULL_READ_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class PoolGroup:
    chat_id: str
    name: str
    members: int
    limit: int
    is_listed: bool
    is_auto_created: bool
    is_dismissed: bool

    @property
    def is_full(self) -> bool:
        return self.is_dismissed or self.members >= self.limit

    @property
    def fill_percent(self) -> int:
        return min(100, self.members * 100 // self.limit) if self.limit else 100


@dataclass(frozen=True)
class Stats:
    total: int
    today: int
    days: list[tuple[date, int]]
    groups: list[tuple[str, str, int]]  # chat_id, name, joins


# -- reads -----------------------------------------------------------------------------------


def list_codes(session: Session, tenant_id: str) -> list[GroupCode]:
    """The tenant's group live codes, newest first."""
    return repository.codes(session, tenant_id)


def get_code(session: Session, tenant_id: str, code_id: str) -> GroupCode:
    code = repository.code(session, tenant_id, code_id)
    if code is None:
        raise NotFound("group live code not found", code="group_code_not_found")
    return code


def pool_groups(code: GroupCode) -> list[PoolGroup]:
    """The code's pool in order, with what the last reading found."""
    groups = []
    for chat_id in code.chat_ids:
        known = code.groups.get(chat_id) or {}
        groups.append(
            PoolGroup(
                chat_id=chat_id,
                name=str(known.get("name") or chat_id),
                members=int(known.get("members") or 0),
                limit=code.member_limit,
                is_listed=chat_id in code.listed_chat_ids,
                is_auto_created=bool(known.get("is_auto_created")),
                is_dismissed=bool(known.get("is_dismissed")),
            )
        )
    return groups


def join_totals(session: Session, tenant_id: str, codes: list[GroupCode]) -> dict[str, int]:
    return repository.join_counts(session, tenant_id, [code.id for code in codes])


def available_groups(session: Session, tenant_id: str) -> list[join_ways.ChatDetail]:
    """The corp's customer groups (read from WeCom), to choose a code's pool from."""
    corp = _corp(session, tenant_id, None)
    try:
        chat_ids = join_ways.list_chat_ids(corp.client, limit=MAX_AVAILABLE_GROUPS)
        return [join_ways.get_chat(corp.client, chat_id) for chat_id in chat_ids]
    except PlatformError as error:
        raise Conflict(
            f"WeCom did not list the customer groups: {error.message}", code="wecom_failed"
        ) from error


def stats(session: Session, tenant_id: str, code_id: str, *, days: int = 30) -> Stats:
    """Joins per day over the last `days` days (zeros included) and per group."""
    code = get_code(session, tenant_id, code_id)
    today = clock.now().date()
    since = today - timedelta(days=days - 1)
    per_day = repository.joins_per_day(session, tenant_id, code.id, since)
    per_group = repository.joins_per_group(session, tenant_id, code.id)
    names = {group.chat_id: group.name for group in pool_groups(code)}
    order = {chat_id: index for index, chat_id in enumerate(code.chat_ids)}
    return Stats(
        total=sum(per_group.values()),
        today=per_day.get(today, 0),
        days=[
            (since + timedelta(days=offset), per_day.get(since + timedelta(days=offset), 0))
            for offset in range(days)
        ],
        groups=[
            (chat_id, names.get(chat_id, chat_id), count)
            for chat_id, count in sorted(per_group.items(), key=lambda item: order.get(item[0], len(order)))
        ],
    )


def qr_image(session: Session, tenant_id: str, code_id: str) -> bytes:
    """The join way's QR code as WeCom serves it (PNG)."""
    code = get_code(session, tenant_id, code_id)
    if not code.qr_code:
        raise Conflict("this code has no QR image yet; refresh it", code="group_code_no_qr")
    try:
        response = httpx.get(code.qr_code, timeout=10.0, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise Conflict(f"the QR image could not be fetched: {error}", code="group_code_qr_failed") from error
    return response.content


# -- changes ---------------------------------------------------------------------------------


def _corp(session: Session, tenant_id: str, connection_id: str | None) -> wecom_corps.Corp:
    corp = (
        wecom_corps.corp_by_connection(session, tenant_id, connection_id)
        if connection_id
        else wecom_corps.first_corp(session, tenant_id)
    )
    if corp is None:
        raise Conflict("connect a WeCom corp first", code="wecom_not_connected")
    return corp


def _wecom_error(error: PlatformError) -> InvalidInput | Conflict:
    if error.code == str(errors.INVALID_CHAT_ID):
        return InvalidInput(
            f"WeCom does not know this customer group: {error.message}", code="invalid_chat_id"
        )
    return Conflict(f"WeCom refused the change: {error.message}", code="wecom_failed")


def _check(chat_ids: list[str], is_auto_create: bool, room_base_name: str) -> list[str]:
    pool = [chat_id.strip() for chat_id in chat_ids if chat_id.strip()]
    if not pool:
        raise InvalidInput("choose at least one customer group", code="empty_pool", path="chat_ids")
    if len(set(pool)) != len(pool):
        raise InvalidInput("a customer group is listed twice", code="duplicate_group", path="chat_ids")
    if any(len(chat_id) > 64 for chat_id in pool):
        raise InvalidInput("a customer group id is too long", code="invalid_chat_id", path="chat_ids")
    if is_auto_create and not room_base_name.strip():
        raise InvalidInput(
            "give the name of the groups WeCom creates", code="room_base_name_required", path="room_base_name"
        )
    return pool


def _way_fields(code: GroupCode, chat_ids: list[str]) -> dict[str, Any]:
    return {
        "remark": code.name[:30],
        "auto_create_room": code.is_auto_create,
        "room_base_name": code.room_base_name,
        "room_base_id": code.room_base_id,
        "chat_ids": chat_ids,
        "state": code.state,
    }


def create_code(session: Session, actor: Actor, data: GroupCodeIn) -> GroupCode:
    """A new code: reads the pool's counts, creates the join way listing the groups with room."""
    pool = _check(data.chat_ids, data.is_auto_create, data.room_base_name)
    corp = _corp(session, actor.tenant_id, data.connection_id)
    now = clock.now()
    code = GroupCode(
        tenant_id=actor.tenant_id,
        connection_id=corp.connection.id,
        name=data.name.strip(),
        member_limit=data.member_limit,
        chat_ids=pool,
        listed_chat_ids=[],
        groups={},
        is_auto_create=data.is_auto_create,
        room_base_name=data.room_base_name.strip(),
        room_base_id=data.room_base_id,
        created_by=actor.display_name or actor.username,
        created_at=now,
        updated_at=now,
    )
    code.id = code.id or new_id()
    code.state = STATE_PREFIX + code.id[:24]
    try:
        counts = _read_pool(session, corp, code, record_joins=False)
        code.pool_read_at = now
        chosen = rotation.choose(pool, counts, code.member_limit, auto_create=code.is_auto_create)
        code.config_id = join_ways.add_join_way(corp.client, **_way_fields(code, chosen.chat_ids))
        code.qr_code = join_ways.get_join_way(corp.client, code.config_id).qr_code
    except PlatformError as error:
        raise _wecom_error(error) from error
    code.listed_chat_ids = chosen.chat_ids
    code.is_pool_exhausted = chosen.is_exhausted
    code.synced_at = now
    session.add(code)
    session.flush()
    return code


def update_code(session: Session, actor: Actor, code_id: str, data: GroupCodePatch) -> GroupCode:
    """Change a code's name, limit, pool or auto-create settings; the join way follows at once."""
    code = get_code(session, actor.tenant_id, code_id)
    if data.name is not None:
        code.name = data.name.strip()
    if data.member_limit is not None:
        code.member_limit = data.member_limit
    if data.is_auto_create is not None:
        code.is_auto_create = data.is_auto_create
    if data.room_base_name is not None:
        code.room_base_name = data.room_base_name.strip()
    if data.room_base_id is not None:
        code.room_base_id = data.room_base_id
    pool = _check(
        data.chat_ids if data.chat_ids is not None else code.chat_ids,
        code.is_auto_create,
        code.room_base_name,
    )
    code.chat_ids = pool
    code.groups = {chat_id: value for chat_id, value in code.groups.items() if chat_id in pool}
    code.updated_at = clock.now()
    refresh(session, actor.tenant_id, code, force_update=True)
    if code.sync_error:
        raise Conflict(f"WeCom refused the change: {code.sync_error}", code="wecom_failed")
    session.flush()
    return code


def delete_code(session: Session, actor: Actor, code_id: str) -> None:
    """Delete the join way in WeCom (the QR code stops working) and hide the code."""
    code = get_code(session, actor.tenant_id, code_id)
    corp = wecom_corps.corp_by_connection(session, actor.tenant_id, code.connection_id)
    if corp is not None and code.config_id:
        try:
            join_ways.delete_join_way(corp.client, code.config_id)
        except PlatformError as error:
            if error.code != str(errors.INVALID_CONFIG_ID):  # already gone in WeCom
                raise _wecom_error(error) from error
    code.is_deleted = True
    code.updated_at = clock.now()
    session.flush()


# -- rotation --------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _read_pool(
    session: Session,
    corp: wecom_corps.Corp,
    code: GroupCode,
    *,
    record_joins: bool,
    only: set[str] | None = None,
) -> dict[str, int]:
    """Member counts of the pool's groups (a dismissed or unknown group counts as full), cached on
    the code; with `record_joins`, scan joins since the code was created become join rows. With
    `only`, the other groups already read keep their cached count."""
    counts: dict[str, int] = {}
    groups = dict(code.groups)
    since = _aware(code.created_at).replace(microsecond=0)
    for chat_id in code.chat_ids:
        known = dict(groups.get(chat_id) or {})
        if only is not None and chat_id not in only and "members" in known:
            counts[chat_id] = code.member_limit if known.get("is_dismissed") else int(known["members"])
            continue
        try:
            chat = join_ways.get_chat(corp.client, chat_id)
        except PlatformError as error:
            if error.code != str(errors.INVALID_CHAT_ID):
                raise
            known["is_dismissed"] = True
            groups[chat_id] = known
            counts[chat_id] = code.member_limit
            continue
        known.update(name=chat.name, members=chat.member_count, is_dismissed=False)
        groups[chat_id] = known
        counts[chat_id] = chat.member_count
        if record_joins:
            _record_joins(session, code, chat, since)
    code.groups = groups
    return counts


def _record_joins(session: Session, code: GroupCode, chat: join_ways.ChatDetail, since: datetime) -> None:
    scanned = [
        member
        for member in chat.members
        if member.type == 2
        and member.join_scene == join_ways.JOIN_SCENE_QR
        and member.join_time is not None
        and member.join_time >= since
    ]
    if not scanned:
        return
    known = repository.known_joiners(session, code.tenant_id, code.id, chat.chat_id)
    for member in scanned:
        if member.userid in known:
            continue
        assert member.join_time is not None
        session.add(
            GroupCodeJoin(
                tenant_id=code.tenant_id,
                code_id=code.id,
                chat_id=chat.chat_id,
                external_userid=member.userid,
                joined_at=member.join_time,
                day=member.join_time.date(),
            )
        )
        known.add(member.userid)


def refresh(session: Session, tenant_id: str, code: GroupCode, *, force_update: bool = False) -> bool:
    """Read the pool, record joins, adopt auto-created groups and update the join way when the
    chosen list changed (or `force_update`). Returns whether the join way was updated; a WeCom
    failure is kept on the code (`sync_error`) for the page, not raised."""
    if not code.config_id:
        return False  # never made in WeCom (an offline demo example): nothing to rotate
    corp = wecom_corps.corp_by_connection(session, tenant_id, code.connection_id)
    if corp is None:
        code.sync_error = "WeCom connection not available"
        return False
    updated = False
    try:
        way = join_ways.get_join_way(corp.client, code.config_id)
        # Listed by WeCom but never by us: a group WeCom auto-created. (A group the team just
        # took out of the pool was listed by us, and leaves.)
        adopted = [
            chat_id
            for chat_id in way.chat_ids
            if chat_id not in code.chat_ids and chat_id not in code.listed_chat_ids
        ]
        if adopted:
            code.chat_ids = [*code.chat_ids, *adopted]
            code.groups = {**code.groups, **{chat_id: {"is_auto_created": True} for chat_id in adopted}}
        if code.is_auto_create and way.room_base_id > code.room_base_id:
            code.room_base_id = way.room_base_id  # WeCom moved on after creating groups
        now = clock.now()
        # Joins happen only in listed groups; the others change when members leave, read now and
        # then (every group each tick would cost a call per group every 30 s).
        is_full_read = (
            force_update or code.pool_read_at is None or now - _aware(code.pool_read_at) >= FULL_READ_EVERY
        )
        only = None if is_full_read else {*way.chat_ids, *code.listed_chat_ids}
        counts = _read_pool(session, corp, code, record_joins=True, only=only)
        if is_full_read:
            code.pool_read_at = now
        chosen = rotation.choose(code.chat_ids, counts, code.member_limit, auto_create=code.is_auto_create)
        if force_update or chosen.chat_ids != way.chat_ids:
            join_ways.update_join_way(corp.client, code.config_id, **_way_fields(code, chosen.chat_ids))
            updated = True
        if way.qr_code:
            code.qr_code = way.qr_code
        code.listed_chat_ids = chosen.chat_ids
        code.is_pool_exhausted = chosen.is_exhausted
        code.sync_error = ""
    except PlatformError as error:
        logger.warning("group live code %s: WeCom failed: %s", code.id, error)
        code.sync_error = error.message[:300]
    code.synced_at = clock.now()
    session.flush()
    return updated


def refresh_all(session: Session, tenant_id: str) -> int:
    """Refresh every code of the tenant; returns how many join ways were updated."""
    return sum(1 for code in repository.codes(session, tenant_id) if refresh(session, tenant_id, code))


def chat_changed(session: Session, tenant_id: str, connection_id: str, chat_id: str) -> int:
    """A customer group of the connection changed in WeCom: refresh the codes whose pool (or
    join way) holds it; returns how many join ways were updated."""
    return sum(
        1
        for code in repository.codes(session, tenant_id)
        if code.connection_id == connection_id
        # A group the code does not know may be one WeCom just created for an auto-create code.
        and (chat_id in code.chat_ids or chat_id in code.listed_chat_ids or code.is_auto_create)
        and refresh(session, tenant_id, code)
    )
