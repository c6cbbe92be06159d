"""How fast the sandbox generator writes a merchant, against writing trivial JSON lines.

    python bench/sandbox_generate.py            # 100,000 customers
    python bench/sandbox_generate.py --quick    # 5,000 customers

Baseline, measured in the same run: `json.dumps` of a small dict per line, as many lines as the
generator wrote records, into one file in the same temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from haina.sandbox.generator import write_world


def raw_write(path: Path, lines: int) -> float:
    started = time.perf_counter()
    with open(path, "w", encoding="utf-8") as file:
        for index in range(lines):
            file.write(json.dumps({"id": index, "kind": "order", "value": index * 3}) + "\n")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 customers")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    customers = 5_000 if args.quick else args.customers

    with tempfile.TemporaryDirectory(prefix="haina-bench-") as directory:
        started = time.perf_counter()
        result = write_world(args.seed, customers, Path(directory) / "world")
        generate_seconds = time.perf_counter() - started
        size = sum(file.stat().st_size for file in (Path(directory) / "world").iterdir())
        raw_seconds = raw_write(Path(directory) / "raw.jsonl", result.records)

    print(f"customers       {customers:>12,}")
    print(f"records         {result.records:>12,}")
    print(f"orders          {result.orders:>12,}")
    print(f"bytes written   {size:>12,}")
    print(f"generate+write  {generate_seconds:>12.2f} s")
    print(f"raw json lines  {raw_seconds:>12.2f} s")
    print(f"figure: sandbox.customers_per_s {customers / generate_seconds:.0f} customers/s")
    print(f"figure: sandbox.orders_per_s {result.orders / generate_seconds:.0f} orders/s")
    print(f"figure: sandbox.generate_ratio_to_raw_write {generate_seconds / raw_seconds:.2f} x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
