"""Running intake: batch after batch, each in its own transaction (stored messages, their index,
alerts, events and the moved cursor commit together), until the source has nothing newer."""

from __future__ import annotations

from dataclasses import dataclass

from haina.archive import service
from haina.archive.sources import ChatSource, Decryptor
from haina.core.database import Database


@dataclass
class IntakeResult:
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    undecrypted: int = 0
    alerts: int = 0
    last_seq: int = 0


def run_intake(
    database: Database,
    tenant_id: str,
    corp_id: str,
    source: ChatSource,
    decryptor: Decryptor,
    *,
    limit: int = 1000,
    max_batches: int | None = None,
) -> IntakeResult:
    """Pull from the saved seq until a batch comes back empty (or `max_batches`)."""
    total = IntakeResult()
    while max_batches is None or total.batches < max_batches:
        with database.unit_of_work() as session:
            batch = service.pull_batch(
                session, tenant_id, corp_id, source, decryptor, database.settings, limit=limit
            )
        if batch.pulled == 0:
            break
        total.batches += 1
        total.stored += batch.stored
        total.duplicates += batch.duplicates
        total.undecrypted += batch.undecrypted
        total.alerts += batch.alerts
        total.last_seq = batch.last_seq
    return total
