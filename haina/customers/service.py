"""Storing canonical records, and reading them back.

`store_records` is the hot path of ingestion. It works set-based: records are grouped by kind,
the stored state of a whole batch is read in one query per kind, each record is decided in
memory (insert, update, unchanged or stale), and the writes go out as a few multi-row
statements (INSERT … ON CONFLICT … DO UPDATE WHERE newer), never a row at a time.

Versions: the latest (modified_at, version) of a record wins, whatever order deliveries come
in; an older one is ignored as stale; the same one again is unchanged and emits nothing. At an
equal version, different content (a mapping fixed and the payload replayed) counts as a change.
Contacts and removals are ordered by their times; groups and coupons carry none, so the last
delivery wins.

Events go through the outbox in the caller's transaction, only for real changes: an order's
milestones once each (order.paid when it first has evidence of payment, order.shipped…), status
transitions into completed / refunded / partially_refunded / closed, order.updated for other
changes; refund.created / refund.updated; contact.added per new follow relation,
contact.updated, contact.deleted_by_customer / contact.deleted_by_staff; group.created /
group.updated; coupon.saved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.crypto import cipher_for, keyed_hash, mask_phone
from haina.core.errors import Conflict
from haina.core.settings import Settings
from haina.customers import models, repository
from haina.customers.models import record_id
from haina.platforms import canonical
from haina.platforms.canonical import CanonicalRecord, OrderStatus

RECEIVER_PHONE_CONTEXT = "orders.receiver_phone"
IDENTITY_VALUE_CONTEXT = "buyer_identities.value"
REMARK_MOBILES_CONTEXT = "contact_follows.remark_mobiles"
# Identity kinds whose full value is PII: stored as keyed hash + ciphertext unless masked.
PII_IDENTITY_KINDS = frozenset({canonical.IdentityKind.PHONE.value, canonical.IdentityKind.EMAIL.value})

# Evidence that an order was paid / shipped, whatever deliveries were missed on the way.
PAID_STATUSES = frozenset(
    {
        OrderStatus.PAID.value,
        OrderStatus.SHIPPED.value,
        OrderStatus.COMPLETED.value,
        OrderStatus.REFUNDED.value,
        OrderStatus.PARTIALLY_REFUNDED.value,
    }
)
SHIPPED_STATUSES = frozenset({OrderStatus.SHIPPED.value, OrderStatus.COMPLETED.value})
# Statuses announced when an order moves into them.
TRANSITION_EVENTS = {
    OrderStatus.COMPLETED.value: "order.completed",
    OrderStatus.REFUNDED.value: "order.refunded",
    OrderStatus.PARTIALLY_REFUNDED.value: "order.partially_refunded",
    OrderStatus.CLOSED.value: "order.closed",
}

RecordT = TypeVar("RecordT")


@dataclass
class KindCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.stale


@dataclass
class StoreResult:
    """What a `store_records` call did, per kind ("order", "refund", "buyer_identity",
    "contact", "contact_removal", "group", "coupon"), and how many events it emitted."""

    counts: dict[str, KindCounts] = field(default_factory=dict)
    events: int = 0

    def __getitem__(self, kind: str) -> KindCounts:
        return self.counts.setdefault(kind, KindCounts())

    @property
    def written(self) -> int:
        return sum(c.inserted + c.updated for c in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            **{kind: vars(counts).copy() for kind, counts in sorted(self.counts.items())},
        }


class _Batch:
    """What one `store_records` call shares: session, tenant, keys, and the events to emit."""

    def __init__(self, session: Session, tenant_id: str, settings: Settings, source: str) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.source = source
        self.cipher = cipher_for(settings.encryption_keys)
        self.hash_key = settings.hash_key
        # Fingerprints are keyed, so a stored one says nothing about the (hashed) PII inside.
        self.fingerprint_key = hashlib.blake2b(settings.hash_key.encode(), digest_size=32).digest()
        self.now = clock.now()
        self.events: list[tuple[str, dict[str, Any]]] = []

    def fingerprint(self, content: tuple[Any, ...]) -> str:
        return hashlib.blake2b(repr(content).encode(), digest_size=16, key=self.fingerprint_key).hexdigest()

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        if self.source:
            payload = {**payload, "source": self.source}
        self.events.append((event_type, payload))


def store_records(
    session: Session,
    tenant_id: str,
    records: Sequence[CanonicalRecord],
    *,
    settings: Settings,
    source: str = "",
) -> StoreResult:
    """Store a batch of canonical records idempotently and emit events for real changes; flushes."""
    session.flush()
    if not records:
        return StoreResult()
    repository.refresh_statistics(session)
    repository.take_write_lock(session)
    batch = _Batch(session, tenant_id, settings, source)
    result = StoreResult()
    orders: list[canonical.Order] = []
    refunds: list[canonical.Refund] = []
    contacts: list[canonical.Contact] = []
    removals: list[canonical.ContactRemoved] = []
    groups: list[canonical.Group] = []
    coupons: list[canonical.Coupon] = []
    buckets: dict[type, list[Any]] = {
        canonical.Order: orders,
        canonical.Refund: refunds,
        canonical.Contact: contacts,
        canonical.ContactRemoved: removals,
        canonical.Group: groups,
        canonical.Coupon: coupons,
    }
    for record in records:
        bucket = buckets.get(type(record))
        if bucket is None:
            raise TypeError(f"not a canonical record: {type(record).__name__}")
        bucket.append(record)
    if orders:
        _store_orders(batch, orders, result)
    if refunds:
        _store_refunds(batch, refunds, result)
    if contacts or removals:
        _store_contacts(batch, contacts, removals, result)
    if groups:
        _store_groups(batch, groups, result)
    if coupons:
        _store_coupons(batch, coupons, result)
    repository.insert_events(session, tenant_id, batch.events)
    result.events = len(batch.events)
    _expire_loaded(session)
    session.flush()
    return result


def _expire_loaded(session: Session) -> None:
    """Rows were written with Core statements: objects of this module already in the session are stale."""
    stored_types = (
        models.Order,
        models.Refund,
        models.BuyerIdentity,
        models.Contact,
        models.ContactFollow,
        models.CustomerGroup,
        models.Coupon,
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, stored_types):
            session.expire(obj)


def _latest(
    records: Sequence[RecordT],
    key: Callable[[RecordT], Hashable],
    precedence: Callable[[RecordT], Any],
    counts: KindCounts,
) -> dict[Hashable, RecordT]:
    """One record per key: the greatest precedence, the later one in the batch on a tie.

    A superseded record counts as unchanged when it had the same precedence (a duplicate
    delivery), as stale otherwise. `precedence` may return None (no time known): it then ties.
    """
    latest: dict[Hashable, RecordT] = {}
    for record in records:
        record_key = key(record)
        held = latest.get(record_key)
        if held is None:
            latest[record_key] = record
            continue
        mine, theirs = precedence(record), precedence(held)
        if mine is None or theirs is None or mine == theirs:
            latest[record_key] = record
            if mine == theirs:
                counts.unchanged += 1
            else:
                counts.stale += 1
        elif mine > theirs:
            latest[record_key] = record
            counts.stale += 1
        else:
            counts.stale += 1
    return latest


def _is_newer_time(incoming: datetime | None, stored: datetime | None) -> bool:
    """Whether a record dated `incoming` may override state set at `stored` (None: undated, may)."""
    return incoming is None or stored is None or incoming >= stored


# ---------------------------------------------------------------------------------------------
# Orders


def _phone_columns(batch: _Batch, phone: str) -> tuple[str | None, str, str | None]:
    """(keyed hash, display text, plaintext to encrypt) of a receiver phone."""
    if not phone:
        return None, "", None
    if "*" in phone:
        # Masked by the platform: not PII-complete, kept as the masked text for display.
        return None, phone, None
    # The common 11-digit mobile number is masked without another pass of normalisation.
    masked = phone[:3] + "****" + phone[-4:] if len(phone) == 11 and phone.isdigit() else mask_phone(phone)
    return keyed_hash(phone, batch.hash_key), masked, phone


class _Identities:
    """The buyer identities named by a batch's orders, each computed once."""

    def __init__(self, batch: _Batch) -> None:
        self.batch = batch
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.plaintext: dict[str, str] = {}

    def id_for(self, identity: canonical.BuyerIdentity) -> str:
        cache_key = (identity.platform, identity.kind, identity.value)
        row = self.rows.get(cache_key)
        if row is not None:
            return str(row["id"])
        batch = self.batch
        value = identity.value
        pii = identity.kind in PII_IDENTITY_KINDS and not identity.is_masked
        if pii:
            value = keyed_hash(identity.value, batch.hash_key, kind=identity.kind)
        identity_id = record_id("buyer_identity", batch.tenant_id, identity.platform, identity.kind, value)
        if pii:
            self.plaintext[identity_id] = identity.value
        self.rows[cache_key] = {
            "id": identity_id,
            "tenant_id": batch.tenant_id,
            "platform": identity.platform,
            "kind": identity.kind,
            "value": value,
            "value_encrypted": None,
            "is_masked": identity.is_masked,
            "shop_id": identity.shop_id,
            "customer_id": None,
            "created_at": batch.now,
        }
        return identity_id

    def rows_for(self, identity_ids: set[str]) -> list[dict[str, Any]]:
        rows = []
        encrypt = self.batch.cipher.encrypt
        for row in self.rows.values():
            if row["id"] in identity_ids:
                plain = self.plaintext.get(row["id"])
                if plain is not None and row["value_encrypted"] is None:
                    row["value_encrypted"] = encrypt(plain, context=IDENTITY_VALUE_CONTEXT)
                rows.append(row)
        return rows


_ORDER_STATE = ("modified_at", "version", "fingerprint", "status", "paid_at", "shipped_at")


def _store_orders(batch: _Batch, records: list[canonical.Order], result: StoreResult) -> None:
    counts = result["order"]
    latest = _latest(
        records,
        key=lambda o: (o.platform, o.shop_id, o.external_id),
        precedence=lambda o: (o.modified_at, o.version),
        counts=counts,
    )
    tenant_id, source, now = batch.tenant_id, batch.source, batch.now
    orders = repository.OrderRepository(batch.session, tenant_id)
    identities = _Identities(batch)

    prepared: list[tuple[canonical.Order, dict[str, Any], str | None, list[str]]] = []
    for order in latest.values():
        order_id = record_id("order", tenant_id, order.platform, order.shop_id, order.external_id)
        phone_hash, phone_text, phone_plain = _phone_columns(batch, order.receiver_phone)
        address = order.receiver_address
        identity_ids = [identities.id_for(identity) for identity in order.buyer]
        lines = tuple(
            (line.external_id, line.sku_id, line.outer_sku, line.title, line.quantity, line.unit_price_fen)
            for line in order.lines
        )
        content = (
            str(order.status),
            order.platform_status,
            order.total_fen,
            order.discount_fen,
            order.freight_fen,
            order.paid_fen,
            order.buyer_nick,
            order.receiver_name,
            phone_hash or phone_text,
            address.province,
            address.city,
            address.district,
            address.street,
            tuple(order.coupon_ids),
            order.created_at,
            order.paid_at,
            order.shipped_at,
            order.finished_at,
            lines,
            tuple(sorted(set(identity_ids))),
        )
        row: dict[str, Any] = {
            "id": order_id,
            "tenant_id": tenant_id,
            "platform": order.platform,
            "shop_id": order.shop_id,
            "external_id": order.external_id,
            "status": str(order.status),
            "platform_status": order.platform_status,
            "total_fen": order.total_fen,
            "discount_fen": order.discount_fen,
            "freight_fen": order.freight_fen,
            "paid_fen": order.paid_fen,
            "buyer_nick": order.buyer_nick,
            "receiver_name": order.receiver_name,
            "receiver_phone_encrypted": None,
            "receiver_phone_hash": phone_hash,
            "receiver_phone_masked": phone_text,
            "receiver_province": address.province,
            "receiver_city": address.city,
            "receiver_district": address.district,
            "receiver_street": address.street,
            "coupon_ids": list(order.coupon_ids),
            "created_at": order.created_at,
            "paid_at": order.paid_at,
            "shipped_at": order.shipped_at,
            "finished_at": order.finished_at,
            "modified_at": order.modified_at,
            "version": order.version,
            "fingerprint": batch.fingerprint(content),
            "source": source,
            "synced_at": now,
        }
        prepared.append((order, row, phone_plain, identity_ids))

    planned = _write_orders(batch, orders, prepared, counts)
    if not planned:
        return

    line_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    replaced: list[str] = []
    linked_identities: set[str] = set()
    for order, row, existing, identity_ids in planned:
        order_id = row["id"]
        _order_events(batch, order, row, existing)
        if existing is not None and existing.fingerprint == row["fingerprint"]:
            continue  # only the version moved: lines and buyers are the same
        if existing is not None:
            replaced.append(order_id)
        for position, line in enumerate(order.lines):
            line_rows.append(
                {
                    "order_id": order_id,
                    "position": position,
                    "tenant_id": tenant_id,
                    "external_id": line.external_id,
                    "sku_id": line.sku_id,
                    "outer_sku": line.outer_sku,
                    "title": line.title,
                    "quantity": line.quantity,
                    "unit_price_fen": line.unit_price_fen,
                }
            )
        for identity_id in dict.fromkeys(identity_ids):
            linked_identities.add(identity_id)
            link_rows.append({"order_id": order_id, "buyer_identity_id": identity_id, "tenant_id": tenant_id})

    session = batch.session
    if replaced:
        repository.OrderLineRepository(session, tenant_id).delete_where_in("order_id", replaced)
        repository.OrderBuyerRepository(session, tenant_id).delete_where_in("order_id", replaced)
    repository.OrderLineRepository(session, tenant_id).insert(line_rows)
    if linked_identities:
        identity_repository = repository.BuyerIdentityRepository(session, tenant_id)
        known = identity_repository.rows_by_id((), list(linked_identities))
        inserted = identity_repository.insert_new(identities.rows_for(linked_identities - known.keys()))
        result["buyer_identity"].inserted += len(inserted)
        result["buyer_identity"].unchanged += len(linked_identities) - len(inserted)
    repository.OrderBuyerRepository(session, tenant_id).insert(link_rows)


ORDER_WRITE_ROUNDS = 3
_Prepared = tuple[canonical.Order, dict[str, Any], str | None, list[str]]
_Planned = tuple[canonical.Order, dict[str, Any], Any, list[str]]


def _write_orders(
    batch: _Batch, orders: repository.OrderRepository, prepared: list[_Prepared], counts: KindCounts
) -> list[_Planned]:
    """Decide each order against its stored state and write the ones that change; the written.

    Orders read as missing are inserted without overwriting anything. One that exists after all
    (a concurrent writer stored it between our read and our write) is decided again against a
    fresh read, so it is never taken for new twice and its lines are never doubled.
    """
    written: list[_Planned] = []
    pending = prepared
    encrypt = batch.cipher.encrypt
    for _ in range(ORDER_WRITE_ROUNDS):
        stored = orders.rows_by_id(_ORDER_STATE, [row["id"] for _, row, _, _ in pending])
        new: list[_Planned] = []
        changed: list[_Planned] = []
        for order, row, phone_plain, identity_ids in pending:
            existing = stored.get(row["id"])
            if existing is not None:
                incoming = (order.modified_at, order.version)
                held = (existing.modified_at, existing.version)
                if incoming < held:
                    counts.stale += 1
                    continue
                if incoming == held and row["fingerprint"] == existing.fingerprint:
                    counts.unchanged += 1
                    continue
            if phone_plain is not None and row["receiver_phone_encrypted"] is None:
                row["receiver_phone_encrypted"] = encrypt(phone_plain, context=RECEIVER_PHONE_CONTEXT)
            (new if existing is None else changed).append((order, row, existing, identity_ids))

        updated = orders.upsert(
            [row for _, row, _, _ in changed], when=repository.newer_version(orders), returning=True
        )
        for item in changed:
            if item[1]["id"] in updated:
                counts.updated += 1
                written.append(item)
            else:
                counts.stale += 1  # a concurrent writer stored a newer version meanwhile
        inserted = orders.insert_new([row for _, row, _, _ in new])
        for item in new:
            if item[1]["id"] in inserted:
                counts.inserted += 1
                written.append(item)
        conflicting = {row["id"] for _, row, _, _ in new} - inserted
        pending = [item for item in pending if item[1]["id"] in conflicting]
        if not pending:
            return written
    raise Conflict(
        "orders of this batch kept being written concurrently; store the batch again", code="concurrent_write"
    )


def _order_events(batch: _Batch, order: canonical.Order, row: dict[str, Any], existing: Any) -> None:
    status = str(order.status)
    previous = existing.status if existing is not None else None
    payload = {
        "order_id": row["id"],
        "platform": order.platform,
        "shop_id": order.shop_id,
        "external_id": order.external_id,
        "status": status,
        "previous_status": previous,
        "total_fen": order.total_fen,
        "paid_fen": order.paid_fen,
    }
    emitted = False
    if existing is None:
        batch.emit("order.created", payload)
        emitted = True
    was_paid = existing is not None and (existing.paid_at is not None or previous in PAID_STATUSES)
    if not was_paid and (order.paid_at is not None or status in PAID_STATUSES):
        batch.emit("order.paid", payload)
        emitted = True
    was_shipped = existing is not None and (existing.shipped_at is not None or previous in SHIPPED_STATUSES)
    if not was_shipped and (order.shipped_at is not None or status in SHIPPED_STATUSES):
        batch.emit("order.shipped", payload)
        emitted = True
    transition = TRANSITION_EVENTS.get(status)
    if transition is not None and status != previous:
        batch.emit(transition, payload)
        emitted = True
    if not emitted and existing.fingerprint != row["fingerprint"]:
        batch.emit("order.updated", payload)


# ---------------------------------------------------------------------------------------------
# Refunds


def _store_refunds(batch: _Batch, records: list[canonical.Refund], result: StoreResult) -> None:
    counts = result["refund"]
    latest = _latest(
        records,
        key=lambda r: (r.platform, r.shop_id, r.external_id),
        precedence=lambda r: (r.modified_at, r.version),
        counts=counts,
    )
    refunds = repository.RefundRepository(batch.session, batch.tenant_id)
    prepared: list[dict[str, Any]] = []
    for refund in latest.values():
        content = (
            refund.order_external_id,
            refund.order_line_external_id,
            refund.amount_fen,
            str(refund.status),
            refund.reason,
            refund.created_at,
        )
        prepared.append(
            {
                "id": record_id(
                    "refund", batch.tenant_id, refund.platform, refund.shop_id, refund.external_id
                ),
                "tenant_id": batch.tenant_id,
                "platform": refund.platform,
                "shop_id": refund.shop_id,
                "external_id": refund.external_id,
                "order_external_id": refund.order_external_id,
                "order_line_external_id": refund.order_line_external_id,
                "amount_fen": refund.amount_fen,
                "status": str(refund.status),
                "reason": refund.reason,
                "created_at": refund.created_at,
                "modified_at": refund.modified_at,
                "version": refund.version,
                "fingerprint": batch.fingerprint(content),
                "source": batch.source,
                "synced_at": batch.now,
            }
        )
    stored = refunds.rows_by_id(
        ("modified_at", "version", "fingerprint", "status"), [r["id"] for r in prepared]
    )
    to_write: list[dict[str, Any]] = []
    planned: list[tuple[dict[str, Any], Any]] = []
    for row in prepared:
        existing = stored.get(row["id"])
        if existing is not None:
            incoming, held = (row["modified_at"], row["version"]), (existing.modified_at, existing.version)
            if incoming < held:
                counts.stale += 1
                continue
            if incoming == held and row["fingerprint"] == existing.fingerprint:
                counts.unchanged += 1
                continue
        to_write.append(row)
        planned.append((row, existing))
    written = refunds.upsert(to_write, when=repository.newer_version(refunds), returning=True)
    for row, existing in planned:
        if row["id"] not in written:
            counts.stale += 1
            continue
        payload = {
            "refund_id": row["id"],
            "platform": row["platform"],
            "shop_id": row["shop_id"],
            "external_id": row["external_id"],
            "order_external_id": row["order_external_id"],
            "amount_fen": row["amount_fen"],
            "status": row["status"],
            "previous_status": existing.status if existing is not None else None,
        }
        if existing is None:
            counts.inserted += 1
            batch.emit("refund.created", payload)
        else:
            counts.updated += 1
            batch.emit("refund.updated", payload)


# ---------------------------------------------------------------------------------------------
# Contacts, follow relations, removals

_CONTACT_FIELDS = ("name", "type", "gender", "unionid", "avatar", "is_deleted")
_FOLLOW_DETAILS = (
    "remark",
    "description",
    "remark_mobile_hashes",
    "tag_ids",
    "add_channel_state",
    "add_way",
    "created_at",
)


def _follow_details(batch: _Batch, follow: canonical.FollowRelation) -> dict[str, Any]:
    return {
        "remark": follow.remark,
        "description": follow.description,
        "remark_mobile_hashes": [keyed_hash(mobile, batch.hash_key) for mobile in follow.remark_mobiles],
        "tag_ids": list(follow.tag_ids),
        "add_channel_state": follow.add_channel_state,
        "add_way": follow.add_way,
        "created_at": follow.created_at,
    }


def _contact_payload(contact_id: str, corp_id: str, external_userid: str, **extra: Any) -> dict[str, Any]:
    return {"contact_id": contact_id, "corp_id": corp_id, "external_userid": external_userid, **extra}


def _store_contacts(
    batch: _Batch,
    records: list[canonical.Contact],
    removals: list[canonical.ContactRemoved],
    result: StoreResult,
) -> None:
    counts = result["contact"]
    tenant_id, session = batch.tenant_id, batch.session
    latest = _latest(
        records,
        key=lambda c: (c.corp_id, c.external_userid),
        precedence=lambda c: c.modified_at,
        counts=counts,
    )
    contacts = repository.ContactRepository(session, tenant_id)
    follows_repo = repository.ContactFollowRepository(session, tenant_id)

    def contact_id_of(corp_id: str, external_userid: str) -> str:
        return record_id("contact", tenant_id, corp_id, external_userid)

    ids = list(
        dict.fromkeys(
            [contact_id_of(c.corp_id, c.external_userid) for c in latest.values()]
            + [contact_id_of(r.corp_id, r.external_userid) for r in removals]
        )
    )
    stored = contacts.rows_by_id(("modified_at", "fingerprint", *_CONTACT_FIELDS), ids)
    # Follow relations of these contacts as mutable rows: contact id → staff userid → row.
    follows: dict[str, dict[str, dict[str, Any]]] = {}
    for follow_row in follows_repo.rows_where_in("contact_id", list(stored)):
        follows.setdefault(follow_row.contact_id, {})[follow_row.staff_userid] = follow_row._asdict()
    dirty: dict[str, dict[str, Any]] = {}  # follow id → row to write
    contact_rows: list[dict[str, Any]] = []

    for record in latest.values():
        contact_id = contact_id_of(record.corp_id, record.external_userid)
        existing = stored.get(contact_id)
        detail_by_staff = {f.staff_userid: (f, _follow_details(batch, f)) for f in record.follows}
        if existing is not None and not record.profile_known:
            # A callback knows only ids: keep the profile we have.
            record.name, record.type, record.gender = existing.name, existing.type, existing.gender
            record.unionid, record.avatar = existing.unionid, existing.avatar
        content = (
            record.name,
            record.type,
            record.gender,
            record.unionid,
            record.avatar,
            record.is_deleted,
            tuple(sorted((staff, tuple(d.values())) for staff, (_, d) in detail_by_staff.items())),
        )
        fingerprint = batch.fingerprint(content)
        if existing is not None:
            if not _is_newer_time(record.modified_at, existing.modified_at):
                counts.stale += 1
                continue
            if fingerprint == existing.fingerprint and record.modified_at == existing.modified_at:
                counts.unchanged += 1
                continue
        row = {
            "id": contact_id,
            "tenant_id": tenant_id,
            "corp_id": record.corp_id,
            "external_userid": record.external_userid,
            "name": record.name,
            "type": record.type,
            "gender": record.gender,
            "unionid": record.unionid,
            "avatar": record.avatar,
            "is_deleted": record.is_deleted,
            "customer_id": None,
            "modified_at": record.modified_at,
            "fingerprint": fingerprint,
            "source": batch.source,
            "synced_at": batch.now,
        }
        contact_rows.append(row)
        changed = existing is not None and (
            existing.fingerprint != fingerprint
            and any(getattr(existing, name) != row[name] for name in _CONTACT_FIELDS)
        )
        if existing is None:
            counts.inserted += 1
        else:
            counts.updated += 1
        current = follows.setdefault(contact_id, {})
        added: list[str] = []
        at = record.modified_at
        for staff_userid, (follow, details) in detail_by_staff.items():
            held = current.get(staff_userid)
            mobiles = follow.remark_mobiles
            encrypted = (
                batch.cipher.encrypt(json.dumps(mobiles), context=REMARK_MOBILES_CONTEXT) if mobiles else None
            )
            if held is None:
                held = current[staff_userid] = {
                    "id": record_id("contact_follow", tenant_id, contact_id, staff_userid),
                    "tenant_id": tenant_id,
                    "contact_id": contact_id,
                    "staff_userid": staff_userid,
                    **details,
                    "remark_mobiles_encrypted": encrypted,
                    "is_active": True,
                    "changed_at": at,
                    "removed_at": None,
                    "removed_by_customer": None,
                }
                added.append(staff_userid)
            else:
                if held["is_active"]:
                    changed = changed or any(held[name] != details[name] for name in _FOLLOW_DETAILS)
                    held["changed_at"] = at if at is not None else held["changed_at"]
                elif _is_newer_time(at, held["changed_at"]):
                    # Added again after a removal.
                    held.update(is_active=True, changed_at=at, removed_at=None, removed_by_customer=None)
                    added.append(staff_userid)
                held.update(details, remark_mobiles_encrypted=encrypted)
            dirty[held["id"]] = held
        for staff_userid, held in current.items():
            if (
                record.follows_complete
                and staff_userid not in detail_by_staff
                and held["is_active"]
                and _is_newer_time(at, held["changed_at"])
            ):
                # Gone from the contact's follow list: ended, by whom a removal event may tell.
                held.update(
                    is_active=False, changed_at=at, removed_at=at or batch.now, removed_by_customer=None
                )
                dirty[held["id"]] = held
                changed = True
        for staff_userid in added:
            held = current[staff_userid]
            batch.emit(
                "contact.added",
                _contact_payload(
                    contact_id,
                    record.corp_id,
                    record.external_userid,
                    staff_userid=staff_userid,
                    add_channel_state=held["add_channel_state"],
                    add_way=held["add_way"],
                ),
            )
        if changed:
            batch.emit(
                "contact.updated", _contact_payload(contact_id, record.corp_id, record.external_userid)
            )

    placeholders = _apply_removals(
        batch, removals, stored, {r["id"] for r in contact_rows}, follows, dirty, result
    )
    contacts.upsert(contact_rows, when=repository.newer_or_undated(contacts), keep=("customer_id",))
    contacts.insert_ignoring(placeholders)
    follows_repo.upsert(list(dirty.values()))


def _apply_removals(
    batch: _Batch,
    removals: list[canonical.ContactRemoved],
    stored: dict[str, Any],
    written_contacts: set[str],
    follows: dict[str, dict[str, dict[str, Any]]],
    dirty: dict[str, dict[str, Any]],
    result: StoreResult,
) -> list[dict[str, Any]]:
    """End follow relations; returns placeholder contacts for removals of contacts never seen."""
    counts = result["contact_removal"]
    tenant_id = batch.tenant_id
    placeholders: dict[str, dict[str, Any]] = {}
    for removal in sorted(removals, key=lambda r: (r.at is None, r.at or batch.now)):
        contact_id = record_id("contact", tenant_id, removal.corp_id, removal.external_userid)
        if contact_id not in stored and contact_id not in written_contacts and contact_id not in placeholders:
            # Known only by its removal: a bare row keeps the fact; a later Contact fills it in.
            placeholders[contact_id] = {
                "id": contact_id,
                "tenant_id": tenant_id,
                "corp_id": removal.corp_id,
                "external_userid": removal.external_userid,
                "name": "",
                "type": 1,
                "gender": 0,
                "unionid": "",
                "avatar": "",
                "is_deleted": False,
                "customer_id": None,
                "modified_at": None,
                "fingerprint": "",
                "source": batch.source,
                "synced_at": batch.now,
            }
        current = follows.setdefault(contact_id, {})
        held = current.get(removal.staff_userid)
        at = removal.at or batch.now
        if held is None:
            held = current[removal.staff_userid] = {
                "id": record_id("contact_follow", tenant_id, contact_id, removal.staff_userid),
                "tenant_id": tenant_id,
                "contact_id": contact_id,
                "staff_userid": removal.staff_userid,
                "remark": "",
                "description": "",
                "remark_mobiles_encrypted": None,
                "remark_mobile_hashes": [],
                "tag_ids": [],
                "add_channel_state": "",
                "add_way": 0,
                "created_at": None,
                "is_active": False,
                "changed_at": at,
                "removed_at": at,
                "removed_by_customer": removal.by_customer,
            }
            counts.inserted += 1
        elif held["is_active"]:
            if not _is_newer_time(at, held["changed_at"]):
                counts.stale += 1  # the relation was (re-)established after this removal
                continue
            held.update(
                is_active=False, changed_at=at, removed_at=at, removed_by_customer=removal.by_customer
            )
            counts.updated += 1
        elif held["removed_by_customer"] is None:
            # Ended already (gone from a contact's follow list); now we know by whom and when.
            held.update(removed_at=at, removed_by_customer=removal.by_customer)
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        dirty[held["id"]] = held
        event_type = "contact.deleted_by_customer" if removal.by_customer else "contact.deleted_by_staff"
        batch.emit(
            event_type,
            _contact_payload(
                contact_id,
                removal.corp_id,
                removal.external_userid,
                staff_userid=removal.staff_userid,
                at=at.isoformat(),
            ),
        )
    return list(placeholders.values())


# ---------------------------------------------------------------------------------------------
# Customer groups and coupons: no version of their own, so content decides


def _store_groups(batch: _Batch, records: list[canonical.Group], result: StoreResult) -> None:
    counts = result["group"]
    tenant_id, session = batch.tenant_id, batch.session
    latest = _latest(records, key=lambda g: (g.corp_id, g.chat_id), precedence=lambda g: None, counts=counts)
    groups = repository.GroupRepository(session, tenant_id)
    prepared: list[tuple[dict[str, Any], dict[str, canonical.GroupMember]]] = []
    for group in latest.values():
        members = {m.member_id: m for m in group.members}  # the last mention of a member wins
        content = (
            group.name,
            group.owner,
            group.created_at,
            group.is_dismissed,
            tuple(sorted((m.member_id, m.type, m.joined_at, m.unionid) for m in members.values())),
        )
        prepared.append(
            (
                {
                    "id": record_id("customer_group", tenant_id, group.corp_id, group.chat_id),
                    "tenant_id": tenant_id,
                    "corp_id": group.corp_id,
                    "chat_id": group.chat_id,
                    "name": group.name,
                    "owner": group.owner,
                    "created_at": group.created_at,
                    "is_dismissed": group.is_dismissed,
                    "member_count": len(members),
                    "fingerprint": batch.fingerprint(content),
                    "source": batch.source,
                    "synced_at": batch.now,
                },
                members,
            )
        )
    stored = groups.rows_by_id(("fingerprint",), [row["id"] for row, _ in prepared])
    to_write: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    for row, members in prepared:
        existing = stored.get(row["id"])
        if existing is not None and existing.fingerprint == row["fingerprint"]:
            counts.unchanged += 1
            continue
        to_write.append(row)
        if existing is None:
            counts.inserted += 1
        else:
            counts.updated += 1
        member_rows.extend(
            {
                "group_id": row["id"],
                "member_id": m.member_id,
                "tenant_id": tenant_id,
                "type": m.type,
                "joined_at": m.joined_at,
                "unionid": m.unionid,
            }
            for m in members.values()
        )
        batch.emit(
            "group.created" if existing is None else "group.updated",
            {
                "group_id": row["id"],
                "corp_id": row["corp_id"],
                "chat_id": row["chat_id"],
                "owner": row["owner"],
                "member_count": row["member_count"],
                "is_dismissed": row["is_dismissed"],
            },
        )
    if not to_write:
        return
    groups.upsert(to_write)
    member_repository = repository.GroupMemberRepository(session, tenant_id)
    # Every written group's members are replaced, new ones too: a concurrent writer may have
    # stored the group (and its members) since it was read as missing.
    member_repository.delete_where_in("group_id", [row["id"] for row in to_write])
    member_repository.insert(member_rows)


def _store_coupons(batch: _Batch, records: list[canonical.Coupon], result: StoreResult) -> None:
    counts = result["coupon"]
    tenant_id = batch.tenant_id
    latest = _latest(
        records,
        key=lambda c: (c.platform, c.shop_id, c.external_id),
        precedence=lambda c: None,
        counts=counts,
    )
    coupons = repository.CouponRepository(batch.session, tenant_id)
    prepared: list[dict[str, Any]] = []
    for coupon in latest.values():
        content = (
            coupon.title,
            coupon.kind,
            coupon.threshold_fen,
            coupon.value_fen,
            coupon.discount_percent,
            coupon.starts_at,
            coupon.ends_at,
        )
        prepared.append(
            {
                "id": record_id("coupon", tenant_id, coupon.platform, coupon.shop_id, coupon.external_id),
                "tenant_id": tenant_id,
                "platform": coupon.platform,
                "shop_id": coupon.shop_id,
                "external_id": coupon.external_id,
                "title": coupon.title,
                "kind": coupon.kind,
                "threshold_fen": coupon.threshold_fen,
                "value_fen": coupon.value_fen,
                "discount_percent": coupon.discount_percent,
                "label": coupon.label,
                "starts_at": coupon.starts_at,
                "ends_at": coupon.ends_at,
                "fingerprint": batch.fingerprint(content),
                "source": batch.source,
                "synced_at": batch.now,
            }
        )
    stored = coupons.rows_by_id(("fingerprint",), [row["id"] for row in prepared])
    to_write: list[dict[str, Any]] = []
    for row in prepared:
        existing = stored.get(row["id"])
        if existing is not None and existing.fingerprint == row["fingerprint"]:
            counts.unchanged += 1
            continue
        to_write.append(row)
        if existing is None:
            counts.inserted += 1
        else:
            counts.updated += 1
        batch.emit(
            "coupon.saved",
            {
                "coupon_id": row["id"],
                "platform": row["platform"],
                "shop_id": row["shop_id"],
                "external_id": row["external_id"],
                "label": row["label"],
                "created": existing is None,
            },
        )
    coupons.upsert(to_write)


# ---------------------------------------------------------------------------------------------
# Reading


def get_order(session: Session, tenant_id: str, order_id: str) -> models.Order:
    """One order with its lines and buyer identities; another tenant's answers NotFound."""
    return repository.OrderRepository(session, tenant_id).with_details(order_id)


def find_order(
    session: Session, tenant_id: str, platform: str, shop_id: str, external_id: str
) -> models.Order | None:
    """An order by its platform key, with lines and buyer identities; None when not stored."""
    return repository.OrderRepository(session, tenant_id).by_key(platform, shop_id, external_id)


def list_orders(
    session: Session, tenant_id: str, *, platform: str | None = None, limit: int = 50, offset: int = 0
) -> list[models.Order]:
    """Orders, newest first (without lines)."""
    return repository.OrderRepository(session, tenant_id).list(platform=platform, limit=limit, offset=offset)


def count_orders(session: Session, tenant_id: str, *, platform: str | None = None) -> int:
    return repository.OrderRepository(session, tenant_id).count_orders(platform=platform)


def snapshot(session: Session, tenant_id: str, *, settings: Settings | None = None) -> dict[str, Any]:
    """Everything stored for a tenant as plain comparable data, keyed by natural keys.

    Generated ids, ciphertexts, fingerprints and sync bookkeeping are left out, so two stores
    of the same records compare equal. With `settings`, PII is decrypted (receiver phones,
    PII identities, remark mobiles); without, it appears as its keyed hash.
    """
    cipher = cipher_for(settings.encryption_keys) if settings is not None else None

    def reveal(encrypted: str | None, fallback: Any, context: str) -> Any:
        if cipher is None or encrypted is None:
            return fallback
        return cipher.decrypt(encrypted, context=context)

    identities = {}
    for row in repository.table_rows(session, tenant_id, models.BuyerIdentity):
        value = reveal(row.value_encrypted, row.value, IDENTITY_VALUE_CONTEXT)
        identities[row.id] = (row.platform, row.kind, value, row.is_masked)

    lines: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(repository.table_rows(session, tenant_id, models.OrderLine), key=lambda r: r.position):
        lines.setdefault(row.order_id, []).append(
            {
                "external_id": row.external_id,
                "sku_id": row.sku_id,
                "outer_sku": row.outer_sku,
                "title": row.title,
                "quantity": row.quantity,
                "unit_price_fen": row.unit_price_fen,
            }
        )
    buyers: dict[str, list[tuple[Any, ...]]] = {}
    for row in repository.table_rows(session, tenant_id, models.OrderBuyer):
        buyers.setdefault(row.order_id, []).append(identities[row.buyer_identity_id])

    skip = {"id", "tenant_id", "fingerprint", "source", "synced_at"}
    orders = {}
    for row in repository.table_rows(session, tenant_id, models.Order):
        data = {k: v for k, v in row._asdict().items() if k not in skip and k != "receiver_phone_encrypted"}
        data["receiver_phone"] = reveal(
            row.receiver_phone_encrypted,
            row.receiver_phone_hash or row.receiver_phone_masked,
            RECEIVER_PHONE_CONTEXT,
        )
        data["lines"] = lines.get(row.id, [])
        data["buyer"] = sorted(buyers.get(row.id, []))
        orders[f"{row.platform}/{row.shop_id}/{row.external_id}"] = data

    refunds = {
        f"{row.platform}/{row.shop_id}/{row.external_id}": {
            k: v for k, v in row._asdict().items() if k not in skip
        }
        for row in repository.table_rows(session, tenant_id, models.Refund)
    }

    follows: dict[str, dict[str, dict[str, Any]]] = {}
    for row in repository.table_rows(session, tenant_id, models.ContactFollow):
        data = {
            k: v
            for k, v in row._asdict().items()
            if k not in skip and k not in {"contact_id", "remark_mobiles_encrypted", "remark_mobile_hashes"}
        }
        if cipher is not None:
            data["remark_mobiles"] = (
                json.loads(cipher.decrypt(row.remark_mobiles_encrypted, context=REMARK_MOBILES_CONTEXT))
                if row.remark_mobiles_encrypted
                else []
            )
        else:
            data["remark_mobiles"] = row.remark_mobile_hashes
        follows.setdefault(row.contact_id, {})[row.staff_userid] = data
    contacts = {}
    for row in repository.table_rows(session, tenant_id, models.Contact):
        data = {k: v for k, v in row._asdict().items() if k not in skip}
        data["follows"] = follows.get(row.id, {})
        contacts[f"{row.corp_id}/{row.external_userid}"] = data

    members: dict[str, dict[str, dict[str, Any]]] = {}
    for row in repository.table_rows(session, tenant_id, models.CustomerGroupMember):
        members.setdefault(row.group_id, {})[row.member_id] = {
            "type": row.type,
            "joined_at": row.joined_at,
            "unionid": row.unionid,
        }
    groups = {}
    for row in repository.table_rows(session, tenant_id, models.CustomerGroup):
        data = {k: v for k, v in row._asdict().items() if k not in skip}
        data["members"] = members.get(row.id, {})
        groups[f"{row.corp_id}/{row.chat_id}"] = data

    coupons = {
        f"{row.platform}/{row.shop_id}/{row.external_id}": {
            k: v for k, v in row._asdict().items() if k not in skip
        }
        for row in repository.table_rows(session, tenant_id, models.Coupon)
    }
    return {
        "orders": orders,
        "refunds": refunds,
        "buyer_identities": sorted(identities.values()),
        "contacts": contacts,
        "groups": groups,
        "coupons": coupons,
    }


@dataclass(frozen=True)
class WeComFollow:
    """One member's follow relation with a WeCom contact, with the corp tag ids WeCom last said."""

    contact_id: str
    customer_id: str | None
    corp_id: str
    external_userid: str
    staff_userid: str
    tag_ids: tuple[str, ...]
    is_active: bool
    added_at: datetime | None = None  # when the member added the customer, as WeCom said


def wecom_follows_of(
    session: Session,
    tenant_id: str,
    *,
    customer_ids: Sequence[str] = (),
    contact_ids: Sequence[str] = (),
    active_only: bool = True,
) -> list[WeComFollow]:
    """Follow relations of the WeCom contacts of these customers or contacts (the tag mirror's
    view of who carries which corp tag)."""
    from sqlalchemy import select

    contact = models.Contact
    follow = models.ContactFollow
    query = select(
        contact.id,
        contact.customer_id,
        contact.corp_id,
        contact.external_userid,
        follow.staff_userid,
        follow.tag_ids,
        follow.is_active,
        follow.created_at,
    ).join(follow, (follow.tenant_id == contact.tenant_id) & (follow.contact_id == contact.id))
    query = query.where(contact.tenant_id == tenant_id)
    if active_only:
        query = query.where(follow.is_active.is_(True), contact.is_deleted.is_(False))
    found: list[WeComFollow] = []
    for column, values in ((contact.customer_id, customer_ids), (contact.id, contact_ids)):
        wanted = sorted(set(values))
        for start in range(0, len(wanted), 500):
            for row in session.execute(query.where(column.in_(wanted[start : start + 500]))):
                found.append(
                    WeComFollow(
                        contact_id=row[0],
                        customer_id=row[1],
                        corp_id=row[2],
                        external_userid=row[3],
                        staff_userid=row[4],
                        tag_ids=tuple(row[5] or ()),
                        is_active=bool(row[6]),
                        added_at=row[7],
                    )
                )
    return sorted(set(found), key=lambda f: (f.contact_id, f.staff_userid))
