"""The media job: fetch the pending media of a tenant's archived messages, each file outside
any transaction (a slow download never holds intake's locks), each result in its own."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from haina.archive.media import service
from haina.archive.media.models import FetchStatus
from haina.archive.media.store import BlobStore, bind_store, media_store
from haina.archive.sources import MediaSource
from haina.core.database import Database

log = logging.getLogger(__name__)


@dataclass
class MediaFetchResult:
    stored: int = 0
    failed: int = 0  # for good
    retrying: int = 0  # failed this time, tried again later


def fetch_pending_media(
    database: Database,
    tenant_id: str,
    source: MediaSource,
    limit: int = 100,
    *,
    max_attempts: int = service.MAX_ATTEMPTS,
    store: BlobStore | None = None,
) -> MediaFetchResult:
    """Fetch up to `limit` due media; a failure keeps its reason and never stops the others."""
    store = store or media_store(database.settings)
    bind_store(database.engine, store)
    result = MediaFetchResult()
    with database.unit_of_work() as session:
        jobs = service.claim_due(session, tenant_id, limit)
    for job in jobs:
        try:
            data = service.fetch_media(
                source,
                job.sdkfileid,
                job.expected_size,
                job.md5sum,
                max_bytes=database.settings.archive_media_max_bytes,
            )
        except service.MediaFetchError as error:
            with database.unit_of_work() as session:
                status = service.record_failure(session, tenant_id, job, error, max_attempts=max_attempts)
            if status == FetchStatus.FAILED:
                result.failed += 1
            elif status == FetchStatus.PENDING:
                result.retrying += 1
            continue
        except Exception as error:  # noqa: BLE001 - a bug in one fetch must not stop the others
            log.exception("fetching archive media of message %s item %s failed", job.message_id, job.item)
            with database.unit_of_work() as session:
                service.record_failure(
                    session, tenant_id, job, service.MediaFetchError(f"{type(error).__name__}: {error}")
                )
            result.retrying += 1
            continue
        with database.unit_of_work() as session:
            if service.record_stored(session, tenant_id, database.settings, store, job, data) is not None:
                result.stored += 1
    return result
