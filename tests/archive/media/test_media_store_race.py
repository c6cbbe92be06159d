"""Two fetches of the same bytes at once: the second one's insert meets the first one's row
(committed between its look-up and its insert) and reuses it: one row, one file."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select

from haina.archive.media import service as media
from haina.archive.media.models import ArchiveMedia
from haina.archive.media.store import media_digest, media_store


def test_a_concurrent_insert_of_the_same_digest_is_reused(database, tenant) -> None:  # type: ignore[no-untyped-def]
    data = b"the same picture, fetched twice" * 100
    digest = media_digest(database.settings.hash_key, tenant.id, data)
    store = media_store(database.settings)
    fired: list[str] = []

    def other_fetch_commits_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ARCHIVE_MEDIA ") and not fired:
            fired.append(statement)
            with database.unit_of_work() as other:
                other.add(
                    ArchiveMedia(tenant_id=tenant.id, digest=digest, size=len(data), mime="image/png", refs=0)
                )

    event.listen(database.engine, "before_cursor_execute", other_fetch_commits_first)
    try:
        with database.unit_of_work() as session:
            found = media.store_blob(session, tenant.id, database.settings, store, data, "image/png")
            found_id = found.id
    finally:
        event.remove(database.engine, "before_cursor_execute", other_fetch_commits_first)
    assert len(fired) == 1  # the race did happen: the other insert came between look-up and insert
    with database.unit_of_work() as session:
        rows = session.scalars(select(ArchiveMedia).where(ArchiveMedia.tenant_id == tenant.id)).all()
        assert [row.id for row in rows] == [found_id]
        assert session.scalar(select(func.count()).select_from(ArchiveMedia)) == 1
    assert store.exists(digest)
