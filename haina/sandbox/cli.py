"""`haina sandbox …`: write a seeded merchant to JSONL files."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import typer

from haina.sandbox.generator import DEFAULT_START, WriteProgress, write_world

sandbox_app = typer.Typer(help="The platform sandbox: seeded merchant data for tests, demos and benchmarks.")


@sandbox_app.callback()
def sandbox() -> None:
    """Keeps `seed` a subcommand even while it is the only one."""


class ProgressLine:
    """Prints records, rate and ETA to stderr, at most twice a second, on one line."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, progress: WriteProgress) -> None:
        now = time.monotonic()
        finished = progress.customers_done >= progress.customers_total
        if not finished and now - self.shown < 0.5:
            return
        self.shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = progress.customers_done / elapsed
        remaining = (progress.customers_total - progress.customers_done) / rate if rate else 0.0
        line = (
            f"\r{progress.customers_done:,}/{progress.customers_total:,} customers · "
            f"{progress.records:,} records · {progress.orders:,} orders · "
            f"{rate:,.0f} customers/s · ETA {remaining:,.0f} s"
        )
        sys.stderr.write(line + ("\n" if finished else ""))
        sys.stderr.flush()


@sandbox_app.command("seed")
def seed_command(
    seed: int = typer.Option(1, "--seed", help="Same seed, same data, byte for byte."),
    customers: int = typer.Option(10_000, "--customers", min=1, help="Number of people (customers)."),
    out: Path = typer.Option(..., "--out", help="Directory for <kind>.jsonl and ground_truth.csv."),
    start: str = typer.Option(
        DEFAULT_START.date().isoformat(),
        "--start",
        help="The world's 'now' (UTC date, YYYY-MM-DD); orders cover the year before it.",
    ),
) -> None:
    """Generate a merchant's data and write it as JSONL files."""
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(f"not a date: {start!r}; use YYYY-MM-DD", param_hint="--start")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    result = write_world(seed, customers, out, start=moment, progress=ProgressLine())
    summary = ", ".join(f"{kind} {count:,}" for kind, count in result.counts.items())
    typer.echo(f"wrote {result.records:,} records to {out}: {summary}")
