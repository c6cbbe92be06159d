"""`haina oneid rebuild [--tenant SLUG]` and `haina oneid link INPUT.csv -o OUTPUT.csv`.

Heavy imports happen inside the commands so `haina --help` stays quick.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

oneid_app = typer.Typer(
    help="Identity resolution (OneID): rebuild customers, link a CSV", no_args_is_help=True
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@oneid_app.command("rebuild")
def rebuild(
    tenant: Annotated[str | None, typer.Option(help="tenant slug (default: every active tenant)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Re-derive every identity from the stored orders and contacts and resolve them again (and
    refill the matcher's index of blocking keys: run it once after turning the matcher on).
    Idempotent: a second run changes nothing; people's merges, unmerges and review decisions stay."""
    from sqlalchemy import select

    from haina.core.database import Database
    from haina.core.errors import DomainError
    from haina.core.settings import SettingsError, get_settings
    from haina.core.tenancy.models import Tenant
    from haina.core.tenancy.service import get_tenant_by_slug
    from haina.customers.identity import service

    try:
        settings = get_settings()
    except SettingsError as error:
        raise _fail(f"configuration error: {error}", 2)
    database = Database(settings)
    try:
        with database.unit_of_work() as session:
            if tenant:
                try:
                    targets = [(get_tenant_by_slug(session, tenant).id, tenant)]
                except DomainError as error:
                    raise _fail(error.message, 1)
            else:
                targets = [
                    (row.id, row.slug)
                    for row in session.execute(
                        select(Tenant.id, Tenant.slug).where(Tenant.is_active.is_(True))
                    )
                ]
        for tenant_id, slug in targets:
            started = time.perf_counter()
            with database.unit_of_work() as session:
                result = service.rebuild(session, tenant_id, settings=settings)
            seconds = time.perf_counter() - started
            figures = {"tenant": slug, "seconds": round(seconds, 3), **result.as_dict()}
            if as_json:
                typer.echo(json.dumps(figures, ensure_ascii=False))
            else:
                typer.echo(
                    f"{slug}: {result.orders} orders, {result.contacts} contacts → "
                    f"{figures['customers_touched']} customers ({result.customers_created} new, "
                    f"{result.merges} merges, {result.splits} splits, {result.refused} refused links, "
                    f"{result.reviews} to review, {result.blocked} keys blocked) in {seconds:.1f} s"
                )
    finally:
        database.dispose()


@oneid_app.command("link")
def link(
    input_csv: Annotated[
        Path, typer.Argument(help="rows: record_id,source,name,phone,email,province,city,…")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write record_id,cluster_id")],
) -> None:
    """Link the records of an imported list (any column may be empty or absent) into clusters."""
    if not input_csv.exists():
        raise _fail(f"{input_csv} does not exist", 2)
    try:
        from haina.customers.matching.csvlink import link_csv
    except ImportError as error:
        raise _fail(f"the probabilistic matcher is not available in this build: {error}", 3)
    started = time.perf_counter()
    try:
        result = link_csv(input_csv, output)
    except ValueError as error:  # the matcher's CsvInputError: what to change in the file
        raise _fail(f"{input_csv}: {error}", 2)
    seconds = time.perf_counter() - started
    figures = vars(result) if hasattr(result, "__dict__") else {}
    summary = ", ".join(f"{key} {value}" for key, value in figures.items() if key != "seconds")
    typer.echo(f"linked {input_csv} → {output} in {seconds:.1f} s" + (f": {summary}" if summary else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(oneid_app, name="oneid")
