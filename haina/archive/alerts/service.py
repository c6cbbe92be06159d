"""Keyword alert notifications: each `archive.keyword_matched` alert becomes a WeCom application
message to the right members, with the message in context and a console link.

Who is told: for a watched word (投诉, 退款 …) the conversation's own member and the supervisors;
for a phone number sent by staff (phone_leak) the supervisors only, never the member; plus the
rule's extra recipients. A burst is quiet: at most one message per (conversation, rule) per
DEDUPE_WINDOW; hits inside it are recorded as deduplicated and counted in the next message.

Every outcome is recorded on the notification row (visible in the console), never raised: a
missing agentid or connection, an error WeCom gives (final), or one it may get over (busy,
throttled, unreachable: the row waits and a periodic job sends it again after RETRY_DELAYS, then
it is failed). A re-delivered event sends nothing twice (one row per alert).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.archive import service as archive
from haina.archive.alerts import repository
from haina.archive.alerts.models import ArchiveAlertNotification, ArchiveAlertSettings, NotificationStatus
from haina.archive.models import ArchiveConversation, ArchiveMessage, KeywordAlert, KeywordRule
from haina.connections import wecom_corps, wecom_staff
from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.errors import InvalidInput
from haina.core.settings import Settings
from haina.platforms.http import CircuitOpen, PlatformError
from haina.platforms.wecom import app_messages

logger = logging.getLogger(__name__)

DEDUPE_WINDOW = timedelta(minutes=10)
# When a notification WeCom could not take is sent again: after 30 s, 2, 10 and 30 minutes.
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))
MAX_RECIPIENTS = 50
CONTEXT_MESSAGES = 2
LINE_CHARS = 120
MAX_TEXT_BYTES = 2000  # WeCom takes 2048 bytes of text content


class Reason:
    DISABLED = "disabled"
    NO_RECIPIENTS = "no_recipients"
    NO_AGENTID = "no_agentid"
    NO_WECOM = "wecom_not_connected"
    DEDUPLICATED = "deduplicated"
    WECOM_ERROR = "wecom_error"
    ALL_INVALID = "all_recipients_invalid"


@dataclass
class SettingsView:
    is_enabled: bool = True
    agentid: int | None = None
    supervisor_userids: list[str] = field(default_factory=list)
    notify_member: bool = True
    rule_recipients: dict[str, list[str]] = field(default_factory=dict)
    # The agentid actually used: ours, else the loss-alert settings' one.
    effective_agentid: int | None = None


def _loss_agentid(session: Session, tenant_id: str) -> int | None:
    from haina.engage.losses import service as losses

    return losses.get_settings(session, tenant_id).agentid


def get_settings(session: Session, tenant_id: str) -> SettingsView:
    """The tenant's settings (defaults when never saved)."""
    row = repository.get_settings(session, tenant_id)
    view = SettingsView()
    if row is not None:
        view = SettingsView(
            is_enabled=row.is_enabled,
            agentid=row.agentid,
            supervisor_userids=list(row.supervisor_userids or []),
            notify_member=row.notify_member,
            rule_recipients={key: list(value) for key, value in (row.rule_recipients or {}).items()},
        )
    view.effective_agentid = view.agentid if view.agentid is not None else _loss_agentid(session, tenant_id)
    return view


def _userids(values: list[str], what: str) -> list[str]:
    userids = list(dict.fromkeys(value.strip() for value in values if value and value.strip()))
    if len(userids) > MAX_RECIPIENTS:
        raise InvalidInput(
            f"at most {MAX_RECIPIENTS} {what}",
            code="too_many_recipients",
            zh=f"最多 {MAX_RECIPIENTS} 个接收成员",
        )
    for userid in userids:
        if len(userid) > 64 or "|" in userid:
            raise InvalidInput(
                f"not a member userid: {userid[:70]}",
                code="invalid_userid",
                zh=f"成员账号无效：{userid[:70]}",
            )
    return userids


def save_settings(
    session: Session,
    tenant_id: str,
    *,
    is_enabled: bool,
    agentid: int | None,
    supervisor_userids: list[str],
    notify_member: bool,
    rule_recipients: dict[str, list[str]] | None = None,
    actor: Actor | None = None,
) -> SettingsView:
    """Who is told about keyword alerts, and from which WeCom application (audited with `actor`)."""
    if agentid is not None and not app_messages.is_agentid(agentid):
        raise InvalidInput(
            "the agentid is a positive number",
            code="invalid_agentid",
            zh="应用 AgentId 应为正整数（企业微信管理后台 → 应用管理）",
        )
    supervisors = _userids(supervisor_userids, "supervisors")
    extras: dict[str, list[str]] = {}
    if rule_recipients:
        known = {rule.id for rule in archive.list_rules(session, tenant_id)}
        for rule_id, userids in rule_recipients.items():
            if rule_id not in known:
                raise InvalidInput(
                    f"unknown keyword rule {rule_id[:40]}",
                    code="unknown_rule",
                    zh=f"关键词规则不存在：{rule_id[:40]}",
                )
            cleaned = _userids(userids, "recipients of a rule")
            if cleaned:
                extras[rule_id] = cleaned
    row = repository.get_settings(session, tenant_id)
    if row is None:
        row = ArchiveAlertSettings(tenant_id=tenant_id)
        session.add(row)
    row.is_enabled = is_enabled
    row.agentid = agentid
    row.supervisor_userids = supervisors
    row.notify_member = notify_member
    row.rule_recipients = extras
    row.updated_at = clock.now()
    session.flush()
    if actor is not None:
        audit.record(
            session,
            "archive.alert_settings_saved",
            actor=actor,
            target_type="archive_alert_settings",
            target_id=tenant_id,
            detail={"is_enabled": is_enabled, "agentid": agentid, "supervisors": len(supervisors)},
        )
    return get_settings(session, tenant_id)


def recipients(settings: SettingsView, rule_kind: str, rule_id: str, member_userid: str) -> list[str]:
    """A watched word: the member (when switched on) and the supervisors; a phone number sent
    by staff: the supervisors only. Then the rule's extra recipients."""
    userids: list[str] = []
    if rule_kind != "phone_leak" and settings.notify_member and member_userid:
        userids.append(member_userid)
    userids += settings.supervisor_userids
    userids += settings.rule_recipients.get(rule_id, [])
    if rule_kind == "phone_leak":
        userids = [userid for userid in userids if userid != member_userid]
    return list(dict.fromkeys(userid for userid in userids if userid))


# ── the message ──────────────────────────────────────────────────────────────────────────


def _clip(text: str, limit: int = LINE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body(row: ArchiveMessage, settings: Settings) -> str:
    if row.is_revoked:
        return "[已撤回]"
    try:
        content = archive.decrypt_content(row, settings)
    except Exception:  # noqa: BLE001 - a message we cannot open is shown as such, the alert still goes
        logger.warning("archived message %s could not be decrypted for an alert", row.id)
        return "[无法解密]"
    text = archive.searchable_text(content)
    return _clip(text) if text else f"[{row.msgtype or '消息'}]"


@dataclass
class Context:
    conversation: ArchiveConversation | None
    message: ArchiveMessage | None
    before: list[ArchiveMessage]
    customer_name: str


def _context(session: Session, tenant_id: str, alert: KeywordAlert) -> Context:
    from haina.archive.repository import MessageRepository

    conversation = session.get(ArchiveConversation, alert.conversation_id) if alert.conversation_id else None
    if conversation is not None and conversation.tenant_id != tenant_id:
        conversation = None
    message = session.get(ArchiveMessage, alert.message_id)
    if message is not None and message.tenant_id != tenant_id:
        message = None
    before: list[ArchiveMessage] = []
    if conversation is not None and message is not None:
        before = MessageRepository(session, tenant_id).of_conversation(
            conversation.id, CONTEXT_MESSAGES, before_id=message.id
        )
    customer_name = ""
    if conversation is not None and archive.is_external(conversation.peer_userid):
        from haina.customers.identity import service as identity

        contact = identity.unresolved_contact(session, tenant_id, conversation.peer_userid)
        customer_name = contact.name if contact is not None and contact.name else ""
    return Context(conversation, message, before, customer_name)


def _speaker(row: ArchiveMessage, context: Context, member_names: dict[str, str]) -> str:
    if row.is_from_staff:
        return wecom_staff.label_from(member_names, row.sender)
    if context.conversation is not None and row.sender == context.conversation.peer_userid:
        return f"客户「{context.customer_name}」" if context.customer_name else "客户"
    return row.sender or "?"


def message_text(
    alert: KeywordAlert,
    rule_kind: str,
    context: Context,
    member_names: dict[str, str],
    settings: Settings,
    earlier_hits: int,
) -> str:
    """The app message: what matched, who said it, when (Shanghai), the lines before it, the link."""
    staff = wecom_staff.label_from(member_names, alert.staff_userid) if alert.staff_userid else "—"
    if rule_kind == "phone_leak":
        to = f"向客户「{context.customer_name}」" if context.customer_name else "在会话中"
        title = f"【敏感信息提醒】成员 {staff} {to}发送了手机号"
    else:
        who = f"客户「{context.customer_name}」" if context.customer_name else "会话"
        title = f"【会话关键词提醒】{who}提到「{alert.phrase}」（成员 {staff}）"
    lines = [title]
    if context.message is not None:
        when = context.message.sent_at.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
        lines.append(f"时间：{when}")
        if context.before:
            lines.append("上文：")
            for row in context.before:
                lines.append(f"  {_speaker(row, context, member_names)}：{_body(row, settings)}")
        lines.append(
            f"▶ {_speaker(context.message, context, member_names)}：{_body(context.message, settings)}"
        )
    if earlier_hits:
        lines.append(
            f"此前 {int(DEDUPE_WINDOW.total_seconds() // 60)} 分钟内另有 {earlier_hits} 次命中未单独提醒。"
        )
    link = f"{settings.base_url.rstrip('/')}/archive/conversations/{alert.conversation_id}"
    text = "\n".join(lines)
    tail = f"\n查看会话：{link}"
    room = MAX_TEXT_BYTES - len(tail.encode())
    encoded = text.encode()
    if len(encoded) > room:
        text = encoded[: room - 3].decode(errors="ignore") + "…"
    return text + tail


# ── the handler ──────────────────────────────────────────────────────────────────────────


def notify(
    session: Session, tenant_id: str, payload: dict[str, Any], settings: Settings
) -> ArchiveAlertNotification | None:
    """The handler of archive.keyword_matched: one notification row per alert (idempotent)."""
    alert_id = str(payload.get("alert_id") or "")
    if not alert_id:
        return None
    alert = session.get(KeywordAlert, alert_id)
    if alert is None or alert.tenant_id != tenant_id:
        return None  # the alert was purged meanwhile (retention)
    # Held to the end of the transaction: two workers with hits of one rule take turns, so the
    # quiet window is decided on what the other one sent, and a delivery run twice at once
    # sends once (PostgreSQL; SQLite writes one transaction at a time anyway).
    rule = session.scalar(select(KeywordRule).where(KeywordRule.id == alert.rule_id).with_for_update())
    if repository.notification_of(session, tenant_id, alert_id) is not None:
        return None  # a re-delivered event: already handled
    rule_kind = rule.kind if rule is not None else "word"
    now = clock.now()
    row = ArchiveAlertNotification(
        tenant_id=tenant_id,
        alert_id=alert.id,
        rule_id=alert.rule_id,
        conversation_id=alert.conversation_id,
        staff_userid=alert.staff_userid,
        phrase=alert.phrase,
        status=NotificationStatus.SKIPPED,
        userids=[],
        invalid_userids=[],
        hit_count=1,
        created_at=now,
    )
    session.add(row)
    _deliver(session, tenant_id, alert, rule_kind, row, settings, now)
    session.flush()
    return row


def _deliver(
    session: Session,
    tenant_id: str,
    alert: KeywordAlert,
    rule_kind: str,
    row: ArchiveAlertNotification,
    settings: Settings,
    now: datetime,
) -> None:
    options = get_settings(session, tenant_id)
    if not options.is_enabled:
        row.reason = Reason.DISABLED
        return
    userids = recipients(options, rule_kind, alert.rule_id, alert.staff_userid)
    if not userids:
        row.reason = Reason.NO_RECIPIENTS
        return
    previous = repository.last_sent(session, tenant_id, alert.conversation_id, alert.rule_id)
    if (
        previous is not None and previous.sent_at is not None and now - previous.sent_at < DEDUPE_WINDOW
    ) or repository.retrying(session, tenant_id, alert.conversation_id, alert.rule_id):
        # A message went out (or one is waiting for WeCom): this hit goes into the next one.
        row.status = NotificationStatus.DEDUPLICATED
        row.reason = Reason.DEDUPLICATED
        return
    row.hit_count = 1 + repository.deduplicated_since(
        session, tenant_id, alert.conversation_id, alert.rule_id, previous.sent_at if previous else None
    )
    _send(session, tenant_id, alert, rule_kind, row, settings, options, userids, now)


def _send(
    session: Session,
    tenant_id: str,
    alert: KeywordAlert,
    rule_kind: str,
    row: ArchiveAlertNotification,
    settings: Settings,
    options: SettingsView,
    userids: list[str],
    now: datetime,
) -> None:
    """One call to WeCom for `row`; a failure WeCom may get over (busy, throttled, unreachable)
    leaves the row RETRYING until RETRY_DELAYS are used up."""
    row.next_attempt_at = None
    if options.effective_agentid is None:
        row.status, row.reason = NotificationStatus.SKIPPED, Reason.NO_AGENTID
        return
    corps = wecom_corps.corps_of(session, tenant_id)
    message = session.get(ArchiveMessage, alert.message_id)
    corp_id = message.corp_id if message is not None else ""
    corp = next((corp for corp in corps if corp.corp_id == corp_id), corps[0] if corps else None)
    if corp is None:
        row.status, row.reason = NotificationStatus.SKIPPED, Reason.NO_WECOM
        return
    context = _context(session, tenant_id, alert)
    member_names = wecom_staff.names(corp)
    text = message_text(alert, rule_kind, context, member_names, settings, row.hit_count - 1)
    row.attempts += 1
    try:
        result = app_messages.send_text(corp.client, options.effective_agentid, userids, text)
    except PlatformError as error:
        logger.warning("keyword alert %s not sent (attempt %s): %s", alert.id, row.attempts, error)
        row.error_code = error.code[:32]
        row.reason = f"{Reason.WECOM_ERROR}: {error.message}"[:200]
        row.userids = userids
        # An open circuit breaker is WeCom's trouble seen earlier: it closes again.
        if (error.retryable or isinstance(error, CircuitOpen)) and row.attempts <= len(RETRY_DELAYS):
            row.status = NotificationStatus.RETRYING
            row.next_attempt_at = now + RETRY_DELAYS[row.attempts - 1]
        else:
            row.status = NotificationStatus.FAILED
        return
    delivered = [userid for userid in userids if userid not in result.invalid_users]
    row.invalid_userids = [userid for userid in userids if userid in result.invalid_users]
    row.userids = delivered
    row.error_code = ""
    if not delivered:
        row.status, row.reason = NotificationStatus.FAILED, Reason.ALL_INVALID
        return
    row.status, row.reason = NotificationStatus.SENT, ""
    row.sent_at = now


def resend_due(session: Session, tenant_id: str, settings: Settings, *, limit: int = 50) -> int:
    """Send again the tenant's RETRYING notifications whose time has come (the periodic job);
    how many were tried. Recipients and settings are read again: a fixed AgentId counts."""
    now = clock.now()
    tried = 0
    for row in repository.due_retries(session, tenant_id, now, limit):
        alert = session.get(KeywordAlert, row.alert_id)
        if alert is None or alert.tenant_id != tenant_id:
            continue  # purged with its message meanwhile (the row goes with it)
        rule = session.get(KeywordRule, alert.rule_id)
        rule_kind = rule.kind if rule is not None else "word"
        options = get_settings(session, tenant_id)
        userids = recipients(options, rule_kind, alert.rule_id, alert.staff_userid)
        if not options.is_enabled or not userids:
            row.status = NotificationStatus.SKIPPED
            row.reason = Reason.DISABLED if not options.is_enabled else Reason.NO_RECIPIENTS
            row.next_attempt_at = None
            continue
        _send(session, tenant_id, alert, rule_kind, row, settings, options, userids, now)
        tried += 1
    session.flush()
    return tried


# ── reading ──────────────────────────────────────────────────────────────────────────────


def list_notifications(
    session: Session, actor: Actor, *, limit: int = 50, offset: int = 0
) -> list[ArchiveAlertNotification]:
    """Notification rows, newest first, within the actor's chat scope."""
    scope = archive.staff_scope(session, actor)
    return repository.list_notifications(session, actor.tenant_id, scope, limit=limit, offset=offset)


@dataclass
class AlertRow:
    alert: KeywordAlert
    notification: ArchiveAlertNotification | None


def recent_alerts(session: Session, actor: Actor, limit: int = 100) -> list[AlertRow]:
    """The actor's visible keyword alerts with how each was notified."""
    alerts = archive.list_alerts(session, actor, limit)
    found = repository.by_alert_ids(session, actor.tenant_id, [alert.id for alert in alerts])
    return [AlertRow(alert, found.get(alert.id)) for alert in alerts]
