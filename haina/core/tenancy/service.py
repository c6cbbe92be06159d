"""Tenants: created by the CLI (`haina user create --tenant …`) and the demo seed."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.core.errors import InvalidInput, NotFound
from haina.core.tenancy.models import Tenant

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def get_tenant_by_slug(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug, Tenant.is_active.is_(True)))
    if tenant is None:
        raise NotFound(f"unknown tenant '{slug}'", code="unknown_tenant")
    return tenant


def get_or_create_tenant(session: Session, slug: str, name: str) -> Tenant:
    """The tenant with this slug, created if missing."""
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput("tenant slug: 2-63 lowercase letters, digits or '-'", code="invalid_slug")
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(slug=slug, name=name)
        session.add(tenant)
        session.flush()
    return tenant
