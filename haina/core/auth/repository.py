from __future__ import annotations

from sqlalchemy import select

from haina.core.auth.models import User
from haina.core.repository import TenantRepository


class UserRepository(TenantRepository[User]):
    model = User
    label = "user"

    def list(self, *, role: str | None = None, limit: int = 200, offset: int = 0) -> list[User]:
        statement = self.scoped(select(User)).order_by(User.created_at, User.id)
        if role:
            statement = statement.where(User.role == role)
        return list(self.session.scalars(statement.limit(limit).offset(offset)))
