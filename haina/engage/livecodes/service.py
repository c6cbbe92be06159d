"""Channel live codes (渠道活码): the rules. No HTTP; each function takes a session and a tenant.

A code is a WeCom 「联系我」 contact way (type 2, scene 2) whose `state` identifies it in the
add_external_contact callback. Its member list follows the staff pool: `pool.on_duty` says who
takes adds now (schedule, daily limits, backups), and `refresh_duty` sends a changed list with
update_contact_way (a periodic job, and right after an add fills someone's limit). An add
through a code is recorded once per (code, contact, member), the member's remark on the customer
is set in WeCom, and the code's tags go on the customer once identity resolution knows them
(`contact.added` or, later, `customer.resolved`). A deleted relation marks the add lost, which the
retention figures read.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.errors import InvalidInput, NotFound, Unavailable
from haina.customers import service as customers
from haina.engage.livecodes import pool as duty_pool
from haina.engage.livecodes.models import ChannelKind, LiveCode, LiveCodeAdd, LiveCodeBrand
from haina.engage.livecodes.repository import AddRepository, LiveCodeRepository, brand_of
from haina.platforms.http import PlatformError
from haina.platforms.wecom import contact_ways
from haina.platforms.wecom import errors as wecom_errors
from haina.tags import service as tags

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 50
REMARK_TEMPLATE_MAX_LENGTH = 40
REMARK_VARIABLES = ("channel", "code", "staff", "date")
MAX_DAILY_LIMIT = 10_000
MAX_TAGS = 20
STATE_PREFIX = "hn"
QR_DOWNLOAD_SIZE = 600
LOGO_MAX_BYTES = 1_000_000
STATS_DAYS = 30
CHANNEL_LABELS = {
    ChannelKind.POSTER: "海报",
    ChannelKind.STORE_COUNTER: "门店前台",
    ChannelKind.PARCEL_CARD: "包裹卡",
    ChannelKind.LIVE_ROOM: "直播间",
    ChannelKind.EVENT: "活动",
    ChannelKind.OTHER: "其他",
}
# WeCom errors worth trying again later (the dispatcher retries the delivery); others are kept.
TRANSIENT_CODES = {
    str(wecom_errors.SYSTEM_BUSY),
    str(wecom_errors.API_FREQ_OUT_OF_LIMIT),
    str(wecom_errors.API_CONCURRENCY_OUT_OF_LIMIT),
}
TIME_PATTERN = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


# ── Input ────────────────────────────────────────────────────────────────────────────────────


@dataclass
class MemberInput:
    userid: str
    weekdays: list[int] = field(default_factory=lambda: list(duty_pool.ALL_WEEKDAYS))
    ranges: list[tuple[str, str]] = field(default_factory=list)  # ("09:00", "18:00")
    daily_limit: int = 0


@dataclass
class LiveCodeInput:
    name: str
    channel: str = ChannelKind.OTHER
    members: list[MemberInput] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    tag_ids: list[str] = field(default_factory=list)
    remark_template: str = ""
    description: str = ""
    skip_verify: bool = True
    is_active: bool = True


def _invalid(code: str, message: str, field_name: str) -> InvalidInput:
    return InvalidInput(message, code=f"livecode_{code}", field=field_name)


def _parse_time(text: str, field_name: str) -> time:
    match = TIME_PATTERN.match(text.strip())
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise _invalid("time_invalid", f"'{text}' is not a time like 09:00", field_name)
    hour, minute = int(match.group(1)), int(match.group(2))
    return time.max if hour == 24 else time(hour, minute)


def pool_of(data: dict[str, Any]) -> duty_pool.Pool:
    """The stored pool JSON as `pool.Pool`."""
    members = []
    for member in data.get("members") or []:
        ranges = tuple(
            duty_pool.TimeRange(_parse_time(start, "members"), _parse_time(end, "members"))
            for start, end in member.get("ranges") or []
        )
        members.append(
            duty_pool.Member(
                userid=member["userid"],
                weekdays=frozenset(member.get("weekdays") or duty_pool.ALL_WEEKDAYS),
                ranges=ranges,
                daily_limit=int(member.get("daily_limit") or 0),
            )
        )
    return duty_pool.Pool(tuple(members), tuple(data.get("backups") or ()))


def _validated(session: Session, tenant_id: str, data: LiveCodeInput, code_id: str | None) -> dict[str, Any]:
    name = data.name.strip()
    if not name:
        raise _invalid("name_required", "give the code a name", "name")
    if len(name) > NAME_MAX_LENGTH:
        raise _invalid("name_too_long", f"the name takes at most {NAME_MAX_LENGTH} characters", "name")
    existing = LiveCodeRepository(session, tenant_id).by_name(name)
    if existing is not None and existing.id != code_id:
        raise _invalid("name_taken", f"another live code is already called '{name}'", "name")
    if data.channel not in ChannelKind.ALL:
        raise _invalid("channel_invalid", f"unknown channel '{data.channel}'", "channel")
    if not data.members:
        raise _invalid("members_required", "add at least one staff member to the pool", "members")
    members: list[dict[str, Any]] = []
    seen: set[str] = set()
    for member in data.members:
        userid = member.userid.strip()
        if not userid:
            raise _invalid("member_required", "a pool row has no staff member", "members")
        if userid in seen:
            raise _invalid("member_duplicate", f"'{userid}' is in the pool twice", "members")
        seen.add(userid)
        weekdays = sorted(set(member.weekdays))
        if not weekdays or any(day not in duty_pool.ALL_WEEKDAYS for day in weekdays):
            raise _invalid("weekdays_invalid", f"choose the weekdays '{userid}' works", "members")
        ranges = []
        for start, end in member.ranges:
            if _parse_time(start, "members") == _parse_time(end, "members"):
                raise _invalid(
                    "range_empty", f"the time range {start}-{end} of '{userid}' is empty", "members"
                )
            ranges.append([start.strip(), end.strip()])
        if not 0 <= member.daily_limit <= MAX_DAILY_LIMIT:
            raise _invalid(
                "daily_limit_invalid", f"the daily limit must be between 0 and {MAX_DAILY_LIMIT}", "members"
            )
        members.append(
            {"userid": userid, "weekdays": weekdays, "ranges": ranges, "daily_limit": member.daily_limit}
        )
    backups = list(dict.fromkeys(userid.strip() for userid in data.backups if userid.strip()))
    if len(seen | set(backups)) > duty_pool.MAX_USERS:
        raise _invalid("too_many_members", f"WeCom takes at most {duty_pool.MAX_USERS} members", "members")
    tag_ids = list(dict.fromkeys(data.tag_ids))
    if len(tag_ids) > MAX_TAGS:
        raise _invalid("too_many_tags", f"at most {MAX_TAGS} tags", "tag_ids")
    known = {tag.id: tag for tag in tags.list_tags(session, tenant_id)}
    for tag_id in tag_ids:
        tag = known.get(tag_id)
        if tag is None or tag.kind != "manual":
            raise _invalid("tag_invalid", f"tag {tag_id} does not exist or is a rule tag", "tag_ids")
    template = data.remark_template.strip()
    if len(template) > REMARK_TEMPLATE_MAX_LENGTH:
        raise _invalid(
            "remark_too_long",
            f"the remark takes at most {REMARK_TEMPLATE_MAX_LENGTH} characters",
            "remark_template",
        )
    for variable in re.findall(r"\{([^{}]*)\}", template):
        if variable not in REMARK_VARIABLES:
            raise _invalid(
                "remark_variable", f"unknown variable {{{variable}}} in the remark", "remark_template"
            )
    return {
        "name": name,
        "channel": data.channel,
        "pool": {"members": members, "backups": backups},
        "tag_ids": tag_ids,
        "remark_template": template,
        "description": data.description.strip()[:2000],
        "skip_verify": data.skip_verify,
        "is_active": data.is_active,
    }


# ── Codes ────────────────────────────────────────────────────────────────────────────────────


def list_codes(session: Session, tenant_id: str) -> list[LiveCode]:
    return LiveCodeRepository(session, tenant_id).all()


def get_code(session: Session, tenant_id: str, code_id: str) -> LiveCode:
    return LiveCodeRepository(session, tenant_id).get(code_id)


def _corp(session: Session, tenant_id: str, connection_id: str = "") -> wecom_corps.Corp:
    corp = (
        wecom_corps.corp_by_connection(session, tenant_id, connection_id)
        if connection_id
        else wecom_corps.first_corp(session, tenant_id)
    )
    if corp is None:
        raise InvalidInput(
            "connect WeCom first (Settings → Platforms): a live code is a WeCom contact way",
            code="livecode_wecom_not_connected",
        )
    return corp


def _refused(error: PlatformError) -> InvalidInput:
    return InvalidInput(
        f"WeCom refused the code: {error}", code="livecode_wecom_refused", wecom_code=error.code
    )


def new_state(session: Session, tenant_id: str) -> str:
    repository = LiveCodeRepository(session, tenant_id)
    while True:
        state = f"{STATE_PREFIX}{secrets.token_hex(6)}"  # 14 characters, WeCom takes 30
        if not repository.state_taken(state):
            return state


def _adds_today(session: Session, code: LiveCode, now: datetime) -> dict[str, int]:
    return AddRepository(session, code.tenant_id).counts_since(code.id, duty_pool.day_start(now))


def duty_of(session: Session, code: LiveCode, now: datetime | None = None) -> duty_pool.Duty:
    now = now or clock.now()
    return duty_pool.on_duty(pool_of(code.pool), now, _adds_today(session, code, now))


def create_code(session: Session, actor: Actor, data: LiveCodeInput) -> LiveCode:
    """A new live code and its WeCom contact way, sent to the members on duty now."""
    fields = _validated(session, actor.tenant_id, data, None)
    corp = _corp(session, actor.tenant_id)
    now = clock.now()
    code = LiveCode(
        tenant_id=actor.tenant_id,
        state=new_state(session, actor.tenant_id),
        connection_id=corp.connection.id,
        created_by=actor.display_name[:100],
        created_at=now,
        updated_at=now,
        **fields,
    )
    duty = duty_pool.on_duty(pool_of(code.pool), now, {})
    try:
        way = contact_ways.add_contact_way(
            corp.client,
            users=duty.userids,
            state=code.state,
            remark=code.name[:30],
            skip_verify=code.skip_verify,
        )
    except PlatformError as error:
        raise _refused(error) from error
    code.config_id, code.qr_code = way.config_id, way.qr_code
    code.duty_userids, code.duty_reason, code.duty_checked_at = duty.userids, duty.reason, now
    session.add(code)
    session.flush()
    return code


def update_code(session: Session, actor: Actor, code_id: str, data: LiveCodeInput) -> LiveCode:
    """Change a code; WeCom gets the new member list and settings at once."""
    code = get_code(session, actor.tenant_id, code_id)
    fields = _validated(session, actor.tenant_id, data, code.id)
    for key, value in fields.items():
        setattr(code, key, value)
    code.updated_at = clock.now()
    duty = duty_of(session, code)
    corp = _corp(session, actor.tenant_id, code.connection_id)
    try:
        contact_ways.update_contact_way(
            corp.client,
            code.config_id,
            users=duty.userids,
            remark=code.name[:30],
            skip_verify=code.skip_verify,
        )
    except PlatformError as error:
        raise _refused(error) from error
    code.duty_userids, code.duty_reason, code.duty_checked_at = duty.userids, duty.reason, clock.now()
    session.flush()
    return code


def delete_code(session: Session, actor: Actor, code_id: str) -> None:
    """Delete the code and its WeCom contact way; its adds stay for history."""
    code = get_code(session, actor.tenant_id, code_id)
    if code.config_id:
        corp = _corp(session, actor.tenant_id, code.connection_id)
        try:
            contact_ways.del_contact_way(corp.client, code.config_id)
        except PlatformError as error:
            if error.code != str(wecom_errors.INVALID_CONFIG_ID):  # already gone in WeCom
                raise _refused(error) from error
    code.is_deleted = True
    code.is_active = False
    code.updated_at = clock.now()
    session.flush()


def refresh_duty(session: Session, tenant_id: str, code: LiveCode | None = None) -> list[str]:
    """Send each active code's on-duty members to WeCom where they changed; returns the ids updated."""
    codes = [code] if code is not None else LiveCodeRepository(session, tenant_id).active()
    now = clock.now()
    updated = []
    for item in codes:
        duty = duty_of(session, item, now)
        item.duty_checked_at = now
        if duty.userids == list(item.duty_userids or []) and duty.reason == item.duty_reason:
            continue
        if duty.userids != list(item.duty_userids or []):
            try:
                corp = _corp(session, tenant_id, item.connection_id)
                contact_ways.update_contact_way(corp.client, item.config_id, users=duty.userids)
            except (PlatformError, InvalidInput) as error:
                # Kept as it was, so the next pass tries again; other codes go on.
                logger.warning("live code %s: members not updated in WeCom: %s", item.id, error)
                continue
            updated.append(item.id)
        item.duty_userids, item.duty_reason = duty.userids, duty.reason
    session.flush()
    return updated


# ── Adds ─────────────────────────────────────────────────────────────────────────────────────


def render_remark(code: LiveCode, staff_userid: str, now: datetime) -> str:
    values = {
        "channel": CHANNEL_LABELS.get(code.channel, code.channel),
        "code": code.name,
        "staff": staff_userid,
        "date": now.astimezone(duty_pool.SHANGHAI).strftime("%m%d"),
    }
    text = re.sub(
        r"\{([a-z]+)\}", lambda match: values.get(match.group(1), match.group(0)), code.remark_template
    )
    return text[: contact_ways.REMARK_MAX_LENGTH]


def _customer_of(session: Session, tenant_id: str, contact_id: str) -> str | None:
    follows = customers.wecom_follows_of(session, tenant_id, contact_ids=[contact_id], active_only=False)
    return next((follow.customer_id for follow in follows if follow.customer_id), None)


def _apply_tags(session: Session, code: LiveCode, add: LiveCodeAdd) -> None:
    if add.tags_applied or not add.customer_id:
        return
    if code.tag_ids:
        tags.tag_by_system(session, code.tenant_id, [add.customer_id], code.tag_ids, f"渠道活码 {code.name}")
    add.tags_applied = True


def record_add(session: Session, tenant_id: str, payload: dict[str, Any]) -> LiveCodeAdd | None:
    """A contact.added through one of the tenant's codes: record it (once), set the member's remark
    in WeCom, tag the customer if known, and refresh the code's members if a limit is now full."""
    state = str(payload.get("add_channel_state") or "")
    if not state:
        return None
    code = LiveCodeRepository(session, tenant_id).by_state(state)
    if code is None:
        return None
    contact_id, staff_userid = str(payload["contact_id"]), str(payload.get("staff_userid") or "")
    adds = AddRepository(session, tenant_id)
    add = adds.find(code.id, contact_id, staff_userid)
    if add is not None:
        return add
    now = clock.now()
    add = LiveCodeAdd(
        tenant_id=tenant_id,
        live_code_id=code.id,
        contact_id=contact_id,
        corp_id=str(payload.get("corp_id") or ""),
        external_userid=str(payload.get("external_userid") or ""),
        staff_userid=staff_userid,
        added_at=now,
        customer_id=_customer_of(session, tenant_id, contact_id),
    )
    session.add(add)
    remark = render_remark(code, staff_userid, now) if code.remark_template else ""
    if remark and not code.is_deleted:
        corp = wecom_corps.corp_by_connection(session, tenant_id, code.connection_id)
        if corp is None or corp.corp_id != add.corp_id:
            add.remark_error = "the code's WeCom connection is gone"
        else:
            try:
                contact_ways.set_remark(corp.client, staff_userid, add.external_userid, remark=remark)
                add.remark = remark
            except PlatformError as error:
                if error.retryable or error.code in TRANSIENT_CODES:
                    raise  # the dispatcher tries the delivery again later
                add.remark_error = str(error)[:200]
    _apply_tags(session, code, add)
    session.flush()
    if code.is_active and not code.is_deleted and code.config_id:
        member = next((m for m in code.pool.get("members") or [] if m["userid"] == staff_userid), None)
        limit = int(member.get("daily_limit") or 0) if member else 0
        if limit and _adds_today(session, code, now).get(staff_userid, 0) >= limit:
            refresh_duty(session, tenant_id, code)
    return add


def customers_resolved(session: Session, tenant_id: str, contact_ids: list[str], customer_id: str) -> int:
    """Adds waiting for their customer get it, and the code's tags; returns how many were tagged."""
    tagged = 0
    codes: dict[str, LiveCode] = {}
    for add in AddRepository(session, tenant_id).of_contacts(contact_ids):
        if add.customer_id != customer_id:
            add.customer_id = customer_id
        if add.tags_applied:
            continue
        code = codes.get(add.live_code_id) or session.get(LiveCode, (tenant_id, add.live_code_id))
        if code is None:
            continue
        codes[code.id] = code
        _apply_tags(session, code, add)
        tagged += 1
    session.flush()
    return tagged


def mark_lost(
    session: Session, tenant_id: str, contact_id: str, staff_userid: str, by: str, at: datetime
) -> int:
    """The member and the customer parted: their adds through codes count as lost."""
    lost = 0
    for add in AddRepository(session, tenant_id).of_contacts([contact_id]):
        if add.staff_userid == staff_userid and add.lost_at is None:
            add.lost_at, add.lost_by = at, by
            lost += 1
    session.flush()
    return lost


# ── Statistics ───────────────────────────────────────────────────────────────────────────────


@dataclass
class CodeStats:
    total: int
    today: int
    lost: int
    retained: int
    per_day: list[tuple[date, int, int]]  # (day, adds, of which lost since)
    per_staff: list[tuple[str, int, int]]  # (userid, adds, lost)
    retention_7: float | None  # share of adds older than 7 days not lost within 7 days
    retention_30: float | None
    eligible_7: int
    eligible_30: int


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _retention(adds: list[LiveCodeAdd], now: datetime, days: int) -> tuple[float | None, int]:
    window = timedelta(days=days)
    eligible = [add for add in adds if _aware(add.added_at) <= now - window]
    if not eligible:
        return None, 0
    kept = [
        add for add in eligible if add.lost_at is None or _aware(add.lost_at) - _aware(add.added_at) > window
    ]
    return len(kept) / len(eligible), len(eligible)


def stats(session: Session, tenant_id: str, code_id: str, *, days: int = STATS_DAYS) -> CodeStats:
    """Adds per day (last `days` local days), per member, totals and 7/30-day retention."""
    code = get_code(session, tenant_id, code_id)
    adds = AddRepository(session, tenant_id).of_code(code.id)
    now = clock.now()
    today = duty_pool.local_day(now)
    first = today - timedelta(days=days - 1)
    by_day: Counter[date] = Counter()
    lost_by_day: Counter[date] = Counter()
    by_staff: Counter[str] = Counter()
    lost_by_staff: Counter[str] = Counter()
    for add in adds:
        day = duty_pool.local_day(_aware(add.added_at))
        by_day[day] += 1
        by_staff[add.staff_userid] += 1
        if add.lost_at is not None:
            lost_by_day[day] += 1
            lost_by_staff[add.staff_userid] += 1
    per_day = [
        (
            first + timedelta(days=offset),
            by_day[first + timedelta(days=offset)],
            lost_by_day[first + timedelta(days=offset)],
        )
        for offset in range(days)
    ]
    per_staff = sorted(
        ((userid, count, lost_by_staff[userid]) for userid, count in by_staff.items()),
        key=lambda row: (-row[1], row[0]),
    )
    retention_7, eligible_7 = _retention(adds, now, 7)
    retention_30, eligible_30 = _retention(adds, now, 30)
    lost = sum(1 for add in adds if add.lost_at is not None)
    return CodeStats(
        total=len(adds),
        today=by_day[today],
        lost=lost,
        retained=len(adds) - lost,
        per_day=per_day,
        per_staff=per_staff,
        retention_7=retention_7,
        retention_30=retention_30,
        eligible_7=eligible_7,
        eligible_30=eligible_30,
    )


def add_counts(session: Session, tenant_id: str) -> dict[str, tuple[int, int]]:
    """(adds in all, adds today) per code, for the list page."""
    return AddRepository(session, tenant_id).totals(duty_pool.day_start(clock.now()))


# ── QR image and logo ────────────────────────────────────────────────────────────────────────


def set_logo(session: Session, tenant_id: str, content: bytes, content_type: str) -> None:
    """Keep the merchant's logo (PNG or JPEG, ≤ 1 MB) for downloaded QR codes; empty removes it."""
    brand = brand_of(session, tenant_id)
    if not content:
        if brand is not None:
            session.delete(brand)
            session.flush()
        return
    if len(content) > LOGO_MAX_BYTES:
        raise InvalidInput("the logo must be at most 1 MB", code="livecode_logo_too_large")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
            kind = image.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InvalidInput("the logo is not a PNG or JPEG image", code="livecode_logo_invalid") from error
    if kind not in ("PNG", "JPEG"):
        raise InvalidInput("the logo is not a PNG or JPEG image", code="livecode_logo_invalid")
    if brand is None:
        brand = LiveCodeBrand(tenant_id=tenant_id)
        session.add(brand)
    brand.logo, brand.logo_type, brand.updated_at = content, f"image/{kind.lower()}", clock.now()
    session.flush()


def has_logo(session: Session, tenant_id: str) -> bool:
    brand = brand_of(session, tenant_id)
    return brand is not None and bool(brand.logo)


def _fetch_qr(url: str) -> bytes:
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise Unavailable(
            f"the QR image could not be fetched from WeCom: {error}", code="livecode_qr_unavailable"
        ) from error
    return response.content


def compose_qr(qr_image: bytes, logo: bytes | None, size: int = QR_DOWNLOAD_SIZE) -> bytes:
    """The QR code scaled to `size`×`size` with the logo on a white tile in the middle (a fifth
    of the width, which the high error correction of WeCom's codes reads through)."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(qr_image)) as source:
        canvas = source.convert("RGB").resize((size, size), Image.Resampling.NEAREST)
    if logo:
        with Image.open(io.BytesIO(logo)) as mark:
            mark_rgba = mark.convert("RGBA")
        side = size // 5
        mark_rgba.thumbnail((side, side), Image.Resampling.LANCZOS)
        pad = max(side // 10, 4)
        tile_side = side + 2 * pad
        tile = Image.new("RGB", (tile_side, tile_side), "white")
        ImageDraw.Draw(tile).rounded_rectangle(
            (0, 0, tile_side - 1, tile_side - 1), radius=pad, outline="#e5e5e5", width=2
        )
        tile.paste(
            mark_rgba, ((tile_side - mark_rgba.width) // 2, (tile_side - mark_rgba.height) // 2), mark_rgba
        )
        canvas.paste(tile, ((size - tile_side) // 2, (size - tile_side) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_png(session: Session, tenant_id: str, code_id: str) -> tuple[LiveCode, bytes]:
    """The code's QR image from WeCom with the merchant's logo pasted in, as PNG."""
    code = get_code(session, tenant_id, code_id)
    if not code.qr_code:
        raise NotFound("this code has no QR image", code="not_found")
    brand = brand_of(session, tenant_id)
    return code, compose_qr(_fetch_qr(code.qr_code), brand.logo if brand else None)
