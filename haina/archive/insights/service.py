"""Insights of the archive: frequent customer questions and reply-time QA within the actor's
scope (agents: their own conversations; finance: refused), and the tenant's working hours.
Reading the questions decrypts customer messages, so it is audited like a search."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from haina.archive import service as archive
from haina.archive.insights import quality, questions
from haina.archive.insights.models import ReplySettings
from haina.archive.insights.repository import ReplySettingsRepository, customer_texts
from haina.archive.repository import activity_rows
from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.crypto import cipher_for
from haina.core.errors import InvalidInput
from haina.core.settings import Settings

QUESTION_ROW_LIMIT = 100_000
ACTIVITY_ROW_LIMIT = 500_000
MAX_TARGET_MINUTES = 24 * 60


@dataclass(frozen=True)
class ReplyPolicy:
    hours: quality.WorkingHours
    target_minutes: int


def reply_policy(session: Session, tenant_id: str) -> ReplyPolicy:
    """The tenant's working hours and target (every day 09:00–21:00 Asia/Shanghai, 5 minutes
    unless set)."""
    row = ReplySettingsRepository(session, tenant_id).find()
    if row is None:
        return ReplyPolicy(quality.WorkingHours(), quality.DEFAULT_TARGET_MINUTES)
    days = tuple(tuple(window) if window else None for window in row.hours)
    return ReplyPolicy(quality.WorkingHours(days, row.timezone), row.target_minutes)  # type: ignore[arg-type]


def _invalid(message: str, field: str, zh: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_input", field=field, zh=zh)


def set_reply_policy(
    session: Session,
    actor: Actor,
    days: list[tuple[int, int] | None],
    target_minutes: int,
    timezone: str = quality.DEFAULT_TIMEZONE,
) -> ReplyPolicy:
    """Save working hours (7 windows of minutes, Monday first; None = day off) and the target."""
    if not (1 <= target_minutes <= MAX_TARGET_MINUTES):
        raise _invalid(
            "target_minutes must be 1 to 1440", "target_minutes", "目标回复时长须在 1 到 1440 分钟之间"
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(f"unknown time zone {timezone!r}", "timezone", f"未知的时区 {timezone}")
    try:
        hours = quality.WorkingHours(tuple(days), timezone)
    except ValueError as error:
        raise _invalid(str(error), "days", "每天的工作时间须为 开始 < 结束（00:00–24:00），共 7 天")
    repository = ReplySettingsRepository(session, actor.tenant_id)
    row = repository.find()
    stored = [list(window) if window else None for window in hours.days]
    if row is None:
        row = repository.add(ReplySettings(timezone=timezone, hours=stored, target_minutes=target_minutes))
    row.timezone, row.hours, row.target_minutes, row.updated_at = (
        timezone,
        stored,
        target_minutes,
        clock.now(),
    )
    session.flush()
    audit.record(
        session,
        "archive.reply_hours_set",
        actor=actor,
        target_type="archive_reply_settings",
        target_id=actor.tenant_id,
        detail={"timezone": timezone, "hours": stored, "target_minutes": target_minutes},
    )
    return ReplyPolicy(hours, target_minutes)


def frequent_questions(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    limit: int = 20,
) -> list[questions.Cluster]:
    """The customers' most frequent questions in the window, clustered, within the actor's
    scope (the newest 100k customer text messages at most). Audited: it reads message text."""
    scope = archive.staff_scope(session, actor)
    rows = customer_texts(session, actor.tenant_id, scope, since, until, QUESTION_ROW_LIMIT)
    cipher = cipher_for(settings.encryption_keys)
    asked = []
    for message_id, conversation_id, sender, sent_at, encrypted in rows:
        if not encrypted:
            continue
        content = json.loads(cipher.decrypt(encrypted, context=archive.CONTENT_CONTEXT))
        body = archive.searchable_text(content) if isinstance(content, dict) else ""
        if body:
            asked.append(questions.Question(message_id, conversation_id, sender, body, sent_at))
    clusters = questions.cluster_questions(asked, limit=limit)
    audit.record(
        session,
        "archive.questions_read",
        actor=actor,
        target_type="archive",
        detail={"since": since.isoformat(), "until": until.isoformat(), "messages": len(rows)},
    )
    return clusters


def reply_quality(
    session: Session,
    actor: Actor,
    *,
    since: datetime,
    until: datetime,
    target_minutes: int | None = None,
) -> quality.Quality:
    """Per staff member: replies, median working-minutes waited, share within the target,
    breaches; the worst breaches. Metadata only (nothing decrypted), within the actor's scope."""
    scope = archive.staff_scope(session, actor)
    policy = reply_policy(session, actor.tenant_id)
    target = target_minutes if target_minutes is not None else policy.target_minutes
    rows = activity_rows(session, actor.tenant_id, scope, since, until, ACTIVITY_ROW_LIMIT)
    return quality.summarise(quality.waits(rows, policy.hours, until), target)
