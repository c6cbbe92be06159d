"""The WeCom mirror of tags, both ways (企业客户标签 ⇄ Haina tags).

Out (Haina → WeCom), from outbox events, after the change commits:

* `tag.added` / `tag.removed` (changes.py, payload {customer_id, tag_id, tag_name, source,
  reason}, or customer_ids when many changed at once): every active WeCom follow relation of each
  customer named gets the tag marked or unmarked with `mark_tag`. What is pushed is the
  customer's *current* state of each named tag, not the event's direction, so deliveries may
  run in any order and twice. A batch merges everything due into one mark_tag call per
  (connection, member, contact).
* Definitions, emitted by the tags service (service.py) in the transaction of the change:

  - TAG_DEFINED `"tag.defined"` {tag_id}: a tag was created or renamed → add_corp_tag (into a
    corp group named like its Haina group, created or reused) or edit_corp_tag.
  - TAG_DELETED `"tag.deleted"` {tag_id}: a tag was deleted → del_corp_tag.
  - TAG_GROUP_DEFINED `"tag_group.defined"` {group_id}: a group was renamed → edit_corp_tag of
    the corp group.
  - TAG_GROUP_DELETED `"tag_group.deleted"` {group_id}: a group was deleted → del_corp_tag of
    the corp group (WeCom deletes its tags with it).

  A tag pushed before it was ever defined is mirrored on first use, so these are not required
  for marking to work; they keep names and deletions in step.

Each Haina tag has at most one twin per WeCom connection (models.TagMirror). A mark that WeCom
refuses with 40068 (the corp tag was deleted there) drops the twins it names, mirrors them again
and retries once; other platform errors raise, so the delivery retries with backoff and then
dead-letters with the reason. A relation that has ended (84061) or a contact WeCom no longer
knows (40096) is skipped.

In (WeCom → Haina), from the connection's callbacks (a second handler on
`wecom.payload_received`, next to the ingest spine's):

* `change_external_tag`: get_corp_tag_list, then Haina groups and (manual) tags are created,
  renamed or deleted to match, with their TagMirror rows (`refresh_definitions`).
* `change_external_contact` add/edit: the callback says only who; the contact is read with
  externalcontact/get and stored (customers.store_records), and the difference between the corp
  tags WeCom held before on each member's relation and now is what the member did: tags added
  there are added in Haina (source `wecom`, reason the member's userid), tags removed there are
  removed (never a rule tag: its rule owns it). Our own marks come back as no difference or as
  a change Haina already has, so reflecting them does nothing (and real WeCom sends no callback
  for API changes at all).
* `customer.resolved` (after a contact is stored and resolved, e.g. by a crawl): corp tags on the
  customer's relations that Haina has never decided about are adopted (added with source
  `wecom`); a tag Haina removed last is left to the pending unmark.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from haina.connections import service as connections
from haina.connections.wecom_corps import Corp, corp_by_connection, corps_of
from haina.core import clock
from haina.core.events import inbox
from haina.core.events.models import OutboxEvent
from haina.core.events.registry import Registry
from haina.core.events.registry import registry as default_registry
from haina.customers import service as customers
from haina.customers.models import record_id
from haina.platforms.http import PlatformError
from haina.platforms.reading import RecordError
from haina.platforms.wecom import errors, webhooks
from haina.platforms.wecom.crypto import WeComCryptoError, xml_fields
from haina.platforms.wecom.mapping import CorpTag, map_contact, map_tag_groups
from haina.tags import changes
from haina.tags.changes import TAG_ADDED, TAG_REMOVED, Change
from haina.tags.models import CustomerTag, Tag, TagChange, TagGroup, TagKind, TagMirror, TagSource

logger = logging.getLogger(__name__)

PLATFORM = "wecom"
TAG_DEFINED = "tag.defined"  # {tag_id}: created or renamed in Haina
TAG_DELETED = "tag.deleted"  # {tag_id}
TAG_GROUP_DEFINED = "tag_group.defined"  # {group_id}: renamed in Haina
TAG_GROUP_DELETED = "tag_group.deleted"  # {group_id}
CUSTOMER_RESOLVED = "customer.resolved"
CALLBACK_EVENT = inbox.received_event_type(PLATFORM)
CONTACT_CHANGES_READ = frozenset({"add_external_contact", "edit_external_contact"})
# Errors of one relation that retrying cannot fix: the relation ended, or the contact is gone.
RELATION_GONE = frozenset(
    {errors.NOT_EXTERNAL_CONTACT, errors.INVALID_EXTERNAL_USERID, errors.USERID_NOT_FOUND}
)
NAME_LIMIT = 30


def _code(error: PlatformError) -> int | None:
    try:
        return int(error.code)
    except (TypeError, ValueError):
        return None


# ── Mirrors ──────────────────────────────────────────────────────────────────────────────────


def _mirrors(
    session: Session, tenant_id: str, connection_id: str, tag_ids: Iterable[str]
) -> dict[str, TagMirror]:
    wanted = sorted(set(tag_ids))
    if not wanted:
        return {}
    rows = session.scalars(
        select(TagMirror).where(
            TagMirror.tenant_id == tenant_id,
            TagMirror.connection_id == connection_id,
            TagMirror.tag_id.in_(wanted),
        )
    )
    return {row.tag_id: row for row in rows}


def _tags(session: Session, tenant_id: str, tag_ids: Iterable[str]) -> dict[str, Tag]:
    wanted = sorted(set(tag_ids))
    if not wanted:
        return {}
    rows = session.scalars(select(Tag).where(Tag.tenant_id == tenant_id, Tag.id.in_(wanted)))
    return {row.id: row for row in rows}


def _group(session: Session, tenant_id: str, group_id: str) -> TagGroup | None:
    return session.scalars(
        select(TagGroup).where(TagGroup.tenant_id == tenant_id, TagGroup.id == group_id)
    ).one_or_none()


def _find_corp_tag(corp: Corp, group_name: str, name: str) -> CorpTag | None:
    tags, _ = map_tag_groups(corp.client.corp_tags(), corp.corp_id)
    for tag in tags:
        if tag.group_name == group_name and tag.name == name and not tag.is_deleted:
            return tag
    return None


def ensure_mirror(session: Session, tenant_id: str, corp: Corp, tag: Tag) -> TagMirror:
    """The tag's twin among the corp's tags: created with add_corp_tag, in a corp group named like
    its Haina group, when it has none."""
    held = _mirrors(session, tenant_id, corp.connection.id, [tag.id]).get(tag.id)
    if held is not None:
        return held
    group = _group(session, tenant_id, tag.group_id)
    group_name = (group.name if group is not None else "Haina")[:NAME_LIMIT]
    # A sibling already mirrored tells the corp group's id.
    sibling = session.scalars(
        select(TagMirror)
        .join(Tag, (Tag.tenant_id == TagMirror.tenant_id) & (Tag.id == TagMirror.tag_id))
        .where(
            TagMirror.tenant_id == tenant_id,
            TagMirror.connection_id == corp.connection.id,
            Tag.group_id == tag.group_id,
            TagMirror.wecom_group_id != "",
        )
        .limit(1)
    ).one_or_none()
    wecom_tag_id = wecom_group_id = ""
    try:
        answer = _add_corp_tag(corp, tag.name, group_name, sibling.wecom_group_id if sibling else "")
        wecom_group_id = str(answer.get("group_id") or "")
        for created in answer.get("tag") or []:
            if isinstance(created, dict) and created.get("name") == tag.name:
                wecom_tag_id = str(created.get("id") or "")
    except PlatformError as error:
        if _code(error) != errors.INVALID_TAG_NAME:
            raise
        # The corp has a tag of that name in that group already (made in WeCom, or by an earlier
        # attempt whose transaction did not commit): take it as the twin.
        found = _find_corp_tag(corp, group_name, tag.name)
        if found is None:
            raise
        wecom_tag_id, wecom_group_id = found.tag_id, found.group_id
    if not wecom_tag_id:
        raise PlatformError("unexpected_answer", f"add_corp_tag did not answer the id of {tag.name!r}")
    # A stale twin of another tag with this corp id (deleted and re-made) gives way.
    session.execute(
        delete(TagMirror).where(
            TagMirror.tenant_id == tenant_id,
            TagMirror.connection_id == corp.connection.id,
            TagMirror.wecom_tag_id == wecom_tag_id,
        )
    )
    mirror = TagMirror(
        tenant_id=tenant_id,
        connection_id=corp.connection.id,
        tag_id=tag.id,
        corp_id=corp.corp_id,
        wecom_tag_id=wecom_tag_id,
        wecom_group_id=wecom_group_id,
        synced_at=clock.now(),
    )
    session.add(mirror)
    session.flush()
    return mirror


def corp_tag_ids(session: Session, tenant_id: str, corp: Corp, tag_ids: Iterable[str]) -> dict[str, str]:
    """Haina tag id → the corp tag id of its twin in `corp`, mirroring (add_corp_tag) the tags
    that have none yet; deleted and unknown tags are left out (moment targeting, engage)."""
    wanted = sorted(set(tag_ids))
    mirrors = _mirrors(session, tenant_id, corp.connection.id, wanted)
    tags = _tags(session, tenant_id, set(wanted) - set(mirrors))
    for tag_id, tag in sorted(tags.items()):
        if not tag.is_deleted:
            mirrors[tag_id] = ensure_mirror(session, tenant_id, corp, tag)
    return {tag_id: mirror.wecom_tag_id for tag_id, mirror in mirrors.items()}


def _add_corp_tag(corp: Corp, name: str, group_name: str, group_id: str) -> dict[str, Any]:
    if group_id:
        try:
            return corp.client.add_corp_tag([name], group_id=group_id)
        except PlatformError as error:
            if _code(error) != errors.INVALID_TAG_ID:
                raise
            # The corp group was deleted in WeCom: make (or reuse) one by name.
    return corp.client.add_corp_tag([name], group_name=group_name)


def _drop_mirrors(session: Session, tenant_id: str, connection_id: str, tag_ids: Iterable[str]) -> None:
    wanted = sorted(set(tag_ids))
    if wanted:
        session.execute(
            delete(TagMirror).where(
                TagMirror.tenant_id == tenant_id,
                TagMirror.connection_id == connection_id,
                TagMirror.tag_id.in_(wanted),
            )
        )


# ── Out: marks ───────────────────────────────────────────────────────────────────────────────


@dataclass
class Reflected:
    """Customer tags a WeCom change added and removed in Haina."""

    added: int = 0
    removed: int = 0


def _holding(session: Session, tenant_id: str, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (customer, tag) pairs are held now."""
    held: set[tuple[str, str]] = set()
    by_tag: dict[str, list[str]] = defaultdict(list)
    for customer, tag in pairs:
        by_tag[tag].append(customer)
    for tag, customer_ids in by_tag.items():
        for start in range(0, len(customer_ids), 500):
            rows = session.scalars(
                select(CustomerTag.customer_id).where(
                    CustomerTag.tenant_id == tenant_id,
                    CustomerTag.tag_id == tag,
                    CustomerTag.customer_id.in_(customer_ids[start : start + 500]),
                )
            )
            held.update((customer, tag) for customer in rows)
    return held


@dataclass
class Marks:
    """What one mark_tag call carries, by Haina tag id."""

    add: set[str] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)


def push_marks(session: Session, tenant_id: str, pairs: Iterable[tuple[str, str]]) -> int:
    """Mark or unmark each (customer, tag) on the customer's WeCom relations as Haina holds it
    now; returns the mark_tag calls made."""
    wanted = sorted(set(pairs))
    corps = {corp.corp_id: corp for corp in corps_of(session, tenant_id)} if wanted else {}
    if not corps:
        return 0  # (a rule's batch over a tenant without WeCom: no lookups of its customers)
    tags = _tags(session, tenant_id, {t for _, t in wanted})
    # A deleted tag is gone from WeCom with its corp tag (tag.deleted): nothing to mark.
    wanted = [(customer, tag) for customer, tag in wanted if tag in tags and not tags[tag].is_deleted]
    if not wanted:
        return 0
    held = _holding(session, tenant_id, wanted)
    follows = customers.wecom_follows_of(
        session, tenant_id, customer_ids=[customer for customer, _ in wanted]
    )
    if not follows:
        return 0
    by_customer: dict[str, list[customers.WeComFollow]] = defaultdict(list)
    for follow in follows:
        if follow.customer_id:
            by_customer[follow.customer_id].append(follow)
    # (corp id, member, contact) → marks
    calls: dict[tuple[str, str, str], Marks] = defaultdict(Marks)
    for customer, tag in wanted:
        for follow in by_customer.get(customer, []):
            if follow.corp_id not in corps:
                continue
            marks = calls[(follow.corp_id, follow.staff_userid, follow.external_userid)]
            (marks.add if (customer, tag) in held else marks.remove).add(tag)
    made = 0
    for corp_id in sorted({key[0] for key in calls}):
        corp = corps[corp_id]
        mine = {key: marks for key, marks in calls.items() if key[0] == corp_id}
        made += _mark(session, tenant_id, corp, mine, tags)
    return made


def _mark(
    session: Session,
    tenant_id: str,
    corp: Corp,
    calls: dict[tuple[str, str, str], Marks],
    tags: dict[str, Tag],
) -> int:
    needed = {tag for marks in calls.values() for tag in marks.add | marks.remove}
    mirrors = _mirrors(session, tenant_id, corp.connection.id, needed)
    for tag_id in sorted(needed - set(mirrors)):
        if any(tag_id in marks.add for marks in calls.values()):
            mirrors[tag_id] = ensure_mirror(session, tenant_id, corp, tags[tag_id])
        # An unmark of a tag never mirrored: WeCom cannot hold it, nothing to take off.
    made = 0
    for (_, userid, external_userid), marks in sorted(calls.items()):
        for attempt in (1, 2):
            add = sorted(mirrors[t].wecom_tag_id for t in marks.add if t in mirrors)
            remove = sorted(mirrors[t].wecom_tag_id for t in marks.remove if t in mirrors)
            if not add and not remove:
                break
            try:
                corp.client.mark_tag(userid, external_userid, add=add, remove=remove)
                made += 1
                break
            except PlatformError as error:
                code = _code(error)
                if code in RELATION_GONE:
                    logger.info("mark_tag skipped %s/%s: %s", userid, external_userid, error)
                    break
                if code != errors.INVALID_TAG_ID or attempt == 2:
                    raise
                # A corp tag was deleted in WeCom: mirror the named tags again, then once more.
                mirrors.update(_remirror(session, tenant_id, corp, mirrors, marks, tags))
    return made


def _remirror(
    session: Session,
    tenant_id: str,
    corp: Corp,
    mirrors: dict[str, TagMirror],
    marks: Marks,
    tags: dict[str, Tag],
) -> dict[str, TagMirror]:
    named = {mirrors[t].wecom_tag_id: t for t in marks.add | marks.remove if t in mirrors}
    listed, _ = map_tag_groups(corp.client.corp_tags(tag_ids=sorted(named)), corp.corp_id)
    live = {tag.tag_id for tag in listed if not tag.is_deleted}
    stale = [tag_id for wecom_id, tag_id in named.items() if wecom_id not in live]
    _drop_mirrors(session, tenant_id, corp.connection.id, stale)
    renewed: dict[str, TagMirror] = {}
    for tag_id in stale:
        mirrors.pop(tag_id, None)
        if tag_id in marks.add:
            renewed[tag_id] = ensure_mirror(session, tenant_id, corp, tags[tag_id])
    return renewed


def push_events(session: Session, events: Sequence[OutboxEvent]) -> None:
    """tag.added / tag.removed (any mix, any order) → mark_tag calls, merged per relation."""
    pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for event in events:
        payload = event.payload or {}
        tag = payload.get("tag_id")
        if isinstance(tag, str):
            pairs[event.tenant_id].update((customer, tag) for customer in changes.customers_of(payload))
    for tenant_id in sorted(pairs):
        push_marks(session, tenant_id, pairs[tenant_id])


def push_event(session: Session, event: OutboxEvent) -> None:
    push_events(session, [event])


# ── Out: definitions ─────────────────────────────────────────────────────────────────────────


def define_tag(session: Session, tenant_id: str, tag_id: str) -> None:
    """A tag created or renamed in Haina: its corp tag made or renamed on every connection."""
    tag = _tags(session, tenant_id, [tag_id]).get(tag_id)
    if tag is None:
        return
    if tag.is_deleted:
        delete_tag(session, tenant_id, tag_id)
        return
    for corp in corps_of(session, tenant_id):
        mirror = _mirrors(session, tenant_id, corp.connection.id, [tag_id]).get(tag_id)
        if mirror is None:
            ensure_mirror(session, tenant_id, corp, tag)
            continue
        try:
            corp.client.edit_corp_tag(mirror.wecom_tag_id, name=tag.name)
        except PlatformError as error:
            if _code(error) == errors.INVALID_TAG_NAME:
                continue  # the corp tag has that name already
            if _code(error) != errors.INVALID_TAG_ID:
                raise
            _drop_mirrors(session, tenant_id, corp.connection.id, [tag_id])  # deleted in WeCom
            ensure_mirror(session, tenant_id, corp, tag)
            continue
        mirror.synced_at = clock.now()


def delete_tag(session: Session, tenant_id: str, tag_id: str) -> None:
    """A tag deleted in Haina: its corp tags deleted (WeCom takes them off every customer)."""
    for corp in corps_of(session, tenant_id):
        mirror = _mirrors(session, tenant_id, corp.connection.id, [tag_id]).get(tag_id)
        if mirror is None:
            continue
        try:
            corp.client.del_corp_tag(tag_ids=[mirror.wecom_tag_id])
        except PlatformError as error:
            if _code(error) != errors.INVALID_TAG_ID:
                raise
        _drop_mirrors(session, tenant_id, corp.connection.id, [tag_id])


def _group_mirrors(session: Session, tenant_id: str, connection_id: str, group_id: str) -> list[TagMirror]:
    return list(
        session.scalars(
            select(TagMirror)
            .join(Tag, (Tag.tenant_id == TagMirror.tenant_id) & (Tag.id == TagMirror.tag_id))
            .where(
                TagMirror.tenant_id == tenant_id,
                TagMirror.connection_id == connection_id,
                Tag.group_id == group_id,
            )
        )
    )


def define_group(session: Session, tenant_id: str, group_id: str) -> None:
    """A group renamed in Haina: its corp group renamed (groups are made with their first tag)."""
    group = _group(session, tenant_id, group_id)
    if group is None:
        return
    if group.is_deleted:
        delete_group(session, tenant_id, group_id)
        return
    for corp in corps_of(session, tenant_id):
        for wecom_group_id in sorted(
            {
                m.wecom_group_id
                for m in _group_mirrors(session, tenant_id, corp.connection.id, group_id)
                if m.wecom_group_id
            }
        ):
            try:
                corp.client.edit_corp_tag(wecom_group_id, name=group.name[:NAME_LIMIT])
            except PlatformError as error:
                if _code(error) not in (errors.INVALID_TAG_ID, errors.INVALID_TAG_NAME):
                    raise


def delete_group(session: Session, tenant_id: str, group_id: str) -> None:
    """A group deleted in Haina: its corp group deleted, with its tags."""
    for corp in corps_of(session, tenant_id):
        mirrors = _group_mirrors(session, tenant_id, corp.connection.id, group_id)
        group_ids = sorted({m.wecom_group_id for m in mirrors if m.wecom_group_id})
        if group_ids:
            try:
                corp.client.del_corp_tag(group_ids=group_ids)
            except PlatformError as error:
                if _code(error) != errors.INVALID_TAG_ID:
                    raise
        _drop_mirrors(session, tenant_id, corp.connection.id, [m.tag_id for m in mirrors])


def definition_event(session: Session, event: OutboxEvent) -> None:
    payload = event.payload or {}
    if event.type in (TAG_DEFINED, TAG_DELETED):
        tag_id = payload.get("tag_id")
        if isinstance(tag_id, str):
            (define_tag if event.type == TAG_DEFINED else delete_tag)(session, event.tenant_id, tag_id)
    elif event.type in (TAG_GROUP_DEFINED, TAG_GROUP_DELETED):
        group_id = payload.get("group_id")
        if isinstance(group_id, str):
            (define_group if event.type == TAG_GROUP_DEFINED else delete_group)(
                session, event.tenant_id, group_id
            )


# ── In: definitions ──────────────────────────────────────────────────────────────────────────


@dataclass
class Refreshed:
    created: int = 0
    renamed: int = 0
    deleted: int = 0


def refresh_definitions(session: Session, tenant_id: str, corp: Corp) -> Refreshed:
    """Make Haina's groups and tags match the corp's tag list (get_corp_tag_list): new corp tags
    become manual Haina tags, renames are copied, and a corp tag deleted in WeCom deletes its
    manual twin (taking it off every customer); a rule tag only loses its twin."""
    listed, bad = map_tag_groups(corp.client.corp_tags(), corp.corp_id)
    if bad:
        logger.warning(
            "%d corp tag groups of %s could not be read: %s", len(bad), corp.corp_id, bad[0].reason
        )
    live = [tag for tag in listed if not tag.is_deleted and tag.name]
    result = Refreshed()
    now = clock.now()
    mirrors = {
        row.wecom_tag_id: row
        for row in session.scalars(
            select(TagMirror).where(
                TagMirror.tenant_id == tenant_id, TagMirror.connection_id == corp.connection.id
            )
        )
    }
    tags = _tags(session, tenant_id, [m.tag_id for m in mirrors.values()])
    groups = {
        row.name: row for row in session.scalars(select(TagGroup).where(TagGroup.tenant_id == tenant_id))
    }
    for corp_tag in live:
        name, group_name = corp_tag.name[:NAME_LIMIT], (corp_tag.group_name or "WeCom")[:NAME_LIMIT]
        mirror = mirrors.get(corp_tag.tag_id)
        tag = tags.get(mirror.tag_id) if mirror is not None else None
        if mirror is not None and tag is not None:
            mirror.wecom_group_id = corp_tag.group_id
            mirror.synced_at = now
            if tag.is_deleted:
                continue  # deleted in Haina: tag.deleted takes the corp tag away
            if tag.name != name and not _name_taken(session, tenant_id, tag.group_id, name, tag.id):
                tag.name, tag.updated_at = name, now
                result.renamed += 1
            group = _group(session, tenant_id, tag.group_id)
            if group is not None and group.name != group_name and group_name not in groups:
                groups.pop(group.name, None)
                group.name, group.updated_at = group_name, now
                groups[group_name] = group
            continue
        group = groups.get(group_name)
        if group is None:
            group = TagGroup(
                tenant_id=tenant_id, name=group_name, order=corp_tag.order, created_at=now, updated_at=now
            )
            session.add(group)
            session.flush()
            groups[group_name] = group
        elif group.is_deleted:
            group.is_deleted, group.updated_at = False, now
        tag = session.scalars(
            select(Tag).where(Tag.tenant_id == tenant_id, Tag.group_id == group.id, Tag.name == name)
        ).one_or_none()
        if tag is None:
            tag = Tag(
                tenant_id=tenant_id,
                group_id=group.id,
                name=name,
                kind=TagKind.MANUAL,
                created_by="wecom",
                created_at=now,
                updated_at=now,
            )
            session.add(tag)
            session.flush()
            result.created += 1
        elif tag.is_deleted:
            tag.is_deleted, tag.updated_at = False, now
            result.created += 1
        # The tag's earlier twin on this corp (a corp tag since deleted) gives way.
        for wecom_id, old in list(mirrors.items()):
            if old.tag_id == tag.id:
                del mirrors[wecom_id]
                session.delete(old)
        session.flush()
        fresh = TagMirror(
            tenant_id=tenant_id,
            connection_id=corp.connection.id,
            tag_id=tag.id,
            corp_id=corp.corp_id,
            wecom_tag_id=corp_tag.tag_id,
            wecom_group_id=corp_tag.group_id,
            synced_at=now,
        )
        session.add(fresh)
        session.flush()
        mirrors[corp_tag.tag_id] = fresh
        tags[tag.id] = tag
    live_ids = {tag.tag_id for tag in live}
    gone = [mirror for wecom_id, mirror in mirrors.items() if wecom_id not in live_ids]
    for mirror in gone:
        tag = tags.get(mirror.tag_id)
        session.delete(mirror)
        if tag is None or tag.is_deleted or tag.kind == TagKind.RULE:
            continue
        others = session.scalar(
            select(TagMirror.connection_id)
            .where(
                TagMirror.tenant_id == tenant_id,
                TagMirror.tag_id == tag.id,
                TagMirror.connection_id != corp.connection.id,
            )
            .limit(1)
        )
        if others is not None:
            continue  # still mirrored in another corp
        _delete_locally(session, tenant_id, tag, now)
        result.deleted += 1
    session.flush()
    return result


def _name_taken(session: Session, tenant_id: str, group_id: str, name: str, tag_id: str) -> bool:
    return (
        session.scalar(
            select(Tag.id).where(
                Tag.tenant_id == tenant_id, Tag.group_id == group_id, Tag.name == name, Tag.id != tag_id
            )
        )
        is not None
    )


def _delete_locally(session: Session, tenant_id: str, tag: Tag, now: Any) -> None:
    """Soft-delete a tag deleted in WeCom and take it off its customers (with history)."""
    tag.is_deleted, tag.updated_at = True, now
    carriers = session.scalars(
        select(CustomerTag.customer_id).where(
            CustomerTag.tenant_id == tenant_id, CustomerTag.tag_id == tag.id
        )
    )
    changes.apply(
        session,
        tenant_id,
        remove=[
            Change(customer, tag.id, tag.name, TagSource.WECOM, "deleted in WeCom") for customer in carriers
        ],
    )


# ── In: customer tags ────────────────────────────────────────────────────────────────────────


def _haina_tags_of(
    session: Session, tenant_id: str, corp: Corp, wecom_ids: set[str], *, refresh: bool = True
) -> dict[str, Tag]:
    """Haina tags by corp tag id; unknown ids refresh the definitions once."""
    if not wecom_ids:
        return {}

    def lookup() -> dict[str, str]:
        rows = session.execute(
            select(TagMirror.wecom_tag_id, TagMirror.tag_id).where(
                TagMirror.tenant_id == tenant_id,
                TagMirror.connection_id == corp.connection.id,
                TagMirror.wecom_tag_id.in_(sorted(wecom_ids)),
            )
        )
        return {wecom_id: tag_id for wecom_id, tag_id in rows}

    found = lookup()
    if refresh and set(found) != wecom_ids:
        refresh_definitions(session, tenant_id, corp)
        found = lookup()
    tags = _tags(session, tenant_id, found.values())
    return {
        wecom_id: tags[tag_id]
        for wecom_id, tag_id in found.items()
        if tag_id in tags and not tags[tag_id].is_deleted
    }


def read_contact(session: Session, tenant_id: str, corp: Corp, external_userid: str) -> Reflected:
    """Read a contact WeCom says changed, store it, and reflect in Haina what its members did to
    its corp tags (the difference between what WeCom held before and now)."""
    contact_id = record_id("contact", tenant_id, corp.corp_id, external_userid)
    before = {
        follow.staff_userid: set(follow.tag_ids)
        for follow in customers.wecom_follows_of(
            session, tenant_id, contact_ids=[contact_id], active_only=False
        )
        if follow.is_active
    }
    try:
        answer = corp.client.contact(external_userid)
    except PlatformError as error:
        if _code(error) in RELATION_GONE:
            return Reflected()
        raise
    try:
        contact = map_contact(answer, corp.corp_id)
    except RecordError as error:
        raise ValueError(
            f"externalcontact/get of {external_userid} cannot be read: {error.reason}"
        ) from error
    contact.modified_at = clock.now()  # as seen now: an older id-only callback is stale after it
    customers.store_records(
        session, tenant_id, [contact], settings=connections.settings_for(session), source="wecom.tags"
    )
    after = {follow.staff_userid: set(follow.tag_ids) for follow in contact.follows}
    added: dict[str, str] = {}  # corp tag id → the member who added it
    removed: dict[str, str] = {}
    for staff, now_held in sorted(after.items()):
        for wecom_id in sorted(now_held - before.get(staff, set())):
            added.setdefault(wecom_id, staff)
        for wecom_id in sorted(before.get(staff, set()) - now_held):
            removed.setdefault(wecom_id, staff)
    if not added and not removed:
        return Reflected()
    stored = customers.wecom_follows_of(session, tenant_id, contact_ids=[contact_id])
    customer_id = next((follow.customer_id for follow in stored if follow.customer_id), None)
    if customer_id is None:
        return Reflected()  # not resolved yet: customer.resolved adopts its tags
    tags = _haina_tags_of(session, tenant_id, corp, set(added) | set(removed))
    # A tag another member still holds on this contact stays on the customer.
    still = {wecom_id for held in after.values() for wecom_id in held}
    add = [
        Change(customer_id, tags[w].id, tags[w].name, TagSource.WECOM, staff)
        for w, staff in sorted(added.items())
        if w in tags
    ]
    remove = [
        Change(customer_id, tags[w].id, tags[w].name, TagSource.WECOM, staff)
        for w, staff in sorted(removed.items())
        if w in tags and w not in still and tags[w].kind != TagKind.RULE
    ]
    result = changes.apply(session, tenant_id, add=add, remove=remove)
    return Reflected(added=len(result.added), removed=len(result.removed))


def adopt(session: Session, tenant_id: str, customer_ids: Sequence[str]) -> Reflected:
    """Corp tags on these customers' relations that Haina has never decided about are added
    (source wecom); a tag whose last change in Haina was a removal is left alone."""
    follows = customers.wecom_follows_of(session, tenant_id, customer_ids=customer_ids)
    if not any(follow.tag_ids for follow in follows):
        return Reflected()
    corps = {corp.corp_id: corp for corp in corps_of(session, tenant_id)}
    candidates: dict[tuple[str, str], Change] = {}
    for corp_id in sorted({follow.corp_id for follow in follows if follow.tag_ids}):
        corp = corps.get(corp_id)
        if corp is None:
            continue
        mine = [follow for follow in follows if follow.corp_id == corp_id and follow.customer_id]
        tags = _haina_tags_of(session, tenant_id, corp, {w for follow in mine for w in follow.tag_ids})
        for follow in mine:
            for wecom_id in follow.tag_ids:
                tag = tags.get(wecom_id)
                if tag is not None and follow.customer_id:
                    candidates.setdefault(
                        (follow.customer_id, tag.id),
                        Change(follow.customer_id, tag.id, tag.name, TagSource.WECOM, follow.staff_userid),
                    )
    if not candidates:
        return Reflected()
    decided = _last_actions(session, tenant_id, list(candidates))
    add = [change for key, change in candidates.items() if decided.get(key) != "removed"]
    result = changes.apply(session, tenant_id, add=add)
    return Reflected(added=len(result.added))


def _last_actions(
    session: Session, tenant_id: str, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The last history action (added / removed) of each (customer, tag) pair that has one."""
    last: dict[tuple[str, str], tuple[Any, str]] = {}
    customer_ids = sorted({customer for customer, _ in pairs})
    wanted = set(pairs)
    for start in range(0, len(customer_ids), 500):
        rows = session.execute(
            select(
                TagChange.customer_id, TagChange.tag_id, TagChange.at, TagChange.action, TagChange.id
            ).where(
                TagChange.tenant_id == tenant_id, TagChange.customer_id.in_(customer_ids[start : start + 500])
            )
        )
        for customer, tag, at, action, row_id in rows:
            key = (customer, tag)
            if key in wanted and (key not in last or (at, row_id) > last[key][0]):
                last[key] = ((at, row_id), action)
    return {key: action for key, (_, action) in last.items()}


# ── In: handlers ─────────────────────────────────────────────────────────────────────────────


def callback_event(session: Session, event: OutboxEvent) -> None:
    """A stored WeCom callback: tag definitions or a contact's tags changed in WeCom."""
    item = inbox.item_for_event(session, event)
    if item is None or not item.connection_id:
        return
    try:
        fields = xml_fields(item.payload)
    except WeComCryptoError:
        return  # the spine's handler dead-letters what cannot be read
    kind = fields.get("Event")
    change = fields.get("ChangeType")
    if kind != "change_external_tag" and not (
        kind == "change_external_contact" and change in CONTACT_CHANGES_READ
    ):
        return
    corp = corp_by_connection(session, item.tenant_id, item.connection_id)
    if corp is None:
        return
    try:
        webhooks.parse(item.payload, corp.corp_id)
    except RecordError:
        # Malformed for the spine too (another corp, a missing id…): its handler dead-letters it
        # with that reason; calling WeCom about it would only replace the reason with ours.
        return
    if kind == "change_external_tag":
        refresh_definitions(session, item.tenant_id, corp)
        return
    external_userid = fields.get("ExternalUserID")
    if isinstance(external_userid, str) and external_userid:
        read_contact(session, item.tenant_id, corp, external_userid)


def resolved_events(session: Session, events: Sequence[OutboxEvent]) -> None:
    """customer.resolved naming contacts → adopt the corp tags on them."""
    customers_by_tenant: dict[str, set[str]] = defaultdict(set)
    for event in events:
        payload = event.payload or {}
        if payload.get("contact_ids") and isinstance(payload.get("customer_id"), str):
            customers_by_tenant[event.tenant_id].add(payload["customer_id"])
    for tenant_id in sorted(customers_by_tenant):
        adopt(session, tenant_id, sorted(customers_by_tenant[tenant_id]))


def resolved_event(session: Session, event: OutboxEvent) -> None:
    resolved_events(session, [event])


def definition_events(session: Session, events: Sequence[OutboxEvent]) -> None:
    for event in events:
        definition_event(session, event)


HANDLERS = {
    "tags.wecom_sync.mark_added": (TAG_ADDED, push_event, push_events),
    "tags.wecom_sync.mark_removed": (TAG_REMOVED, push_event, push_events),
    "tags.wecom_sync.tag_defined": (TAG_DEFINED, definition_event, definition_events),
    "tags.wecom_sync.tag_deleted": (TAG_DELETED, definition_event, definition_events),
    "tags.wecom_sync.group_defined": (TAG_GROUP_DEFINED, definition_event, definition_events),
    "tags.wecom_sync.group_deleted": (TAG_GROUP_DELETED, definition_event, definition_events),
    "tags.wecom_sync.callback": (CALLBACK_EVENT, callback_event, None),
    "tags.wecom_sync.adopt": (CUSTOMER_RESOLVED, resolved_event, resolved_events),
}


def subscribe(registry: Registry | None = None) -> None:
    """Register the mirror's handlers (names are stored on deliveries: keep them stable)."""
    registry = registry if registry is not None else default_registry
    for name, (event_type, handler, batch_handler) in HANDLERS.items():
        registry.add(event_type, name, handler, batch_handler=batch_handler)


def unsubscribe(registry: Registry | None = None) -> None:
    registry = registry if registry is not None else default_registry
    for name in HANDLERS:
        registry.remove(name)


subscribe()
