"""RFM scores (recency, frequency, monetary) per customer, and their settings per tenant.

From each active customer's paid orders (reached through order_owners; paid = paid, shipped,
completed or partially refunded; an order counts at its payment time, or its creation time when
the platform gave none; its amount is `paid_fen` less its agreed or completed refunds, never
below zero):

* recency_days — Asia/Shanghai calendar days since the last paid order (any time; None without)
* frequency    — paid orders in the window: the last `window_days` calendar days, today included
* monetary_fen — their net amount

Scores are 1..5, higher is better (recent, frequent, big), and 0 for a customer without a paid
order in the window. Quantile bands rank the tenant's buyers in the window: score =
1 + ⌊5 · (rank − 1) / buyers⌋ with RANK() (ties share the lower band, so equal values always
score the same; the result does not depend on row order). Fixed bands use four ascending cut
points b1 < b2 < b3 < b4: frequency and monetary score 1 below b1, 2 from b1, … 5 from b4;
recency scores 5 within b1 days (recency_days ≤ b1), 4 within b2, … 1 beyond b4.

`compute` does the whole tenant set-based in SQL (window functions, a temporary work table and
one INSERT … ON CONFLICT), on SQLite and PostgreSQL alike: no Python loop over customers. It
computes the lifecycle stage in the same pass (lifecycle.stage_case) and hands the changes to
lifecycle.record. bench/tags_rfm.py: 1M customers (1.9M orders) on PostgreSQL take about 10 s
when little changed, 25 s on a new day (every buyer's recency moved), on the 2-core dev machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import UTCDateTime
from haina.core.errors import InvalidInput
from haina.customers.identity.models import Customer, CustomerStatus, OrderOwner
from haina.customers.models import Order, Refund
from haina.tags import lifecycle
from haina.tags.models import CustomerScore, RfmSettings

QUANTILE = "quantile"
FIXED = "fixed"
BAND_METHODS = (QUANTILE, FIXED)
PAID_STATUSES = ("paid", "shipped", "completed", "partially_refunded")
REFUND_STATUSES = ("agreed", "completed")  # money that went (or is going) back
MAX_WINDOW_DAYS = 3650
MAX_STAGE_DAYS = 3650
MAX_BOUND = 10**12  # days, orders or fen: far beyond any real cut point, well within BIGINT
BOUNDS = ("recency_bounds", "frequency_bounds", "monetary_bounds")
WORK_MEM = "128MB"  # PostgreSQL memory per sort / hash of a computation (see compute)

DEFAULTS: dict[str, Any] = {
    "window_days": 365,
    "band_method": QUANTILE,
    "recency_bounds": [],
    "frequency_bounds": [],
    "monetary_bounds": [],
    "new_days": 30,
    "active_days": 90,
    "at_risk_days": 180,
    "dormant_days": 365,
}


class RfmSettingsInvalid(InvalidInput):
    """Settings that cannot be used; `code` names the problem and `details["field"]` the field."""


# ── Settings ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SettingsInput:
    window_days: int
    band_method: str
    recency_bounds: list[int]
    frequency_bounds: list[int]
    monetary_bounds: list[int]  # fen
    new_days: int
    active_days: int
    at_risk_days: int
    dormant_days: int


def get_settings(session: Session, tenant_id: str) -> RfmSettings:
    """The tenant's settings, or the defaults (not stored) when never saved."""
    found = session.get(RfmSettings, tenant_id)
    if found is not None:
        return found
    return RfmSettings(
        tenant_id=tenant_id, updated_at=clock.now(), **{k: _copy(v) for k, v in DEFAULTS.items()}
    )


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def validate(values: SettingsInput) -> None:
    """Raise RfmSettingsInvalid naming the first problem; fixed bands need all three bounds."""
    if not 1 <= values.window_days <= MAX_WINDOW_DAYS:
        raise RfmSettingsInvalid(
            f"window_days must be between 1 and {MAX_WINDOW_DAYS} days, not {values.window_days}",
            code="rfm_window_invalid",
            field="window_days",
        )
    if values.band_method not in BAND_METHODS:
        raise RfmSettingsInvalid(
            f"band_method must be one of {', '.join(BAND_METHODS)}, not {values.band_method!r}",
            code="rfm_band_method_invalid",
            field="band_method",
        )
    for name in BOUNDS:
        bounds = getattr(values, name)
        if not bounds and values.band_method == QUANTILE:
            continue  # quantile bands need no cut points
        if len(bounds) != 4:
            raise RfmSettingsInvalid(
                f"{name} needs exactly four cut points (giving scores 1..5), got {len(bounds)}",
                code="rfm_bounds_count",
                field=name,
            )
        if any(not 0 <= bound <= MAX_BOUND for bound in bounds):
            raise RfmSettingsInvalid(
                f"{name} must be between 0 and {MAX_BOUND:,}: {bounds}", code="rfm_bounds_range", field=name
            )
        if any(later <= earlier for earlier, later in zip(bounds, bounds[1:], strict=False)):
            raise RfmSettingsInvalid(
                f"{name} must be strictly ascending, e.g. [1, 2, 4, 8]: {bounds}",
                code="rfm_bounds_order",
                field=name,
            )
    days = (values.new_days, values.active_days, values.at_risk_days, values.dormant_days)
    if any(not 1 <= day <= MAX_STAGE_DAYS for day in days):
        raise RfmSettingsInvalid(
            f"lifecycle days must be between 1 and {MAX_STAGE_DAYS}: {list(days)}",
            code="rfm_stage_days_range",
            field="stage_days",
        )
    if not values.new_days <= values.active_days < values.at_risk_days < values.dormant_days:
        raise RfmSettingsInvalid(
            "lifecycle days must satisfy new ≤ active < at risk < dormant, "
            f"got new={values.new_days}, active={values.active_days}, "
            f"at_risk={values.at_risk_days}, dormant={values.dormant_days}",
            code="rfm_stage_days_order",
            field="stage_days",
        )


def update_settings(session: Session, tenant_id: str, values: SettingsInput) -> RfmSettings:
    """Validate and store the tenant's settings; they apply from the next computation."""
    validate(values)
    stored = session.get(RfmSettings, tenant_id)
    if stored is None:
        stored = RfmSettings(tenant_id=tenant_id)
        session.add(stored)
    for name in SettingsInput.__dataclass_fields__:
        setattr(stored, name, _copy(getattr(values, name)))
    stored.updated_at = clock.now()
    session.flush()
    return stored


# ── Computation ──────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ComputeResult:
    day: date
    customers: int
    buyers: int  # customers with a paid order in the window
    changes: int  # stage changes recorded
    counts: dict[str, int]


def _work_table() -> Table:
    # A fresh MetaData each time: the table is created and dropped within one computation. No
    # primary key: it is only scanned and hash-joined, and an index on a million random ids
    # would cost more than it saves.
    return Table(
        "rfm_work",
        MetaData(),
        Column("customer_id", String(32), nullable=False),
        Column("first_order_at", UTCDateTime()),
        Column("last_order_at", UTCDateTime()),
        Column("recency_days", BigInteger()),
        Column("frequency", BigInteger()),
        Column("monetary_fen", BigInteger()),
        Column("stage", String(16)),
        Column("previous_stage", String(16)),
        prefixes=["TEMPORARY"],
    )


def _days_since(session: Session, moment: Any, today: date) -> Any:
    """Shanghai calendar days from `moment` (a UTC timestamp column) to `today`; an order stamped
    later than today (a platform's clock ahead of ours) counts as today."""
    days: Any
    if session.get_bind().dialect.name == "postgresql":
        local_day = cast(func.timezone("Asia/Shanghai", moment), Date)
        days = cast(literal(today, Date) - local_day, BigInteger)
    else:
        # SQLite keeps UTC timestamps as text; China has had no daylight saving since 1991.
        days = cast(
            func.julianday(today.isoformat()) - func.julianday(func.date(moment, "+8 hours")), BigInteger
        )
    return case((days < 0, 0), else_=days)


def _quantile(value: Any, is_buyer: Any, buyers: int, *, descending: bool = False) -> Any:
    # The buyer count is known beforehand: rank() alone streams over the sorted rows, where a
    # count(*) OVER the whole partition would have PostgreSQL buffer and re-read it.
    order = value.desc() if descending else value.asc()
    rank = func.rank().over(partition_by=is_buyer, order_by=order)
    return case((is_buyer, 5 * (rank - 1) // max(buyers, 1) + 1), else_=0)


def _fixed(value: Any, bounds: list[int], is_buyer: Any, *, lower_is_better: bool = False) -> Any:
    if lower_is_better:
        whens = [(value <= bound, 5 - index) for index, bound in enumerate(bounds)]
    else:
        whens = [(value >= bound, 5 - index) for index, bound in enumerate(reversed(bounds))]
    return case((~is_buyer, 0), *whens, else_=1)


def _lock(session: Session, tenant_id: str) -> None:
    """Serialise computations of one tenant (two schedulers, or one and a person pressing
    "recompute now"): both would count the same moves. A no-op update of the settings row takes
    its row lock on PostgreSQL and the write lock on SQLite."""
    values = {"tenant_id": tenant_id, "updated_at": clock.now(), **{k: _copy(v) for k, v in DEFAULTS.items()}}
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert(RfmSettings) if dialect == "postgresql" else sqlite.insert(RfmSettings)
    session.execute(insert.values(values).on_conflict_do_nothing(index_elements=["tenant_id"]))
    session.execute(
        update(RfmSettings).where(RfmSettings.tenant_id == tenant_id).values(tenant_id=RfmSettings.tenant_id)
    )


def compute(session: Session, tenant_id: str, *, now: datetime | None = None) -> ComputeResult:
    """Recompute every active customer's RFM scores and lifecycle stage; record today's stage
    counts and moves (lifecycle.record). Flushes; the caller commits."""
    now = now or clock.now()
    today = lifecycle.shanghai_day(now)
    _lock(session, tenant_id)
    settings = get_settings(session, tenant_id)
    session.refresh(settings)
    window_start = lifecycle.within_since(today, settings.window_days)
    is_first_run = not session.scalar(select(exists().where(CustomerScore.tenant_id == tenant_id)))

    refunded = (
        select(
            Refund.platform,
            Refund.shop_id,
            Refund.order_external_id,
            func.sum(Refund.amount_fen).label("fen"),
        )
        .where(Refund.tenant_id == tenant_id, Refund.status.in_(REFUND_STATUSES))
        .group_by(Refund.platform, Refund.shop_id, Refund.order_external_id)
        .subquery("refunded")
    )
    paid_at = func.coalesce(Order.paid_at, Order.created_at)
    net = Order.paid_fen - func.coalesce(refunded.c.fen, 0)
    paid = (
        select(
            OrderOwner.customer_id.label("customer_id"),
            paid_at.label("at"),
            case((net > 0, net), else_=0).label("net"),
        )
        .select_from(OrderOwner)
        .join(Order, and_(Order.tenant_id == OrderOwner.tenant_id, Order.id == OrderOwner.order_id))
        .outerjoin(
            refunded,
            and_(
                refunded.c.platform == Order.platform,
                refunded.c.shop_id == Order.shop_id,
                refunded.c.order_external_id == Order.external_id,
            ),
        )
        .where(
            OrderOwner.tenant_id == tenant_id,
            OrderOwner.customer_id.is_not(None),
            Order.tenant_id == tenant_id,
            Order.status.in_(PAID_STATUSES),
        )
        .subquery("paid")
    )
    in_window = paid.c.at >= window_start
    stats = (
        select(
            paid.c.customer_id,
            func.min(paid.c.at).label("first_at"),
            func.max(paid.c.at).label("last_at"),
            func.sum(case((in_window, 1), else_=0)).label("frequency"),
            func.sum(case((in_window, paid.c.net), else_=0)).label("monetary"),
        )
        .group_by(paid.c.customer_id)
        .subquery("stats")
    )
    previous = CustomerScore.__table__.alias("previous")
    base = (
        select(
            Customer.id.label("customer_id"),
            stats.c.first_at,
            stats.c.last_at,
            _days_since(session, stats.c.last_at, today).label("recency_days"),
            func.coalesce(stats.c.frequency, 0).label("frequency"),
            func.coalesce(stats.c.monetary, 0).label("monetary_fen"),
            previous.c.stage.label("previous_stage"),
        )
        .select_from(Customer)
        .outerjoin(stats, stats.c.customer_id == Customer.id)
        .outerjoin(previous, and_(previous.c.tenant_id == tenant_id, previous.c.customer_id == Customer.id))
        .where(Customer.tenant_id == tenant_id, Customer.status == CustomerStatus.ACTIVE.value)
        .subquery("base")
    )
    thresholds = lifecycle.Thresholds(
        settings.new_days, settings.active_days, settings.at_risk_days, settings.dormant_days
    )
    stage = lifecycle.stage_case(base.c.first_at, base.c.last_at, base.c.previous_stage, thresholds, today)
    staged = select(
        base.c.customer_id,
        base.c.first_at,
        base.c.last_at,
        base.c.recency_days,
        base.c.frequency,
        base.c.monetary_fen,
        stage,
        base.c.previous_stage,
    )

    work = _work_table()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Sorts and hashes over every customer and order: without room they spill to disk (the
        # default is 4 MB). Local to this transaction.
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    session.execute(text("DROP TABLE IF EXISTS rfm_work"))
    # Created inside the transaction: a failure rolls it back with everything else (a DROP in a
    # `finally` would fail in PostgreSQL's aborted transaction and hide the real error).
    work.create(session.connection())
    session.execute(work.insert().from_select([column.name for column in work.columns], staged))
    if dialect == "postgresql":
        session.execute(text("ANALYZE rfm_work"))
    customers = int(session.scalar(select(func.count()).select_from(work)) or 0)
    buyers = int(session.scalar(select(func.count()).select_from(work).where(work.c.frequency > 0)) or 0)
    changes = _changes(session, work, is_first_run)
    _write_scores(session, tenant_id, _scored(work, settings, buyers), now)
    stored = int(
        session.scalar(
            select(func.count()).select_from(CustomerScore).where(CustomerScore.tenant_id == tenant_id)
        )
        or 0
    )
    if stored != customers:
        # Every customer of the work table has its row now, so extra rows are customers that
        # are no longer active (merged away): dropped. Counting first skips the anti-join.
        session.execute(
            delete(CustomerScore).where(
                CustomerScore.tenant_id == tenant_id,
                ~exists().where(work.c.customer_id == CustomerScore.customer_id),
            )
        )
    session.execute(text("DROP TABLE rfm_work"))
    counts = lifecycle.stage_counts(session, tenant_id)
    lifecycle.record(session, tenant_id, today, counts, changes)
    session.flush()
    return ComputeResult(day=today, customers=customers, buyers=buyers, changes=len(changes), counts=counts)


def _changes(session: Session, work: Table, is_first_run: bool) -> list[lifecycle.StageChange]:
    """Customers whose stage moved. A customer seen for the first time comes from prospect,
    except on a tenant's first computation (which sets the scene rather than moving anyone)."""
    condition: Any = and_(work.c.previous_stage.is_not(None), work.c.previous_stage != work.c.stage)
    if not is_first_run:
        condition = or_(condition, and_(work.c.previous_stage.is_(None), work.c.stage != lifecycle.PROSPECT))
    rows = session.execute(
        select(work.c.customer_id, work.c.previous_stage, work.c.stage)
        .where(condition)
        .order_by(work.c.customer_id)
    )
    return [
        lifecycle.StageChange(customer_id, previous or lifecycle.PROSPECT, stage)
        for customer_id, previous, stage in rows
    ]


def _scored(work: Table, settings: RfmSettings, buyers: int) -> Any:
    """The work rows with their three scores (see the module docstring for the bands)."""
    is_buyer = work.c.frequency > 0
    if settings.band_method == FIXED:
        recency = _fixed(work.c.recency_days, settings.recency_bounds, is_buyer, lower_is_better=True)
        frequency = _fixed(work.c.frequency, settings.frequency_bounds, is_buyer)
        monetary = _fixed(work.c.monetary_fen, settings.monetary_bounds, is_buyer)
    else:
        recency = _quantile(work.c.recency_days, is_buyer, buyers, descending=True)
        frequency = _quantile(work.c.frequency, is_buyer, buyers)
        monetary = _quantile(work.c.monetary_fen, is_buyer, buyers)
    return select(
        work.c.customer_id,
        work.c.first_order_at,
        work.c.last_order_at,
        work.c.recency_days,
        work.c.frequency,
        work.c.monetary_fen,
        recency.label("recency_score"),
        frequency.label("frequency_score"),
        monetary.label("monetary_score"),
        work.c.stage,
    ).subquery("scored")


def _write_scores(session: Session, tenant_id: str, scored: Any, now: datetime) -> None:
    """Upsert the rows that are new or differ (unchanged rows are left alone: no write, and
    their computed_at keeps the time they last changed)."""
    stored = CustomerScore.__table__.alias("stored")
    fields = (
        "first_order_at",
        "last_order_at",
        "recency_days",
        "frequency",
        "monetary_fen",
        "recency_score",
        "frequency_score",
        "monetary_score",
        "stage",
    )
    differs = or_(
        stored.c.customer_id.is_(None), *(stored.c[name].is_distinct_from(scored.c[name]) for name in fields)
    )
    rows = (
        select(
            literal(tenant_id, String(32)).label("tenant_id"),
            scored.c.customer_id,
            *(scored.c[name] for name in fields),
            case(
                (stored.c.stage == scored.c.stage, stored.c.stage_since), else_=literal(now, UTCDateTime())
            ).label("stage_since"),
            literal(now, UTCDateTime()).label("computed_at"),
        )
        .select_from(scored)
        .outerjoin(
            stored, and_(stored.c.tenant_id == tenant_id, stored.c.customer_id == scored.c.customer_id)
        )
        .where(differs)
    )
    columns = ["tenant_id", "customer_id", *fields, "stage_since", "computed_at"]
    dialect = session.get_bind().dialect.name
    insert: Any = (
        postgresql.insert(CustomerScore) if dialect == "postgresql" else sqlite.insert(CustomerScore)
    )
    statement = insert.from_select(columns, rows)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "customer_id"],
        set_={name: statement.excluded[name] for name in columns[2:]},
    )
    session.execute(statement)
