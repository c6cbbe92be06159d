"""Welcome messages (欢迎语): which one a new customer gets, how it is rendered, and sending it
with the single-use WelcomeCode of the add_external_contact callback.

Choice: an active channel message for the callback's State beats an active staff message naming
the member, which beats the active default; among equals the most recently updated wins.
Variables: {客户昵称} / {customer_name} (the WeChat name from externalcontact/get) and
{员工姓名} / {staff_name} (the member's name from the cached member directory, the userid when
the directory does not know it). Every welcome code gets exactly one WelcomeSend row, so a redelivered callback
never sends twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from haina.connections import wecom_staff
from haina.connections.wecom_corps import Corp
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.errors import InvalidInput, NotFound
from haina.engage.media import service as media
from haina.engage.welcome import repository
from haina.engage.welcome.models import Scope, SendStatus, WelcomeMessage, WelcomeSend
from haina.platforms.http import PlatformError
from haina.platforms.wecom import errors
from haina.platforms.wecom import welcome as wecom_welcome

# WeCom accepts a WelcomeCode once, within 20 s of the callback (REFERENCE §1.3).
WELCOME_CODE_LIFETIME = timedelta(seconds=20)
# add_half_external_contact and the later add_external_contact may each carry a code: one
# welcome per member and customer in this window.
ONE_WELCOME_WINDOW = timedelta(hours=24)
MAX_ATTACHMENTS = 9
STATE_MAX_LENGTH = 30
CUSTOMER_VARIABLES = ("{客户昵称}", "{customer_name}")
STAFF_VARIABLES = ("{员工姓名}", "{staff_name}")
ATTACHMENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type → (required fields, optional fields)
    # A picture of the image library (`image_id`, uploaded to WeCom when sent), or a media_id
    # typed by hand (valid 3 days in WeCom: kept for compatibility).
    "image": ((), ("image_id", "media_id")),
    "link": (("title", "url"), ("desc", "picurl")),
    "miniprogram": (("title", "appid", "page", "pic_media_id"), ()),
}
FIELD_MAX_LENGTH = {
    "image_id": 32,
    "media_id": 200,
    "title": 128,
    "desc": 512,
    "url": 2048,
    "picurl": 2048,
    "page": 512,
    "appid": 64,
}
EXPIRED_REASON = "the welcome code was older than 20 s when its turn came; WeCom would refuse it"
ALREADY_WELCOMED = "this member welcomed this customer less than 24 h ago (e.g. a half add, then the add)"
NOTHING_CONFIGURED = "no active welcome message applies (no channel, staff or default message)"
REASONS = {
    errors.INVALID_WELCOME_CODE: "the welcome code expired or was unknown (41050)",
    errors.ALREADY_CHATTING: "the member and the customer are already chatting (41051)",
    errors.WELCOME_CODE_DISTRIBUTING: "WeCom is distributing this welcome code already (41096)",
}


@dataclass
class MessageInput:
    name: str
    scope: str
    state: str = ""
    staff_userids: list[str] = field(default_factory=list)
    text: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    is_active: bool = True


# ── Messages ────────────────────────────────────────────────────────────────────────────────


def _attachment(index: int, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"attachment {index + 1} is not an object", code="invalid_attachment")
    kind = raw.get("type")
    if kind not in ATTACHMENT_FIELDS:
        raise InvalidInput(
            f"attachment {index + 1} has type {kind!r}; use image, link or miniprogram",
            code="invalid_attachment",
        )
    required, optional = ATTACHMENT_FIELDS[kind]
    clean: dict[str, str] = {"type": kind}
    for name in required + optional:
        value = raw.get(name, "")
        value = value.strip() if isinstance(value, str) else ""
        if name in required and not value:
            raise InvalidInput(
                f"attachment {index + 1} ({kind}) needs {name}", code="invalid_attachment", field=name
            )
        if len(value) > FIELD_MAX_LENGTH.get(name, 256):
            raise InvalidInput(f"attachment {index + 1}: {name} is too long", code="invalid_attachment")
        if name in ("url", "picurl") and value and urlsplit(value).scheme not in ("http", "https"):
            raise InvalidInput(
                f"attachment {index + 1}: {name} must start with http:// or https://",
                code="invalid_attachment",
            )
        if value or name in required:
            clean[name] = value
    if kind == "image" and not (clean.get("image_id") or clean.get("media_id")):
        raise InvalidInput(
            f"attachment {index + 1} (image) needs a picture; upload one",
            code="invalid_attachment",
            field="image_id",
        )
    if kind == "image" and clean.get("image_id"):
        clean.pop("media_id", None)  # the library's picture wins over a hand-typed id
    return clean


def _validated(session: Session, tenant_id: str, data: MessageInput) -> MessageInput:
    name = data.name.strip()
    if not name:
        raise InvalidInput("the welcome message has no name; give it one", code="name_required")
    if data.scope not in Scope.ALL:
        raise InvalidInput(f"scope must be one of {', '.join(Scope.ALL)}", code="invalid_scope")
    state = data.state.strip() if data.scope == Scope.CHANNEL else ""
    if data.scope == Scope.CHANNEL and not state:
        raise InvalidInput("a channel welcome message needs the live code's state", code="state_required")
    if len(state) > STATE_MAX_LENGTH:
        raise InvalidInput(f"the state has at most {STATE_MAX_LENGTH} characters", code="invalid_state")
    staff = sorted({userid.strip() for userid in data.staff_userids if userid.strip()})
    if data.scope == Scope.STAFF and not staff:
        raise InvalidInput("a staff welcome message needs at least one staff member", code="staff_required")
    if len(data.attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments", code="too_many_attachments")
    attachments = [_attachment(index, raw) for index, raw in enumerate(data.attachments)]
    media.check_images(session, tenant_id, [item.get("image_id", "") for item in attachments])
    text = data.text.strip()
    if not text and not attachments:
        raise InvalidInput("write a text or add an attachment", code="empty_message")
    return MessageInput(
        name=name,
        scope=data.scope,
        state=state,
        staff_userids=staff if data.scope == Scope.STAFF else [],
        text=text,
        attachments=attachments,
        is_active=data.is_active,
    )


def get_message(session: Session, tenant_id: str, message_id: str) -> WelcomeMessage:
    found = repository.message(session, tenant_id, message_id)
    if found is None:
        raise NotFound("no such welcome message", code="welcome_message_not_found")
    return found


def list_messages(session: Session, tenant_id: str) -> list[WelcomeMessage]:
    """Every welcome message, channel first, then staff, then default; newest first within."""
    found = repository.messages(session, tenant_id)
    return sorted(found, key=lambda message: Scope.PRIORITY.get(message.scope, 9))


def channel_message(session: Session, tenant_id: str, state: str) -> WelcomeMessage | None:
    """The newest channel message for a live code's state, active or not."""
    return next(
        (
            message
            for message in repository.messages(session, tenant_id)
            if message.scope == Scope.CHANNEL and message.state == state
        ),
        None,
    )


def create_message(session: Session, actor: Actor, data: MessageInput) -> WelcomeMessage:
    """A new welcome message (validated; 422 names what is wrong)."""
    clean = _validated(session, actor.tenant_id, data)
    now = clock.now()
    message = WelcomeMessage(
        tenant_id=actor.tenant_id,
        name=clean.name,
        scope=clean.scope,
        state=clean.state,
        staff_userids=clean.staff_userids,
        text=clean.text,
        attachments=clean.attachments,
        is_active=clean.is_active,
        created_by=actor.display_name or actor.username,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.flush()
    return message


def update_message(session: Session, actor: Actor, message_id: str, **changes: Any) -> WelcomeMessage:
    """Change some fields of a welcome message; the result is validated as a whole."""
    message = get_message(session, actor.tenant_id, message_id)
    current = MessageInput(
        name=message.name,
        scope=message.scope,
        state=message.state,
        staff_userids=list(message.staff_userids or []),
        text=message.text,
        attachments=list(message.attachments or []),
        is_active=message.is_active,
    )
    for key, value in changes.items():
        if value is not None and hasattr(current, key):
            setattr(current, key, value)
    clean = _validated(session, actor.tenant_id, current)
    message.name = clean.name
    message.scope = clean.scope
    message.state = clean.state
    message.staff_userids = clean.staff_userids
    message.text = clean.text
    message.attachments = clean.attachments
    message.is_active = clean.is_active
    message.updated_at = clock.now()
    session.flush()
    return message


def delete_message(session: Session, actor: Actor, message_id: str) -> None:
    """Delete a welcome message; its past sends stay (with the message id kept for history)."""
    session.delete(get_message(session, actor.tenant_id, message_id))
    session.flush()


def choose(session: Session, tenant_id: str, state: str, staff_userid: str) -> WelcomeMessage | None:
    """The welcome message for a customer added to `staff_userid` through `state`."""
    best: WelcomeMessage | None = None
    for message in repository.messages(session, tenant_id, active_only=True):  # newest first
        if message.scope == Scope.CHANNEL and not (state and message.state == state):
            continue
        if message.scope == Scope.STAFF and staff_userid not in (message.staff_userids or []):
            continue
        if best is None or Scope.PRIORITY[message.scope] < Scope.PRIORITY[best.scope]:
            best = message
    return best


def render_text(text: str, *, customer_name: str, staff_name: str) -> str:
    for variable in CUSTOMER_VARIABLES:
        text = text.replace(variable, customer_name)
    for variable in STAFF_VARIABLES:
        text = text.replace(variable, staff_name)
    return text


def wecom_attachments(
    session: Session, corp: Corp, attachments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Our attachments in send_welcome_msg's shape ({"msgtype": kind, kind: {...}}); a library
    picture becomes a media_id of this corp (uploaded now unless a recent upload is reusable).
    PlatformError when WeCom refuses the upload."""
    found = []
    for attachment in attachments:
        kind = attachment.get("type", "")
        if kind == "image" and attachment.get("image_id"):
            media_id = media.media_id_for(session, corp, attachment["image_id"], media.Purpose.MESSAGE)
            found.append({"msgtype": "image", "image": {"media_id": media_id}})
            continue
        body = {key: value for key, value in attachment.items() if key != "type" and value}
        found.append({"msgtype": kind, kind: body})
    return found


# ── Sending ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class AddCallback:
    """What an add_external_contact / add_half_external_contact callback tells us."""

    corp_id: str
    staff_userid: str
    external_userid: str
    state: str
    welcome_code: str
    received_at: datetime


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def send_welcome(session: Session, tenant_id: str, corp: Corp, callback: AddCallback) -> WelcomeSend:
    """Use the callback's welcome code once: choose, render and send, recording the outcome."""
    existing = repository.send_by_code(session, tenant_id, callback.welcome_code)
    if existing is not None:
        return existing  # a redelivery or a retry: the code has had its one chance
    record = WelcomeSend(
        tenant_id=tenant_id,
        welcome_code=callback.welcome_code,
        corp_id=callback.corp_id,
        external_userid=callback.external_userid,
        staff_userid=callback.staff_userid,
        state=callback.state,
        at=clock.now(),
    )
    message = choose(session, tenant_id, callback.state, callback.staff_userid)
    if message is not None and repository.sent_recently(
        session,
        tenant_id,
        callback.corp_id,
        callback.staff_userid,
        callback.external_userid,
        clock.now() - ONE_WELCOME_WINDOW,
    ):
        record.message_id = message.id
        record.status = SendStatus.SKIPPED
        record.reason = ALREADY_WELCOMED
    elif message is None:
        record.status = SendStatus.SKIPPED
        record.reason = NOTHING_CONFIGURED
    elif clock.now() - _aware(callback.received_at) > WELCOME_CODE_LIFETIME:
        record.message_id = message.id
        record.status = SendStatus.EXPIRED
        record.errcode = errors.INVALID_WELCOME_CODE
        record.reason = EXPIRED_REASON
    else:
        record.message_id = message.id
        _send(session, corp, message, callback, record)
    session.add(record)
    session.flush()
    return record


def _errcode(error: PlatformError) -> int | None:
    try:
        return int(error.code)
    except ValueError:
        return None


def _send(
    session: Session, corp: Corp, message: WelcomeMessage, callback: AddCallback, record: WelcomeSend
) -> None:
    name = ""
    if any(variable in message.text for variable in CUSTOMER_VARIABLES):
        try:
            name = wecom_welcome.customer_name(corp.client, callback.external_userid)
        except PlatformError:
            name = ""  # the code is worth more than the name: send without it
    staff_name = callback.staff_userid
    if any(variable in message.text for variable in STAFF_VARIABLES):
        # Cached per connection and never raising: the userid stands in when WeCom will not say.
        staff_name = wecom_staff.name_of(corp, callback.staff_userid)
    record.text = render_text(message.text, customer_name=name, staff_name=staff_name)
    try:
        attachments = wecom_attachments(session, corp, list(message.attachments or []))
    except NotFound:
        record.status = SendStatus.FAILED
        record.reason = "a picture of the message is no longer in the image library"
        return
    except PlatformError as error:
        record.status = SendStatus.FAILED
        record.errcode = _errcode(error)
        record.reason = f"WeCom refused the picture upload: {error}"[:300]
        return
    try:
        wecom_welcome.send_welcome_msg(corp.client, callback.welcome_code, record.text, attachments)
    except PlatformError as error:
        code = _errcode(error)
        record.status = SendStatus.FAILED
        record.errcode = code
        reason = REASONS.get(code) if code is not None else None
        record.reason = (reason or f"WeCom refused: {error}")[:300]
        return
    record.status = SendStatus.SENT


# ── Statistics ──────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class MessageStats:
    attempts: int  # sends recorded (sent, failed, expired)
    sent: int

    @property
    def success_rate(self) -> float | None:
        return self.sent / self.attempts if self.attempts else None


def stats_since(session: Session, tenant_id: str, days: int = 7) -> dict[str, MessageStats]:
    """Per message: attempts and successful sends over the last `days` days."""
    counts = repository.send_counts(session, tenant_id, clock.now() - timedelta(days=days))
    return {
        message_id: MessageStats(
            attempts=sum(count for status, count in by_status.items() if status != SendStatus.SKIPPED),
            sent=by_status.get(SendStatus.SENT, 0),
        )
        for message_id, by_status in counts.items()
    }


def totals_since(session: Session, tenant_id: str, days: int = 7) -> dict[str, int]:
    return repository.totals(session, tenant_id, clock.now() - timedelta(days=days))


def recent_sends(session: Session, tenant_id: str, limit: int = 50) -> list[WelcomeSend]:
    return repository.recent_sends(session, tenant_id, limit=limit)
