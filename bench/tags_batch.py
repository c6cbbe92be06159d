"""Batch evaluation of rule tags on PostgreSQL: 20 rules over 1M customers.

    python bench/tags_batch.py                # 1,000,000 customers (about 2 orders each)
    python bench/tags_batch.py --quick        # 20,000 customers
    python bench/tags_batch.py --customers N
    python bench/tags_batch.py --chunk-size N   # customers per chunk (default: the engine's)

A scratch database is created on the server (HAINA_BENCH_PG_ADMIN_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), migrated, filled by COPY (customers,
orders with one line each, their owners, some refunds), analysed, and dropped at the end.

Figures:
* tags.batch_<size>_seconds — `evaluation.evaluate_all` of the 20 rules on a tenant where every
  tag is already up to date (the daily run: every customer looked at, few changes). This is the
  figure of the goal (≤ 10 s at 1M).
* tags.batch_<size>_first_seconds — the first run, from no tags at all: every carrier added with
  its history line and tag.added event.
* tags.batch_<size>_new_rule_seconds — then one rule created (NEW_RULE: bought in the last year,
  about half of the customers) and its batch run as the console starts it (`request_batch`,
  `run_batch`): every customer looked at, every carrier written with its history and event.
* tags.delete_<size>_seconds — then that tag deleted as the console does (`service.delete_tag`):
  every carrier loses it, with its history line and tag.removed events.
* Baseline, same run: 20 bare `SELECT customer_id, count(*) FROM order_owners JOIN orders …
  GROUP BY customer_id` over the same orders (one aggregate scan per rule, nothing written), and
  the ratio of the daily run to it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import add_size_arguments, scratch_database, size_of
from sqlalchemy import create_engine, text

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
PLATFORMS = ("youzan", "tmall", "taobao", "jd", "pdd", "douyin")
PROVINCES = ("广东省", "浙江省", "上海市", "北京市", "江苏省", "四川省")
CITIES = {
    "广东省": "广州市",
    "浙江省": "杭州市",
    "上海市": "上海市",
    "北京市": "北京市",
    "江苏省": "南京市",
    "四川省": "成都市",
}
TITLES = ("补水面膜 10 片", "洁面乳 100g", "保温杯 500ml", "精华液 30ml", "防晒霜 SPF50")

RULES: dict[str, dict[str, Any]] = {
    "近30天下单": {"field": "order_count", "op": ">=", "value": 1, "days": 30},
    "近90天复购": {"field": "order_count", "op": ">=", "value": 2, "days": 90},
    "三单以上": {"field": "order_count", "op": ">=", "value": 3},
    "年消费500+": {"field": "order_amount", "op": ">=", "value": 50_000, "days": 365},
    "中等消费": {"field": "order_amount", "op": "between", "value": [10_000, 49_999]},
    "半年未购": {"field": "last_order_days", "op": ">", "value": 180},
    "一周内购": {"field": "last_order_days", "op": "<=", "value": 7},
    "90天未下单": {"field": "no_order_in_days", "op": "=", "value": 90},
    "京东买家": {"field": "order_count", "op": ">=", "value": 1, "platforms": ["jd"]},
    "淘系半年": {
        "field": "order_count",
        "op": ">=",
        "value": 1,
        "platforms": ["tmall", "taobao"],
        "days": 180,
    },
    "面膜": {"field": "order_count", "op": ">=", "value": 1, "product": "面膜"},
    "SKU-7": {"field": "order_count", "op": ">=", "value": 1, "sku": "SKU-7"},
    "退过款": {"field": "refund_count", "op": ">=", "value": 1},
    "广东": {"field": "province", "op": "=", "value": "广东省"},
    "杭沪": {"field": "city", "op": "in", "value": ["杭州市", "上海市"]},
    "用券": {"field": "coupon_used", "op": "=", "value": True, "days": 365},
    "高价值复购": {
        "all": [
            {"field": "order_count", "op": ">=", "value": 2, "days": 365},
            {"field": "order_amount", "op": ">=", "value": 30_000, "days": 365},
        ]
    },
    "流失": {
        "any": [
            {"field": "order_count", "op": "=", "value": 0},
            {"field": "last_order_days", "op": ">", "value": 365},
        ]
    },
    "非有赞": {"not": {"field": "platform", "op": "in", "value": ["youzan"]}},
    "从未下单": {"field": "order_count", "op": "=", "value": 0},
}


NEW_RULE = ("近一年下单", {"field": "order_count", "op": ">=", "value": 1, "days": 365})


def seed(url: str, tenant_id: str, customers: int) -> dict[str, int]:
    """Customers, orders (one line each), owners and refunds by COPY; returns row counts."""
    import psycopg

    from haina.core.database import new_id

    rng = random.Random(7)
    counts = dict.fromkeys(("customers", "orders", "refunds"), 0)
    stamp = NOW.isoformat()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY customers (id, tenant_id, status, display_name, phone_masked, search_text, node_count,"
                " created_at, updated_at) FROM STDIN"
            ) as copy:
                ids = sorted(new_id() for _ in range(customers))
                for customer_id in ids:
                    copy.write_row((customer_id, tenant_id, "active", "", "", "", 1, stamp, stamp))
            counts["customers"] = customers
            orders: list[tuple[Any, ...]] = []
            lines: list[tuple[Any, ...]] = []
            owners: list[tuple[Any, ...]] = []
            refunds: list[tuple[Any, ...]] = []
            for customer_id in ids:
                for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                    order_id = new_id()
                    external_id = order_id[:20]
                    platform = rng.choice(PLATFORMS)
                    province = rng.choice(PROVINCES)
                    paid_at = (NOW - timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))).isoformat()
                    paid = rng.randrange(1_000, 40_000)
                    status = rng.choices(
                        ("paid", "completed", "shipped", "refunded", "partially_refunded", "closed"),
                        (20, 50, 10, 5, 5, 10),
                    )[0]
                    coupons = '["C1"]' if rng.random() < 0.1 else "[]"
                    orders.append(
                        (order_id, tenant_id, platform, "S1", external_id, status, status.upper(), paid, 0, 0, paid,
                         "", "", "", province, CITIES[province], "", "", coupons, paid_at, paid_at, paid_at, 1, "",
                         "bench", stamp)
                    )  # fmt: skip
                    lines.append(
                        (tenant_id, order_id, 0, f"{external_id}-1", f"SKU-{rng.randrange(20)}", "",
                         rng.choice(TITLES), 1, paid)
                    )  # fmt: skip
                    owners.append((tenant_id, order_id, order_id, customer_id))
                    if status == "partially_refunded" or rng.random() < 0.02:
                        refunds.append(
                            (new_id(), tenant_id, platform, "S1", new_id()[:20], external_id, "", paid // 3,
                             "completed", "", paid_at, paid_at, 1, "", "bench", stamp)
                        )  # fmt: skip
            for table, columns, rows in (
                (
                    "orders",
                    "id, tenant_id, platform, shop_id, external_id, status, platform_status, total_fen, discount_fen,"
                    " freight_fen, paid_fen, buyer_nick, receiver_name, receiver_phone_masked, receiver_province,"
                    " receiver_city, receiver_district, receiver_street, coupon_ids, created_at, paid_at, modified_at,"
                    " version, fingerprint, source, synced_at",
                    orders,
                ),
                (
                    "order_lines",
                    "tenant_id, order_id, position, external_id, sku_id, outer_sku, title, quantity, unit_price_fen",
                    lines,
                ),
                ("order_owners", "tenant_id, order_id, node_id, customer_id", owners),
                (
                    "refunds",
                    "id, tenant_id, platform, shop_id, external_id, order_external_id, order_line_external_id,"
                    " amount_fen, status, reason, created_at, modified_at, version, fingerprint, source, synced_at",
                    refunds,
                ),
            ):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            counts["orders"], counts["refunds"] = len(orders), len(refunds)
        connection.commit()
    return counts


def baseline(url: str, tenant_id: str) -> float:
    """One bare aggregate over the orders per rule: the floor of a rule's scan."""
    engine = create_engine(url)
    statement = text(
        "SELECT o.customer_id, count(*) FROM order_owners o JOIN orders r"
        " ON r.tenant_id = o.tenant_id AND r.id = o.order_id"
        " WHERE o.tenant_id = :tenant AND r.status IN ('paid', 'shipped', 'completed', 'partially_refunded')"
        " GROUP BY o.customer_id"
    )
    started = time.perf_counter()
    with engine.connect() as connection:
        for _ in RULES:
            connection.execute(statement, {"tenant": tenant_id}).fetchall()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_size_arguments(parser)
    parser.add_argument("--chunk-size", type=int, default=None, help="customers per chunk")
    args = parser.parse_args()
    customers, size = size_of(args)

    from haina.core import clock
    from haina.core.auth.actor import Actor
    from haina.core.tenancy.service import get_or_create_tenant
    from haina.tags import evaluation
    from haina.tags import service as tags_service
    from haina.tags.models import Tag, TagGroup, TagKind

    clock.freeze(NOW)
    try:
        with scratch_database() as (url, settings, database):
            with database.unit_of_work() as session:
                tenant_id = get_or_create_tenant(session, "bench", "压测商户").id
                group = TagGroup(tenant_id=tenant_id, name="规则")
                session.add(group)
                session.flush()
                for tag_name, rule in RULES.items():
                    session.add(
                        Tag(
                            tenant_id=tenant_id,
                            group_id=group.id,
                            name=tag_name,
                            kind=TagKind.RULE,
                            rule=rule,
                        )
                    )
            started = time.perf_counter()
            counts = seed(url, tenant_id, customers)
            maintenance = create_engine(url, isolation_level="AUTOCOMMIT")
            with maintenance.connect() as connection:
                connection.execute(text("VACUUM ANALYZE"))
            maintenance.dispose()
            seeded = time.perf_counter() - started

            started = time.perf_counter()
            first = evaluation.evaluate_all(database, tenant_id, chunk_size=args.chunk_size)
            first_seconds = time.perf_counter() - started
            started = time.perf_counter()
            daily = evaluation.evaluate_all(database, tenant_id, chunk_size=args.chunk_size)
            daily_seconds = time.perf_counter() - started
            with database.unit_of_work() as session:
                tag = Tag(
                    tenant_id=tenant_id,
                    group_id=group.id,
                    name=NEW_RULE[0],
                    kind=TagKind.RULE,
                    rule=NEW_RULE[1],
                )
                session.add(tag)
                session.flush()
                requested = evaluation.request_batch(session, tenant_id, tag.id, requested_by="bench").id
            started = time.perf_counter()
            new_rule = evaluation.run_batch(database, tenant_id, requested, chunk_size=args.chunk_size)
            new_rule_seconds = time.perf_counter() - started
            owner = Actor("bench", tenant_id, "bench", "压测店主", "owner")
            started = time.perf_counter()
            with database.unit_of_work() as session:
                tags_service.delete_tag(session, owner, tag.id)
            delete_seconds = time.perf_counter() - started
            base_seconds = baseline(url, tenant_id)

        failed = [run for run in [*first, *daily, new_rule] if run is None or run.status != "done"]
        print(f"customers         {counts['customers']:>12,}")
        print(f"orders            {counts['orders']:>12,}   refunds {counts['refunds']:,}")
        print(f"seeded (COPY)     {seeded:>12.1f} s")
        print(f"rules             {len(RULES):>12}")
        print(f"tags added        {sum(run.added for run in first):>12,}   (first run)")
        print(f"changes (daily)   {sum(run.added + run.removed for run in daily):>12,}")
        print(f"new rule adds     {new_rule.added if new_rule else 0:>12,}   ({NEW_RULE[0]})")
        if failed:
            print("FAILED:", [(run.tag_id, run.error) if run else "new rule not run" for run in failed])
        print(f"figure: tags.batch_{size}_seconds {daily_seconds:.2f} s")
        print(f"figure: tags.batch_{size}_first_seconds {first_seconds:.2f} s")
        print(f"figure: tags.batch_{size}_new_rule_seconds {new_rule_seconds:.2f} s")
        print(f"figure: tags.delete_{size}_seconds {delete_seconds:.2f} s   (the new rule's tag deleted)")
        print(f"figure: tags.batch_{size}_baseline_seconds {base_seconds:.2f} s")
        print(f"figure: tags.batch_{size}_ratio_to_baseline {daily_seconds / base_seconds:.2f} x")
        sys.stdout.flush()
    finally:
        clock.freeze(None)


if __name__ == "__main__":
    main()
