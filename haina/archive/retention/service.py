"""Retention rules: a tenant keeps its archived messages N days (30..3650) or forever (no
policy), optionally the media of messages a shorter M days. A purge deletes the messages older
than the cutoff in chunks — their search tokens, their keyword alerts, their media (through the
media module), then the conversations left empty — records an ArchivePurge row and writes an
audit entry. Purging twice at the same time deletes nothing the second time. Services flush;
the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from haina.archive.media import service as media
from haina.archive.retention.models import MAX_DAYS, MIN_DAYS, ArchivePurge, RetentionPolicy
from haina.archive.retention.repository import ArchiveRows, PolicyRepository, PurgeRepository
from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.errors import InvalidInput

CHUNK = 1000
SYSTEM = "system"


@dataclass(frozen=True)
class Policy:
    keep_days: int | None = None  # None: keep forever
    media_keep_days: int | None = None  # None: the media go with their messages

    @property
    def is_forever(self) -> bool:
        return self.keep_days is None and self.media_keep_days is None

    def cutoff(self, now: datetime) -> datetime | None:
        return now - timedelta(days=self.keep_days) if self.keep_days is not None else None

    def media_cutoff(self, now: datetime) -> datetime | None:
        return now - timedelta(days=self.media_keep_days) if self.media_keep_days is not None else None

    def as_dict(self) -> dict[str, int | None]:
        return {"keep_days": self.keep_days, "media_keep_days": self.media_keep_days}


def check_policy(keep_days: int | None, media_keep_days: int | None) -> Policy:
    """The policy if valid; InvalidInput naming the field to fix otherwise."""
    for name, value in (("keep_days", keep_days), ("media_keep_days", media_keep_days)):
        if value is not None and not (MIN_DAYS <= value <= MAX_DAYS):
            raise InvalidInput(
                f"{name} must be between {MIN_DAYS} and {MAX_DAYS} days, or empty to keep forever",
                code="invalid_input",
                field=name,
                zh=f"保留天数须在 {MIN_DAYS} 到 {MAX_DAYS} 天之间，留空表示永久保留",
            )
    if keep_days is not None and media_keep_days is not None and media_keep_days > keep_days:
        raise InvalidInput(
            "media_keep_days cannot be longer than keep_days (media go with their messages)",
            code="invalid_input",
            field="media_keep_days",
            zh="媒体文件保留天数不能长于消息保留天数",
        )
    return Policy(keep_days, media_keep_days)


def get_policy(session: Session, tenant_id: str) -> Policy:
    row = PolicyRepository(session, tenant_id).find()
    return Policy(row.keep_days, row.media_keep_days) if row is not None else Policy()


def is_shorter(new: Policy, old: Policy) -> bool:
    """Whether saving `new` would delete something `old` keeps (the console asks to confirm)."""

    def shorter(a: int | None, b: int | None) -> bool:
        return a is not None and (b is None or a < b)

    new_media = new.media_keep_days if new.media_keep_days is not None else new.keep_days
    old_media = old.media_keep_days if old.media_keep_days is not None else old.keep_days
    return shorter(new.keep_days, old.keep_days) or shorter(new_media, old_media)


def set_policy(session: Session, actor: Actor, keep_days: int | None, media_keep_days: int | None) -> Policy:
    """Save the tenant's policy (None, None = keep forever). Audited; deletes nothing by itself."""
    policy = check_policy(keep_days, media_keep_days)
    repository = PolicyRepository(session, actor.tenant_id)
    row = repository.find(lock=True)
    before = Policy(row.keep_days, row.media_keep_days) if row is not None else Policy()
    if row is None:
        row = repository.add(RetentionPolicy(keep_days=keep_days, media_keep_days=media_keep_days))
    row.keep_days, row.media_keep_days = keep_days, media_keep_days
    row.updated_by = actor.username
    row.updated_at = clock.now()
    session.flush()
    audit.record(
        session,
        "archive.retention_set",
        actor=actor,
        target_type="archive_retention",
        target_id=actor.tenant_id,
        detail={"before": before.as_dict(), "after": policy.as_dict()},
    )
    return policy


@dataclass(frozen=True)
class Preview:
    policy: Policy
    cutoff: datetime | None
    messages: int  # messages a purge now would delete
    conversations: int  # conversations it would leave empty (and delete)
    media_messages: int  # media messages whose files it would forget (kept messages only)
    oldest: datetime | None  # the tenant's oldest archived message


def preview(session: Session, tenant_id: str, now: datetime, policy: Policy | None = None) -> Preview:
    """What a purge at `now` under `policy` (the saved one by default) would delete."""
    policy = policy if policy is not None else get_policy(session, tenant_id)
    rows = ArchiveRows(session, tenant_id)
    cutoff = policy.cutoff(now)
    messages = rows.count_older(cutoff) if cutoff is not None else 0
    conversations = rows.count_emptied_conversations(cutoff) if cutoff is not None else 0
    media_messages = 0
    media_cutoff = policy.media_cutoff(now)
    if media_cutoff is not None and (cutoff is None or media_cutoff > cutoff):
        media_messages = rows.count_media(_media_since(session, tenant_id, cutoff), media_cutoff)
    return Preview(policy, cutoff, messages, conversations, media_messages, rows.oldest())


def _media_since(session: Session, tenant_id: str, cutoff: datetime | None) -> datetime | None:
    """Media before the last purge's media cutoff are forgotten already: start from there."""
    last = PurgeRepository(session, tenant_id).last_media_cutoff()
    candidates = [value for value in (last, cutoff) if value is not None]
    return max(candidates) if candidates else None


def purge(
    session: Session,
    tenant_id: str,
    now: datetime,
    *,
    actor: Actor | None = None,
    chunk: int = CHUNK,
) -> ArchivePurge:
    """Apply the saved policy at `now`: delete the messages older than its cutoff (and their
    tokens, alerts, media and emptied conversations) chunk by chunk, forget the media older
    than the media cutoff; record and audit the run. `actor` None = the daily job ("system")."""
    policy_row = PolicyRepository(session, tenant_id).find(lock=True)  # one purge per tenant at a time
    policy = Policy(policy_row.keep_days, policy_row.media_keep_days) if policy_row else Policy()
    if policy.is_forever:
        raise InvalidInput(
            "this tenant keeps its archive forever: set a retention policy first",
            code="invalid_input",
            zh="当前为永久保留，请先设置留存策略",
        )
    cutoff = policy.cutoff(now)
    media_cutoff = policy.media_cutoff(now)
    media_since = _media_since(session, tenant_id, cutoff)
    record = PurgeRepository(session, tenant_id).add(
        ArchivePurge(
            started_at=clock.now(),
            by=actor.username if actor is not None else SYSTEM,
            keep_days=policy.keep_days,
            media_keep_days=policy.media_keep_days,
            # A media-only policy deletes no message: its cutoff is the epoch start.
            cutoff=cutoff if cutoff is not None else datetime.fromtimestamp(0, tz=now.tzinfo),
            media_cutoff=media_cutoff,
            messages=0,
            conversations=0,
            tokens=0,
            alerts=0,
            media_messages=0,
        )
    )
    rows = ArchiveRows(session, tenant_id)
    touched: set[str] = set()
    if cutoff is not None:
        while True:
            found = rows.older_chunk(cutoff, chunk)
            if not found:
                break
            ids = [message_id for message_id, _ in found]
            touched.update(conversation_id for _, conversation_id in found if conversation_id)
            media.forget_messages(session, tenant_id, ids)
            record.tokens += rows.delete_tokens(ids)
            record.alerts += rows.delete_alerts(ids)
            record.messages += rows.delete_messages(ids)
            session.flush()
        record.conversations = rows.recount_conversations(sorted(touched))
    if media_cutoff is not None and (cutoff is None or media_cutoff > cutoff):
        after = 0
        while True:
            ids = rows.media_ids(media_since, media_cutoff, after, chunk)
            if not ids:
                break
            after = ids[-1]
            media.forget_messages(session, tenant_id, ids)
            record.media_messages += len(ids)
    record.finished_at = clock.now()
    session.flush()
    audit.record(
        session,
        "archive.purged",
        actor=actor,
        tenant_id=tenant_id,
        target_type="archive_purge",
        target_id=record.id,
        detail={
            "by": record.by,
            "policy": policy.as_dict(),
            "cutoff": cutoff.isoformat() if cutoff is not None else None,
            "media_cutoff": media_cutoff.isoformat() if media_cutoff is not None else None,
            "messages": record.messages,
            "conversations": record.conversations,
            "tokens": record.tokens,
            "alerts": record.alerts,
            "media_messages": record.media_messages,
        },
    )
    return record


def history(session: Session, tenant_id: str, limit: int = 50) -> list[ArchivePurge]:
    return PurgeRepository(session, tenant_id).history(limit)
