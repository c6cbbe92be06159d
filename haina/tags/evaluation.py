"""Rule tags evaluated: for a few customers as events arrive, or for every customer in a batch.

Both paths compile the tag's rule from `conditions`, so they cannot disagree:

* `evaluate_customers` (the event path) asks, for a handful of customers, which rule tags hold
  now and applies the difference through `changes.apply`, in the caller's transaction.
* A batch (`request_batch` → event `tag.evaluation_requested` → `run_batch`) walks the tenant's
  customers in id-ordered chunks, each chunk its own transaction, and writes only the
  difference between the rule and the carriers, with history and events for the pairs that
  changed (`changes.record`). Each chunk commits the progress (`done/total/added/removed`) and a
  heartbeat, so the console can poll it and a second worker handed the same request (a
  redelivery after the dispatcher's 60 s lease) sees a fresh heartbeat and leaves the run alone;
  a stale heartbeat (the worker died) lets it take over.
* `evaluate_all` runs every rule tag of a tenant (a daily schedule: "in the last N days" moves
  with the calendar even when no event arrives).

How a chunk is computed depends on the backend:

* PostgreSQL (`_run_together`): all the runs of an `evaluate_all` (or the one of `run_batch`)
  walk the customers together. Per chunk, `conditions.batch_tests` compiles every rule with its
  order leaves reading one shared pass of per-customer order facts (counts, amounts, last order,
  refunds, latest province… as FILTERed aggregates) instead of one scan of the orders per leaf,
  and one statement (`_differences`) compares every rule with the carriers as bit masks and
  returns only the customers where something changes. The daily run of 20 rules costs about one
  scan of the orders and one of the carriers.
* SQLite (`apply_range`): one rule after another, the difference computed in SQL (INSERT …
  SELECT … EXCEPT carriers; carriers EXCEPT rule), small chunks so the event path gets the
  single write lock in between.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    Select,
    String,
    Table,
    any_,
    case,
    cast,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, aliased

from haina.core import clock, statistics
from haina.core.database import Database
from haina.core.errors import InvalidInput, NotFound
from haina.core.events.outbox import emit
from haina.customers.identity.models import Customer
from haina.tags import changes, conditions
from haina.tags.models import CustomerTag, EvaluationStatus, Tag, TagEvaluation, TagKind, TagSource

log = logging.getLogger("haina.tags")

_Result = TypeVar("_Result")

EVALUATION_REQUESTED = "tag.evaluation_requested"
EVENT_CHUNK = 500  # customers per statement on the event path
# A heartbeat older than this means the worker running the batch is gone.
STALE_AFTER = timedelta(minutes=5)


def chunk_size_for(dialect: str) -> int:
    # A chunk costs one pass over the tenant's orders whatever its size (orders are not ordered
    # by customer), so PostgreSQL takes big chunks; their facts and IN sets must still fit
    # work_mem (set per chunk below), and the progress bar moves once a chunk. SQLite holds its
    # one write lock for a chunk: small chunks let the event path in between.
    return 200_000 if dialect == "postgresql" else 5_000


# `evaluate_all` on PostgreSQL: every chunk pays full scans of the orders, lines, refunds and
# carriers whatever its size, so the daily run (nobody watches its progress) takes as few chunks
# as there are chunk workers (`batch_workers`), each at most this big: 16 s at 1M in one chunk
# where 200k chunks one after another took 23 s (work_mem bounds each chunk; sorts spill).
ALL_RULES_CHUNK = 1_000_000


def rule_tags(session: Session, tenant_id: str, tag_ids: Iterable[str] | None = None) -> list[Tag]:
    """The tenant's live rule tags (or those of `tag_ids` among them), in a stable order."""
    statement = select(Tag).where(
        Tag.tenant_id == tenant_id,
        Tag.kind == TagKind.RULE,
        Tag.is_deleted.is_(False),
        Tag.rule.is_not(None),
    )
    if tag_ids is not None:
        statement = statement.where(Tag.id.in_(sorted(set(tag_ids))))
    return list(session.scalars(statement.order_by(Tag.id)))


def reason_of(tag: Tag) -> str:
    return f"rule: {tag.name}"


def _condition(tag: Tag) -> conditions.Condition | None:
    """The tag's rule, or None when what is stored no longer validates (logged, left alone)."""
    try:
        return conditions.validate(tag.rule)
    except conditions.InvalidCondition as error:
        log.warning("rule of tag %s (%s) is invalid, not evaluated: %s", tag.id, tag.name, error.message)
        return None


def evaluate_customers(
    session: Session, tenant_id: str, customer_ids: Iterable[str], *, tag_ids: Iterable[str] | None = None
) -> changes.Applied:
    """Re-evaluate the rule tags (all, or `tag_ids`) for these customers and apply the
    difference (source `rule`); flushes, the caller commits."""
    ids = sorted({customer_id for customer_id in customer_ids if customer_id})
    tags = [(tag, _condition(tag)) for tag in rule_tags(session, tenant_id, tag_ids)] if ids else []
    live = [(tag, condition) for tag, condition in tags if condition is not None]
    add: list[changes.Change] = []
    remove: list[changes.Change] = []
    for start in range(0, len(ids) if live else 0, EVENT_CHUNK):
        chunk = ids[start : start + EVENT_CHUNK]
        # One statement for every tag: a column per tag telling whether its rule holds.
        columns = [
            conditions.filter_for(session, tenant_id, condition, scope=chunk).label(f"t{index}")
            for index, (_, condition) in enumerate(live)
        ]
        matched: dict[str, set[str]] = {tag.id: set() for tag, _ in live}
        for row in session.execute(
            select(Customer.id, *columns).where(Customer.tenant_id == tenant_id, Customer.id.in_(chunk))
        ):
            for index, (tag, _) in enumerate(live):
                if row[index + 1]:
                    matched[tag.id].add(row[0])
        current: dict[str, set[str]] = {tag.id: set() for tag, _ in live}
        for customer_id, tag_id in session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag_id).where(
                CustomerTag.tenant_id == tenant_id,
                CustomerTag.source == TagSource.RULE,
                CustomerTag.tag_id.in_(list(matched)),
                CustomerTag.customer_id.in_(chunk),
            )
        ):
            current[tag_id].add(customer_id)
        for tag, _ in live:
            reason = reason_of(tag)
            add.extend(
                changes.Change(customer_id, tag.id, tag.name, TagSource.RULE, reason)
                for customer_id in sorted(matched[tag.id] - current[tag.id])
            )
            remove.extend(
                changes.Change(customer_id, tag.id, tag.name, TagSource.RULE, reason)
                for customer_id in sorted(current[tag.id] - matched[tag.id])
            )
    if not add and not remove:
        return changes.Applied(added=[], removed=[])
    return changes.apply(session, tenant_id, add=add, remove=remove)


# ── Batch runs ───────────────────────────────────────────────────────────────────────────────


def _rule_tag(session: Session, tenant_id: str, tag_id: str) -> Tag:
    tag = session.scalar(
        select(Tag).where(Tag.tenant_id == tenant_id, Tag.id == tag_id, Tag.is_deleted.is_(False))
    )
    if tag is None:
        raise NotFound(f"tag {tag_id} not found", code="tag_not_found")
    if tag.kind != TagKind.RULE or tag.rule is None:
        raise InvalidInput(
            f"tag {tag.name} is not a rule tag; only rule tags are evaluated", code="not_rule_tag"
        )
    return tag


def _new_evaluation(session: Session, tenant_id: str, tag: Tag, requested_by: str) -> TagEvaluation:
    evaluation = TagEvaluation(
        tenant_id=tenant_id,
        tag_id=tag.id,
        rule_version=tag.rule_version,
        status=EvaluationStatus.QUEUED,
        requested_by=requested_by[:100],
        created_at=clock.now(),
    )
    session.add(evaluation)
    session.flush()
    return evaluation


def request_batch(session: Session, tenant_id: str, tag_id: str, requested_by: str = "") -> TagEvaluation:
    """Queue a batch run of a rule tag over every customer; it starts once the caller commits
    (event `tag.evaluation_requested`). Poll the returned row's progress with `get_evaluation`."""
    evaluation = _new_evaluation(session, tenant_id, _rule_tag(session, tenant_id, tag_id), requested_by)
    emit(session, tenant_id, EVALUATION_REQUESTED, {"evaluation_id": evaluation.id, "tag_id": tag_id})
    return evaluation


def get_evaluation(session: Session, tenant_id: str, evaluation_id: str) -> TagEvaluation:
    """One batch run with its progress (another tenant's answers 404, like a missing one)."""
    evaluation = session.scalar(
        select(TagEvaluation).where(TagEvaluation.tenant_id == tenant_id, TagEvaluation.id == evaluation_id)
    )
    if evaluation is None:
        raise NotFound(f"evaluation {evaluation_id} not found", code="evaluation_not_found")
    return evaluation


def _claim(database: Database, tenant_id: str, evaluation_id: str) -> datetime | None:
    """Mark the run ours (queued, or running with a stale heartbeat); its heartbeat, or None."""
    now = clock.now()
    with database.unit_of_work() as session:
        claimed = session.execute(
            update(TagEvaluation)
            .where(
                TagEvaluation.tenant_id == tenant_id,
                TagEvaluation.id == evaluation_id,
                (TagEvaluation.status == EvaluationStatus.QUEUED)
                | (
                    (TagEvaluation.status == EvaluationStatus.RUNNING)
                    & (TagEvaluation.heartbeat_at < now - STALE_AFTER)
                ),
            )
            .values(
                status=EvaluationStatus.RUNNING,
                started_at=now,
                heartbeat_at=now,
                done=0,
                added=0,
                removed=0,
                error="",
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    return now if claimed == 1 else None


class _TakenOver(Exception):
    """Another worker claimed the run (or, `evaluation_ids`, these of the runs of a shared pass)
    after our heartbeat went stale."""

    def __init__(self, evaluation_ids: Sequence[str] = ()) -> None:
        super().__init__(*evaluation_ids)
        self.evaluation_ids = list(evaluation_ids)


def run_batch(
    database: Database, tenant_id: str, evaluation_id: str, *, chunk_size: int | None = None
) -> TagEvaluation | None:
    """Run a queued batch (each chunk its own transaction); None when another worker has it.
    Errors end the run as failed with the error, and are not raised."""
    heartbeat = _claim(database, tenant_id, evaluation_id)
    if heartbeat is None:
        return None
    if database.engine.dialect.name == "postgresql":
        if not _run_together(database, tenant_id, {evaluation_id: heartbeat}, chunk_size):
            return None
        with database.unit_of_work() as session:
            return get_evaluation(session, tenant_id, evaluation_id)
    try:
        with database.unit_of_work() as session:
            evaluation = get_evaluation(session, tenant_id, evaluation_id)
            tag = _rule_tag(session, tenant_id, evaluation.tag_id)
            condition = conditions.validate(tag.rule)
            dialect = session.get_bind().dialect.name
            total = session.scalar(select(func.count()).where(Customer.tenant_id == tenant_id)) or 0
            session.execute(
                update(TagEvaluation)
                .where(TagEvaluation.tenant_id == tenant_id, TagEvaluation.id == evaluation_id)
                .values(total=total, rule_version=tag.rule_version)
                .execution_options(synchronize_session=False)
            )
            tag_id, tag_name, reason = tag.id, tag.name, reason_of(tag)
        size = chunk_size or chunk_size_for(dialect)
        low: str | None = ""
        while low is not None:
            low, heartbeat = _with_retries(
                partial(
                    _run_chunk,
                    database,
                    tenant_id,
                    evaluation_id,
                    heartbeat,
                    condition,
                    dialect,
                    size,
                    low,
                    (tag_id, tag_name, reason),
                )
            )
        with database.unit_of_work() as session:
            _finish(session, tenant_id, evaluation_id, EvaluationStatus.DONE, "")
    except _TakenOver:
        log.info("tag evaluation %s was taken over by another worker", evaluation_id)
        return None
    except Exception as error:  # noqa: BLE001 - the run ends failed, with the reason shown
        log.exception("tag evaluation %s failed", evaluation_id)
        with database.unit_of_work() as session:
            _finish(
                session, tenant_id, evaluation_id, EvaluationStatus.FAILED, f"{type(error).__name__}: {error}"
            )
    with database.unit_of_work() as session:
        return get_evaluation(session, tenant_id, evaluation_id)


def _run_chunk(
    database: Database,
    tenant_id: str,
    evaluation_id: str,
    heartbeat: datetime,
    condition: conditions.Condition,
    dialect: str,
    size: int,
    low: str,
    tag: tuple[str, str, str],
) -> tuple[str | None, datetime]:
    """One chunk of customers from `low`, in its own transaction: the next `low` (None at the
    end) and the new heartbeat. Raises _TakenOver if another worker took the run."""
    tag_id, tag_name, reason = tag
    with database.unit_of_work() as session:
        high = _next_low(session, tenant_id, low, size)
        scope = conditions.Range(low, high)
        if dialect == "postgresql":
            # The rule's IN sets of one chunk are hashed once each (conditions.member):
            # room for a chunk's ids, so none falls back to a scan per customer.
            session.execute(text("SET LOCAL work_mem = '64MB'"))
        looked_at = session.scalar(
            select(func.count()).where(Customer.tenant_id == tenant_id, conditions_in(scope, Customer.id))
        )
        filt = conditions.filter_for(session, tenant_id, condition, scope=scope)
        added, removed = apply_range(session, tenant_id, tag_id, tag_name, reason, filt, scope)
        now = clock.now()
        touched = session.execute(
            update(TagEvaluation)
            .where(
                TagEvaluation.tenant_id == tenant_id,
                TagEvaluation.id == evaluation_id,
                TagEvaluation.heartbeat_at == heartbeat,
            )
            .values(
                done=TagEvaluation.done + (looked_at or 0),
                added=TagEvaluation.added + added,
                removed=TagEvaluation.removed + removed,
                heartbeat_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if touched != 1:
            raise _TakenOver()
    return high, now


def _is_transient(error: Exception) -> bool:
    """A lock the chunk can wait out: SQLite's single writer, a PostgreSQL deadlock."""
    text_of = str(error).lower()
    return isinstance(error, OperationalError) and (
        "database is locked" in text_of or "deadlock detected" in text_of
    )


def _with_retries(chunk: Callable[[], _Result], attempts: int = 5) -> _Result:
    """Run a chunk, again after a transient lock (each chunk is idempotent: it writes the
    difference between the rule and the carriers, and rolls back whole)."""
    for attempt in range(1, attempts + 1):
        try:
            return chunk()
        except OperationalError as error:
            if attempt == attempts or not _is_transient(error):
                raise
            log.warning("tag evaluation chunk hit a lock (attempt %s): retrying", attempt)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def conditions_in(scope: conditions.Range, column: Any) -> Any:
    test = column >= scope.low
    return test & (column < scope.high) if scope.high is not None else test


def _finish(session: Session, tenant_id: str, evaluation_id: str, status: str, error: str) -> None:
    session.execute(
        update(TagEvaluation)
        .where(TagEvaluation.tenant_id == tenant_id, TagEvaluation.id == evaluation_id)
        .values(status=status, error=error[:2000], finished_at=clock.now(), heartbeat_at=clock.now())
        .execution_options(synchronize_session=False)
    )


_MATCHED = Table(
    "tag_matched",
    MetaData(),
    Column("customer_id", String(32), primary_key=True),
    prefixes=["TEMPORARY"],
)


def _materialise(session: Session, ids: Select[Any]) -> Select[Any]:
    """The customer ids of `ids` written once into a temporary table of the connection, so the
    rule is computed once per chunk for both the additions and the removals."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "CREATE TEMPORARY TABLE IF NOT EXISTS tag_matched (customer_id VARCHAR(32) PRIMARY KEY)"
                " ON COMMIT DELETE ROWS"
            )
        )
    else:
        session.execute(
            text("CREATE TEMPORARY TABLE IF NOT EXISTS tag_matched (customer_id VARCHAR(32) PRIMARY KEY)")
        )
    session.execute(_MATCHED.delete())
    session.execute(_MATCHED.insert().from_select(["customer_id"], ids))
    return select(_MATCHED.c.customer_id)


def apply_range(
    session: Session,
    tenant_id: str,
    tag_id: str,
    tag_name: str,
    reason: str,
    filt: Any,
    scope: conditions.Range,
) -> tuple[int, int]:
    """Make the rule tag's rows in `scope` match `filt` in two set-based statements, then write
    history and events for the pairs that changed. Returns (added, removed).

    Both differences are uncorrelated EXCEPTs: each side is computed once for the chunk and
    hashed. (A correlated "NOT EXISTS (customer WHERE rule)" per tag row is not pulled up into an
    anti-join by PostgreSQL once the rule has subqueries of its own, and runs quadratic.)"""
    at = clock.now()
    at_type = CustomerTag.__table__.c.added_at.type
    matched = _materialise(session, select(Customer.id).where(filt))
    held = aliased(CustomerTag)
    carriers = select(held.customer_id).where(
        held.tenant_id == tenant_id, held.tag_id == tag_id, conditions_in(scope, held.customer_id)
    )
    fresh = matched.except_(carriers).subquery()
    (fresh_id,) = fresh.c
    chosen = select(
        literal(tenant_id),
        fresh_id,
        literal(tag_id),
        literal(TagSource.RULE),
        literal(reason[:200]),
        null(),
        literal(at, at_type),
    ).where(true())  # SQLite reads "SELECT … ON CONFLICT" ambiguously without a WHERE
    dialect = session.get_bind().dialect.name
    insert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert_of(CustomerTag)
        .from_select(
            ["tenant_id", "customer_id", "tag_id", "source", "reason", "origin_customer_id", "added_at"],
            chosen,
        )
        # An event-path evaluation may add the same pair meanwhile: theirs stands.
        .on_conflict_do_nothing()
        .returning(CustomerTag.customer_id)
    )
    added_ids = list(session.scalars(statement))
    by_rule = aliased(CustomerTag)
    gone = (
        select(by_rule.customer_id)
        .where(
            by_rule.tenant_id == tenant_id,
            by_rule.tag_id == tag_id,
            by_rule.source == TagSource.RULE,
            conditions_in(scope, by_rule.customer_id),
        )
        .except_(matched)
    )
    # Read first, then delete by id: PostgreSQL plans "DELETE … WHERE id IN (… EXCEPT …)" as a
    # nested loop over the tag's rows, many times slower than the bare EXCEPT.
    removed_ids = list(session.scalars(gone))
    for start in range(0, len(removed_ids), 1000):
        session.execute(
            delete(CustomerTag)
            .where(
                CustomerTag.tenant_id == tenant_id,
                CustomerTag.tag_id == tag_id,
                CustomerTag.source == TagSource.RULE,
                CustomerTag.customer_id.in_(removed_ids[start : start + 1000]),
            )
            .execution_options(synchronize_session=False)
        )

    def made(ids: Sequence[str]) -> list[changes.Change]:
        return [
            changes.Change(customer_id, tag_id, tag_name, TagSource.RULE, reason)
            for customer_id in sorted(ids)
        ]

    changes.record(session, tenant_id, made(added_ids), made(removed_ids), at, bulk=True)
    return len(added_ids), len(removed_ids)


def evaluate_all(
    database: Database, tenant_id: str, *, requested_by: str = "schedule", chunk_size: int | None = None
) -> list[TagEvaluation]:
    """Run every rule tag of the tenant now, one batch after another (the daily schedule)."""
    with database.unit_of_work() as session:
        queued = [
            _new_evaluation(session, tenant_id, tag, requested_by).id for tag in rule_tags(session, tenant_id)
        ]
    if database.engine.dialect.name == "postgresql":
        # One pass over the customers for all the rules: each chunk's order aggregates are
        # computed once, not once per rule.
        heartbeats = {
            evaluation_id: heartbeat
            for evaluation_id in queued
            if (heartbeat := _claim(database, tenant_id, evaluation_id)) is not None
        }
        done = _run_together(
            database, tenant_id, heartbeats, chunk_size or _spread_chunk(database, tenant_id)
        )
        with database.unit_of_work() as session:
            return [get_evaluation(session, tenant_id, evaluation_id) for evaluation_id in done]
    finished = []
    for evaluation_id in queued:
        result = run_batch(database, tenant_id, evaluation_id, chunk_size=chunk_size)
        if result is not None:
            finished.append(result)
    return finished


def _spread_chunk(database: Database, tenant_id: str) -> int:
    """The daily run's chunk: the customers split evenly over the chunk workers, at most
    ALL_RULES_CHUNK each (every chunk pays a scan of the orders and the carriers)."""
    with database.unit_of_work() as session:
        total = session.scalar(select(func.count()).where(Customer.tenant_id == tenant_id)) or 0
    return max(1, min(ALL_RULES_CHUNK, -(-total // batch_workers())))


# ── PostgreSQL: the rules of a batch side by side ───────────────────────────────────────────


@dataclass(frozen=True)
class _Rule:
    evaluation_id: str
    tag_id: str
    tag_name: str
    reason: str
    condition: conditions.Condition


def _run_together(
    database: Database, tenant_id: str, heartbeats: dict[str, datetime], chunk_size: int | None
) -> list[str]:
    """Run claimed batches (`heartbeats`: evaluation id → our heartbeat) in one walk over the
    customers: each chunk is one transaction that compiles every rule with shared per-customer
    order facts (`conditions.batch_tests`), finds every difference from the carriers in one
    statement, writes it and commits each run's progress. Returns the ids of the runs that
    ended here (done or failed), not those another worker took over.

    A rule testing has_tag of another rule tag of the same walk sees that tag's carriers as the
    chunk began, as the event path does (`evaluate_customers`); the next run follows."""
    rules: dict[str, _Rule] = {}
    ended: list[str] = []
    failed: dict[str, str] = {}
    with database.unit_of_work() as session:
        total = session.scalar(select(func.count()).where(Customer.tenant_id == tenant_id)) or 0
        for evaluation_id in heartbeats:
            try:
                evaluation = get_evaluation(session, tenant_id, evaluation_id)
                tag = _rule_tag(session, tenant_id, evaluation.tag_id)
                condition = conditions.validate(tag.rule)
            except Exception as error:  # noqa: BLE001 - this run ends failed, the others go on
                log.warning("tag evaluation %s cannot run: %s", evaluation_id, error)
                failed[evaluation_id] = f"{type(error).__name__}: {error}"
                continue
            session.execute(
                update(TagEvaluation)
                .where(TagEvaluation.tenant_id == tenant_id, TagEvaluation.id == evaluation_id)
                .values(total=total, rule_version=tag.rule_version)
                .execution_options(synchronize_session=False)
            )
            rules[evaluation_id] = _Rule(evaluation_id, tag.id, tag.name, reason_of(tag), condition)
    if failed:
        with database.unit_of_work() as session:
            for evaluation_id, reason in failed.items():
                _finish(session, tenant_id, evaluation_id, EvaluationStatus.FAILED, reason)
        ended.extend(failed)
    size = chunk_size or chunk_size_for("postgresql")
    walk = _ChunkWalk(database, tenant_id, rules, heartbeats, size)
    try:
        walk.run(chunk_bounds(database, tenant_id, size))
    except Exception as error:  # noqa: BLE001 - the runs end failed, with the reason shown
        log.exception("tag evaluations %s failed", ", ".join(rules))
        with database.unit_of_work() as session:
            for evaluation_id in rules:
                _finish(
                    session,
                    tenant_id,
                    evaluation_id,
                    EvaluationStatus.FAILED,
                    f"{type(error).__name__}: {error}",
                )
        return [*ended, *rules]
    if rules:
        with database.unit_of_work() as session:
            # (Until 2026-11-25 each tag's carriers were counted here into tags.customer_count,
            # which nothing read: the console and the API count them live, per role. At 1M
            # customers that count took 0.5 s of the daily run.)
            for rule in rules.values():
                _finish(session, tenant_id, rule.evaluation_id, EvaluationStatus.DONE, "")
        # A first run adds millions of carriers: the next one (and every has_tag test) would
        # be planned on statistics that say the table is small — an index scan and an on-disk
        # sort of 5M carriers where a hash aggregate takes half the time — and would itself
        # set the new rows' hint bits, writing every page it reads (the daily run at 1M: 11.5 s
        # right after a first run, 8.7 s once vacuumed). Vacuumed and analysed here when a
        # tenth changed, as autovacuum would later (or never, where it is off).
        statistics.refresh(database.engine, ("customer_tags", "tag_changes"), force=True, vacuum=True)
    return [*ended, *rules]


def chunk_bounds(database: Database, tenant_id: str, size: int) -> list[conditions.Range]:
    """The tenant's customers cut into id ranges of `size`, in id order; the first starts at ""
    and the last is open, so customers created during the walk fall in some range.

    Each low is found from the one before by stepping `size` ids along the key's index, so the
    walk reads every id once (at 1M: 0.1 s, where numbering them all with row_number() took 0.4 s)."""
    lows: list[str] = []
    with database.unit_of_work() as session:
        low: str | None = _next_low(session, tenant_id, "", size)
        while low is not None:
            lows.append(low)
            low = _next_low(session, tenant_id, low, size)
    edges: list[str | None] = ["", *lows, None]
    return [conditions.Range(str(low), high) for low, high in zip(edges, edges[1:], strict=False)]


def _next_low(session: Session, tenant_id: str, low: str, size: int) -> str | None:
    """The id `size` customers after `low` (where the next chunk starts), None past the last."""
    return session.scalar(
        select(Customer.id)
        .where(Customer.tenant_id == tenant_id, Customer.id >= low)
        .order_by(Customer.id)
        .offset(size)
        .limit(1)
    )


def batch_workers() -> int:
    """Chunks computed at once: each chunk's statement is mostly one backend's work (its
    aggregates and the final join run in the leader, whatever parallel query does), so two
    chunks side by side use two cores. HAINA_TAGS_BATCH_WORKERS overrides."""
    configured = os.environ.get("HAINA_TAGS_BATCH_WORKERS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, min(4, os.cpu_count() or 1))


class _ChunkWalk:
    """The chunks of one walk, up to `batch_workers()` at a time, each in its own transaction.

    A chunk computes and writes its customers' differences, then, one chunk at a time (a lock),
    moves each run's progress and heartbeat — only if the heartbeat is still the one this walk
    last wrote — and commits. A run another worker took over (its heartbeat moved) makes the
    chunk roll back whole; the run is dropped and the chunk queued again without it."""

    def __init__(
        self,
        database: Database,
        tenant_id: str,
        rules: dict[str, _Rule],
        heartbeats: dict[str, datetime],
        chunk_size: int,
    ) -> None:
        self.database = database
        self.chunk_size = chunk_size
        self.tenant_id = tenant_id
        self.rules = rules  # shared with the caller: runs taken over are removed from it
        self.beats = {evaluation_id: heartbeats[evaluation_id] for evaluation_id in rules}
        self.progress = threading.Lock()

    def run(self, ranges: list[conditions.Range]) -> None:
        pending = list(reversed(ranges))
        workers = min(batch_workers(), len(ranges)) or 1
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="haina-tags-chunk") as pool:
            running: dict[Future[None], conditions.Range] = {}
            failure: BaseException | None = None
            while (pending and failure is None) or running:
                while pending and failure is None and len(running) < workers and self.rules:
                    scope = pending.pop()
                    chunk = partial(self._chunk, list(self.rules.values()), scope, alone=workers == 1)
                    running[pool.submit(_with_retries, chunk)] = scope
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    scope = running.pop(future)
                    error = future.exception()
                    if isinstance(error, _TakenOver):
                        for evaluation_id in error.evaluation_ids:
                            log.info("tag evaluation %s was taken over by another worker", evaluation_id)
                            self.rules.pop(evaluation_id, None)
                            self.beats.pop(evaluation_id, None)
                        pending.append(scope)  # again, without the runs taken over
                    elif error is not None and failure is None:
                        failure = error  # let the chunks in flight end, then fail the runs
            if failure is not None:
                raise failure

    def _chunk(self, rules: list[_Rule], scope: conditions.Range, *, alone: bool) -> None:
        session = self.database.session_factory()
        try:
            # Room for the chunk's per-customer facts (sorted by customer: ~300 bytes of orders
            # per customer) and the rules' hashed id sets, so none spills to disk or falls back
            # to a scan per customer: 300 MB for a 500k chunk, whose sort spilled 135 MB at
            # 128 MB (0.4 s more).
            session.execute(text(f"SET LOCAL work_mem = '{work_mem_mb(self.chunk_size)}MB'"))
            # Every join of the chunk's statement is a whole chunk against a whole chunk. Right
            # after a big run the carriers' statistics lag (autovacuum has not analysed them
            # yet) and a nested loop planned for "1 row" took 10 s where the hash join takes
            # 0.3 s (20k).
            session.execute(text("SET LOCAL enable_nestloop = off"))
            # The statement is costed high enough for JIT inlining and optimisation, which took
            # 6 s of a 7 s chunk at 1M customers (compiling ~300 functions) and saves nothing here.
            # (Expressions alone, without inlining or optimisation: no faster either, 2026-11-25.)
            session.execute(text("SET LOCAL jit = off"))
            # The carriers' masks are aggregated from the primary key's index alone (it includes
            # `source`, migration 0018), already in customer order: a group aggregate that
            # streams. Left to itself the planner hashes 2.5M carriers of a 500k chunk into
            # 500k groups instead (1.0 s more per chunk at 1M customers).
            session.execute(text("SET LOCAL enable_hashagg = off"))
            if not alone:
                # Chunks side by side already use the cores; parallel workers would only queue.
                session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            looked_at = session.scalar(
                select(func.count()).where(
                    Customer.tenant_id == self.tenant_id, conditions_in(scope, Customer.id)
                )
            )
            added, removed = apply_together(session, self.tenant_id, rules, scope)
            with self.progress:
                now = clock.now()
                taken = []
                for rule in rules:
                    touched = session.execute(
                        update(TagEvaluation)
                        .where(
                            TagEvaluation.tenant_id == self.tenant_id,
                            TagEvaluation.id == rule.evaluation_id,
                            TagEvaluation.heartbeat_at == self.beats.get(rule.evaluation_id),
                        )
                        .values(
                            done=TagEvaluation.done + (looked_at or 0),
                            added=TagEvaluation.added + added[rule.tag_id],
                            removed=TagEvaluation.removed + removed[rule.tag_id],
                            heartbeat_at=now,
                        )
                        .execution_options(synchronize_session=False)
                    ).rowcount  # type: ignore[attr-defined]
                    if touched != 1:
                        taken.append(rule.evaluation_id)
                if taken:
                    raise _TakenOver(taken)
                session.commit()
                for rule in rules:
                    self.beats[rule.evaluation_id] = now
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


MASK_BITS = 62  # rules per bigint mask of `_differences`
WORK_MEM_PER_CUSTOMER = 600  # bytes: a chunk's facts sorted by customer, twice over
WORK_MEM_MB = (128, 1024)  # least and most per chunk


def work_mem_mb(chunk_size: int) -> int:
    """work_mem of a chunk of `chunk_size` customers, in MB (each sort or hash of its statement
    may take that much)."""
    least, most = WORK_MEM_MB
    return max(least, min(most, -(-chunk_size * WORK_MEM_PER_CUSTOMER // 2**20)))


def _differences(
    session: Session, tenant_id: str, rules: Sequence[_Rule], scope: conditions.Range
) -> Select[Any]:
    """Rows (customer_id, then per group of MASK_BITS rules: matched, held, held_by_rule) for the
    customers of `scope` where some rule's tag is to be added or removed; each of the three is
    a bigint mask with bit i for the group's rule i: its rule holds / the customer carries its
    tag / carries it by rule. Masks keep the carriers' aggregate a small hash aggregate."""
    compiled = conditions.batch_tests_for(session, tenant_id, [rule.condition for rule in rules], scope=scope)
    groups = [range(start, min(start + MASK_BITS, len(rules))) for start in range(0, len(rules), MASK_BITS)]

    def bit(index: int) -> Any:
        return literal(1 << (index % MASK_BITS), BigInteger)

    results = select(
        Customer.id.label("customer_id"),
        *(
            _sum_of(
                [
                    case((test, bit(index)), else_=literal(0, BigInteger))
                    for index, test in zip(group, (compiled.tests[index] for index in group), strict=True)
                ]
            ).label(f"m{number}")
            for number, group in enumerate(groups)
        ),
    ).where(Customer.tenant_id == tenant_id, conditions_in(scope, Customer.id))
    if compiled.facts is not None:
        results = results.select_from(Customer).outerjoin(
            compiled.facts, compiled.facts.c.customer_id == Customer.id
        )
    matched = results.subquery("tag_results")
    held_columns = []
    for number, group in enumerate(groups):
        # The carrier's bit looked up in a small jsonb object: a CASE of one WHEN per rule
        # compares each carrier's tag id with every rule's in turn (a fifth of the chunk at 20
        # rules); a tag of another group looks up nothing, and bit_or skips the NULL.
        bit_of = {rules[index].tag_id: 1 << (index % MASK_BITS) for index in group}
        bits = cast(literal(bit_of, postgresql.JSONB).op("->>")(CustomerTag.tag_id), BigInteger)
        held_columns.append(func.bit_or(bits).label(f"h{number}"))
        held_columns.append(
            func.bit_or(bits).filter(CustomerTag.source == TagSource.RULE).label(f"b{number}")
        )
    held = (
        select(CustomerTag.customer_id, *held_columns)
        .where(
            CustomerTag.tenant_id == tenant_id,
            CustomerTag.tag_id.in_(sorted({rule.tag_id for rule in rules})),
            conditions_in(scope, CustomerTag.customer_id),
        )
        .group_by(CustomerTag.customer_id)
        .subquery("tag_held")
    )
    columns: list[Any] = []
    differ: list[Any] = []
    for number in range(len(groups)):
        wanted = func.coalesce(matched.c[f"m{number}"], 0)
        carried = func.coalesce(held.c[f"h{number}"], 0)
        by_rule = func.coalesce(held.c[f"b{number}"], 0)
        columns += [wanted, carried, by_rule]
        differ.append(wanted.op("&")(carried.op("#")(literal(-1, BigInteger))) != 0)
        differ.append(by_rule.op("&")(wanted.op("#")(literal(-1, BigInteger))) != 0)
    return (
        select(func.coalesce(matched.c.customer_id, held.c.customer_id), *columns)
        .select_from(matched.join(held, held.c.customer_id == matched.c.customer_id, full=True))
        .where(or_(*differ))
    )


def _sum_of(terms: Sequence[Any]) -> Any:
    """a + b + … of SQL expressions (Python's sum() would start from the integer 0)."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def apply_together(
    session: Session, tenant_id: str, rules: Sequence[_Rule], scope: conditions.Range
) -> tuple[dict[str, int], dict[str, int]]:
    """PostgreSQL: make the rule tags' rows in `scope` match their rules, with history and events
    for the pairs that changed. Returns (added, removed) by tag id.

    One statement finds every difference (`_differences`; a daily run gets few rows back), then
    per tag one INSERT … SELECT unnest(ids) and one DELETE … = ANY(ids), each writing the history
    and events of what it wrote in the same statement (`changes.record_written`). Like
    `apply_range`, a tag carried by hand is never removed, an addition racing the event path
    keeps theirs (ON CONFLICT DO NOTHING), and only what the statements report as written is
    recorded."""
    at = clock.now()
    differences = _differences(session, tenant_id, rules, scope)
    additions: dict[str, list[str]] = {rule.tag_id: [] for rule in rules}
    removals: dict[str, list[str]] = {rule.tag_id: [] for rule in rules}
    for row in session.execute(differences):
        for index, rule in enumerate(rules):
            number, mask = divmod(index, MASK_BITS)
            wanted, carried, by_rule = row[1 + 3 * number : 4 + 3 * number]
            if wanted >> mask & 1 and not carried >> mask & 1:
                additions[rule.tag_id].append(row[0])
            elif by_rule >> mask & 1 and not wanted >> mask & 1:
                removals[rule.tag_id].append(row[0])
    at_type = CustomerTag.__table__.c.added_at.type
    added = {rule.tag_id: 0 for rule in rules}
    removed = {rule.tag_id: 0 for rule in rules}
    tag_ids = postgresql.ARRAY(String)
    for rule in rules:
        template = changes.Change("", rule.tag_id, rule.tag_name, TagSource.RULE, rule.reason)
        if additions[rule.tag_id]:
            chosen = select(
                literal(tenant_id),
                func.unnest(literal(sorted(additions[rule.tag_id]), tag_ids)),
                literal(rule.tag_id),
                literal(TagSource.RULE),
                literal(rule.reason[:200]),
                null(),
                literal(at, at_type),
            )
            adding = (
                postgresql.insert(CustomerTag)
                .from_select(
                    [
                        "tenant_id",
                        "customer_id",
                        "tag_id",
                        "source",
                        "reason",
                        "origin_customer_id",
                        "added_at",
                    ],
                    chosen,
                )
                .on_conflict_do_nothing()
                .returning(CustomerTag.customer_id)
            )
            added[rule.tag_id] = changes.record_written(session, tenant_id, adding, template, at)
        if removals[rule.tag_id]:
            removing = (
                delete(CustomerTag)
                .where(
                    CustomerTag.tenant_id == tenant_id,
                    CustomerTag.tag_id == rule.tag_id,
                    CustomerTag.source == TagSource.RULE,
                    CustomerTag.customer_id == any_(literal(removals[rule.tag_id], tag_ids)),
                )
                .returning(CustomerTag.customer_id)
            )
            removed[rule.tag_id] = changes.record_written(
                session, tenant_id, removing, template, at, removed=True
            )
    return added, removed


# ── Running requested batches off the dispatcher's thread ───────────────────────────────────

_background: set[threading.Thread] = set()
_background_lock = threading.Lock()
_one_at_a_time = threading.Lock()


def start_in_background(database: Database, tenant_id: str, evaluation_id: str) -> threading.Thread:
    """Run a requested batch on its own thread: a big run outlives the dispatcher's delivery
    lease, and on SQLite the delivery's transaction holds the one write lock the run needs."""

    def target() -> None:
        try:
            # One batch at a time per process: runs side by side only queue for the same locks.
            with _one_at_a_time:
                run_batch(database, tenant_id, evaluation_id)
        finally:
            with _background_lock:
                _background.discard(threading.current_thread())

    thread = threading.Thread(target=target, name=f"haina-tags-{evaluation_id[:8]}", daemon=True)
    with _background_lock:
        _background.add(thread)
    thread.start()
    return thread


def wait_for_background(timeout: float = 60.0) -> bool:
    """Wait for batches started in the background (tests, shutdown); False if some still run."""
    with _background_lock:
        threads = list(_background)
    for thread in threads:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in threads)
