"""Tag groups and tags (manual and rule tags), manual tagging, and what the customer 360 shows.

Rule tags are validated on save (conditions.validate names the bad condition) and every save of
a rule bumps `rule_version` and queues a batch evaluation (evaluation.request_batch), whose
progress the console polls. Who carries a tag changes only through changes.apply, so every
change leaves a history line and a tag.added / tag.removed event. Creating, renaming and
deleting a tag emit tag.defined / tag.deleted, which the WeCom mirror follows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.errors import Conflict, InvalidInput, NotFound
from haina.core.events.outbox import emit
from haina.core.i18n import gettext
from haina.customers.identity import profile as profiles
from haina.customers.identity.models import Customer
from haina.tags import changes, conditions, evaluation, segments
from haina.tags.models import Tag, TagChange, TagEvaluation, TagGroup, TagKind, TagSource
from haina.tags.repository import (
    CarrierRepository,
    CustomerLookup,
    EvaluationRepository,
    TagChangeRepository,
    TagGroupRepository,
    TagRepository,
)

# The definition events the WeCom mirror follows (wecom_sync.TAG_DEFINED and friends; named here
# too, as wecom_sync imports the connections module and may one day call this service).
TAG_DEFINED = "tag.defined"  # {tag_id}: created or renamed
TAG_DELETED = "tag.deleted"  # {tag_id}
TAG_GROUP_DEFINED = "tag_group.defined"  # {group_id}: renamed
TAG_GROUP_DELETED = "tag_group.deleted"  # {group_id}: deleted, with its tags

NAME_MAX = 30
MAX_BULK_CUSTOMERS = 5000
MAX_BULK_TAGS = 50


def _who(actor: Actor) -> str:
    return (actor.display_name or actor.username)[:100]


def _name(value: str, what: str) -> str:
    name = " ".join((value or "").split())
    if not name:
        raise InvalidInput(f"the {what} name is empty; give it a name", code="name_required")
    if len(name) > NAME_MAX:
        raise InvalidInput(
            f"the {what} name is longer than {NAME_MAX} characters (WeCom's limit); shorten it",
            code="name_too_long",
        )
    return name


# ── Tag groups ──────────────────────────────────────────────────────────────────────────────


def list_groups(session: Session, tenant_id: str) -> list[TagGroup]:
    return TagGroupRepository(session, tenant_id).active()


def get_group(session: Session, tenant_id: str, group_id: str) -> TagGroup:
    return TagGroupRepository(session, tenant_id).get(group_id)


def create_group(session: Session, actor: Actor, name: str, *, order: int = 0) -> TagGroup:
    """A new tag group; a group of the same name answers 409 (a deleted one is brought back)."""
    name = _name(name, "tag group")
    groups = TagGroupRepository(session, actor.tenant_id)
    existing = groups.by_name(name)
    if existing is not None and not existing.is_deleted:
        raise Conflict(f"a tag group named '{name}' exists already", code="tag_group_exists")
    if existing is not None:
        existing.is_deleted = False
        existing.order = order
        existing.updated_at = clock.now()
        group = existing
    else:
        group = groups.add(TagGroup(name=name, order=order, created_at=clock.now(), updated_at=clock.now()))
    audit.record(
        session,
        "tag_group.created",
        actor=actor,
        target_type="tag_group",
        target_id=group.id,
        detail={"name": name},
    )
    session.flush()
    return group


def update_group(
    session: Session, actor: Actor, group_id: str, *, name: str | None = None, order: int | None = None
) -> TagGroup:
    groups = TagGroupRepository(session, actor.tenant_id)
    group = groups.get(group_id)
    if name is not None:
        name = _name(name, "tag group")
        other = groups.by_name(name)
        if other is not None and other.id != group.id:
            raise Conflict(f"a tag group named '{name}' exists already", code="tag_group_exists")
        renamed = name != group.name
        group.name = name
        if renamed:
            emit(session, actor.tenant_id, TAG_GROUP_DEFINED, {"group_id": group.id})
    if order is not None:
        group.order = order
    group.updated_at = clock.now()
    audit.record(
        session,
        "tag_group.updated",
        actor=actor,
        target_type="tag_group",
        target_id=group.id,
        detail={"name": group.name, "order": group.order},
    )
    session.flush()
    return group


def delete_group(session: Session, actor: Actor, group_id: str) -> None:
    """Delete a group and its tags; carriers lose the tags (history and events included)."""
    group = TagGroupRepository(session, actor.tenant_id).get(group_id)
    for tag in TagRepository(session, actor.tenant_id).active(group_id=group.id):
        # WeCom deletes a corp group with its tags: one tag_group.deleted, no tag.deleted each.
        _delete_tag(session, actor, tag, announce=False)
    emit(session, actor.tenant_id, TAG_GROUP_DELETED, {"group_id": group.id})
    group.is_deleted = True
    # Frees the name for a new group (the unique constraint counts deleted ones).
    group.name = f"{group.name[:20]}~{group.id[:8]}"
    group.updated_at = clock.now()
    audit.record(session, "tag_group.deleted", actor=actor, target_type="tag_group", target_id=group.id)
    session.flush()


# ── Tags ────────────────────────────────────────────────────────────────────────────────────


@dataclass
class TagInput:
    name: str
    group_id: str
    kind: str = TagKind.MANUAL
    rule: dict[str, Any] | None = None
    description: str = ""
    order: int = 0


def validate_rule(rule: dict[str, Any] | None) -> dict[str, Any]:
    """The rule as stored, or a 422 naming the bad condition (conditions.validate)."""
    if not rule:
        raise InvalidInput(
            "a rule tag needs a rule: add at least one condition", code="rule_required", path=""
        )
    return normalised(conditions.validate(rule))


def normalised(condition: Any) -> dict[str, Any]:
    """The stored JSON of a validated condition (dates as ISO text)."""
    stored: dict[str, Any] = json.loads(json.dumps(conditions.to_json(condition), default=str))
    return stored


OP_LABELS = {
    ">=": ("≥", "≥"),
    ">": (">", ">"),
    "<=": ("≤", "≤"),
    "<": ("<", "<"),
    "=": ("等于", "is"),
    "!=": ("不等于", "is not"),
    "between": ("介于", "between"),
    "in": ("属于", "is any of"),
    "not_in": ("不属于", "is none of"),
    "contains": ("包含", "contains"),
}
GROUP_LABELS = {
    "orders": ("订单与售后", "Orders"),
    "engagement": ("企微互动", "WeCom engagement"),
    "profile": ("客户属性", "Profile"),
    "tags": ("标签", "Tags"),
    "rfm": ("RFM 与生命周期", "RFM & lifecycle"),
}


def field_catalogue(session: Session, tenant_id: str, language: str) -> dict[str, Any]:
    """What the no-code builder is drawn from: conditions.FIELDS with labels in `language`, the
    operators' names, the choices' names and the tenant's tags (for has_tag)."""
    english = language == "en"

    def choice_label(field_name: str, value: str) -> str:
        if field_name in ("platform", "platforms"):
            return gettext(language, f"connections.platform.{value}", default=value)
        return gettext(language, f"tags.choice.{field_name}.{value}", default=value)

    fields = []
    for spec in conditions.FIELDS.values():
        fields.append(
            {
                "name": spec.name,
                "label": spec.label_en if english else spec.label_zh,
                "group": spec.group,
                "group_label": GROUP_LABELS.get(spec.group, (spec.group, spec.group))[1 if english else 0],
                "value_type": spec.value_type,
                "ops": [
                    {"op": op, "label": OP_LABELS.get(op, (op, op))[1 if english else 0]} for op in spec.ops
                ],
                "choices": [
                    {"value": value, "label": choice_label(spec.name, value)} for value in spec.choices
                ],
                "params": [
                    {
                        "name": param.name,
                        "label": param.label_en if english else param.label_zh,
                        "value_type": param.value_type,
                        "choices": [
                            {"value": value, "label": choice_label("platforms", value)}
                            for value in (conditions.PLATFORMS if param.value_type == "choice_list" else ())
                        ],
                    }
                    for param in spec.params
                ],
            }
        )
    groups = {group.id: group.name for group in list_groups(session, tenant_id)}
    tags = [
        {"id": tag.id, "name": tag.name, "group": groups.get(tag.group_id, "")}
        for tag in list_tags(session, tenant_id)
    ]
    return {"fields": fields, "tags": tags}


def list_tags(
    session: Session, tenant_id: str, *, group_id: str | None = None, kind: str | None = None
) -> list[Tag]:
    return TagRepository(session, tenant_id).active(group_id=group_id, kind=kind)


def get_tag(session: Session, tenant_id: str, tag_id: str) -> Tag:
    return TagRepository(session, tenant_id).get(tag_id)


def counts(session: Session, actor: Actor, tag_ids: Sequence[str] | None = None) -> dict[str, int]:
    """Customers carrying each tag, counted now (agents: among the customers they follow)."""
    visible = profiles.visible_customer_ids(session, actor)
    return CarrierRepository(session, actor.tenant_id).counts(
        tag_ids, visible_ids=sorted(visible) if visible is not None else None
    )


def _request_evaluation(session: Session, actor: Actor, tag: Tag) -> TagEvaluation:
    return evaluation.request_batch(session, actor.tenant_id, tag.id, _who(actor))


def create_tag(session: Session, actor: Actor, data: TagInput) -> Tag:
    """A manual or rule tag; a rule is validated first and a batch evaluation is queued."""
    tags = TagRepository(session, actor.tenant_id)
    group = TagGroupRepository(session, actor.tenant_id).get(data.group_id)
    name = _name(data.name, "tag")
    if data.kind not in (TagKind.MANUAL, TagKind.RULE):
        raise InvalidInput(f"kind must be 'manual' or 'rule', not '{data.kind}'", code="invalid_tag_kind")
    rule = validate_rule(data.rule) if data.kind == TagKind.RULE else None
    if data.kind == TagKind.MANUAL and data.rule:
        raise InvalidInput("a manual tag has no rule; make it a rule tag instead", code="manual_tag_rule")
    existing = tags.by_name(group.id, name)
    if existing is not None and not existing.is_deleted:
        raise Conflict(f"the group already has a tag named '{name}'", code="tag_exists")
    now = clock.now()
    if existing is not None:
        # A deleted tag of the same name comes back as a new definition.
        tag = existing
        tag.is_deleted = False
        tag.kind = data.kind
        tag.rule = rule
        tag.rule_version = tag.rule_version + 1 if rule else tag.rule_version
        tag.description = data.description
        tag.order = data.order
        tag.created_by = _who(actor)
        tag.updated_at = now
    else:
        tag = tags.add(
            Tag(
                group_id=group.id,
                name=name,
                kind=data.kind,
                rule=rule,
                rule_version=1 if rule else 0,
                description=data.description,
                order=data.order,
                created_by=_who(actor),
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    emit(session, actor.tenant_id, TAG_DEFINED, {"tag_id": tag.id})
    audit.record(
        session,
        "tag.created",
        actor=actor,
        target_type="tag",
        target_id=tag.id,
        detail={"name": name, "kind": tag.kind, "group_id": group.id},
    )
    if tag.kind == TagKind.RULE:
        _request_evaluation(session, actor, tag)
    return tag


_UNSET: Any = object()


def update_tag(
    session: Session,
    actor: Actor,
    tag_id: str,
    *,
    name: str | None = None,
    group_id: str | None = None,
    rule: dict[str, Any] | None = _UNSET,
    description: str | None = None,
    order: int | None = None,
) -> Tag:
    """Rename, move, describe or change the rule of a tag; a changed rule bumps rule_version and
    queues a new batch evaluation."""
    tags = TagRepository(session, actor.tenant_id)
    tag = tags.get(tag_id)
    redefined = False
    if group_id is not None and group_id != tag.group_id:
        TagGroupRepository(session, actor.tenant_id).get(group_id)
        redefined = True
    target_group = group_id or tag.group_id
    new_name = _name(name, "tag") if name is not None else tag.name
    if new_name != tag.name or target_group != tag.group_id:
        other = tags.by_name(target_group, new_name)
        if other is not None and other.id != tag.id:
            if not other.is_deleted:
                raise Conflict(f"the group already has a tag named '{new_name}'", code="tag_exists")
            other.name = f"{other.name[:20]}~{other.id[:8]}"
            session.flush()
        redefined = redefined or new_name != tag.name
    tag.name = new_name
    tag.group_id = target_group
    rule_changed = False
    if rule is not _UNSET:
        if tag.kind != TagKind.RULE:
            if rule:
                raise InvalidInput(
                    "a manual tag has no rule; create a rule tag instead", code="manual_tag_rule"
                )
        else:
            checked = validate_rule(rule)
            if checked != tag.rule:
                tag.rule = checked
                tag.rule_version += 1
                rule_changed = True
    if description is not None:
        tag.description = description
    if order is not None:
        tag.order = order
    tag.updated_at = clock.now()
    session.flush()
    if redefined:
        emit(session, actor.tenant_id, TAG_DEFINED, {"tag_id": tag.id})
    audit.record(
        session,
        "tag.updated",
        actor=actor,
        target_type="tag",
        target_id=tag.id,
        detail={"name": tag.name, "rule_version": tag.rule_version, "rule_changed": rule_changed},
    )
    if rule_changed:
        _request_evaluation(session, actor, tag)
    return tag


def evaluate_tag(session: Session, actor: Actor, tag_id: str) -> TagEvaluation:
    """Queue a batch evaluation of a rule tag now (e.g. after new data arrived)."""
    tag = get_tag(session, actor.tenant_id, tag_id)
    if tag.kind != TagKind.RULE:
        raise InvalidInput("only a rule tag can be evaluated", code="not_rule_tag")
    audit.record(session, "tag.evaluation_requested", actor=actor, target_type="tag", target_id=tag.id)
    return _request_evaluation(session, actor, tag)


def tag_references(session: Session, tenant_id: str, tag_id: str) -> list[str]:
    """Rule tags and segments whose conditions test this tag (has_tag), as "规则标签 X" / "分群 Y"."""
    found: list[str] = []
    for rule_tag in evaluation.rule_tags(session, tenant_id):
        if rule_tag.id != tag_id and _tests_tag(rule_tag.rule, tag_id):
            found.append(f"rule tag 「{rule_tag.name}」")
    for segment in segments.list_segments(session, tenant_id):
        if _tests_tag(segment.definition, tag_id):
            found.append(f"segment 「{segment.name}」")
    return found


def _tests_tag(definition: dict[str, Any] | None, tag_id: str) -> bool:
    if not definition:
        return False
    try:
        return tag_id in conditions.tags_used(conditions.validate(definition))
    except conditions.InvalidCondition:
        return False


def _delete_tag(session: Session, actor: Actor, tag: Tag, *, announce: bool = True) -> None:
    used_by = tag_references(session, actor.tenant_id, tag.id)
    if used_by:
        raise Conflict(
            f"the tag '{tag.name}' is tested by {', '.join(used_by)}: change those conditions first",
            code="tag_in_use",
            used_by=used_by,
        )
    reason = f"{_who(actor)}（删除标签）"
    carriers = changes.remove_from_every_carrier(
        session, actor.tenant_id, changes.Change("", tag.id, tag.name, TagSource.MANUAL, reason)
    )
    tag.is_deleted = True
    tag.name = f"{tag.name[:20]}~{tag.id[:8]}"
    tag.updated_at = clock.now()
    session.flush()
    if announce:
        emit(session, actor.tenant_id, TAG_DELETED, {"tag_id": tag.id})
    audit.record(
        session,
        "tag.deleted",
        actor=actor,
        target_type="tag",
        target_id=tag.id,
        detail={"carriers": carriers},
    )


def delete_tag(session: Session, actor: Actor, tag_id: str) -> None:
    """Delete a tag; its carriers lose it (history and tag.removed events), then tag.deleted."""
    _delete_tag(session, actor, get_tag(session, actor.tenant_id, tag_id))


def latest_evaluation(session: Session, tenant_id: str, tag_id: str) -> TagEvaluation | None:
    get_tag(session, tenant_id, tag_id)
    return EvaluationRepository(session, tenant_id).latest(tag_id)


def latest_evaluations(session: Session, tenant_id: str, tag_ids: Sequence[str]) -> dict[str, TagEvaluation]:
    return EvaluationRepository(session, tenant_id).latest_of(tag_ids)


def get_evaluation(session: Session, tenant_id: str, evaluation_id: str) -> TagEvaluation:
    return EvaluationRepository(session, tenant_id).get(evaluation_id)


@dataclass
class GroupView:
    group: TagGroup
    tags: list[Tag]
    counts: dict[str, int]


def overview(session: Session, actor: Actor) -> list[GroupView]:
    """Every group with its tags and the number of customers carrying each (in the actor's scope)."""
    groups = list_groups(session, actor.tenant_id)
    tags = list_tags(session, actor.tenant_id)
    found = counts(session, actor)
    by_group: dict[str, list[Tag]] = {}
    for tag in tags:
        by_group.setdefault(tag.group_id, []).append(tag)
    return [GroupView(group, by_group.get(group.id, []), found) for group in groups]


# ── Manual tagging ──────────────────────────────────────────────────────────────────────────


def _visible_customers(session: Session, actor: Actor, customer_ids: Sequence[str]) -> list[str]:
    """The ids, checked: each must be a customer of the tenant this actor may see (else 404)."""
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        raise InvalidInput("name at least one customer", code="customers_required")
    if len(ids) > MAX_BULK_CUSTOMERS:
        raise InvalidInput(
            f"at most {MAX_BULK_CUSTOMERS} customers at a time; use a rule tag for more",
            code="too_many_customers",
        )
    found = CustomerLookup(session, actor.tenant_id).live_ids(ids)
    visible = profiles.visible_customer_ids(session, actor)
    missing = [
        customer_id
        for customer_id in ids
        if customer_id not in found or (visible is not None and customer_id not in visible)
    ]
    if missing:
        raise NotFound(f"customer {missing[0]} not found", code="not_found")
    return ids


def _manual_tags(session: Session, actor: Actor, tag_ids: Sequence[str]) -> list[Tag]:
    ids = list(dict.fromkeys(tag_ids))
    if not ids:
        raise InvalidInput("name at least one tag", code="tags_required")
    if len(ids) > MAX_BULK_TAGS:
        raise InvalidInput(f"at most {MAX_BULK_TAGS} tags at a time", code="too_many_tags")
    tags = {tag.id: tag for tag in TagRepository(session, actor.tenant_id).by_ids(ids)}
    for tag_id in ids:
        tag = tags.get(tag_id)
        if tag is None:
            raise NotFound(f"tag {tag_id} not found", code="not_found")
        if tag.kind == TagKind.RULE:
            raise InvalidInput(
                f"'{tag.name}' is a rule tag: its rule sets and clears it; change the rule instead",
                code="rule_tag_manual",
            )
    return [tags[tag_id] for tag_id in ids]


def tag_customers(
    session: Session,
    actor: Actor,
    customer_ids: Sequence[str],
    tag_ids: Sequence[str],
    *,
    remove: bool = False,
) -> changes.Applied:
    """Add (or remove) manual tags on one or many customers; the reason is who did it. Audited."""
    customers = _visible_customers(session, actor, customer_ids)
    tags = _manual_tags(session, actor, tag_ids)
    reason = _who(actor)
    wanted = [
        changes.Change(customer_id, tag.id, tag.name, TagSource.MANUAL, reason)
        for customer_id in customers
        for tag in tags
    ]
    applied = (
        changes.apply(session, actor.tenant_id, remove=wanted)
        if remove
        else changes.apply(session, actor.tenant_id, add=wanted)
    )
    action = "tags.removed" if remove else "tags.added"
    audit.record(
        session,
        action,
        actor=actor,
        target_type="customer" if len(customers) == 1 else "customers",
        target_id=customers[0] if len(customers) == 1 else f"{len(customers)} customers",
        detail={
            "tag_ids": [tag.id for tag in tags],
            "tag_names": [tag.name for tag in tags],
            "customers": len(customers),
            "changed": len(applied.removed if remove else applied.added),
            **({"customer_ids": customers[:100]} if len(customers) > 1 else {}),
        },
    )
    return applied


def tag_by_system(
    session: Session, tenant_id: str, customer_ids: Sequence[str], tag_ids: Sequence[str], reason: str
) -> changes.Applied:
    """Add manual tags to customers on the system's behalf (e.g. reason "渠道活码 门店海报"), with
    history and tag.added events as for a person. Deleted and rule tags are skipped."""
    tags = [
        tag
        for tag in TagRepository(session, tenant_id).by_ids(list(dict.fromkeys(tag_ids)))
        if tag.kind == TagKind.MANUAL
    ]
    wanted = [
        changes.Change(customer_id, tag.id, tag.name, TagSource.MANUAL, reason)
        for customer_id in dict.fromkeys(customer_ids)
        for tag in tags
    ]
    return changes.apply(session, tenant_id, add=wanted)


# ── What the customer 360 shows ─────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class CarriedTag:
    tag_id: str
    name: str
    group_id: str
    group_name: str
    kind: str
    source: str
    reason: str
    added_at: datetime


def tags_of_customers(
    session: Session, tenant_id: str, customer_ids: Sequence[str]
) -> dict[str, list[CarriedTag]]:
    """Each customer's tags, in the groups' and tags' order (no scope check: callers have one)."""
    groups = {group.id: group for group in TagGroupRepository(session, tenant_id).active()}
    rank = {group_id: index for index, group_id in enumerate(groups)}
    found: dict[str, list[CarriedTag]] = {customer_id: [] for customer_id in customer_ids}
    for carrier, tag in CarrierRepository(session, tenant_id).of_customers(customer_ids):
        group = groups.get(tag.group_id)
        found.setdefault(carrier.customer_id, []).append(
            CarriedTag(
                tag_id=tag.id,
                name=tag.name,
                group_id=tag.group_id,
                group_name=group.name if group else "",
                kind=tag.kind,
                source=carrier.source,
                reason=carrier.reason,
                added_at=carrier.added_at,
            )
        )
    for items in found.values():
        items.sort(key=lambda item: (rank.get(item.group_id, len(rank)), item.name))
    return found


def customer_tags(session: Session, actor: Actor, customer_id: str) -> list[CarriedTag]:
    """The tags of one customer this actor may see (404 otherwise)."""
    customer = profiles.get_customer(session, actor, customer_id)
    return tags_of_customers(session, actor.tenant_id, [customer.id])[customer.id]


def tag_history(session: Session, tenant_id: str, customer_id: str, limit: int = 500) -> list[TagChange]:
    """Every tag added to and removed from a customer, newest first (for the timeline)."""
    return TagChangeRepository(session, tenant_id).of_customer(customer_id, limit)


def timeline_entries(
    session: Session, tenant_id: str, customer_id: str, limit: int = 500
) -> list[dict[str, Any]]:
    """Tag changes as timeline entries: at, kind (tag.added / tag.removed), title and detail."""
    return [
        {
            "at": change.at,
            "kind": f"tag.{change.action}",
            "title": change.tag_name,
            "detail": {
                "tag_id": change.tag_id,
                "tag_name": change.tag_name,
                "source": change.source,
                "reason": change.reason,
            },
        }
        for change in tag_history(session, tenant_id, customer_id, limit)
    ]


@dataclass
class Carrier:
    customer: Customer
    source: str
    reason: str
    added_at: datetime


def carriers(
    session: Session, actor: Actor, tag_id: str, *, limit: int = 50, offset: int = 0
) -> tuple[list[Carrier], int]:
    """The customers carrying a tag (within the actor's data scope), newest first, and the total."""
    get_tag(session, actor.tenant_id, tag_id)
    visible = profiles.visible_customer_ids(session, actor)
    rows, total = CarrierRepository(session, actor.tenant_id).customer_ids(
        tag_id, visible_ids=sorted(visible) if visible is not None else None, limit=limit, offset=offset
    )
    customers = CustomerLookup(session, actor.tenant_id).by_ids([row.customer_id for row in rows])
    found = [
        Carrier(customers[row.customer_id], row.source, row.reason, row.added_at)
        for row in rows
        if row.customer_id in customers
    ]
    return found, total


# ── Segments: segments.py with the actor's data scope and the audit log ────────────────────


def _scope(session: Session, actor: Actor) -> list[str] | None:
    visible = profiles.visible_customer_ids(session, actor)
    return sorted(visible) if visible is not None else None


def segment_count(session: Session, actor: Actor, definition: Any) -> int:
    """How many customers this actor may see match `definition` (422 naming a bad condition)."""
    scope = _scope(session, actor)
    if scope is None:
        return segments.count(session, actor.tenant_id, definition)
    condition = conditions.validate(definition)
    found = conditions.filter_for(session, actor.tenant_id, condition, scope=scope)
    return CustomerLookup(session, actor.tenant_id).count_where(found)


def segment_preview(session: Session, actor: Actor, definition: Any, limit: int = 20) -> list[Any]:
    """The first matching customers this actor may see (segments.CustomerRow), newest first."""
    scope = _scope(session, actor)
    if scope is None:
        return segments.preview(session, actor.tenant_id, definition, limit=limit)
    condition = conditions.validate(definition)
    found = conditions.filter_for(session, actor.tenant_id, condition, scope=scope)
    return [
        segments.CustomerRow(customer.id, customer.display_name, customer.phone_masked, customer.created_at)
        for customer in CustomerLookup(session, actor.tenant_id).newest_where(found, max(1, min(limit, 200)))
    ]


def list_segments(session: Session, tenant_id: str) -> list[Any]:
    return segments.list_segments(session, tenant_id)


def get_segment(session: Session, tenant_id: str, segment_id: str) -> Any:
    return segments.get(session, tenant_id, segment_id)


def create_segment(
    session: Session, actor: Actor, *, name: str, definition: Any, description: str = ""
) -> Any:
    """Save a segment (validated, normalised); audited."""
    segment = segments.create(
        session,
        actor.tenant_id,
        name=name,
        definition=definition,
        description=description,
        created_by=_who(actor),
    )
    audit.record(
        session,
        "segment.created",
        actor=actor,
        target_type="segment",
        target_id=segment.id,
        detail={"name": segment.name},
    )
    return segment


def update_segment(
    session: Session,
    actor: Actor,
    segment_id: str,
    *,
    name: str | None = None,
    definition: Any = None,
    description: str | None = None,
) -> Any:
    segment = segments.update(
        session, actor.tenant_id, segment_id, name=name, definition=definition, description=description
    )
    audit.record(
        session,
        "segment.updated",
        actor=actor,
        target_type="segment",
        target_id=segment.id,
        detail={"name": segment.name, "definition_changed": definition is not None},
    )
    return segment


def delete_segment(session: Session, actor: Actor, segment_id: str) -> None:
    segment = segments.get(session, actor.tenant_id, segment_id)
    name = segment.name
    segments.delete(session, actor.tenant_id, segment_id)
    audit.record(
        session,
        "segment.deleted",
        actor=actor,
        target_type="segment",
        target_id=segment_id,
        detail={"name": name},
    )


def refresh_segment_count(session: Session, actor: Actor, segment_id: str) -> int:
    """Count a saved segment for this actor; for a tenant-wide actor the figure is kept for lists."""
    if _scope(session, actor) is None:
        segment = segments.refresh_count(session, actor.tenant_id, segment_id)
        return segment.last_count or 0
    return segment_count(session, actor, segments.get(session, actor.tenant_id, segment_id).definition)
