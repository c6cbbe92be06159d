"""Archive retention (留存策略): a per-tenant policy, previews, audited purges in chunks, the purge
history and the daily job; plus the status row of the scheduled intake (haina.archive.schedule)."""
