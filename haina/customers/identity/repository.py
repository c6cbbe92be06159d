"""All SQL of identity resolution. Reads are tenant-scoped through `TenantRepository.scoped`;
bulk writes reuse the canonical records' set-based helpers (COPY + ON CONFLICT on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from haina.core.repository import TenantRepository
from haina.customers.identity.models import (
    Customer,
    CustomerMerge,
    CustomerStatus,
    IdentityBlockKey,
    IdentityLink,
    IdentityNode,
    IdentityReview,
    IdentitySettings,
    LinkStatus,
    OrderOwner,
)
from haina.customers.models import (
    BuyerIdentity,
    Contact,
    ContactFollow,
    Order,
    OrderBuyer,
    record_id,
)
from haina.customers.repository import BulkRepository, chunks, is_postgresql

HUMAN_STATUSES = (LinkStatus.MANUAL.value, LinkStatus.REJECTED.value, LinkStatus.CANNOT_LINK.value)


def bulk_update(
    session: Session,
    table: Table,
    tenant_id: str,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    fixed: dict[str, Any] | None = None,
) -> None:
    """UPDATE table SET column = new value … WHERE tenant_id = tenant AND key = row key, for many
    rows (each row: the key value, then one value per column; `fixed` sets the same on all).

    PostgreSQL: one statement joining unnest()ed arrays (round trips, not rows, are the cost);
    SQLite: an executemany of the single-row UPDATE, which is as fast in process."""
    if not rows:
        return
    fixed = fixed or {}
    if is_postgresql(session):
        names = [key, *columns]
        arrays = {f"a{index}": [row[index] for row in rows] for index in range(len(names))}
        source = ", ".join(f"CAST(:a{index} AS text[])" for index in range(len(names)))
        sets = [f"{column} = v.{column}" for column in columns] + [
            f"{column} = :f_{column}" for column in fixed
        ]
        statement = text(
            f"UPDATE {table.name} SET {', '.join(sets)} FROM unnest({source}) AS v({', '.join(names)})"
            f" WHERE {table.name}.tenant_id = :tenant AND {table.name}.{key} = v.{key}"
        )
        parameters = {
            **arrays,
            "tenant": tenant_id,
            **{f"f_{column}": value for column, value in fixed.items()},
        }
        session.execute(statement, parameters)
        return
    single = (
        update(table)
        .where(table.c.tenant_id == bindparam("b_tenant"), table.c[key] == bindparam("b_key"))
        .values(**{column: bindparam(f"b_{column}") for column in columns}, **fixed)
    )
    session.execute(
        single,
        [
            {
                "b_tenant": tenant_id,
                "b_key": row[0],
                **{f"b_{column}": row[index + 1] for index, column in enumerate(columns)},
            }
            for row in rows
        ],
    )


def expire_loaded(session: Session, *models: type) -> None:
    """Rows were written with Core statements: objects of these models already loaded are stale
    (a later query would hand back their old attribute values)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, models):
            session.expire(obj)


def lock_tenant(session: Session, tenant_id: str) -> None:
    """Serialise resolution within a tenant: two batches touching one customer must not both
    decide it. PostgreSQL: a transaction-level advisory lock; SQLite: take the write lock now."""
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"oneid:{tenant_id}"})
    else:
        session.execute(text("UPDATE identity_nodes SET id = id WHERE 0"))


class NodeRepository(BulkRepository[IdentityNode]):
    model = IdentityNode
    label = "identity"
    conflict_columns = ("tenant_id", "kind", "value")

    def by_ids(self, ids: Sequence[str]) -> list[IdentityNode]:
        found: list[IdentityNode] = []
        for part in chunks(list(ids)):
            found.extend(self.session.scalars(self.scoped().where(IdentityNode.id.in_(part))))
        return found

    def of_customers(self, customer_ids: Sequence[str]) -> list[IdentityNode]:
        found: list[IdentityNode] = []
        for part in chunks(list(customer_ids)):
            found.extend(self.session.scalars(self.scoped().where(IdentityNode.customer_id.in_(part))))
        return found

    def all(self) -> list[IdentityNode]:
        return list(self.session.scalars(self.scoped()))

    def find(self, kinds: Sequence[str], values: Sequence[str]) -> list[IdentityNode]:
        statement = self.scoped().where(IdentityNode.kind.in_(kinds), IdentityNode.value.in_(values))
        return list(self.session.scalars(statement))

    def find_prefix(self, kind: str, prefix: str, limit: int = 50) -> list[IdentityNode]:
        statement = self.scoped().where(IdentityNode.kind == kind, IdentityNode.value.startswith(prefix))
        return list(self.session.scalars(statement.limit(limit)))

    def set_customers(self, assignments: Mapping[str, str | None], now: datetime) -> None:
        bulk_update(
            self.session,
            self.table,
            self.tenant_id,
            "id",
            ["customer_id"],
            [(node, customer) for node, customer in assignments.items()],
            fixed={"updated_at": now},
        )
        expire_loaded(self.session, IdentityNode)

    def block(self, reasons: dict[str, str], now: datetime) -> None:
        if not reasons:
            return
        table = self.table
        statement = (
            update(table)
            .where(table.c.tenant_id == bindparam("t_id"), table.c.id == bindparam("n_id"))
            .values(is_blocked=True, blocked_reason=bindparam("why"), updated_at=now)
        )
        self.session.execute(
            statement,
            [{"t_id": self.tenant_id, "n_id": node, "why": reason[:255]} for node, reason in reasons.items()],
        )
        expire_loaded(self.session, IdentityNode)

    def refresh_details(self, rows: list[dict[str, Any]]) -> None:
        """Better labels, displays and ciphertexts found for existing nodes."""
        if not rows:
            return
        table = self.table
        statement = (
            update(table)
            .where(table.c.tenant_id == bindparam("t_id"), table.c.id == bindparam("n_id"))
            .values(
                label=bindparam("new_label"),
                display=bindparam("new_display"),
                value_encrypted=bindparam("new_encrypted"),
            )
        )
        self.session.execute(statement, rows)
        expire_loaded(self.session, IdentityNode)


class LinkRepository(BulkRepository[IdentityLink]):
    model = IdentityLink
    label = "identity link"

    def touching(self, node_ids: Sequence[str]) -> list[IdentityLink]:
        found: dict[str, IdentityLink] = {}
        for part in chunks(list(node_ids), 2000):
            statement = self.scoped().where(or_(IdentityLink.node_a.in_(part), IdentityLink.node_b.in_(part)))
            for link in self.session.scalars(statement):
                found[link.id] = link
        return list(found.values())

    def all(self) -> list[IdentityLink]:
        return list(self.session.scalars(self.scoped()))

    def by_id(self, link_id: str) -> IdentityLink | None:
        return self.session.scalar(self.scoped().where(IdentityLink.id == link_id))

    def set_statuses(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """rows: {"l_id", "new_status", "new_reason", "new_by"}."""
        bulk_update(
            self.session,
            self.table,
            self.tenant_id,
            "id",
            ["status", "reason", "decided_by"],
            [(row["l_id"], row["new_status"], row["new_reason"], row["new_by"]) for row in rows],
            fixed={"updated_at": now},
        )
        expire_loaded(self.session, IdentityLink)

    def set_counts(self, counts: dict[str, int]) -> None:
        self._set_column("evidence_count", counts)

    def set_scores(self, scores: dict[str, float]) -> None:
        self._set_column("score", scores)

    def _set_column(self, column: str, values: Mapping[str, Any]) -> None:
        """One column of the links with these ids (link id -> new value), one UPDATE per link."""
        if not values:
            return
        table = self.table
        statement = (
            update(table)
            .where(table.c.tenant_id == bindparam("t_id"), table.c.id == bindparam("l_id"))
            .values({column: bindparam("new_value")})
        )
        self.session.execute(
            statement,
            [{"t_id": self.tenant_id, "l_id": key, "new_value": value} for key, value in values.items()],
        )
        expire_loaded(self.session, IdentityLink)

    def delete_ids(self, ids: Sequence[str]) -> None:
        self.delete_where_in("id", list(ids))
        expire_loaded(self.session, IdentityLink)

    def upsert_manual(self, row: dict[str, Any]) -> None:
        """A person's link: inserted, or its status and author replaced."""
        from haina.customers.repository import _insert

        statement = _insert(self.session, self.table).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "id"],
            set_={
                "status": statement.excluded.status,
                "score": statement.excluded.score,
                "decided_by": statement.excluded.decided_by,
                "reason": statement.excluded.reason,
                "updated_at": statement.excluded.updated_at,
            },
        )
        self.session.execute(statement)
        expire_loaded(self.session, IdentityLink)


class BlockKeyRepository(BulkRepository[IdentityBlockKey]):
    """The matcher's blocking keys per record (see IdentityBlockKey)."""

    model = IdentityBlockKey
    conflict_columns = ("tenant_id", "node_id", "key")

    def of_nodes(self, node_ids: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for row in self.rows_where_in("node_id", list(node_ids)):
            found.setdefault(row.node_id, set()).add(row.key)
        return found

    def apply(self, removed: Sequence[tuple[str, str]], added: Sequence[tuple[str, str]]) -> None:
        """Delete and insert (node, key) rows: a record's keys rarely change, so a batch writes
        only what did."""
        table = self.table
        if removed and is_postgresql(self.session):
            pairs = (
                func.unnest(
                    bindparam("nodes", [node for node, _ in removed], type_=postgresql.ARRAY(String())),
                    bindparam("keys", [key for _, key in removed], type_=postgresql.ARRAY(String())),
                )
                .table_valued("node_id", "key")
                .render_derived()
                .alias("gone")
            )
            self.session.execute(
                delete(table).where(
                    table.c.tenant_id == self.tenant_id,
                    table.c.node_id == pairs.c.node_id,
                    table.c.key == pairs.c.key,
                )
            )
        elif removed:
            statement = delete(table).where(
                table.c.tenant_id == self.tenant_id,
                table.c.node_id == bindparam("b_node"),
                table.c.key == bindparam("b_key"),
            )
            self.session.execute(statement, [{"b_node": node, "b_key": key} for node, key in removed])
        self.insert([{"tenant_id": self.tenant_id, "node_id": node, "key": key} for node, key in added])

    def replace_all(self, keys: Mapping[str, Iterable[str]]) -> None:
        """The tenant's whole index becomes `keys` (node → keys)."""
        self.session.execute(delete(self.table).where(self.table.c.tenant_id == self.tenant_id))
        rows = [
            {"tenant_id": self.tenant_id, "node_id": node_id, "key": key}
            for node_id, node_keys in keys.items()
            for key in sorted(set(node_keys))
        ]
        for part in chunks(rows, 50_000):
            self.insert(list(part))

    def holders(self, keys: Sequence[str], limit: int) -> dict[str, list[str]]:
        """Per key, the nodes holding it: all of them, or `limit` of them when more do (one
        index probe per key, so a common key costs `limit` rows, not its thousands)."""
        found: dict[str, list[str]] = {key: [] for key in keys}
        table = self.table
        for part in chunks(sorted(found), 400):
            if is_postgresql(self.session):
                wanted = (
                    func.unnest(bindparam("keys", list(part), type_=postgresql.ARRAY(String())))
                    .table_valued("key")
                    .render_derived()
                    .alias("wanted")
                )
                probe = (
                    select(table.c.node_id)
                    .where(table.c.tenant_id == self.tenant_id, table.c.key == wanted.c.key)
                    .limit(limit)
                    .lateral("probe")
                )
                statement: Any = select(wanted.c.key, probe.c.node_id).select_from(wanted).join(probe, true())
            else:
                statement = union_all(
                    *(
                        select(table.c.key, table.c.node_id)
                        .where(table.c.tenant_id == self.tenant_id, table.c.key == key)
                        .limit(limit)
                        .subquery()
                        .select()
                        for key in part
                    )
                )
            for key, node_id in self.session.execute(statement):
                found[key].append(node_id)
        return found


class OrderOwnerRepository(BulkRepository[OrderOwner]):
    model = OrderOwner
    conflict_columns = ("tenant_id", "order_id")

    def for_orders(self, order_ids: Sequence[str]) -> dict[str, Row[Any]]:
        return {row.order_id: row for row in self.rows_where_in("order_id", list(order_ids))}

    def anchored(self, node_ids: Sequence[str]) -> set[str]:
        """Which of these nodes anchor at least one order."""
        found: set[str] = set()
        for part in chunks(list(node_ids)):
            statement = self.scoped(select(OrderOwner.node_id).distinct()).where(OrderOwner.node_id.in_(part))
            found.update(self.session.scalars(statement))
        return found

    def all_node_ids(self) -> set[str]:
        return set(self.session.scalars(self.scoped(select(OrderOwner.node_id).distinct())))

    def move(self, assignments: Mapping[str, str | None]) -> None:
        """Orders follow their anchor node's customer."""
        bulk_update(
            self.session,
            self.table,
            self.tenant_id,
            "node_id",
            ["customer_id"],
            [(node, customer) for node, customer in assignments.items()],
        )
        expire_loaded(self.session, OrderOwner)

    def order_ids_of(self, customer_id: str) -> list[str]:
        statement = self.scoped(select(OrderOwner.order_id)).where(OrderOwner.customer_id == customer_id)
        return list(self.session.scalars(statement))


class CustomerRepository(TenantRepository[Customer]):
    model = Customer
    label = "customer"

    def by_ids(self, ids: Iterable[str]) -> dict[str, Customer]:
        found: dict[str, Customer] = {}
        for part in chunks(sorted(set(ids))):
            for customer in self.session.scalars(self.scoped().where(Customer.id.in_(part))):
                found[customer.id] = customer
        return found

    def search(
        self,
        *,
        text_query: str = "",
        ids: Sequence[str] | None = None,
        visible_ids: Sequence[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Customer], int]:
        statement = self.scoped().where(Customer.status == CustomerStatus.ACTIVE.value)
        conditions = []
        if text_query:
            conditions.append(Customer.search_text.contains(text_query, autoescape=True))
        if ids is not None:
            conditions.append(Customer.id.in_(list(ids) or [""]))
        if conditions:
            statement = statement.where(or_(*conditions))
        if visible_ids is not None:
            statement = statement.where(Customer.id.in_(list(visible_ids) or [""]))
        total = self.count(statement)
        rows = self.session.scalars(
            statement.order_by(Customer.updated_at.desc(), Customer.id).limit(limit).offset(offset)
        )
        return list(rows), total


class MergeRepository(TenantRepository[CustomerMerge]):
    model = CustomerMerge
    label = "merge"

    def of_customer(self, customer_id: str) -> list[CustomerMerge]:
        statement = self.scoped().where(
            or_(CustomerMerge.survivor_id == customer_id, CustomerMerge.absorbed_id == customer_id)
        )
        return list(
            self.session.scalars(statement.order_by(CustomerMerge.created_at.desc(), CustomerMerge.id))
        )


class ReviewRepository(BulkRepository[IdentityReview]):
    model = IdentityReview
    label = "review"

    def listing(self, status: str | None, limit: int, offset: int) -> tuple[list[IdentityReview], int]:
        statement = self.scoped()
        if status:
            statement = statement.where(IdentityReview.status == status)
        total = self.count(statement)
        statement = statement.order_by(
            IdentityReview.score.desc(), IdentityReview.created_at, IdentityReview.id
        )
        return list(self.session.scalars(statement.limit(limit).offset(offset))), total

    def open_touching(self, node_ids: Sequence[str]) -> list[IdentityReview]:
        found: dict[str, IdentityReview] = {}
        for part in chunks(list(node_ids), 2000):
            statement = self.scoped().where(
                IdentityReview.status == "open",
                or_(IdentityReview.node_a.in_(part), IdentityReview.node_b.in_(part)),
            )
            for review in self.session.scalars(statement):
                found[review.id] = review
        return list(found.values())


def get_settings_row(session: Session, tenant_id: str) -> IdentitySettings | None:
    return session.get(IdentitySettings, tenant_id)


# ---------------------------------------------------------------------------------------------
# Reading the canonical records resolution works from


ORDER_COLUMNS = (
    Order.id,
    Order.platform,
    Order.shop_id,
    Order.receiver_name,
    Order.receiver_phone_hash,
    Order.receiver_phone_masked,
    Order.receiver_phone_encrypted,
    Order.buyer_nick,
)


def order_rows(session: Session, tenant_id: str, order_ids: Sequence[str] | None) -> Iterator[Any]:
    """Orders (all of the tenant's when `order_ids` is None) with the columns resolution reads."""
    base = select(*ORDER_COLUMNS).where(Order.tenant_id == tenant_id)
    if order_ids is None:
        yield from session.execute(base.order_by(Order.id)).yield_per(5000)
        return
    for part in chunks(list(order_ids)):
        yield from session.execute(base.where(Order.id.in_(part)))


def order_buyer_rows(session: Session, tenant_id: str, order_ids: Sequence[str] | None) -> Iterator[Any]:
    columns = (
        OrderBuyer.order_id,
        BuyerIdentity.id,
        BuyerIdentity.platform,
        BuyerIdentity.kind,
        BuyerIdentity.value,
        BuyerIdentity.is_masked,
        BuyerIdentity.shop_id,
        BuyerIdentity.value_encrypted,
    )
    base = (
        select(*columns)
        .join(
            BuyerIdentity,
            and_(
                BuyerIdentity.tenant_id == OrderBuyer.tenant_id,
                BuyerIdentity.id == OrderBuyer.buyer_identity_id,
            ),
        )
        .where(OrderBuyer.tenant_id == tenant_id)
    )
    if order_ids is None:
        yield from session.execute(base).yield_per(5000)
        return
    for part in chunks(list(order_ids)):
        yield from session.execute(base.where(OrderBuyer.order_id.in_(part)))


def contact_rows(session: Session, tenant_id: str, contact_ids: Sequence[str] | None) -> list[Row[Any]]:
    columns = (Contact.id, Contact.corp_id, Contact.external_userid, Contact.name, Contact.unionid)
    base = select(*columns).where(Contact.tenant_id == tenant_id)
    if contact_ids is None:
        return list(session.execute(base))
    found: list[Row[Any]] = []
    for part in chunks(list(contact_ids)):
        found.extend(session.execute(base.where(Contact.id.in_(part))))
    return found


def follow_rows(session: Session, tenant_id: str, contact_ids: Sequence[str] | None) -> list[Row[Any]]:
    columns = (
        ContactFollow.contact_id,
        ContactFollow.staff_userid,
        ContactFollow.remark,
        ContactFollow.remark_mobile_hashes,
        ContactFollow.remark_mobiles_encrypted,
    )
    base = select(*columns).where(ContactFollow.tenant_id == tenant_id)
    if contact_ids is None:
        return list(session.execute(base))
    found: list[Row[Any]] = []
    for part in chunks(list(contact_ids)):
        found.extend(session.execute(base.where(ContactFollow.contact_id.in_(part))))
    return found


# ---------------------------------------------------------------------------------------------
# Mirrors: buyer identities and contacts carry their customer for quick joins


def mirror_buyer_identities(session: Session, tenant_id: str, rows: list[tuple[str, str | None]]) -> None:
    """rows: (buyer identity id, customer id)."""
    table: Table = BuyerIdentity.__table__  # type: ignore[assignment]
    bulk_update(session, table, tenant_id, "id", ["customer_id"], rows)
    expire_loaded(session, BuyerIdentity)


def mirror_contacts(session: Session, tenant_id: str, rows: list[tuple[str, str | None]]) -> None:
    """rows: (contact id, customer id)."""
    table: Table = Contact.__table__  # type: ignore[assignment]
    bulk_update(session, table, tenant_id, "id", ["customer_id"], rows)
    expire_loaded(session, Contact)


def contact_id_for(tenant_id: str, corp_id: str, external_userid: str) -> str:
    return record_id("contact", tenant_id, corp_id, external_userid)


def buyer_identity_id_for(tenant_id: str, platform: str, kind: str, value: str) -> str:
    return record_id("buyer_identity", tenant_id, platform, kind, value)


def delete_stale_links(session: Session, tenant_id: str, keep: set[str]) -> int:
    """Links of rules no record shows any more (a person's decisions stay)."""
    table: Table = IdentityLink.__table__  # type: ignore[assignment]
    rows = session.execute(
        select(table.c.id).where(table.c.tenant_id == tenant_id, table.c.status.not_in(HUMAN_STATUSES))
    )
    stale = [row.id for row in rows if row.id not in keep]
    for part in chunks(stale):
        session.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.id.in_(part)))
    return len(stale)


def count_active_customers(session: Session, tenant_id: str) -> int:
    statement = select(func.count()).where(
        Customer.tenant_id == tenant_id, Customer.status == CustomerStatus.ACTIVE.value
    )
    return int(session.scalar(statement) or 0)
