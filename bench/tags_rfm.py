"""RFM scores and lifecycle stages (rfm.compute) on PostgreSQL over many customers.

    python bench/tags_rfm.py                  # 1,000,000 customers (about 2 orders each)
    python bench/tags_rfm.py --quick          # 20,000 customers
    python bench/tags_rfm.py --customers N

The data is bench/tags_batch.py's (a scratch database on HAINA_BENCH_PG_ADMIN_URL, filled by
COPY, analysed, dropped at the end).

Figures:
* tags.rfm_<size>_first_seconds — the first computation: every customer's row written.
* tags.rfm_<size>_seconds — ten minutes later (the embedded schedule's interval): everything
  recomputed, only the few changed rows written.
* tags.rfm_<size>_next_day_seconds — a day later: every buyer's recency moved, so every buyer's
  row is rewritten (the daily worst case).
* Baseline, same run: one bare `SELECT customer_id, count(*), sum(paid_fen) … GROUP BY` over the
  same orders, and the ratio of the ten-minute run to it.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_size_arguments, scratch_database, size_of  # noqa: E402
from tags_batch import NOW, seed  # noqa: E402


def baseline(url: str, tenant_id: str) -> float:
    engine = create_engine(url)
    statement = text(
        "SELECT o.customer_id, count(*), sum(r.paid_fen) FROM order_owners o JOIN orders r"
        " ON r.tenant_id = o.tenant_id AND r.id = o.order_id"
        " WHERE o.tenant_id = :tenant AND r.status IN ('paid', 'shipped', 'completed', 'partially_refunded')"
        " GROUP BY o.customer_id"
    )
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(statement, {"tenant": tenant_id}).fetchall()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_size_arguments(parser)
    args = parser.parse_args()
    customers, size = size_of(args)

    from haina.core import clock
    from haina.core.tenancy.service import get_or_create_tenant
    from haina.tags import rfm

    clock.freeze(NOW)
    try:
        with scratch_database() as (url, settings, database):
            with database.unit_of_work() as session:
                tenant_id = get_or_create_tenant(session, "bench", "压测商户").id
            started = time.perf_counter()
            counts = seed(url, tenant_id, customers)
            maintenance = create_engine(url, isolation_level="AUTOCOMMIT")
            with maintenance.connect() as connection:
                connection.execute(text("VACUUM ANALYZE"))
            maintenance.dispose()
            seeded = time.perf_counter() - started

            timings = {}
            results = {}
            for label, moment in (
                ("first", NOW),
                ("ten_minutes", NOW + timedelta(minutes=10)),
                ("next_day", NOW + timedelta(days=1)),
            ):
                clock.freeze(moment)
                started = time.perf_counter()
                with database.unit_of_work() as session:
                    results[label] = rfm.compute(session, tenant_id)
                timings[label] = time.perf_counter() - started
            base_seconds = baseline(url, tenant_id)

        first = results["first"]
        print(f"customers         {counts['customers']:>12,}   buyers in window {first.buyers:,}")
        print(f"orders            {counts['orders']:>12,}   refunds {counts['refunds']:,}")
        print(f"seeded (COPY)     {seeded:>12.1f} s")
        print("stages            " + ", ".join(f"{stage} {count:,}" for stage, count in first.counts.items()))
        print(
            f"stage changes     {results['ten_minutes'].changes:>12,} (10 min)   {results['next_day'].changes:,} (next day)"
        )
        print(f"figure: tags.rfm_{size}_first_seconds {timings['first']:.2f} s")
        print(f"figure: tags.rfm_{size}_seconds {timings['ten_minutes']:.2f} s")
        print(f"figure: tags.rfm_{size}_next_day_seconds {timings['next_day']:.2f} s")
        print(f"figure: tags.rfm_{size}_baseline_seconds {base_seconds:.2f} s")
        print(f"figure: tags.rfm_{size}_ratio_to_baseline {timings['ten_minutes'] / base_seconds:.2f} x")
        sys.stdout.flush()
    finally:
        clock.freeze(None)


if __name__ == "__main__":
    main()
