"""Incremental identity resolution and the WeCom sidebar, on PostgreSQL (or SQLite with --sqlite).

    python bench/oneid_incremental.py            # a seeded merchant of 2,000 people
    python bench/oneid_incremental.py --quick    # 300 people

1. A seeded sandbox merchant is synced end to end over loopback HTTP (every shop, every stream)
   with the event handlers held back, so its events wait in the outbox.
2. oneid.identities_per_s — the backlog is resolved the way the dispatcher does it: due
   deliveries in micro-batches (200 at a time, the default `event_batch_size`), each batch one
   `resolve_records` call in its own transaction. identities/s = identity nodes created ÷ the
   seconds until nothing is due (with the probabilistic matcher, as configured; `--rules-only`
   without it). Baseline in the same run: a batch `rebuild` of the same tenant
   from scratch (nodes deleted first); `oneid.incremental_to_rebuild` is the ratio of the times.
3. sidebar.query_p50_ms / p99_ms — `profile.sidebar()` (what the sidebar page renders) for 200
   WeCom contacts of the merchant.
4. sidebar.order_visible_p50_ms / p99_ms — for 200 known buyers: a new paid order is stored
   (`store_records` and commit: what the push handler does once the push is acknowledged and
   dispatched), then the sidebar is read until it shows the order. It shows at once, before
   resolution runs: an order of a known buyer identity is found through that identity's customer.
   Not included: the webhook answer and the dispatcher's pick-up of the push (bench/ingest_*).

Each figure is printed as `figure: <area>.<name> <value> <unit>`.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, func, select, text, update

ADMIN_URL = os.environ.get(
    "HAINA_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
HISTORY_END = datetime(2026, 11, 1, tzinfo=UTC)
NOW = HISTORY_END + timedelta(hours=1)
SEED = 7
BATCH = 200


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 people")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its name is printed)")
    parser.add_argument(
        "--rules-only",
        action="store_true",
        help="without the probabilistic matcher (HAINA_ONEID_MATCHER=false)",
    )
    args = parser.parse_args()
    people = 300 if args.quick else args.people

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from haina.connections import service as connections
    from haina.core import clock
    from haina.core.auth.actor import Actor
    from haina.core.database import Database
    from haina.core.events.dispatcher import claim_due, fan_out
    from haina.core.events.models import EventDelivery, OutboxEvent
    from haina.core.migrate import upgrade
    from haina.core.settings import Settings
    from haina.core.tenancy.service import get_or_create_tenant
    from haina.customers import service as records
    from haina.customers import tasks
    from haina.customers.identity import matcher, profile, seam, service
    from haina.customers.identity.models import Customer, IdentityLink, IdentityNode, OrderOwner
    from haina.customers.models import BuyerIdentity, Contact
    from haina.platforms.canonical import BuyerIdentity as CanonicalIdentity
    from haina.platforms.canonical import Order, OrderLine
    from haina.sandbox.generator import generate_world
    from haina.sandbox.state import SandboxState
    from tests.factories import TenantFixture
    from tests.ingest.test_acceptance import connect_all
    from tests.platforms.live_sandbox import serve

    name = f"haina_bench_{uuid.uuid4().hex[:10]}"
    admin = None
    directory = tempfile.TemporaryDirectory(prefix="haina-bench-")
    if args.sqlite:
        url = f"sqlite:///{Path(directory.name) / 'bench.db'}"
    else:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    database = None
    try:
        upgrade(url)
        settings = Settings(
            env="test",
            var_dir=Path(directory.name),
            database_url=url,
            secret_key="bench-secret-key-0123456789abcdef",
            encryption_keys="1:" + base64.b64encode(b"b" * 32).decode(),
            hash_key="bench-hash-key",
        )
        database = Database(settings)
        connections.bind_settings(database)
        with database.unit_of_work() as session:
            tenant_id = get_or_create_tenant(session, "bench", "压测商户").id
        tenant = TenantFixture(id=tenant_id, slug="bench")
        if args.rules_only:
            matcher.disable()
        clock.freeze(NOW)
        world = generate_world(SEED, people, start=HISTORY_END)
        started = time.perf_counter()
        with serve(SandboxState(world)) as live:
            ids = connect_all(database, settings, tenant, live)
            since = min(order.created_at for order in world.orders).replace(microsecond=0) - timedelta(days=1)
            for (platform, _), connection_id in ids.items():
                for stream in connections.connector_for(platform).streams:
                    connections.run_sync(database, settings, connection_id, stream, since=since, until=NOW)
        sync_seconds = time.perf_counter() - started
        clock.freeze(None)

        # 2. The backlog, in the dispatcher's micro-batches.
        wanted = {tasks.handler_name(kind) for kind in (*tasks.ORDER_EVENTS, *tasks.CONTACT_EVENTS)}
        started = time.perf_counter()
        batches = 0
        while True:
            with database.unit_of_work() as session:
                fan_out(session, limit=5000)
            with database.unit_of_work() as session:
                due = claim_due(session, limit=BATCH, lease_seconds=600)
            if not due:
                break
            with database.unit_of_work() as session:
                deliveries = session.execute(
                    select(EventDelivery.id, EventDelivery.handler, OutboxEvent)
                    .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
                    .where(EventDelivery.id.in_(due))
                ).all()
                events = [event for _, handler, event in deliveries if handler in wanted]
                tasks.resolve_events(session, events)
                session.execute(update(EventDelivery).where(EventDelivery.id.in_(due)).values(status="done"))
            batches += 1
        incremental_seconds = time.perf_counter() - started
        with database.unit_of_work() as session:
            nodes = int(session.scalar(select(func.count()).select_from(IdentityNode)) or 0)
            customers = int(
                session.scalar(select(func.count()).select_from(Customer).where(Customer.status == "active"))
                or 0
            )
            contact_ids = list(
                session.scalars(select(Contact.external_userid).where(Contact.customer_id.is_not(None)))
            )

        # Baseline: the same tenant rebuilt from scratch in one batch.
        with database.unit_of_work() as session:
            for model in (IdentityLink, OrderOwner, IdentityNode, Customer):
                session.execute(delete(model))
        started = time.perf_counter()
        with database.unit_of_work() as session:
            service.rebuild(session, tenant_id, settings=settings)
        rebuild_seconds = time.perf_counter() - started

        # 3. The sidebar query.
        rng = random.Random(SEED)
        actor = Actor("bench", tenant_id, "bench", "压测", "owner")
        sample = rng.sample(contact_ids, min(200, len(contact_ids)))
        query_ms: list[float] = []
        for external_userid in sample:
            with database.unit_of_work() as session:
                begun = time.perf_counter()
                profile.sidebar(session, actor, external_userid)
                query_ms.append((time.perf_counter() - begun) * 1000)

        # 4. A new paid order of a known buyer: stored and committed → shown by the sidebar.
        visible_ms: list[float] = []
        with database.unit_of_work() as session:
            buyers = session.execute(
                select(BuyerIdentity.shop_id, BuyerIdentity.value, BuyerIdentity.customer_id).where(
                    BuyerIdentity.kind == "buyer_id",
                    BuyerIdentity.platform == "youzan",
                    BuyerIdentity.customer_id.is_not(None),
                )
            ).all()
        for index, (shop_id, buyer_id, customer_id) in enumerate(rng.sample(buyers, min(200, len(buyers)))):
            moment = datetime.now(UTC)
            new = Order(
                platform="youzan",
                shop_id=shop_id,
                external_id=f"BENCH-{index}",
                status="paid",
                platform_status="WAIT_SELLER_SEND_GOODS",
                total_fen=9_900,
                discount_fen=0,
                freight_fen=0,
                paid_fen=9_900,
                created_at=moment,
                modified_at=moment,
                paid_at=moment,
                buyer=[CanonicalIdentity("youzan", "buyer_id", buyer_id, shop_id=shop_id)],
                lines=[OrderLine(f"BENCH-{index}-1", "SKU", "新品", 1, 9_900)],
            )
            begun = time.perf_counter()
            with database.unit_of_work() as session:
                records.store_records(session, tenant_id, [new], settings=settings, source="bench")
            while True:
                with database.unit_of_work() as session:
                    shown = profile.customer_orders(session, tenant_id, customer_id, limit=5)
                if any(order.external_id == new.external_id for order in shown):
                    break
            visible_ms.append((time.perf_counter() - begun) * 1000)

        print(
            f"people {people:,}; synced in {sync_seconds:.1f} s; {nodes:,} identities, {customers:,} customers"
            f"; matcher {'on' if seam.link_proposer() is not None else 'off'}"
        )
        print(
            f"incremental: {batches} batches of ≤{BATCH} events, {incremental_seconds:.2f} s; rebuild {rebuild_seconds:.2f} s"
        )
        print(f"figure: oneid.identities_per_s {nodes / incremental_seconds:.0f} identities/s")
        print(f"figure: oneid.rebuild_identities_per_s {nodes / rebuild_seconds:.0f} identities/s")
        print(f"figure: oneid.incremental_to_rebuild {incremental_seconds / rebuild_seconds:.2f} x")
        print(f"figure: sidebar.query_p50_ms {statistics.median(query_ms):.1f} ms")
        print(f"figure: sidebar.query_p99_ms {percentile(query_ms, 0.99):.1f} ms")
        if visible_ms:
            print(f"figure: sidebar.order_visible_p50_ms {statistics.median(visible_ms):.1f} ms")
            print(f"figure: sidebar.order_visible_p99_ms {percentile(visible_ms, 0.99):.1f} ms")
        sys.stdout.flush()
    finally:
        if database is not None:
            database.dispose()
        if admin is not None and args.keep:
            print(f"kept {url}")
        elif admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        directory.cleanup()


if __name__ == "__main__":
    main()
