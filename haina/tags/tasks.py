"""Event handlers of the tags module: each part registers its own (handler names are stored on
deliveries: keep them stable)."""

from __future__ import annotations

from haina.tags import realtime  # noqa: F401, E402 - registers the rule-tag handlers
from haina.tags import schedule as _schedule  # noqa: E402, F401 - the Celery tasks of the periodic jobs
from haina.tags import wecom_sync as _wecom_sync  # noqa: E402, F401 - the WeCom mirror subscribes on import
