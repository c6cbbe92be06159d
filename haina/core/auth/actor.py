"""Who is acting: the user, their tenant, role and data scope. Services take an Actor."""

from __future__ import annotations

from dataclasses import dataclass

from haina.core.auth.permissions import DataScope, Permission, has_permission, scope_of


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    tenant_id: str
    username: str
    display_name: str
    role: str
    via: str = "token"  # "token" (API bearer) or "session" (console cookie)
    ip: str = ""

    def can(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)

    @property
    def scope(self) -> DataScope:
        return scope_of(self.role)

    @property
    def may_see_pii(self) -> bool:
        return self.can(Permission.PII_READ)
