"""The one place tenant scoping happens: every repository derives from TenantRepository, whose
`scoped()` adds the tenant condition, so no query can forget it. Another tenant's object answers
exactly like a missing one (NotFound → 404)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from haina.core.errors import NotFound

ModelT = TypeVar("ModelT")


class TenantRepository(Generic[ModelT]):
    model: type[ModelT]
    label: str = "object"

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def scoped(self, statement: Select[Any] | None = None) -> Select[Any]:
        statement = statement if statement is not None else select(self.model)
        return statement.where(self.model.tenant_id == self.tenant_id)  # type: ignore[attr-defined]

    def get(self, object_id: str) -> ModelT:
        found = self.session.scalar(self.scoped().where(self.model.id == object_id))  # type: ignore[attr-defined]
        if found is None:
            raise NotFound(f"{self.label} {object_id} not found", code="not_found")
        return found

    def add(self, obj: ModelT) -> ModelT:
        obj.tenant_id = self.tenant_id  # type: ignore[attr-defined]
        self.session.add(obj)
        self.session.flush()
        return obj

    def count(self, statement: Select[Any] | None = None) -> int:
        base = self.scoped(statement)
        return int(self.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
