"""Customer moments (客户朋友圈): compose, send through WeCom, track who published.

A moment is composed as a draft (text, link attachments, senders: every member or picked userids,
visible to customers carrying any of some Haina tags). `send_moment` maps the tags to the corp's
tags (the tags mirror, creating twins where needed) and calls add_moment_task; `track` (a
periodic job) polls the job until WeCom names the moment_id (or fails it), then polls
get_moment_task for each member's publish status until the moment is a week old.

Images: an image attachment names a picture of the image library (`image_id`); when sent it is
uploaded with media/upload_attachment (add_moment_task takes no other media_id), and an upload
younger than 2.5 days is reused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.errors import Conflict, InvalidInput, Unavailable
from haina.engage.media import service as media
from haina.engage.moments.models import Moment, MomentStaff, MomentStatus, SenderMode
from haina.engage.moments.repository import MomentRepository
from haina.platforms.http import PlatformError
from haina.platforms.wecom import moments as wecom_moments
from haina.platforms.wecom.client import WeComClient
from haina.tags import service as tags
from haina.tags import wecom_sync

logger = logging.getLogger(__name__)

TRACK_FOR = timedelta(days=7)
MAX_TEXT = wecom_moments.MAX_TEXT_LENGTH
MAX_ATTACHMENTS = wecom_moments.MAX_ATTACHMENTS
ATTACHMENT_KINDS = ("link", "image")

__all__ = ["Moment", "MomentStaff", "MomentStatus", "SenderMode"]


@dataclass
class MomentInput:
    text: str = ""
    attachments: list[dict[str, str]] = field(default_factory=list)
    sender_mode: str = SenderMode.ALL
    sender_userids: list[str] = field(default_factory=list)
    tag_ids: list[str] = field(default_factory=list)


@dataclass
class MomentRow:
    moment: Moment
    published: int
    total: int
    tag_names: list[str]

    @property
    def percent(self) -> int:
        return round(100 * self.published / self.total) if self.total else 0


def _url(value: str, path: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("a link must start with http:// or https://", code="invalid_url", path=path)
    return value


def _clean(session: Session, tenant_id: str, data: MomentInput) -> MomentInput:
    text = data.text.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"the text is longer than {MAX_TEXT} characters", code="text_too_long", path="text"
        )
    if len(data.attachments) > MAX_ATTACHMENTS:
        raise InvalidInput("at most 9 attachments", code="too_many_attachments", path="attachments")
    attachments = []
    for number, item in enumerate(data.attachments):
        kind = item.get("kind", "")
        if kind not in ATTACHMENT_KINDS:
            raise InvalidInput(
                "an attachment is a link or an image", code="invalid_attachment", path="attachments"
            )
        if kind == "link":
            title = (item.get("title") or "").strip()[:64]
            attachments.append(
                {"kind": "link", "title": title, "url": _url(item.get("url", ""), f"attachments.{number}")}
            )
        else:
            image_id = str(item.get("image_id") or "").strip()[:32]
            if not image_id:
                raise InvalidInput(
                    "an image attachment needs a picture uploaded to the image library",
                    code="image_upload_required",
                    path=f"attachments.{number}",
                )
            attachments.append({"kind": "image", "image_id": image_id})
    if not text and not attachments:
        raise InvalidInput("write a text or add an attachment", code="moment_empty", path="text")
    media.check_images(session, tenant_id, [item.get("image_id", "") for item in attachments])
    if data.sender_mode not in (SenderMode.ALL, SenderMode.PICKED):
        raise InvalidInput("senders are 'all' or 'picked'", code="invalid_sender_mode", path="sender_mode")
    userids = list(dict.fromkeys(u.strip() for u in data.sender_userids if u.strip()))
    if data.sender_mode == SenderMode.PICKED and not userids:
        raise InvalidInput("pick at least one staff member", code="no_senders", path="sender_userids")
    known = {tag.id for tag in tags.list_tags(session, tenant_id)}
    tag_ids = list(dict.fromkeys(data.tag_ids))
    unknown = [tag_id for tag_id in tag_ids if tag_id not in known]
    if unknown:
        raise InvalidInput("unknown tags: " + ", ".join(unknown), code="unknown_tag", path="tag_ids")
    return MomentInput(
        text, attachments, data.sender_mode, userids if data.sender_mode == SenderMode.PICKED else [], tag_ids
    )


def create_moment(session: Session, actor: Actor, data: MomentInput) -> Moment:
    """A new draft moment."""
    clean = _clean(session, actor.tenant_id, data)
    now = clock.now()
    moment = Moment(
        tenant_id=actor.tenant_id,
        text=clean.text,
        attachments=clean.attachments,
        sender_mode=clean.sender_mode,
        sender_userids=clean.sender_userids,
        tag_ids=clean.tag_ids,
        status=MomentStatus.DRAFT,
        created_by=actor.display_name or actor.username,
        created_at=now,
        updated_at=now,
    )
    session.add(moment)
    session.flush()
    return moment


def update_moment(session: Session, actor: Actor, moment_id: str, data: MomentInput) -> Moment:
    """Edit a draft."""
    moment = get_moment(session, actor.tenant_id, moment_id)
    if moment.status != MomentStatus.DRAFT:
        raise Conflict("only a draft can be edited", code="moment_not_draft")
    clean = _clean(session, actor.tenant_id, data)
    moment.text, moment.attachments = clean.text, clean.attachments
    moment.sender_mode, moment.sender_userids, moment.tag_ids = (
        clean.sender_mode,
        clean.sender_userids,
        clean.tag_ids,
    )
    moment.updated_at = clock.now()
    session.flush()
    return moment


def get_moment(session: Session, tenant_id: str, moment_id: str) -> Moment:
    return MomentRepository(session, tenant_id).get(moment_id)


def list_moments(session: Session, tenant_id: str, limit: int = 100) -> list[MomentRow]:
    """Recent moments with their publishing progress (published / asked)."""
    repository = MomentRepository(session, tenant_id)
    moments = repository.recent(limit)
    progress = repository.progress([m.id for m in moments])
    names = tag_names(session, tenant_id)
    return [MomentRow(m, *progress.get(m.id, (0, 0)), [names.get(t, t) for t in m.tag_ids]) for m in moments]


def tag_names(session: Session, tenant_id: str) -> dict[str, str]:
    return {tag.id: tag.name for tag in tags.list_tags(session, tenant_id)}


def staff_of(session: Session, tenant_id: str, moment_id: str) -> list[MomentStaff]:
    get_moment(session, tenant_id, moment_id)
    return MomentRepository(session, tenant_id).staff(moment_id)


def send_moment(session: Session, actor: Actor, moment_id: str) -> Moment:
    """Send a draft: its tags mapped to corp tags, then add_moment_task; `track` follows the job."""
    moment = get_moment(session, actor.tenant_id, moment_id)
    if moment.status != MomentStatus.DRAFT:
        raise Conflict("this moment was sent already", code="moment_not_draft")
    if any(item.get("kind") == "image" and not item.get("image_id") for item in moment.attachments):
        # A draft from before the image library: its picture is only a web address.
        raise InvalidInput(
            "upload the picture to the image library again before sending",
            code="image_upload_required",
            path="attachments",
        )
    corp = wecom_corps.first_corp(session, actor.tenant_id)
    if corp is None:
        raise Conflict("connect WeCom first", code="wecom_not_connected")
    try:
        corp_tags = wecom_sync.corp_tag_ids(session, actor.tenant_id, corp, moment.tag_ids)
    except PlatformError as error:
        # Nothing was asked of WeCom yet: the draft stays a draft, to send again.
        raise Unavailable(
            f"WeCom did not take the tags ({error}); try again", code="wecom_unavailable"
        ) from error
    missing = [tag_id for tag_id in moment.tag_ids if tag_id not in corp_tags]
    if missing:
        raise InvalidInput(
            "some tags were deleted: " + ", ".join(missing), code="unknown_tag", path="tag_ids"
        )
    try:
        attachments = [
            wecom_moments.attachment("link", title=item.get("title") or item["url"], url=item["url"])
            if item.get("kind") == "link"
            else wecom_moments.attachment(
                "image", media_id=media.media_id_for(session, corp, item["image_id"], media.Purpose.MOMENT)
            )
            for item in moment.attachments
        ]
    except PlatformError as error:
        # Only pictures were uploaded: the draft stays a draft, to send again.
        raise Unavailable(
            f"WeCom did not take the picture ({error}); try again", code="wecom_unavailable"
        ) from error
    try:
        jobid = wecom_moments.add_moment_task(
            corp.client,
            text=moment.text,
            attachments=attachments,
            userids=moment.sender_userids,
            tag_ids=[corp_tags[tag_id] for tag_id in moment.tag_ids],
        )
    except PlatformError as error:
        moment.status, moment.error = MomentStatus.FAILED, f"add_moment_task: {error}"
        session.flush()
        return moment
    now = clock.now()
    moment.connection_id = corp.connection.id
    moment.corp_tag_ids = corp_tags
    moment.jobid = jobid
    moment.status = MomentStatus.SENDING
    moment.sent_at = moment.updated_at = now
    session.flush()
    return moment


def cancel_moment(session: Session, actor: Actor, moment_id: str) -> Moment:
    """Cancel a draft, or a sent moment members have not all published (cancel_moment_task)."""
    moment = get_moment(session, actor.tenant_id, moment_id)
    if moment.status in (MomentStatus.CANCELLED, MomentStatus.FAILED):
        raise Conflict("this moment is already over", code="moment_over")
    if moment.moment_id and moment.connection_id:
        corp = wecom_corps.corp_by_connection(session, actor.tenant_id, moment.connection_id)
        if corp is None:
            raise Conflict("the WeCom connection of this moment is gone", code="wecom_not_connected")
        wecom_moments.cancel_moment_task(corp.client, moment.moment_id)
    elif moment.status == MomentStatus.SENDING:
        raise Conflict("WeCom is still creating it; try again in a minute", code="moment_sending")
    moment.status = MomentStatus.CANCELLED
    moment.updated_at = clock.now()
    session.flush()
    return moment


def _finish_job(session: Session, moment: Moment, result: wecom_moments.TaskResult) -> None:
    by_corp_tag = {corp_tag: tag_id for tag_id, corp_tag in moment.corp_tag_ids.items()}
    moment.invalid_userids = result.invalid_userids
    moment.invalid_tag_ids = [by_corp_tag.get(t, t) for t in result.invalid_tag_ids]
    if result.errcode or not result.moment_id:
        moment.status = MomentStatus.FAILED
        moment.error = f"WeCom errcode {result.errcode}: {result.errmsg}"
        return
    moment.moment_id = result.moment_id
    moment.status = MomentStatus.SENT


def _record_publishing(
    session: Session, moment: Moment, statuses: list[wecom_moments.PublishStatus], client: WeComClient
) -> None:
    now = clock.now()
    held = {row.userid: row for row in MomentRepository(session, moment.tenant_id).staff(moment.id)}
    for status in statuses:
        row = held.get(status.userid)
        if row is None:
            row = MomentStaff(tenant_id=moment.tenant_id, moment_id=moment.id, userid=status.userid)
            session.add(row)
        if status.is_published and not row.is_published:
            row.published_seen_at = now
        if status.is_published and row.customer_count is None:
            row.customer_count = len(
                wecom_moments.get_moment_customer_list(client, moment.moment_id, status.userid)
            )
        row.is_published = status.is_published
        row.checked_at = now


def track(session: Session, tenant_id: str) -> int:
    """Poll WeCom for moments sent in the last week: job results, then members' publish status.
    Answers how many moments were polled; a failing corp is logged and retried next time."""
    now = clock.now()
    polled = 0
    for moment in MomentRepository(session, tenant_id).to_track(now - TRACK_FOR):
        corp = wecom_corps.corp_by_connection(session, tenant_id, moment.connection_id or "")
        if corp is None:
            continue
        try:
            if moment.status == MomentStatus.SENDING:
                result = wecom_moments.get_moment_task_result(corp.client, moment.jobid)
                if result.status == wecom_moments.JOB_DONE:
                    _finish_job(session, moment, result)
            if moment.status == MomentStatus.SENT:
                statuses = wecom_moments.get_moment_task(corp.client, moment.moment_id)
                _record_publishing(session, moment, statuses, corp.client)
        except PlatformError as error:
            logger.warning("moment %s: polling WeCom failed: %s", moment.id, error)
            continue
        moment.polled_at = now
        polled += 1
    session.flush()
    return polled
