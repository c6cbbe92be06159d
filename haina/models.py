"""Imports every module's tables so `Base.metadata` is complete (Alembic and tests use it)."""

from haina.core.database import Base

MODEL_MODULES = (
    "haina.core.tenancy.models",
    "haina.core.auth.models",
    "haina.core.audit.models",
    "haina.core.events.models",
    "haina.connections.models",
    "haina.customers.models",
    "haina.archive.models",
    "haina.archive.media.models",
    "haina.archive.retention.models",
    "haina.archive.insights.models",
    "haina.archive.alerts.models",
    "haina.customers.identity.models",
    "haina.tags.models",
    "haina.engage.livecodes.models",
    "haina.engage.welcome.models",
    "haina.engage.groupcodes.models",
    "haina.engage.broadcasts.models",
    "haina.engage.moments.models",
    "haina.engage.scripts.models",
    "haina.engage.handover.models",
    "haina.engage.losses.models",
    "haina.engage.media.models",
)


def load_all_models() -> type[Base]:
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base
