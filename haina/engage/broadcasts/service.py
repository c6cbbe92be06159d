"""Mass messaging (群发) to customers through their staff (add_msg_template).

A broadcast is written as a draft: a title, a text and attachments (link / image / mini program),
and a target: a saved segment, or a tag filter (any of / all of some Haina tags, minus exclusion
tags) compiled into the tags module's condition language, so it is the same engine as segments.

The plan (`plan`, shown as the preview) maps each targeted customer onto one WeCom follow
relation in the corp: the member who added them most recently, when the follow carries its add
time, else the first member by userid. Customers without an active relation, and customers who
were already handed `monthly_cap` mass messages this natural month (Asia/Shanghai; Haina's own
accounting, default 4: [UNCONFIRMED] WeCom's documented cap), are excluded, counted by reason.

Sending (`send_now`, or `send_due` on a schedule) claims the broadcast with a state change, so a
second run or a second scheduler never sends it twice, then calls add_msg_template once per
sender (≤10000 customers a call) and stores one task per call and one row per recipient.
Members then confirm in their app; `track` polls get_groupmsg_task / get_groupmsg_send_result for
three days. Replies: recipients who wrote in the message archive after the send time.

WeCom mass messages are one text for everyone: variables such as {客户名称} are not supported and
a text containing one is refused.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.archive import service as archive
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from haina.customers import service as customers
from haina.customers.identity.models import Customer
from haina.engage.broadcasts.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastSettings,
    BroadcastStatus,
    BroadcastTask,
    DeliveryStatus,
    TargetKind,
    TaskStatus,
)
from haina.engage.broadcasts.repository import BroadcastRepository
from haina.engage.media import service as media
from haina.platforms.http import PlatformError
from haina.platforms.wecom import group_messages as wecom
from haina.tags import segments as tag_segments

logger = logging.getLogger(__name__)

__all__ = [
    "Broadcast",
    "BroadcastRecipient",
    "BroadcastStatus",
    "BroadcastTask",
    "DeliveryStatus",
    "TargetKind",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_MONTHLY_CAP = 4
TRACK_FOR = timedelta(days=3)
DELIVERY_SETTLES = timedelta(minutes=10)
MAX_TITLE = 60
MAX_TEXT = 4000
MAX_ATTACHMENTS = wecom.MAX_ATTACHMENTS
ATTACHMENT_KINDS = ("link", "image", "miniprogram")
PREVIEW_SIZE = 50
VARIABLE = re.compile(r"\{[^{}\n]{1,30}\}")
EDITABLE = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED)


class Exclusion:
    NO_WECOM = "no_wecom"  # no active WeCom relation in the corp
    OVER_CAP = "over_cap"  # already handed the monthly cap of mass messages


@dataclass
class BroadcastInput:
    title: str
    text: str = ""
    attachments: list[dict[str, str]] = field(default_factory=list)
    target_kind: str = TargetKind.SEGMENT
    segment_id: str | None = None
    tag_filter: dict[str, list[str]] = field(default_factory=dict)
    scheduled_at: datetime | None = None  # None: a draft (sent with send_now)


@dataclass(frozen=True)
class PlannedRecipient:
    customer_id: str
    external_userid: str
    sender_userid: str


@dataclass
class Plan:
    targeted: int
    recipients: list[PlannedRecipient]
    excluded: dict[str, int]
    corp_id: str = ""

    @property
    def senders(self) -> dict[str, list[PlannedRecipient]]:
        grouped: dict[str, list[PlannedRecipient]] = {}
        for recipient in self.recipients:
            grouped.setdefault(recipient.sender_userid, []).append(recipient)
        return grouped


@dataclass
class Figures:
    """What the list and the funnel show for one broadcast."""

    targeted: int = 0
    sendable: int = 0
    staff_total: int = 0
    staff_confirmed: int = 0
    delivered: int = 0
    replied: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class BroadcastRow:
    broadcast: Broadcast
    figures: Figures


@dataclass
class StaffRow:
    userid: str
    recipients: int
    delivered: int
    status: str
    confirmed_at: datetime | None
    reminded_at: datetime | None


# ── input ───────────────────────────────────────────────────────────────────────────────────


def _url(value: str, path: str) -> str:
    value = (value or "").strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("a link needs an http(s) address", code="invalid_broadcast_url", path=path)
    return value


def _clean_attachments(attachments: list[dict[str, str]]) -> list[dict[str, str]]:
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments", code="too_many_attachments")
    cleaned = []
    for index, item in enumerate(attachments):
        kind = str(item.get("kind") or "")
        path = f"attachments[{index}]"
        if kind not in ATTACHMENT_KINDS:
            raise InvalidInput(f"unknown attachment kind {kind!r}", code="invalid_attachment", path=path)
        title = str(item.get("title") or "").strip()[:64]
        if kind == "link":
            cleaned.append(
                {
                    "kind": kind,
                    "title": title or _url(item.get("url", ""), path),
                    "url": _url(item.get("url", ""), path),
                    "image_url": str(item.get("image_url") or ""),
                }
            )
        elif kind == "image" and str(item.get("image_id") or "").strip():
            # A picture of the image library, uploaded to WeCom (media/upload) when sent.
            cleaned.append({"kind": kind, "image_id": str(item["image_id"]).strip()[:32]})
        elif kind == "image":
            if not str(item.get("image_url") or "").strip():
                raise InvalidInput(
                    "an image attachment needs a picture; upload one", code="invalid_attachment", path=path
                )
            cleaned.append({"kind": kind, "image_url": _url(item.get("image_url", ""), path)})
        else:
            appid, page = str(item.get("appid") or "").strip(), str(item.get("page") or "").strip()
            if not appid or not page or not title:
                raise InvalidInput(
                    "a mini program needs a title, an appid and a page", code="invalid_attachment", path=path
                )
            cleaned.append(
                {
                    "kind": kind,
                    "title": title,
                    "appid": appid,
                    "page": page,
                    "image_url": str(item.get("image_url") or ""),
                }
            )
    return cleaned


def _clean_tag_filter(value: dict[str, list[str]]) -> dict[str, list[str]]:
    cleaned = {
        key: sorted({str(tag_id) for tag_id in value.get(key) or [] if tag_id})
        for key in ("any", "all", "exclude")
    }
    if not cleaned["any"] and not cleaned["all"]:
        raise InvalidInput(
            "pick at least one tag the customers must carry", code="empty_tag_filter", path="tag_filter"
        )
    return cleaned


def _clean(session: Session, tenant_id: str, data: BroadcastInput) -> BroadcastInput:
    title = (data.title or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(
            f"a broadcast needs a title of 1 to {MAX_TITLE} characters",
            code="invalid_broadcast_title",
            path="title",
        )
    text = (data.text or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"the text takes at most {MAX_TEXT} characters", code="broadcast_text_too_long", path="text"
        )
    if VARIABLE.search(text):
        raise InvalidInput(
            "WeCom mass messages send the same text to everyone: variables such as {customer name} are not supported",
            code="broadcast_variables_unsupported",
            path="text",
            message_zh="企业微信群发对每位客户发送相同内容，不支持 {客户名称} 等变量",
        )
    attachments = _clean_attachments(list(data.attachments or []))
    media.check_images(session, tenant_id, [item.get("image_id", "") for item in attachments])
    if not text and not attachments:
        raise InvalidInput("write a text or add an attachment", code="empty_broadcast", path="text")
    if data.target_kind == TargetKind.SEGMENT:
        if not data.segment_id:
            raise InvalidInput("pick a segment", code="missing_segment", path="segment_id")
        tag_segments.get(session, tenant_id, data.segment_id)
        tag_filter: dict[str, list[str]] = {}
        segment_id: str | None = data.segment_id
    elif data.target_kind == TargetKind.TAGS:
        tag_filter, segment_id = _clean_tag_filter(data.tag_filter or {}), None
    else:
        raise InvalidInput(
            "the target is a segment or a tag filter", code="invalid_target", path="target_kind"
        )
    return BroadcastInput(
        title, text, attachments, data.target_kind, segment_id, tag_filter, data.scheduled_at
    )


# ── CRUD ────────────────────────────────────────────────────────────────────────────────────


def create_broadcast(session: Session, actor: Actor, data: BroadcastInput) -> Broadcast:
    """A new broadcast: a draft, or scheduled when `data.scheduled_at` is set."""
    cleaned = _clean(session, actor.tenant_id, data)
    now = clock.now()
    broadcast = Broadcast(
        tenant_id=actor.tenant_id,
        title=cleaned.title,
        text=cleaned.text,
        attachments=cleaned.attachments,
        target_kind=cleaned.target_kind,
        segment_id=cleaned.segment_id,
        tag_filter=cleaned.tag_filter,
        status=BroadcastStatus.SCHEDULED if cleaned.scheduled_at else BroadcastStatus.DRAFT,
        scheduled_at=cleaned.scheduled_at,
        created_by=(actor.display_name or actor.username)[:100],
        created_at=now,
        updated_at=now,
    )
    session.add(broadcast)
    session.flush()
    return broadcast


def update_broadcast(session: Session, actor: Actor, broadcast_id: str, data: BroadcastInput) -> Broadcast:
    """Change a draft or scheduled broadcast (its schedule too: None makes it a draft again)."""
    broadcast = get_broadcast(session, actor.tenant_id, broadcast_id)
    if broadcast.status not in EDITABLE:
        raise Conflict("only a draft or scheduled broadcast can be changed", code="broadcast_not_editable")
    cleaned = _clean(session, actor.tenant_id, data)
    broadcast.title, broadcast.text, broadcast.attachments = cleaned.title, cleaned.text, cleaned.attachments
    broadcast.target_kind, broadcast.segment_id = cleaned.target_kind, cleaned.segment_id
    broadcast.tag_filter = cleaned.tag_filter
    broadcast.scheduled_at = cleaned.scheduled_at
    broadcast.status = BroadcastStatus.SCHEDULED if cleaned.scheduled_at else BroadcastStatus.DRAFT
    broadcast.updated_at = clock.now()
    session.flush()
    return broadcast


def get_broadcast(session: Session, tenant_id: str, broadcast_id: str) -> Broadcast:
    return BroadcastRepository(session, tenant_id).get(broadcast_id)


def list_broadcasts(session: Session, tenant_id: str, limit: int = 100) -> list[BroadcastRow]:
    """The newest broadcasts with their figures (replies only for sent ones)."""
    repository = BroadcastRepository(session, tenant_id)
    broadcasts = repository.recent(limit)
    ids = [broadcast.id for broadcast in broadcasts]
    statuses, tasks = repository.status_counts(ids), repository.task_counts(ids)
    rows = []
    for broadcast in broadcasts:
        figures = _figures(broadcast, statuses.get(broadcast.id, {}), tasks.get(broadcast.id, {}))
        if broadcast.sent_at is not None and figures.sendable:
            figures.replied = len(replied_customers(session, tenant_id, broadcast))
        rows.append(BroadcastRow(broadcast, figures))
    return rows


def _figures(broadcast: Broadcast, statuses: dict[str, int], tasks: dict[str, int]) -> Figures:
    return Figures(
        targeted=int(broadcast.figures.get("targeted", 0)) if broadcast.figures else 0,
        sendable=sum(statuses.values()),
        staff_total=sum(tasks.values()),
        staff_confirmed=tasks.get(TaskStatus.CONFIRMED, 0),
        delivered=statuses.get(DeliveryStatus.SENT, 0),
        by_status=dict(statuses),
    )


def figures_of(session: Session, tenant_id: str, broadcast: Broadcast) -> Figures:
    repository = BroadcastRepository(session, tenant_id)
    figures = _figures(
        broadcast,
        repository.status_counts([broadcast.id]).get(broadcast.id, {}),
        repository.task_counts([broadcast.id]).get(broadcast.id, {}),
    )
    if broadcast.sent_at is not None:
        figures.replied = len(replied_customers(session, tenant_id, broadcast))
    return figures


def staff_of(session: Session, tenant_id: str, broadcast_id: str) -> list[StaffRow]:
    """Per sender: how many customers, how many delivered, and whether they confirmed."""
    repository = BroadcastRepository(session, tenant_id)
    recipients = repository.recipients(broadcast_id)
    rows = []
    for task in repository.tasks(broadcast_id):
        mine = [r for r in recipients if r.msgid == task.msgid]
        rows.append(
            StaffRow(
                task.sender_userid,
                len(mine),
                sum(1 for r in mine if r.status == DeliveryStatus.SENT),
                task.status,
                task.confirmed_at,
                task.reminded_at,
            )
        )
    return rows


def recipients_of(session: Session, tenant_id: str, broadcast_id: str) -> list[BroadcastRecipient]:
    return BroadcastRepository(session, tenant_id).recipients(broadcast_id)


def monthly_cap(session: Session, tenant_id: str) -> int:
    """How many mass messages one customer may be handed per natural month (default 4)."""
    settings = BroadcastRepository(session, tenant_id).settings()
    return settings.monthly_cap if settings is not None else DEFAULT_MONTHLY_CAP


def set_monthly_cap(session: Session, actor: Actor, cap: int) -> int:
    if not 1 <= cap <= 31:
        raise InvalidInput("the monthly cap is 1 to 31", code="invalid_monthly_cap", path="monthly_cap")
    settings = BroadcastRepository(session, actor.tenant_id).settings()
    if settings is None:
        settings = BroadcastSettings(tenant_id=actor.tenant_id)
        session.add(settings)
    settings.monthly_cap, settings.updated_at = cap, clock.now()
    session.flush()
    return cap


# ── target and plan ─────────────────────────────────────────────────────────────────────────


def tag_filter_condition(tag_filter: dict[str, list[str]]) -> dict[str, Any]:
    """The tag filter as a condition of the tags condition language."""
    parts: list[dict[str, Any]] = []
    if tag_filter.get("any"):
        parts.append({"field": "has_tag", "op": "in", "value": list(tag_filter["any"])})
    for tag_id in tag_filter.get("all") or []:
        parts.append({"field": "has_tag", "op": "in", "value": [tag_id]})
    if tag_filter.get("exclude"):
        parts.append({"field": "has_tag", "op": "not_in", "value": list(tag_filter["exclude"])})
    return {"all": parts}


def target_customer_ids(session: Session, tenant_id: str, broadcast: Broadcast) -> list[str]:
    """The customers the broadcast targets now, in id order."""
    if broadcast.target_kind == TargetKind.SEGMENT and broadcast.segment_id:
        return list(
            session.scalars(tag_segments.customer_ids_select(session, tenant_id, broadcast.segment_id))
        )
    definition = tag_filter_condition(broadcast.tag_filter or {})
    return list(session.scalars(tag_segments.definition_ids_select(session, tenant_id, definition)))


def month_start(now: datetime) -> datetime:
    """The start of the natural month in Asia/Shanghai containing `now`."""
    local = now.astimezone(SHANGHAI)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _pick(follows: list[customers.WeComFollow]) -> customers.WeComFollow:
    """The member who added the customer most recently (an unknown add time counts as oldest);
    ties by userid, so the choice is stable."""

    def newest_first(follow: customers.WeComFollow) -> float:
        added = follow.added_at
        if added is None:
            return float("inf")
        return -(added if added.tzinfo else added.replace(tzinfo=UTC)).timestamp()

    return min(
        follows, key=lambda follow: (newest_first(follow), follow.staff_userid, follow.external_userid)
    )


def plan(session: Session, tenant_id: str, broadcast: Broadcast, corp_id: str) -> Plan:
    """Who would receive the broadcast now, through which sender, and who is excluded and why."""
    targeted = target_customer_ids(session, tenant_id, broadcast)
    by_customer: dict[str, list[customers.WeComFollow]] = {}
    for follow in customers.wecom_follows_of(session, tenant_id, customer_ids=targeted):
        if follow.corp_id == corp_id and follow.customer_id and follow.is_active:
            by_customer.setdefault(follow.customer_id, []).append(follow)
    cap = monthly_cap(session, tenant_id)
    received = BroadcastRepository(session, tenant_id).received_since(
        list(by_customer), month_start(clock.now())
    )
    excluded: Counter[str] = Counter()
    recipients = []
    for customer_id in targeted:
        follows = by_customer.get(customer_id)
        if not follows:
            excluded[Exclusion.NO_WECOM] += 1
        elif received.get(customer_id, 0) >= cap:
            excluded[Exclusion.OVER_CAP] += 1
        else:
            chosen = _pick(follows)
            recipients.append(PlannedRecipient(customer_id, chosen.external_userid, chosen.staff_userid))
    return Plan(len(targeted), recipients, dict(excluded), corp_id)


def preview(session: Session, tenant_id: str, broadcast_id: str) -> Plan:
    """The plan against the tenant's WeCom corp (every customer excluded when none is connected)."""
    broadcast = get_broadcast(session, tenant_id, broadcast_id)
    corp = wecom_corps.first_corp(session, tenant_id)
    return plan(session, tenant_id, broadcast, corp.corp_id if corp else "")


def customer_names(session: Session, tenant_id: str, customer_ids: list[str]) -> dict[str, str]:
    if not customer_ids:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.display_name).where(
            Customer.tenant_id == tenant_id, Customer.id.in_(customer_ids)
        )
    )
    return {customer_id: name for customer_id, name in rows}


# ── sending ─────────────────────────────────────────────────────────────────────────────────


def wecom_attachments(
    session: Session, corp: wecom_corps.Corp, attachments: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """Haina's attachments in add_msg_template's shape; a library picture becomes a media_id of
    `corp` (media/upload, reused for 2.5 days). PlatformError when WeCom refuses the upload.

    [UNCONFIRMED] an image given by `pic_url` (drafts from before the image library) and a mini
    program without `pic_media_id`: WeCom documents media_id for both."""
    converted: list[dict[str, Any]] = []
    for item in attachments:
        if item["kind"] == "image" and item.get("image_id"):
            media_id = media.media_id_for(session, corp, item["image_id"], media.Purpose.MESSAGE)
            converted.append({"msgtype": "image", "image": {"media_id": media_id}})
            continue
        if item["kind"] == "link":
            link = {"title": item["title"], "url": item["url"]}
            if item.get("image_url"):
                link["picurl"] = item["image_url"]
            converted.append({"msgtype": "link", "link": link})
        elif item["kind"] == "image":
            converted.append({"msgtype": "image", "image": {"pic_url": item["image_url"]}})
        else:
            converted.append(
                {
                    "msgtype": "miniprogram",
                    "miniprogram": {
                        "title": item["title"],
                        "pic_media_id": "",
                        "appid": item["appid"],
                        "page": item["page"],
                    },
                }
            )
    return converted


def schedule_broadcast(session: Session, actor: Actor, broadcast_id: str, at: datetime) -> Broadcast:
    broadcast = get_broadcast(session, actor.tenant_id, broadcast_id)
    if broadcast.status not in EDITABLE:
        raise Conflict("only a draft or scheduled broadcast can be scheduled", code="broadcast_not_editable")
    broadcast.status, broadcast.scheduled_at, broadcast.updated_at = (
        BroadcastStatus.SCHEDULED,
        at,
        clock.now(),
    )
    session.flush()
    return broadcast


def send_now(session: Session, actor: Actor, broadcast_id: str) -> Broadcast:
    """Claim a draft or scheduled broadcast and hand it to WeCom now."""
    repository = BroadcastRepository(session, actor.tenant_id)
    repository.get(broadcast_id)
    if not repository.claim(broadcast_id, EDITABLE):
        raise Conflict("the broadcast is already being sent or done", code="broadcast_not_editable")
    return _deliver(session, repository.get(broadcast_id))


def send_due(session: Session, tenant_id: str) -> int:
    """Send the scheduled broadcasts whose time has come; returns how many were claimed."""
    repository = BroadcastRepository(session, tenant_id)
    claimed = 0
    for broadcast_id in repository.due_ids(clock.now()):
        if repository.claim(broadcast_id, (BroadcastStatus.SCHEDULED,)):
            claimed += 1
            _deliver(session, repository.get(broadcast_id))
    return claimed


def _fail(session: Session, broadcast: Broadcast, error: str) -> Broadcast:
    broadcast.status, broadcast.error, broadcast.updated_at = BroadcastStatus.FAILED, error, clock.now()
    session.flush()
    return broadcast


def _deliver(session: Session, broadcast: Broadcast) -> Broadcast:
    tenant_id = broadcast.tenant_id
    corp = wecom_corps.first_corp(session, tenant_id)
    if corp is None:
        return _fail(session, broadcast, "no active WeCom connection")
    the_plan = plan(session, tenant_id, broadcast, corp.corp_id)
    now = clock.now()
    broadcast.connection_id, broadcast.corp_id = corp.connection.id, corp.corp_id
    broadcast.figures = {
        "targeted": the_plan.targeted,
        "planned": len(the_plan.recipients),
        **the_plan.excluded,
    }
    if not the_plan.recipients:
        return _fail(session, broadcast, "no customer to send to")
    try:
        attachments = wecom_attachments(session, corp, broadcast.attachments or [])
    except (PlatformError, NotFound) as error:
        return _fail(session, broadcast, f"the picture could not be uploaded to WeCom: {error}"[:2000])
    errors: list[str] = []
    handed = 0
    for sender, planned in sorted(the_plan.senders.items()):
        for start in range(0, len(planned), wecom.MAX_RECIPIENTS):
            chunk = planned[start : start + wecom.MAX_RECIPIENTS]
            try:
                created = wecom.add_msg_template(
                    corp.client, sender, [r.external_userid for r in chunk], broadcast.text, attachments
                )
            except PlatformError as error:
                logger.warning("add_msg_template failed for %s: %s", sender, error)
                errors.append(f"{sender}: {error}")
                continue
            failed = set(created.fail_list)
            session.add(
                BroadcastTask(
                    tenant_id=tenant_id,
                    broadcast_id=broadcast.id,
                    msgid=created.msgid,
                    sender_userid=sender,
                    recipient_count=len(chunk) - len(failed & {r.external_userid for r in chunk}),
                    status=TaskStatus.PENDING,
                    created_at=now,
                )
            )
            for recipient in chunk:
                is_failed = recipient.external_userid in failed
                handed += 0 if is_failed else 1
                session.add(
                    BroadcastRecipient(
                        tenant_id=tenant_id,
                        broadcast_id=broadcast.id,
                        customer_id=recipient.customer_id,
                        external_userid=recipient.external_userid,
                        sender_userid=sender,
                        msgid=created.msgid,
                        status=DeliveryStatus.FAILED if is_failed else DeliveryStatus.PENDING,
                        created_at=now,
                    )
                )
    broadcast.error = "; ".join(errors)[:2000]
    broadcast.status = BroadcastStatus.SENT if handed else BroadcastStatus.FAILED
    broadcast.sent_at = now if handed else None
    broadcast.updated_at = now
    session.flush()
    return broadcast


# ── tracking, reminders, cancelling ─────────────────────────────────────────────────────────

_RESULT_STATUS = {
    wecom.RESULT_UNSENT: DeliveryStatus.PENDING,
    wecom.RESULT_SENT: DeliveryStatus.SENT,
    wecom.RESULT_NOT_FRIEND: DeliveryStatus.NOT_FRIEND,
    wecom.RESULT_OVER_LIMIT: DeliveryStatus.OVER_LIMIT,
}


def track(session: Session, tenant_id: str) -> int:
    """Poll WeCom for the broadcasts sent in the last three days: each member's confirmation,
    then each customer's delivery. Returns how many broadcasts were polled."""
    repository = BroadcastRepository(session, tenant_id)
    now = clock.now()
    polled = 0
    for broadcast in repository.to_track(now - TRACK_FOR):
        corp = wecom_corps.corp_by_connection(session, tenant_id, broadcast.connection_id or "")
        if corp is None:
            continue
        try:
            _track_one(session, repository, corp.client, broadcast)
        except PlatformError as error:
            logger.warning("tracking broadcast %s failed: %s", broadcast.id, error)
            continue
        broadcast.polled_at = now
        polled += 1
    session.flush()
    return polled


def _track_one(session: Session, repository: BroadcastRepository, client: Any, broadcast: Broadcast) -> None:
    recipients = repository.recipients(broadcast.id)
    for task in repository.tasks(broadcast.id):
        if task.status == TaskStatus.CANCELLED:
            continue
        if task.status == TaskStatus.PENDING:
            for member in wecom.member_tasks(client, task.msgid):
                if member.userid == task.sender_userid and member.status == wecom.TASK_SENT:
                    task.status, task.confirmed_at = TaskStatus.CONFIRMED, member.send_time or clock.now()
        mine = {r.external_userid: r for r in recipients if r.msgid == task.msgid}
        if task.status != TaskStatus.CONFIRMED or not any(
            r.status == DeliveryStatus.PENDING for r in mine.values()
        ):
            continue
        for result in wecom.send_results(client, task.msgid, task.sender_userid):
            row = mine.get(result.external_userid)
            if row is None or row.status == DeliveryStatus.FAILED:
                continue
            row.status = _RESULT_STATUS.get(result.status, DeliveryStatus.PENDING)
            row.delivered_at = result.send_time if row.status == DeliveryStatus.SENT else None
        # Confirmed a while ago and WeCom still says unsent: the member left this customer out
        # (allow_select) or WeCom dropped it. Right after confirming, delivery may still be under way.
        settled = task.confirmed_at is not None and task.confirmed_at <= clock.now() - DELIVERY_SETTLES
        for row in mine.values():
            if row.status == DeliveryStatus.PENDING and settled:
                row.status = DeliveryStatus.UNSENT
    session.flush()


def remind(session: Session, actor: Actor, broadcast_id: str) -> int:
    """Remind, in their WeCom app, the members who have not confirmed yet; returns how many."""
    broadcast = get_broadcast(session, actor.tenant_id, broadcast_id)
    if broadcast.status != BroadcastStatus.SENT:
        raise Conflict("only a sent broadcast has members to remind", code="broadcast_not_sent")
    corp = wecom_corps.corp_by_connection(session, actor.tenant_id, broadcast.connection_id or "")
    if corp is None:
        raise Unavailable("the WeCom connection of this broadcast is not active", code="wecom_unavailable")
    reminded = 0
    for task in BroadcastRepository(session, actor.tenant_id).tasks(broadcast_id):
        if task.status == TaskStatus.PENDING:
            wecom.remind(corp.client, task.msgid)
            task.reminded_at = clock.now()
            reminded += 1
    session.flush()
    return reminded


def cancel(session: Session, actor: Actor, broadcast_id: str) -> Broadcast:
    """Cancel a draft or scheduled broadcast, or stop a sent one for members not yet confirmed."""
    repository = BroadcastRepository(session, actor.tenant_id)
    broadcast = repository.get(broadcast_id)
    now = clock.now()
    if broadcast.status in EDITABLE:
        broadcast.status, broadcast.updated_at = BroadcastStatus.CANCELLED, now
        session.flush()
        return broadcast
    if broadcast.status != BroadcastStatus.SENT:
        raise Conflict("this broadcast can no longer be cancelled", code="broadcast_not_cancellable")
    corp = wecom_corps.corp_by_connection(session, actor.tenant_id, broadcast.connection_id or "")
    if corp is None:
        raise Unavailable("the WeCom connection of this broadcast is not active", code="wecom_unavailable")
    pending = [task for task in repository.tasks(broadcast_id) if task.status == TaskStatus.PENDING]
    for task in pending:
        wecom.cancel(corp.client, task.msgid)
        task.status = TaskStatus.CANCELLED
    stopped = {task.msgid for task in pending}
    for row in repository.recipients(broadcast_id):
        if row.msgid in stopped and row.status == DeliveryStatus.PENDING:
            row.status = DeliveryStatus.UNSENT
    broadcast.status, broadcast.updated_at = BroadcastStatus.CANCELLED, now
    session.flush()
    return broadcast


def replied_customers(session: Session, tenant_id: str, broadcast: Broadcast) -> set[str]:
    """Recipients it was delivered to who wrote to the merchant (message archive) after it was sent."""
    if broadcast.sent_at is None:
        return set()
    delivered = [
        row.customer_id
        for row in BroadcastRepository(session, tenant_id).recipients(broadcast.id)
        if row.status == DeliveryStatus.SENT
    ]
    return archive.customers_who_wrote(session, tenant_id, delivered, broadcast.sent_at)
