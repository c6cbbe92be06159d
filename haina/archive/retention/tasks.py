"""The daily purge: every tenant with a retention policy, through the engage periodic-job
registry (haina.engage.schedule: the embedded scheduler thread, or Celery beat's
`haina.engage.run_due`). A purge is idempotent, so a second scheduler or a restart that runs it
again the same day deletes nothing more."""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.archive.retention import service
from haina.archive.retention.repository import PolicyRepository
from haina.core import clock
from haina.engage import schedule

DAY_SECONDS = 24 * 3600


@schedule.periodic("archive.retention_purge", seconds=DAY_SECONDS)
def purge_due(session: Session, tenant_id: str) -> None:
    """Apply the tenant's policy, if it has one (no policy: keep forever, nothing to do)."""
    row = PolicyRepository(session, tenant_id).find()
    if row is None or (row.keep_days is None and row.media_keep_days is None):
        return
    service.purge(session, tenant_id, clock.now())
