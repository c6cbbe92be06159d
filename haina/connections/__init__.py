"""The ingest spine: connections to platforms (secrets encrypted), webhooks into the inbox,
incremental syncs with saved cursors and progress, reconciliation, and the dead-letter path for
bad input. See service.py for the rules and tasks.py for the event handlers and schedules."""
