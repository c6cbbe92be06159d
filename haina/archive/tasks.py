"""Running intake: batch after batch, each in its own transaction (stored messages, their index,
alerts, events and the moved cursor commit together), until the source has nothing newer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from haina.archive import service
from haina.archive.media import tasks as media_tasks
from haina.archive.sources import ChatSource, Decryptor, MediaSource
from haina.core.database import Database


@dataclass
class IntakeResult:
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    undecrypted: int = 0
    alerts: int = 0
    last_seq: int = 0
    media_stored: int = 0
    media_failed: int = 0


def run_intake(
    database: Database,
    tenant_id: str,
    corp_id: str,
    source: ChatSource,
    decryptor: Decryptor,
    *,
    limit: int = 1000,
    max_batches: int | None = None,
    media: MediaSource | None = None,
    media_limit: int = 200,
) -> IntakeResult:
    """Pull from the saved seq until a batch comes back empty (or `max_batches`), then fetch
    pending media through `media` (by default the source, when it can: the SDK and the
    sandbox both serve GetMediaData)."""
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
    media = media if media is not None else (source if isinstance(source, MediaSource) else None)
    if media is not None and media_limit > 0:
        try:
            fetched = media_tasks.fetch_pending_media(database, tenant_id, media, media_limit)
        except Exception:  # noqa: BLE001 - the messages are stored; the media job runs again next time
            logging.getLogger(__name__).exception("fetching archived media failed")
        else:
            total.media_stored, total.media_failed = fetched.stored, fetched.failed
    return total


# The archive's periodic jobs (the scheduled intake, the daily retention purge) register with
# the engage scheduler on import; workers load this module (core.events.discover_handlers).
from haina.archive import schedule as _schedule  # noqa: E402,F401
from haina.archive.alerts import tasks as _alerts  # noqa: E402,F401
from haina.archive.retention import tasks as _retention  # noqa: E402,F401
