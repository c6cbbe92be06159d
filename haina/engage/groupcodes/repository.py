"""All SQL of engage.groupcodes; every query is scoped to one tenant."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.engage.groupcodes.models import GroupCode, GroupCodeJoin


def codes(session: Session, tenant_id: str) -> list[GroupCode]:
    query = (
        select(GroupCode)
        .where(GroupCode.tenant_id == tenant_id, GroupCode.is_deleted.is_(False))
        .order_by(GroupCode.created_at.desc(), GroupCode.id)
    )
    return list(session.scalars(query))


def code(session: Session, tenant_id: str, code_id: str) -> GroupCode | None:
    found = session.get(GroupCode, (tenant_id, code_id))
    return found if found is not None and not found.is_deleted else None


def code_by_state(session: Session, tenant_id: str, state: str) -> GroupCode | None:
    query = select(GroupCode).where(GroupCode.tenant_id == tenant_id, GroupCode.state == state)
    return session.scalars(query).first()


def known_joiners(session: Session, tenant_id: str, code_id: str, chat_id: str) -> set[str]:
    query = select(GroupCodeJoin.external_userid).where(
        GroupCodeJoin.tenant_id == tenant_id,
        GroupCodeJoin.code_id == code_id,
        GroupCodeJoin.chat_id == chat_id,
    )
    return set(session.scalars(query))


def join_counts(session: Session, tenant_id: str, code_ids: list[str]) -> dict[str, int]:
    if not code_ids:
        return {}
    query = (
        select(GroupCodeJoin.code_id, func.count())
        .where(GroupCodeJoin.tenant_id == tenant_id, GroupCodeJoin.code_id.in_(code_ids))
        .group_by(GroupCodeJoin.code_id)
    )
    return {code_id: int(count) for code_id, count in session.execute(query)}


def joins_per_day(session: Session, tenant_id: str, code_id: str, since: date) -> dict[date, int]:
    query = (
        select(GroupCodeJoin.day, func.count())
        .where(
            GroupCodeJoin.tenant_id == tenant_id, GroupCodeJoin.code_id == code_id, GroupCodeJoin.day >= since
        )
        .group_by(GroupCodeJoin.day)
    )
    return {day: int(count) for day, count in session.execute(query)}


def joins_per_group(session: Session, tenant_id: str, code_id: str) -> dict[str, int]:
    query = (
        select(GroupCodeJoin.chat_id, func.count())
        .where(GroupCodeJoin.tenant_id == tenant_id, GroupCodeJoin.code_id == code_id)
        .group_by(GroupCodeJoin.chat_id)
    )
    return {chat_id: int(count) for chat_id, count in session.execute(query)}
