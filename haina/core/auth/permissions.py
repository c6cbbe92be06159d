"""Roles, permissions and data scopes: the one table every access check reads."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    SIGNED_IN = "signed_in"  # any authenticated user
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    EVENTS_READ = "events.read"
    EVENTS_MANAGE = "events.manage"
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_MANAGE = "customers.manage"
    PII_READ = "pii.read"  # see phone numbers unmasked
    CHATS_READ = "chats.read"
    CHATS_MANAGE = "chats.manage"  # archive keys, tenant words, keyword alert rules
    MARKETING_MANAGE = "marketing.manage"
    TICKETS_READ = "tickets.read"
    TICKETS_MANAGE = "tickets.manage"
    WORK_ORDERS_OWN = "work_orders.own"
    MONEY_READ = "money.read"
    MONEY_MANAGE = "money.manage"
    ANALYTICS_READ = "analytics.read"
    PLATFORMS_MANAGE = "platforms.manage"
    EXPORT = "export"
    CUSTOMERS_EXPORT = "customers.export"  # customer lists as files (finance exports money, not these)


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    AGENT = "agent"
    FINANCE = "finance"
    TECHNICIAN = "technician"


class DataScope(StrEnum):
    ALL = "all"
    FOLLOWED_CUSTOMERS = "followed_customers"  # agents: only customers they follow
    OWN_WORK_ORDERS = "own_work_orders"  # technicians: only their own work orders


_EVERYTHING = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: _EVERYTHING,
    Role.ADMIN: _EVERYTHING,
    Role.OPERATOR: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.CUSTOMERS_READ,
            Permission.CUSTOMERS_MANAGE,
            Permission.MARKETING_MANAGE,
            Permission.TICKETS_READ,
            Permission.ANALYTICS_READ,
            Permission.EXPORT,
            Permission.CUSTOMERS_EXPORT,
        }
    ),
    Role.AGENT: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.CUSTOMERS_READ,
            Permission.CHATS_READ,
            Permission.TICKETS_READ,
            Permission.TICKETS_MANAGE,
        }
    ),
    # Finance sees money, never chat content.
    Role.FINANCE: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.MONEY_READ,
            Permission.MONEY_MANAGE,
            Permission.ANALYTICS_READ,
            Permission.EXPORT,
        }
    ),
    Role.TECHNICIAN: frozenset({Permission.SIGNED_IN, Permission.WORK_ORDERS_OWN}),
}

ROLE_SCOPES: dict[Role, DataScope] = {
    Role.AGENT: DataScope.FOLLOWED_CUSTOMERS,
    Role.TECHNICIAN: DataScope.OWN_WORK_ORDERS,
}


def permissions_of(role: str) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get(Role(role), frozenset())


def scope_of(role: str) -> DataScope:
    return ROLE_SCOPES.get(Role(role), DataScope.ALL)


def has_permission(role: str, permission: Permission) -> bool:
    return permission in permissions_of(role)
