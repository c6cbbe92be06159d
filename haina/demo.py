"""The demo merchant: a tenant with one login per role, on the embedded database."""

from __future__ import annotations

from sqlalchemy import select

from haina.core.auth.models import User
from haina.core.auth.permissions import Role
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant

DEMO_TENANT = "demo"
DEMO_PASSWORD = "haina-demo-2026"

DEMO_USERS = (
    ("demo", "店主 王海纳", Role.OWNER, "13800138000"),
    ("ops", "运营 李青", Role.OPERATOR, "13900139001"),
    ("agent", "客服 陈晓", Role.AGENT, "13700137002"),
    ("finance", "财务 周敏", Role.FINANCE, "13600136003"),
    ("tech", "师傅 赵强", Role.TECHNICIAN, "13500135004"),
)


def seed_demo(settings: Settings, *, seed: int = 7) -> list[tuple[str, str]]:
    """Migrate and create the demo tenant and its users (idempotent); returns (username, role)."""
    upgrade(settings.database_url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店")
        existing = set(session.scalars(select(User.username)))
        for username, display_name, role, phone in DEMO_USERS:
            if username not in existing:
                create_user(
                    session,
                    tenant.id,
                    NewUser(username, display_name, role.value, DEMO_PASSWORD, phone),
                    settings,
                )
    database.dispose()
    return [(username, role.value) for username, _, role, _ in DEMO_USERS]
