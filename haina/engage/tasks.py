"""Event handlers and periodic jobs of engage: each sub-package registers its own on import
(handler names are stored on deliveries: keep them stable)."""

from __future__ import annotations

from haina.engage import schedule as _schedule  # noqa: F401 - the Celery task of the periodic jobs
from haina.engage.broadcasts import tasks as _broadcasts  # noqa: F401
from haina.engage.groupcodes import tasks as _groupcodes  # noqa: F401
from haina.engage.handover import tasks as _handover  # noqa: F401
from haina.engage.livecodes import tasks as _livecodes  # noqa: F401
from haina.engage.losses import tasks as _losses  # noqa: F401
from haina.engage.moments import tasks as _moments  # noqa: F401
from haina.engage.scripts import tasks as _scripts  # noqa: F401
from haina.engage.welcome import tasks as _welcome  # noqa: F401
