"""How soon a paid order gets its rule tags: from the order's commit to the tag row, on PostgreSQL.

    python bench/tags_event_latency.py            # 200 orders, 20 rules, 20,000 seeded customers
    python bench/tags_event_latency.py --quick    # 30 orders, 5,000 seeded customers

A scratch database (HAINA_BENCH_PG_ADMIN_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres) is migrated and seeded by COPY like
bench/tags_batch.py, with its 20 rule tags. The embedded runner (worker threads, every module's
handlers, default poll interval) runs in this process. One at a time, a paid order of a new buyer
is stored with `store_records` and committed (what the push handler does), the runner is woken
(as the web app does after a request emits events), and the tag table is polled every 5 ms until
the order's customer carries "近30天下单". The path measured: order.created → OneID resolution
→ customer.resolved → 20 rules evaluated for that customer → tag row, history and event.

Figures: tags.event_latency_p50_ms, tags.event_latency_p99_ms; baseline in the same run: the
time from commit until OneID has given the order its customer (`order_owners` row), i.e. the
part of the latency that is not the tag engine's, and the tag engine's share.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tags_batch  # noqa: E402 - the seed and the rules are shared with the batch bench
from _common import scratch_database  # noqa: E402

TIMEOUT_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="30 orders, 5,000 customers")
    args = parser.parse_args()
    orders, customers = (30, 5_000) if args.quick else (args.orders, args.customers)

    from haina.connections.service import bind_settings
    from haina.core.events.runners import start_runner
    from haina.core.tenancy.service import get_or_create_tenant
    from haina.customers.identity.models import OrderOwner
    from haina.customers.models import record_id
    from haina.customers.service import store_records
    from haina.platforms.canonical import Address, BuyerIdentity, Order, OrderLine
    from haina.tags.models import CustomerTag, Tag, TagGroup, TagKind

    runner = None
    try:
        with scratch_database() as (url, settings, database):
            bind_settings(database)
            with database.unit_of_work() as session:
                tenant_id = get_or_create_tenant(session, "bench", "压测商户").id
                group = TagGroup(tenant_id=tenant_id, name="规则")
                session.add(group)
                session.flush()
                tag_ids = {}
                for tag_name, rule in tags_batch.RULES.items():
                    tag = Tag(
                        tenant_id=tenant_id, group_id=group.id, name=tag_name, kind=TagKind.RULE, rule=rule
                    )
                    session.add(tag)
                    session.flush()
                    tag_ids[tag_name] = tag.id
            tags_batch.seed(url, tenant_id, customers)
            maintenance = create_engine(url, isolation_level="AUTOCOMMIT")
            with maintenance.connect() as connection:
                connection.execute(text("VACUUM ANALYZE"))
            maintenance.dispose()
            watched = tag_ids["近30天下单"]

            runner = start_runner(settings, database)
            tagged: list[float] = []
            owned: list[float] = []
            missed = 0
            for index in range(orders):
                at = datetime.now(UTC)
                external_id = f"LAT{index:06d}"
                order = Order(
                    platform="youzan",
                    shop_id="S1",
                    external_id=external_id,
                    status="paid",
                    platform_status="WAIT_SELLER_SEND_GOODS",
                    total_fen=19_900,
                    discount_fen=0,
                    freight_fen=0,
                    paid_fen=19_900,
                    created_at=at,
                    modified_at=at,
                    paid_at=at,
                    buyer=[BuyerIdentity("youzan", "buyer_id", f"LATBUYER{index:06d}", shop_id="S1")],
                    buyer_nick=f"买家{index}",
                    receiver_name="张三",
                    receiver_phone=f"137{index:08d}",
                    receiver_address=Address("浙江省", "杭州市", "西湖区", "文三路 1 号"),
                    lines=[OrderLine(f"{external_id}-1", "SKU-1", "保温杯 500ml", 1, 19_900)],
                )
                order_id = record_id("order", tenant_id, "youzan", "S1", external_id)
                with database.unit_of_work() as session:
                    store_records(session, tenant_id, [order], settings=settings, source="bench")
                started = time.perf_counter()
                runner.wake()
                owner_seen: float | None = None
                while time.perf_counter() - started < TIMEOUT_SECONDS:
                    with database.session_factory() as session:
                        customer_id = session.scalar(
                            select(OrderOwner.customer_id).where(
                                OrderOwner.tenant_id == tenant_id, OrderOwner.order_id == order_id
                            )
                        )
                        if customer_id and owner_seen is None:
                            owner_seen = time.perf_counter() - started
                        has_tag = customer_id is not None and session.scalar(
                            select(CustomerTag.customer_id).where(
                                CustomerTag.tenant_id == tenant_id,
                                CustomerTag.tag_id == watched,
                                CustomerTag.customer_id == customer_id,
                            )
                        )
                    if has_tag:
                        tagged.append((time.perf_counter() - started) * 1000)
                        owned.append((owner_seen or 0.0) * 1000)
                        break
                    time.sleep(0.005)
                else:
                    missed += 1
            runner.stop()
            runner = None

        def quantile(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

        print(
            f"orders            {orders:>10}   rules {len(tags_batch.RULES)}   seeded customers {customers:,}"
        )
        print(f"tagged            {len(tagged):>10}   missed (> {TIMEOUT_SECONDS:.0f} s) {missed}")
        print(f"mean              {statistics.fmean(tagged) if tagged else float('nan'):>10.1f} ms")
        print(f"figure: tags.event_latency_p50_ms {quantile(tagged, 0.5):.0f} ms")
        print(f"figure: tags.event_latency_p99_ms {quantile(tagged, 0.99):.0f} ms")
        print(f"figure: tags.event_latency_oneid_p50_ms {quantile(owned, 0.5):.0f} ms")
        share = [t - o for t, o in zip(tagged, owned, strict=True)]
        print(f"figure: tags.event_latency_tag_engine_p50_ms {quantile(share, 0.5):.0f} ms")
        sys.stdout.flush()
    finally:
        if runner is not None:  # a failure left it running
            runner.stop()


if __name__ == "__main__":
    main()
