"""Queries of the tags module's groups, tags, carriers, history and evaluations; every one is
scoped to a tenant through TenantRepository."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from haina.core.errors import NotFound
from haina.core.repository import TenantRepository
from haina.customers.identity.models import Customer, CustomerStatus
from haina.tags.models import CustomerTag, Tag, TagChange, TagEvaluation, TagGroup

CHUNK = 2000


class TagGroupRepository(TenantRepository[TagGroup]):
    model = TagGroup
    label = "tag group"

    def get(self, object_id: str) -> TagGroup:
        group = super().get(object_id)
        if group.is_deleted:
            raise NotFound(f"tag group {object_id} not found", code="not_found")
        return group

    def active(self) -> list[TagGroup]:
        statement = self.scoped().where(TagGroup.is_deleted.is_(False))
        return list(
            self.session.scalars(statement.order_by(TagGroup.order, TagGroup.created_at, TagGroup.id))
        )

    def by_name(self, name: str) -> TagGroup | None:
        return self.session.scalar(self.scoped().where(TagGroup.name == name))


class TagRepository(TenantRepository[Tag]):
    model = Tag
    label = "tag"

    def get(self, object_id: str) -> Tag:
        tag = super().get(object_id)
        if tag.is_deleted:
            raise NotFound(f"tag {object_id} not found", code="not_found")
        return tag

    def active(self, group_id: str | None = None, kind: str | None = None) -> list[Tag]:
        statement = self.scoped().where(Tag.is_deleted.is_(False))
        if group_id:
            statement = statement.where(Tag.group_id == group_id)
        if kind:
            statement = statement.where(Tag.kind == kind)
        return list(self.session.scalars(statement.order_by(Tag.order, Tag.created_at, Tag.id)))

    def by_ids(self, tag_ids: Sequence[str]) -> list[Tag]:
        found: list[Tag] = []
        ids = sorted(set(tag_ids))
        for start in range(0, len(ids), CHUNK):
            statement = self.scoped().where(Tag.id.in_(ids[start : start + CHUNK]), Tag.is_deleted.is_(False))
            found.extend(self.session.scalars(statement))
        return found

    def by_name(self, group_id: str, name: str) -> Tag | None:
        """Deleted tags too: the unique constraint counts them."""
        return self.session.scalar(self.scoped().where(Tag.group_id == group_id, Tag.name == name))


class CarrierRepository(TenantRepository[CustomerTag]):
    """Who carries which tag (customer_tags)."""

    model = CustomerTag
    label = "customer tag"

    def counts(
        self, tag_ids: Sequence[str] | None = None, *, visible_ids: Sequence[str] | None = None
    ) -> dict[str, int]:
        narrowed = [CustomerTag.tag_id.in_(list(tag_ids))] if tag_ids is not None else []
        if visible_ids is not None:
            narrowed.append(CustomerTag.customer_id.in_(list(visible_ids)))
        statement = select(CustomerTag.tag_id, func.count()).where(
            CustomerTag.tenant_id == self.tenant_id, *narrowed
        )
        rows = self.session.execute(statement.group_by(CustomerTag.tag_id))
        return {str(row[0]): int(row[1]) for row in rows}

    def of_customers(self, customer_ids: Sequence[str]) -> list[tuple[CustomerTag, Tag]]:
        """Tags (not deleted) carried by these customers, in the tags' order."""
        rows: list[tuple[CustomerTag, Tag]] = []
        ids = sorted(set(customer_ids))
        for start in range(0, len(ids), CHUNK):
            statement = (
                select(CustomerTag, Tag)
                .join(Tag, (Tag.tenant_id == CustomerTag.tenant_id) & (Tag.id == CustomerTag.tag_id))
                .where(
                    CustomerTag.tenant_id == self.tenant_id,
                    CustomerTag.customer_id.in_(ids[start : start + CHUNK]),
                    Tag.is_deleted.is_(False),
                )
                .order_by(Tag.order, Tag.name)
            )
            rows.extend(self.session.execute(statement).tuples())
        return rows

    def customer_ids(
        self, tag_id: str, *, visible_ids: Sequence[str] | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[CustomerTag], int]:
        """Carriers of one tag, newest first, with the total; `visible_ids` limits to a data scope."""
        statement = self.scoped().where(CustomerTag.tag_id == tag_id)
        if visible_ids is not None:
            statement = statement.where(CustomerTag.customer_id.in_(list(visible_ids)))
        total = self.count(statement)
        page = (
            statement.order_by(CustomerTag.added_at.desc(), CustomerTag.customer_id)
            .limit(limit)
            .offset(offset)
        )
        return list(self.session.scalars(page)), total


class TagChangeRepository(TenantRepository[TagChange]):
    model = TagChange
    label = "tag change"

    def of_customer(self, customer_id: str, limit: int = 500) -> list[TagChange]:
        statement = self.scoped().where(TagChange.customer_id == customer_id)
        return list(self.session.scalars(statement.order_by(TagChange.at.desc(), TagChange.id).limit(limit)))

    def of_tag(self, tag_id: str, limit: int = 100) -> list[TagChange]:
        statement = self.scoped().where(TagChange.tag_id == tag_id)
        return list(self.session.scalars(statement.order_by(TagChange.at.desc(), TagChange.id).limit(limit)))


class EvaluationRepository(TenantRepository[TagEvaluation]):
    model = TagEvaluation
    label = "tag evaluation"

    def latest(self, tag_id: str) -> TagEvaluation | None:
        statement = self.scoped().where(TagEvaluation.tag_id == tag_id)
        return self.session.scalar(
            statement.order_by(TagEvaluation.created_at.desc(), TagEvaluation.rule_version.desc()).limit(1)
        )

    def latest_of(self, tag_ids: Sequence[str]) -> dict[str, TagEvaluation]:
        if not tag_ids:
            return {}
        statement = self.scoped().where(TagEvaluation.tag_id.in_(list(tag_ids)))
        latest: dict[str, TagEvaluation] = {}
        for evaluation in self.session.scalars(statement.order_by(TagEvaluation.created_at)):
            latest[evaluation.tag_id] = evaluation
        return latest


class CustomerLookup:
    """The few reads of customers the tags service needs (the customers module owns the table)."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def live_ids(self, customer_ids: Sequence[str]) -> set[str]:
        """Those of `customer_ids` that are customers of the tenant, not merged into another."""
        found: set[str] = set()
        ids = list(dict.fromkeys(customer_ids))
        for start in range(0, len(ids), CHUNK):
            found.update(
                self.session.scalars(
                    select(Customer.id).where(
                        Customer.tenant_id == self.tenant_id,
                        Customer.id.in_(ids[start : start + CHUNK]),
                        Customer.status != CustomerStatus.MERGED.value,
                    )
                )
            )
        return found

    def by_ids(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        ids = list(dict.fromkeys(customer_ids))
        found: dict[str, Customer] = {}
        for start in range(0, len(ids), CHUNK):
            statement = select(Customer).where(
                Customer.tenant_id == self.tenant_id, Customer.id.in_(ids[start : start + CHUNK])
            )
            found.update((customer.id, customer) for customer in self.session.scalars(statement))
        return found

    def count_where(self, condition: ColumnElement[bool]) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Customer).where(condition)) or 0)

    def newest_where(self, condition: ColumnElement[bool], limit: int) -> list[Customer]:
        statement = (
            select(Customer).where(condition).order_by(Customer.created_at.desc(), Customer.id).limit(limit)
        )
        return list(self.session.scalars(statement))
