"""All SQL of canonical records. Bulk statements take lists of plain dicts (Core, no ORM objects
per row); every read is tenant-scoped through `TenantRepository.scoped`, every write carries the
repository's tenant in its rows and its conditions."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    MetaData,
    Row,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from haina.core import statistics
from haina.core.database import UTCDateTime
from haina.core.events.models import OutboxEvent
from haina.core.events.outbox import event_rows
from haina.core.repository import TenantRepository
from haina.customers.models import (
    BuyerIdentity,
    Contact,
    ContactFollow,
    Coupon,
    CustomerGroup,
    CustomerGroupMember,
    Order,
    OrderBuyer,
    OrderLine,
    Refund,
)

ModelT = TypeVar("ModelT")

# Keeps an IN list well under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
IN_CHUNK = 5000


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# Tables a batch of canonical records probes by key; their statistics must follow their size.
PROBED_TABLES = ("orders", "buyer_identities", "refunds", "contacts", "customer_groups", "coupons")


def refresh_statistics(session: Session, tables: Sequence[str] = PROBED_TABLES) -> list[str]:
    """ANALYZE the probed tables that outgrew their statistics (see haina.core.statistics);
    PostgreSQL only, outside the caller's transaction, at most every few seconds per process."""
    return statistics.refresh(session.get_bind().engine, tables)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given; use timezone-aware UTC times")
    return value


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _copy_converters(table: Table, columns: Sequence[str]) -> list[tuple[int, Callable[[Any], Any]]]:
    """What SQLAlchemy's bind processing would do, for the columns COPY bypasses it on."""
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, JSON):
            converters.append((index, _json))
        elif isinstance(column_type, UTCDateTime):
            converters.append((index, _aware))
    return converters


def copy_into(session: Session, table: Table, rows: list[dict[str, Any]], *, into: str | None = None) -> None:
    """PostgreSQL COPY … FROM STDIN of rows (dicts with the same keys) into `table` or `into`.

    COPY is the fastest way in, several times a multi-row INSERT: no statement to parse, and
    psycopg formats rows in C. It runs on the session's connection, so in its transaction.
    """
    columns = list(rows[0])
    converters = _copy_converters(table, columns)
    target = into or table.name
    driver_connection = session.connection().connection.driver_connection
    with driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        names = ", ".join(f'"{name}"' for name in columns)
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            write_row = copy.write_row
            values_of = itemgetter(*columns)  # rows may list their keys in different orders
            if not converters:
                for row in rows:
                    write_row(values_of(row))
                return
            for row in rows:
                values = list(values_of(row))
                for index, convert in converters:
                    values[index] = convert(values[index])
                write_row(values)


_staging_tables: dict[str, Table] = {}


def staging_table(session: Session, table: Table) -> Table:
    """A temporary table shaped like `table` on this connection, emptied at each commit."""
    staged = _staging_tables.get(table.name)
    if staged is None:
        # Named after the columns too: a pooled connection may still hold the staging table
        # of a schema from before a migration.
        shape = hashlib.blake2b(",".join(c.name for c in table.columns).encode(), digest_size=4).hexdigest()
        columns = (Column(c.name, c.type) for c in table.columns)
        staged = Table(f"staging_{table.name}_{shape}", MetaData(), *columns)
        _staging_tables[table.name] = staged
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged.name} (LIKE {table.name} INCLUDING DEFAULTS)"
            " ON COMMIT DELETE ROWS"
        )
    )
    return staged


def take_write_lock(session: Session) -> None:
    """On SQLite, make the transaction a writer before it reads the stored state.

    The sqlite3 driver begins a transaction only at the first write, so a batch's reads would
    otherwise see a state another writer may change before this batch writes. SQLite has one
    writer anyway; PostgreSQL needs nothing here (its writes recheck what they overwrite).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE orders SET id = id WHERE 0"))


def _insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite ≥ 3.24)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"canonical records do not support the {name} database")


class BulkRepository(TenantRepository[ModelT]):
    """Set-based reads and writes of one table, for batches of canonical records."""

    conflict_columns: tuple[str, ...] = ()

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[attr-defined]

    def _matching(
        self, columns: Sequence[Any], column: str, values: Sequence[str], *, probe_each: bool = True
    ) -> Any:
        """SELECT columns of this tenant's rows whose `column` is one of `values`.

        On PostgreSQL: one probe of the tenant-led key per value, by a LATERAL subquery kept
        apart with OFFSET 0. The plain `tenant_id = … AND id = ANY(…)` is planned by the
        tenant's statistics, and while they are stale (a new tenant's first import) PostgreSQL
        scans all the tenant's rows instead, for every batch. Stale statistics can still pick
        the wrong tenant-led index for the probe itself; `refresh_statistics` keeps them current
        while a bulk load grows a table.

        `probe_each=False`: the plain `IN (…)` everywhere, for a table whose per-value probe was
        seen planned worse (identity nodes during a tenant's first resolution: a scan per id).
        """
        if not probe_each or not is_postgresql(self.session):
            return self.scoped(select(*columns)).where(self.table.c[column].in_(values))
        keys = (
            func.unnest(bindparam("keys", list(values), type_=postgresql.ARRAY(String())))
            .table_valued("key")
            .render_derived()
            .alias("keys")
        )
        probe = self.scoped(select(*columns)).where(self.table.c[column] == keys.c.key)
        found = probe.offset(0).lateral("found")
        return select(found).select_from(keys).join(found, true())

    def rows_by_id(
        self, columns: Sequence[str], ids: Sequence[str], *, probe_each: bool = True
    ) -> dict[str, Row[Any]]:
        """The given columns of the rows with these ids (one query per 5,000 ids; `probe_each`
        as in `_matching`)."""
        found: dict[str, Row[Any]] = {}
        selected = [self.table.c.id, *(self.table.c[name] for name in columns)]
        for part in chunks(ids):
            for row in self.session.execute(self._matching(selected, "id", part, probe_each=probe_each)):
                found[row.id] = row
        return found

    def upsert(
        self,
        rows: list[dict[str, Any]],
        *,
        when: ColumnElement[bool] | None = None,
        keep: Iterable[str] = (),
        returning: bool = False,
    ) -> set[str]:
        """INSERT … ON CONFLICT (natural key) DO UPDATE [WHERE when]; the written ids if `returning`.

        `when` sees the stored row as the table's columns and the incoming one as `excluded`
        (build it with `self.excluded()`). Rows refused by `when` are neither written nor returned.
        """
        if not rows:
            return set()
        statement = self._insert_statement(rows)
        fixed = {"id", "tenant_id", *self.conflict_columns, *keep}
        changes = {name: statement.excluded[name] for name in rows[0] if name not in fixed}
        statement = statement.on_conflict_do_update(
            index_elements=list(self.conflict_columns), set_=changes, where=when
        )
        return self._execute(statement, rows, returning)

    def excluded(self) -> Any:
        """The `excluded` pseudo-table, to compare incoming and stored rows in `upsert(when=…)`."""
        return _insert(self.session, self.table).excluded

    def insert_ignoring(self, rows: list[dict[str, Any]], *, returning: bool = False) -> set[str]:
        """INSERT … ON CONFLICT DO NOTHING; the ids actually inserted if `returning`."""
        if not rows:
            return set()
        statement = self._insert_statement(rows).on_conflict_do_nothing()
        return self._execute(statement, rows, returning)

    def insert_new(self, rows: list[dict[str, Any]]) -> set[str]:
        """Rows read as missing a moment ago, inserted without overwriting: the ids inserted.

        A row that exists after all (a concurrent writer got there first) is left alone and not
        returned; the caller decides it again. On PostgreSQL the rows are COPied straight into
        the table inside a savepoint, and only when that meets an existing row is the savepoint
        rolled back and the slower INSERT … ON CONFLICT DO NOTHING used.
        """
        if not rows:
            return set()
        if is_postgresql(self.session):
            from psycopg.errors import UniqueViolation

            try:
                with self.session.begin_nested():
                    copy_into(self.session, self.table, rows)
                return {row["id"] for row in rows}
            except UniqueViolation:
                pass
        return self.insert_ignoring(rows, returning=True)

    def _insert_statement(self, rows: list[dict[str, Any]]) -> Any:
        """The dialect's INSERT; on PostgreSQL fed from a staging table filled by COPY."""
        statement = _insert(self.session, self.table)
        if not is_postgresql(self.session):
            return statement
        staged = staging_table(self.session, self.table)
        copy_into(self.session, self.table, rows, into=staged.name)
        columns = list(rows[0])
        # Taking the rows out of the staging table in the same statement leaves it empty for
        # the next batch of this transaction.
        moved = delete(staged).returning(*(staged.c[name] for name in columns)).cte("moved")
        return statement.from_select(columns, select(*(moved.c[name] for name in columns))).add_cte(moved)

    def _execute(self, statement: Any, rows: list[dict[str, Any]], returning: bool) -> set[str]:
        parameters = None if is_postgresql(self.session) else rows
        if returning:
            result = self.session.execute(statement.returning(self.table.c.id), parameters)
            return set(result.scalars().all())
        self.session.execute(statement, parameters)
        return set()

    def insert(self, rows: list[dict[str, Any]]) -> None:
        """A plain INSERT of new rows (children of rows just written): COPY on PostgreSQL."""
        if not rows:
            return
        if is_postgresql(self.session):
            copy_into(self.session, self.table, rows)
        else:
            self.session.execute(insert(self.table), rows)

    def delete_where_in(self, column: str, values: Sequence[str]) -> None:
        for part in chunks(list(values)):
            if is_postgresql(self.session):
                # By row address, found with the same per-value probes as `_matching`.
                found = self._matching([literal_column("ctid").label("row_address")], column, part)
                condition = literal_column("ctid") == any_(func.array(found.scalar_subquery()))
            else:
                condition = and_(self.table.c.tenant_id == self.tenant_id, self.table.c[column].in_(part))
            self.session.execute(delete(self.table).where(condition))

    def rows_where_in(self, column: str, values: Sequence[str]) -> list[Row[Any]]:
        found: list[Row[Any]] = []
        for part in chunks(list(values)):
            found.extend(self.session.execute(self._matching(list(self.table.columns), column, part)))
        return found


def newer_version(repository: BulkRepository[Any]) -> ColumnElement[bool]:
    """Incoming (modified_at, version) is greater, or equal with different content (a correction)."""
    table, excluded = repository.table, repository.excluded()
    stored = tuple_(table.c.modified_at, table.c.version)
    incoming = tuple_(excluded.modified_at, excluded.version)
    return or_(stored < incoming, and_(stored == incoming, table.c.fingerprint != excluded.fingerprint))


def newer_or_undated(repository: BulkRepository[Any]) -> ColumnElement[bool]:
    """For records whose time may be missing: only a dated, older record loses."""
    table, excluded = repository.table, repository.excluded()
    return or_(
        table.c.modified_at.is_(None),
        excluded.modified_at.is_(None),
        table.c.modified_at <= excluded.modified_at,
    )


class OrderRepository(BulkRepository[Order]):
    model = Order
    label = "order"
    conflict_columns = ("tenant_id", "platform", "shop_id", "external_id")

    def with_details(self, order_id: str) -> Order:
        statement = self.scoped().where(Order.id == order_id)
        statement = statement.options(selectinload(Order.lines), selectinload(Order.buyers))
        found = self.session.scalar(statement)
        if found is None:
            return self.get(order_id)  # raises NotFound
        return found

    def by_key(self, platform: str, shop_id: str, external_id: str) -> Order | None:
        statement = self.scoped().where(
            Order.platform == platform, Order.shop_id == shop_id, Order.external_id == external_id
        )
        return self.session.scalar(statement.options(selectinload(Order.lines), selectinload(Order.buyers)))

    def list(self, *, platform: str | None = None, limit: int = 50, offset: int = 0) -> list[Order]:
        statement = self.scoped().order_by(Order.created_at.desc(), Order.id)
        if platform:
            statement = statement.where(Order.platform == platform)
        return list(self.session.scalars(statement.limit(limit).offset(offset)))

    def count_orders(self, *, platform: str | None = None) -> int:
        statement = self.scoped(select(func.count()).select_from(Order))
        if platform:
            statement = statement.where(Order.platform == platform)
        return int(self.session.scalar(statement) or 0)


class OrderLineRepository(BulkRepository[OrderLine]):
    model = OrderLine


class OrderBuyerRepository(BulkRepository[OrderBuyer]):
    model = OrderBuyer


class BuyerIdentityRepository(BulkRepository[BuyerIdentity]):
    model = BuyerIdentity
    conflict_columns = ("tenant_id", "platform", "kind", "value")


class RefundRepository(BulkRepository[Refund]):
    model = Refund
    conflict_columns = ("tenant_id", "platform", "shop_id", "external_id")


class ContactRepository(BulkRepository[Contact]):
    model = Contact
    conflict_columns = ("tenant_id", "corp_id", "external_userid")


class ContactFollowRepository(BulkRepository[ContactFollow]):
    model = ContactFollow
    conflict_columns = ("tenant_id", "contact_id", "staff_userid")


class GroupRepository(BulkRepository[CustomerGroup]):
    model = CustomerGroup
    conflict_columns = ("tenant_id", "corp_id", "chat_id")


class GroupMemberRepository(BulkRepository[CustomerGroupMember]):
    model = CustomerGroupMember


class CouponRepository(BulkRepository[Coupon]):
    model = Coupon
    conflict_columns = ("tenant_id", "platform", "shop_id", "external_id")


def table_rows(session: Session, tenant_id: str, model: Any) -> list[Row[Any]]:
    """Every row of one of this module's tables for a tenant (snapshots; small tenants only)."""
    return list(session.execute(select(model.__table__).where(model.__table__.c.tenant_id == tenant_id)))


def insert_events(session: Session, tenant_id: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Outbox events for a batch in one statement, in order.

    `haina.core.events.emit` adds and flushes one ORM object per event, which would make a
    batch of 2,000 orders cost 4,000 round trips; this writes the same rows set-based, in the
    caller's transaction, so they exist exactly when the records do.
    """
    if not events:
        return
    rows = event_rows([(tenant_id, event_type, payload) for event_type, payload in events])
    table: Table = OutboxEvent.__table__  # type: ignore[assignment]
    if is_postgresql(session):
        copy_into(session, table, rows)
    else:
        session.execute(insert(table), rows)


def group_member_customers() -> Select[str | None]:
    """`SELECT contacts.customer_id` over customer group members joined to their groups and
    WeCom contacts (a member is a contact of the group's corp); callers add their conditions
    on CustomerGroupMember, CustomerGroup and Contact."""
    return (
        select(Contact.customer_id)
        .select_from(CustomerGroupMember)
        .join(
            CustomerGroup,
            and_(
                CustomerGroup.tenant_id == CustomerGroupMember.tenant_id,
                CustomerGroup.id == CustomerGroupMember.group_id,
            ),
        )
        .join(
            Contact,
            and_(
                Contact.tenant_id == CustomerGroupMember.tenant_id,
                Contact.corp_id == CustomerGroup.corp_id,
                Contact.external_userid == CustomerGroupMember.member_id,
            ),
        )
    )
