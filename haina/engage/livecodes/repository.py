"""All SQL of engage.livecodes; every query is scoped to one tenant here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from haina.core.errors import NotFound
from haina.engage.livecodes.models import LiveCode, LiveCodeAdd, LiveCodeBrand


class LiveCodeRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def scoped(self) -> Select[LiveCode]:
        return select(LiveCode).where(LiveCode.tenant_id == self.tenant_id, LiveCode.is_deleted.is_(False))

    def get(self, code_id: str) -> LiveCode:
        """The tenant's live code; another tenant's answers 404 like a missing one."""
        code = self.session.scalars(self.scoped().where(LiveCode.id == code_id)).first()
        if code is None:
            raise NotFound(f"live code {code_id} not found", code="not_found")
        return code

    def all(self) -> list[LiveCode]:
        return list(self.session.scalars(self.scoped().order_by(LiveCode.created_at.desc(), LiveCode.id)))

    def active(self) -> list[LiveCode]:
        statement = self.scoped().where(LiveCode.is_active.is_(True), LiveCode.config_id != "")
        return list(self.session.scalars(statement.order_by(LiveCode.id)))

    def by_state(self, state: str) -> LiveCode | None:
        """The code of a callback's State, deleted ones included (their adds still count)."""
        statement = select(LiveCode).where(LiveCode.tenant_id == self.tenant_id, LiveCode.state == state)
        return self.session.scalars(statement).first()

    def state_taken(self, state: str) -> bool:
        return self.by_state(state) is not None

    def by_name(self, name: str) -> LiveCode | None:
        return self.session.scalars(self.scoped().where(LiveCode.name == name)).first()


class AddRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def scoped(self) -> Select[LiveCodeAdd]:
        return select(LiveCodeAdd).where(LiveCodeAdd.tenant_id == self.tenant_id)

    def find(self, code_id: str, contact_id: str, staff_userid: str) -> LiveCodeAdd | None:
        statement = self.scoped().where(
            LiveCodeAdd.live_code_id == code_id,
            LiveCodeAdd.contact_id == contact_id,
            LiveCodeAdd.staff_userid == staff_userid,
        )
        return self.session.scalars(statement).first()

    def of_contacts(self, contact_ids: Sequence[str]) -> list[LiveCodeAdd]:
        found: list[LiveCodeAdd] = []
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), 500):
            found.extend(
                self.session.scalars(
                    self.scoped().where(LiveCodeAdd.contact_id.in_(ids[start : start + 500]))
                )
            )
        return found

    def of_code(self, code_id: str) -> list[LiveCodeAdd]:
        statement = self.scoped().where(LiveCodeAdd.live_code_id == code_id).order_by(LiveCodeAdd.added_at)
        return list(self.session.scalars(statement))

    def counts_since(self, code_id: str, since: datetime) -> dict[str, int]:
        """Adds per member through this code since `since`."""
        statement = (
            select(LiveCodeAdd.staff_userid, func.count())
            .where(
                LiveCodeAdd.tenant_id == self.tenant_id,
                LiveCodeAdd.live_code_id == code_id,
                LiveCodeAdd.added_at >= since,
            )
            .group_by(LiveCodeAdd.staff_userid)
        )
        return {row[0]: int(row[1]) for row in self.session.execute(statement)}

    def totals(self, since: datetime) -> dict[str, tuple[int, int]]:
        """(adds in all, adds since `since`) per code of the tenant."""
        statement = select(
            LiveCodeAdd.live_code_id,
            func.count(),
            func.sum(case((LiveCodeAdd.added_at >= since, 1), else_=0)),
        ).where(LiveCodeAdd.tenant_id == self.tenant_id)
        found: dict[str, tuple[int, int]] = {}
        for row in self.session.execute(statement.group_by(LiveCodeAdd.live_code_id)):
            found[row[0]] = (int(row[1]), int(row[2] or 0))
        return found


def brand_of(session: Session, tenant_id: str) -> LiveCodeBrand | None:
    return session.get(LiveCodeBrand, tenant_id)
