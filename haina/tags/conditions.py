"""The condition language of rule tags and segments: JSON data, validated, compiled to SQL.

A condition is a tree of nodes:

* ``{"all": [node, ...]}``, ``{"any": [node, ...]}``, ``{"not": node}``;
* a leaf ``{"field": NAME, "op": OP, "value": V, ...params}`` where NAME is one of `FIELDS` (a
  catalogue with Chinese and English labels, its ops and params, which the console builder
  renders), e.g. ``{"field": "order_count", "op": ">=", "value": 3, "days": 90}``.

`validate` turns the JSON into a `Condition` or raises `InvalidCondition` naming the bad node by
its path (``all[2].value: …``). Everything in a definition becomes a bound parameter or picks
one of the whitelisted columns; no text from a definition ever reaches SQL as SQL.

`customer_filter` compiles a condition into one boolean over `Customer` (active customers of the
tenant, optionally narrowed to a `scope`), the same compile for the event path, batch runs and
segments, so they always agree. `batch_tests` (PostgreSQL batch runs of many rules) is that
compile with one change: the order leaves read the same aggregates from one shared pass of
per-customer facts instead of each from its own subquery (tests/tags/test_batch_together.py
holds the two to the same answers, leaf by leaf).

Semantics:

* "Orders" are paid orders: status paid / shipped / completed / partially_refunded (not
  pending_payment, closed or refunded), counted by `paid_at`. `order_amount` is what was paid
  net of agreed and completed refunds, in fen, never below zero per order.
* Time windows are calendar days in Asia/Shanghai. ``"days": N`` means today and the N-1 days
  before it: ``paid_at >= start of today (Shanghai) - (N-1) days``, with today taken from the app
  clock (`haina.core.clock.now`). ``since`` / ``until`` are Shanghai dates, both inclusive.
* `last_order_days` is the number of Shanghai calendar days since the last paid order (an order
  today: 0, yesterday at 23:59: 1); customers who never ordered have no value and match no
  comparison. `no_order_in_days` N: no paid order in the last N days (never ordered included).
* Fields a customer can have many values of (channel states of their contacts, groups, staff
  following them, platforms, genders of their contacts) match when any value matches; ``!=`` and
  ``not_in`` mean no value matches. `province` / `city` are those of the latest paid order.
* Aggregates treat a customer without rows as 0 (``order_count < 1`` matches customers who never
  ordered); RFM scores and the lifecycle stage default to 0 / "prospect" without a score row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from haina.core.clock import SHANGHAI
from haina.core.errors import InvalidInput
from haina.core.settings import Settings
from haina.customers import repository as customer_repository
from haina.customers.identity.models import Customer, CustomerStatus, IdentityNode, OrderOwner
from haina.customers.models import (
    Contact,
    ContactFollow,
    CustomerGroup,
    CustomerGroupMember,
    Order,
    OrderLine,
    Refund,
)
from haina.platforms.canonical import OrderStatus, Platform, RefundStatus
from haina.tags.models import CustomerScore, CustomerTag

MAX_DEPTH = 8
MAX_LEAVES = 100
MAX_LIST = 200  # values in one in / not_in list
MAX_TEXT = 64
MAX_DAYS = 3650
MAX_NUMBER = 10**12
# The batch's "latest order" key: paid_at as microseconds since 1970 plus LATEST_OFFSET (17
# digits for any time from 1653 to 4505, so it sorts as text), then the order id (32 hex
# digits), then the value, which starts at this 1-based position.
LATEST_OFFSET = 2 * 10**16
LATEST_VALUE_AT = 17 + 32 + 1

PAID_STATUSES = (
    OrderStatus.PAID.value,
    OrderStatus.SHIPPED.value,
    OrderStatus.COMPLETED.value,
    OrderStatus.PARTIALLY_REFUNDED.value,
)
REFUNDED_MONEY = (RefundStatus.AGREED.value, RefundStatus.COMPLETED.value)
COUNTED_REFUNDS = (RefundStatus.REQUESTED.value, *REFUNDED_MONEY)
GENDERS = {"unknown": 0, "male": 1, "female": 2}
STAGES = ("prospect", "new", "active", "at_risk", "dormant", "lost", "won_back")
PLATFORMS = tuple(platform.value for platform in Platform)

NUMBER_OPS = (">=", ">", "<=", "<", "=", "!=", "between")
STRING_OPS = ("=", "!=", "in", "not_in", "contains")
CHOICE_OPS = ("=", "!=", "in", "not_in")
BOOLEAN_OPS = ("=",)
_NEGATIVE = {"!=": "=", "not_in": "in"}


# ── The catalogue ────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ParamSpec:
    name: str
    label_zh: str
    label_en: str
    value_type: str  # int / date / text / text_list / choice_list


@dataclass(frozen=True)
class FieldSpec:
    """One field a condition can test: what the console shows and what validation allows."""

    name: str
    label_zh: str
    label_en: str
    value_type: str  # int / money / text / choice / boolean / tag_ids
    ops: tuple[str, ...]
    params: tuple[ParamSpec, ...] = ()
    choices: tuple[str, ...] = ()  # allowed values of a choice field
    group: str = ""  # the builder's section: orders / engagement / profile / tags / rfm


DAYS = ParamSpec("days", "最近天数", "in the last N days", "int")
SINCE = ParamSpec("since", "开始日期", "from (date)", "date")
UNTIL = ParamSpec("until", "结束日期", "to (date)", "date")
ORDER_PARAMS = (
    DAYS,
    SINCE,
    UNTIL,
    ParamSpec("platforms", "平台", "platforms", "choice_list"),
    ParamSpec("product", "商品名称包含", "product title contains", "text"),
    ParamSpec("sku", "SKU 编码", "SKU code", "text"),
)

FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("order_count", "订单数", "paid orders", "int", NUMBER_OPS, ORDER_PARAMS, group="orders"),
        FieldSpec(
            "order_amount",
            "消费金额（分）",
            "amount paid (fen)",
            "money",
            NUMBER_OPS,
            ORDER_PARAMS,
            group="orders",
        ),
        FieldSpec(
            "last_order_days", "距上次下单天数", "days since last order", "int", NUMBER_OPS, group="orders"
        ),
        FieldSpec(
            "no_order_in_days",
            "最近 N 天未下单",
            "no order in the last N days",
            "int",
            ("=",),
            group="orders",
        ),
        FieldSpec(
            "refund_count", "退款次数", "refunds", "int", NUMBER_OPS, (DAYS, SINCE, UNTIL), group="orders"
        ),
        FieldSpec(
            "coupon_used",
            "使用过优惠券",
            "used a coupon",
            "boolean",
            BOOLEAN_OPS,
            (ParamSpec("coupon_ids", "优惠券编号", "coupon ids", "text_list"), DAYS, SINCE, UNTIL),
            group="orders",
        ),
        FieldSpec(
            "chat_keyword",
            "聊天提到",
            "said in chat",
            "text",
            ("contains",),
            (DAYS, SINCE, UNTIL),
            group="engagement",
        ),
        FieldSpec("channel_state", "渠道活码", "channel code", "text", STRING_OPS, group="engagement"),
        FieldSpec(
            "in_group",
            "在客户群中",
            "in a customer group",
            "boolean",
            BOOLEAN_OPS,
            (ParamSpec("chat_ids", "群", "groups (chat ids)", "text_list"),),
            group="engagement",
        ),
        FieldSpec("followed_by", "跟进员工", "followed by staff", "text", CHOICE_OPS, group="engagement"),
        FieldSpec("platform", "平台", "platform", "choice", CHOICE_OPS, choices=PLATFORMS, group="profile"),
        FieldSpec("gender", "性别", "gender", "choice", CHOICE_OPS, choices=tuple(GENDERS), group="profile"),
        FieldSpec("province", "省份", "province", "text", STRING_OPS, group="profile"),
        FieldSpec("city", "城市", "city", "text", STRING_OPS, group="profile"),
        FieldSpec("has_tag", "已有标签", "has tag", "tag_ids", ("in", "not_in"), group="tags"),
        FieldSpec("recency_score", "R 分", "recency score", "int", NUMBER_OPS, group="rfm"),
        FieldSpec("frequency_score", "F 分", "frequency score", "int", NUMBER_OPS, group="rfm"),
        FieldSpec("monetary_score", "M 分", "monetary score", "int", NUMBER_OPS, group="rfm"),
        FieldSpec(
            "lifecycle_stage",
            "生命周期",
            "lifecycle stage",
            "choice",
            CHOICE_OPS,
            choices=STAGES,
            group="rfm",
        ),
    )
}


def catalogue() -> list[dict[str, Any]]:
    """The field catalogue as plain data, for the console's condition builder."""
    return [
        {
            "name": spec.name,
            "label_zh": spec.label_zh,
            "label_en": spec.label_en,
            "value_type": spec.value_type,
            "ops": list(spec.ops),
            "params": [vars(param) for param in spec.params],
            "choices": list(spec.choices),
            "group": spec.group,
        }
        for spec in FIELDS.values()
    ]


# ── Validated conditions ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any
    params: dict[str, Any] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class All:
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    child: Condition


Condition = Leaf | All | AnyOf | Not


class InvalidCondition(InvalidInput):
    """A rule or segment definition that is not a valid condition; `path` names the bad node."""

    code = "invalid_condition"

    def __init__(self, path: str, problem_en: str, problem_zh: str) -> None:
        where = path or "condition"
        super().__init__(
            f"{where}: {problem_en}",
            path=where,
            problem_en=problem_en,
            problem_zh=problem_zh,
            message_zh=f"{where}：{problem_zh}",
        )
        self.path = where


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def fields_of(condition: Condition) -> set[str]:
    """The field names a condition uses (which events can change its outcome)."""
    if isinstance(condition, Leaf):
        return {condition.field}
    if isinstance(condition, Not):
        return fields_of(condition.child)
    return set().union(*(fields_of(child) for child in condition.children))


def tags_used(condition: Condition) -> set[str]:
    """The tag ids a condition tests with has_tag (what deleting a tag would break)."""
    if isinstance(condition, Leaf):
        if condition.field != "has_tag":
            return set()
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        return {str(value) for value in values}
    if isinstance(condition, Not):
        return tags_used(condition.child)
    return set().union(*(tags_used(child) for child in condition.children))


def to_json(condition: Condition) -> dict[str, Any]:
    """The normalised JSON of a condition (what is stored after validation)."""
    if isinstance(condition, Leaf):
        # Dates (since / until) as ISO text: the stored JSON must serialise.
        params = {
            key: value.isoformat() if isinstance(value, date) else value
            for key, value in condition.params.items()
        }
        return {"field": condition.field, "op": condition.op, "value": condition.value, **params}
    if isinstance(condition, Not):
        return {"not": to_json(condition.child)}
    key = "all" if isinstance(condition, All) else "any"
    return {key: [to_json(child) for child in condition.children]}


def validate(definition: Any) -> Condition:
    """The condition of a JSON definition, or InvalidCondition naming the bad node's path."""
    counter = [0]
    return _node(definition, "", 1, counter)


def _node(data: Any, path: str, depth: int, leaves: list[int]) -> Condition:
    if depth > MAX_DEPTH:
        raise InvalidCondition(path, f"nested deeper than {MAX_DEPTH} levels", f"嵌套超过 {MAX_DEPTH} 层")
    if not isinstance(data, dict):
        raise InvalidCondition(path, "must be an object", "必须是一个对象")
    if "field" in data:
        leaves[0] += 1
        if leaves[0] > MAX_LEAVES:
            raise InvalidCondition(path, f"more than {MAX_LEAVES} conditions", f"条件超过 {MAX_LEAVES} 个")
        return _leaf(data, path)
    if len(data) != 1:
        raise InvalidCondition(
            path,
            "must have exactly one of 'all', 'any', 'not' or be a condition with 'field'",
            "必须且只能包含 all、any、not 之一，或是带 field 的条件",
        )
    key, value = next(iter(data.items()))
    if key == "not":
        return Not(_node(value, _join(path, "not"), depth + 1, leaves))
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise InvalidCondition(_join(path, key), "must be a non-empty list", "必须是非空列表")
        if len(value) > MAX_LEAVES:
            raise InvalidCondition(_join(path, key), f"more than {MAX_LEAVES} items", f"超过 {MAX_LEAVES} 项")
        children = tuple(
            _node(child, f"{_join(path, key)}[{index}]", depth + 1, leaves)
            for index, child in enumerate(value)
        )
        return All(children) if key == "all" else AnyOf(children)
    raise InvalidCondition(
        _join(path, _printable(key)),
        "unknown key; use 'all', 'any', 'not' or 'field'",
        "未知的键，请用 all、any、not 或 field",
    )


def _printable(text: Any) -> str:
    shown = str(text)
    return shown if len(shown) <= 40 else shown[:40] + "…"


def _leaf(data: dict[str, Any], path: str) -> Leaf:
    name = data.get("field")
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise InvalidCondition(
            _join(path, "field"),
            f"unknown field {_printable(name)!r}; choose one of {', '.join(FIELDS)}",
            f"未知字段 {_printable(name)!r}",
        )
    op = data.get("op")
    if not isinstance(op, str) or op not in spec.ops:
        raise InvalidCondition(
            _join(path, "op"),
            f"{spec.name} does not take op {_printable(op)!r}; use one of {' '.join(spec.ops)}",
            f"{spec.label_zh}不支持运算符 {_printable(op)!r}，可用：{' '.join(spec.ops)}",
        )
    if "value" not in data:
        raise InvalidCondition(
            _join(path, "value"), f"{spec.name} needs a value", f"{spec.label_zh}需要一个值"
        )
    allowed = {param.name: param for param in spec.params}
    params: dict[str, Any] = {}
    for key, raw in data.items():
        if key in ("field", "op", "value"):
            continue
        param = allowed.get(key)
        if param is None:
            raise InvalidCondition(
                _join(path, _printable(key)),
                f"{spec.name} has no parameter {_printable(key)!r}"
                + (f"; it takes {', '.join(allowed)}" if allowed else ""),
                f"{spec.label_zh}没有参数 {_printable(key)!r}",
            )
        params[key] = _param(param, raw, _join(path, key), spec)
    if "days" in params and ("since" in params or "until" in params):
        raise InvalidCondition(
            _join(path, "days"), "give either days or since/until, not both", "最近天数与起止日期只能二选一"
        )
    if "since" in params and "until" in params and params["since"] > params["until"]:
        raise InvalidCondition(_join(path, "since"), "since is after until", "开始日期晚于结束日期")
    value = _value(spec, op, data["value"], _join(path, "value"))
    return Leaf(spec.name, op, value, params)


def _whole(value: Any, path: str, spec_name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidCondition(
            path,
            f"{spec_name} needs a whole number ≥ {low}" + (f" and ≤ {high}" if high < MAX_NUMBER else ""),
            f"{spec_name} 需要 ≥ {low} 的整数" + (f"（≤ {high}）" if high < MAX_NUMBER else ""),
        )
    return value


def _text(value: Any, path: str, spec_name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidCondition(
            path,
            f"{spec_name} needs a non-empty text of at most {MAX_TEXT} characters",
            f"{spec_name} 需要不超过 {MAX_TEXT} 个字符的非空文本",
        )
    return value.strip()


def _list(value: Any, path: str, spec_name: str, item: Callable[[Any, str], Any]) -> list[Any]:
    if not isinstance(value, list) or not value or len(value) > MAX_LIST:
        raise InvalidCondition(
            path,
            f"{spec_name} needs a list of 1 to {MAX_LIST} values",
            f"{spec_name} 需要 1 到 {MAX_LIST} 个值的列表",
        )
    return list(dict.fromkeys(item(each, f"{path}[{index}]") for index, each in enumerate(value)))


def _choice(value: Any, path: str, spec: FieldSpec) -> str:
    if not isinstance(value, str) or value not in spec.choices:
        raise InvalidCondition(
            path,
            f"{spec.name} must be one of {', '.join(spec.choices)}",
            f"{spec.label_zh}必须是 {', '.join(spec.choices)} 之一",
        )
    return value


def _param(param: ParamSpec, raw: Any, path: str, spec: FieldSpec) -> Any:
    name = f"{spec.name}.{param.name}"
    if param.value_type == "int":
        return _whole(raw, path, name, 1, MAX_DAYS)
    if param.value_type == "date":
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        raise InvalidCondition(
            path, f"{name} needs a date like 2026-11-24", f"{name} 需要日期，如 2026-11-24"
        )
    if param.value_type == "text":
        return _text(raw, path, name)
    if param.value_type == "text_list":
        return _list(raw, path, name, lambda each, where: _text(each, where, name))
    platforms = FieldSpec(name, name, name, "choice", (), choices=PLATFORMS)
    return _list(raw, path, name, lambda each, where: _choice(each, where, platforms))


def _value(spec: FieldSpec, op: str, raw: Any, path: str) -> Any:
    if spec.value_type in ("int", "money"):
        low = 1 if spec.name == "no_order_in_days" else 0
        high = MAX_DAYS if spec.name == "no_order_in_days" else MAX_NUMBER
        if op == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                raise InvalidCondition(path, "between needs [low, high]", "between 需要 [下限, 上限]")
            low_value = _whole(raw[0], f"{path}[0]", spec.name, low, high)
            high_value = _whole(raw[1], f"{path}[1]", spec.name, low, high)
            if low_value > high_value:
                raise InvalidCondition(path, "between needs low ≤ high", "between 的下限不能大于上限")
            return [low_value, high_value]
        return _whole(raw, path, spec.name, low, high)
    if spec.value_type == "boolean":
        if not isinstance(raw, bool):
            raise InvalidCondition(
                path, f"{spec.name} needs true or false", f"{spec.label_zh}需要 true 或 false"
            )
        return raw
    if spec.value_type == "tag_ids":
        return _list(raw, path, spec.name, lambda each, where: _text(each, where, spec.name))
    if spec.value_type == "choice":
        if op in ("in", "not_in"):
            return _list(raw, path, spec.name, lambda each, where: _choice(each, where, spec))
        return _choice(raw, path, spec)
    if op in ("in", "not_in"):
        return _list(raw, path, spec.name, lambda each, where: _text(each, where, spec.name))
    return _text(raw, path, spec.name)


# ── Compiling ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Range:
    """Customer ids from `low` (inclusive) to `high` (exclusive; None: no end), for batch chunks."""

    low: str
    high: str | None = None


@dataclass
class _Compiler:
    tenant_id: str
    now: datetime
    scope: Sequence[str] | Range | None
    dialect: str
    settings: Settings | None
    chat_words: Sequence[str]
    facts: _Facts | None = None  # set: order leaves read per-customer aggregates (`batch_tests`)

    # Shanghai calendar ─────────────────────────────────────────────────────────────────────
    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=SHANGHAI)

    @property
    def today(self) -> date:
        return self.now.astimezone(SHANGHAI).date()

    def window(self, params: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
        if "days" in params:
            return self.day_start(self.today - timedelta(days=params["days"] - 1)), None
        since = self.day_start(params["since"]) if "since" in params else None
        until = self.day_start(params["until"] + timedelta(days=1)) if "until" in params else None
        return since, until

    # Scope ─────────────────────────────────────────────────────────────────────────────────
    def in_scope(self, column: Any) -> ColumnElement[bool]:
        if self.scope is None:
            return true()
        if isinstance(self.scope, Range):
            bounds = [column >= self.scope.low]
            if self.scope.high is not None:
                bounds.append(column < self.scope.high)
            return and_(*bounds)
        return column.in_(list(self.scope))  # type: ignore[no-any-return]

    def member(self, ids: Select[Any], holds_for_none: bool) -> ColumnElement[bool]:
        """Customer.id in the set `ids` selects (or, when `holds_for_none`, not in it).

        An uncorrelated IN is computed once and hashed, whatever surrounds it (also under OR and
        NOT), on both backends, as long as PostgreSQL's hash fits work_mem: true for a scope (a
        batch chunk, an event's customers; see `evaluation`). Unscoped on PostgreSQL (segments
        over the whole tenant) EXISTS / NOT EXISTS are used instead, which become semi / anti
        joins of any size where they stand in an AND (under an OR they run per customer)."""
        if self.dialect == "postgresql" and self.scope is None:
            found = ids.subquery()
            (column,) = found.c
            test = exists(select(literal(1)).select_from(found).where(column == Customer.id))
            return ~test if holds_for_none else test
        return Customer.id.not_in(ids) if holds_for_none else Customer.id.in_(ids)

    # Leaves ────────────────────────────────────────────────────────────────────────────────
    def compile(self, condition: Condition) -> ColumnElement[bool]:
        if isinstance(condition, All):
            return and_(*(self.compile(child) for child in condition.children))
        if isinstance(condition, AnyOf):
            return or_(*(self.compile(child) for child in condition.children))
        if isinstance(condition, Not):
            return not_(self.compile(condition.child))
        if self.facts is not None and hasattr(self, f"fact_{condition.field}"):
            return getattr(self, f"fact_{condition.field}")(condition)  # type: ignore[no-any-return]
        return getattr(self, f"leaf_{condition.field}")(condition)  # type: ignore[no-any-return]

    def order_tests(self, params: dict[str, Any], *, lines_hashed: bool = False) -> list[ColumnElement[bool]]:
        """What makes an order count for a leaf: paid, within the window and filters. Lines are
        tested per order (EXISTS, for a few customers) or, `lines_hashed`, as one hashed set of
        the tenant's matching order ids (a batch chunk looks at most orders)."""
        since, until = self.window(params)
        # Cheapest and most selective first: a batch evaluates these per order in every FILTER
        # (AND stops at the first false), and a window leaves out most orders with one timestamp
        # comparison, before the status is compared with four strings. A bound on paid_at also
        # says it is not null.
        tests: list[ColumnElement[bool]] = []
        if since is not None:
            tests.append(Order.paid_at >= since)
        if until is not None:
            tests.append(Order.paid_at < until)
        if since is None and until is None:
            tests.append(Order.paid_at.is_not(None))
        if params.get("platforms"):
            tests.append(Order.platform.in_(params["platforms"]))
        tests.append(Order.status.in_(PAID_STATUSES))
        line_tests = []
        if params.get("product"):
            line_tests.append(_contains(OrderLine.title, params["product"]))
        if params.get("sku"):
            line_tests.append(or_(OrderLine.sku_id == params["sku"], OrderLine.outer_sku == params["sku"]))
        if line_tests and lines_hashed:
            tests.append(
                Order.id.in_(
                    select(OrderLine.order_id).where(OrderLine.tenant_id == self.tenant_id, *line_tests)
                )
            )
        elif line_tests:
            tests.append(
                exists(
                    select(literal(1)).where(
                        OrderLine.tenant_id == Order.tenant_id, OrderLine.order_id == Order.id, *line_tests
                    )
                )
            )
        return tests

    def paid_orders(self, params: dict[str, Any]) -> Select[Any]:
        """order_owners ⋈ orders, paid, within the leaf's window and filters (no columns yet)."""
        return (
            select(OrderOwner.customer_id)
            .select_from(OrderOwner)
            .join(Order, and_(Order.tenant_id == OrderOwner.tenant_id, Order.id == OrderOwner.order_id))
            .where(
                OrderOwner.tenant_id == self.tenant_id,
                OrderOwner.customer_id.is_not(None),
                self.in_scope(OrderOwner.customer_id),
                *self.order_tests(params),
            )
        )

    def aggregate(self, statement: Select[Any], amount: Any, op: str, value: Any) -> ColumnElement[bool]:
        grouped = statement.group_by(OrderOwner.customer_id)
        holds_for_zero = _holds(op, value, 0)
        test = _compare(amount, op, value)
        return self.member(grouped.having(not_(test) if holds_for_zero else test), holds_for_zero)

    def leaf_order_count(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.aggregate(self.paid_orders(leaf.params), func.count(), leaf.op, leaf.value)

    def leaf_order_amount(self, leaf: Leaf) -> ColumnElement[bool]:
        refunded = (
            select(
                Refund.platform,
                Refund.shop_id,
                Refund.order_external_id,
                func.sum(Refund.amount_fen).label("amount"),
            )
            .where(Refund.tenant_id == self.tenant_id, Refund.status.in_(REFUNDED_MONEY))
            .group_by(Refund.platform, Refund.shop_id, Refund.order_external_id)
            .subquery()
        )
        statement = self.paid_orders(leaf.params).outerjoin(
            refunded,
            and_(
                refunded.c.platform == Order.platform,
                refunded.c.shop_id == Order.shop_id,
                refunded.c.order_external_id == Order.external_id,
            ),
        )
        net = Order.paid_fen - func.coalesce(refunded.c.amount, 0)
        amount = func.coalesce(func.sum(case((net > 0, net), else_=0)), 0)
        return self.aggregate(statement, amount, leaf.op, leaf.value)

    def leaf_no_order_in_days(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.aggregate(self.paid_orders({"days": leaf.value}), func.count(), "=", 0)

    def last_order_test(self, leaf: Leaf, last_paid: Any) -> ColumnElement[bool]:
        """The leaf's test on the time of the last paid order (`last_paid`, never NULL here)."""

        # Days since the last order ≥ n ⇔ its Shanghai date ≤ today - n ⇔ it was before the start
        # of day today - n + 1: every comparison becomes one on max(paid_at), so it uses no
        # backend's date arithmetic.
        def at_least(days: int) -> ColumnElement[bool]:
            return last_paid < self.day_start(self.today - timedelta(days=days - 1))  # type: ignore[no-any-return]

        def at_most(days: int) -> ColumnElement[bool]:
            return last_paid >= self.day_start(self.today - timedelta(days=days))  # type: ignore[no-any-return]

        op, value = leaf.op, leaf.value
        tests: dict[str, Callable[[], ColumnElement[bool]]] = {
            ">=": lambda: at_least(value) if value > 0 else true(),
            ">": lambda: at_least(value + 1),
            "<=": lambda: at_most(value),
            "<": lambda: at_most(value - 1) if value > 0 else false(),
            "=": lambda: and_(at_least(value) if value > 0 else true(), at_most(value)),
            "!=": lambda: or_(at_least(value + 1), at_most(value - 1) if value > 0 else false()),
            "between": lambda: and_(at_least(value[0]) if value[0] > 0 else true(), at_most(value[1])),
        }
        return tests[op]()

    def leaf_last_order_days(self, leaf: Leaf) -> ColumnElement[bool]:
        test = self.last_order_test(leaf, func.max(Order.paid_at))
        grouped = self.paid_orders({}).group_by(OrderOwner.customer_id).having(test)
        return self.member(grouped, False)

    def leaf_refund_count(self, leaf: Leaf) -> ColumnElement[bool]:
        since, until = self.window(leaf.params)
        statement = (
            select(OrderOwner.customer_id)
            .select_from(Refund)
            .join(
                Order,
                and_(
                    Order.tenant_id == Refund.tenant_id,
                    Order.platform == Refund.platform,
                    Order.shop_id == Refund.shop_id,
                    Order.external_id == Refund.order_external_id,
                ),
            )
            .join(OrderOwner, and_(OrderOwner.tenant_id == Order.tenant_id, OrderOwner.order_id == Order.id))
            .where(
                Refund.tenant_id == self.tenant_id,
                Refund.status.in_(COUNTED_REFUNDS),
                OrderOwner.customer_id.is_not(None),
                self.in_scope(OrderOwner.customer_id),
            )
        )
        if since is not None:
            statement = statement.where(Refund.created_at >= since)
        if until is not None:
            statement = statement.where(Refund.created_at < until)
        return self.aggregate(statement, func.count(), leaf.op, leaf.value)

    def leaf_coupon_used(self, leaf: Leaf) -> ColumnElement[bool]:
        statement = self.paid_orders(
            {key: leaf.params[key] for key in ("days", "since", "until") if key in leaf.params}
        )
        if leaf.params.get("coupon_ids"):
            # The JSON text holds each id as json.dumps writes it: match that, quotes included, so
            # "C1" does not match "C10" (LIKE with escaping works the same on both backends).
            text = cast(Order.coupon_ids, Text)
            statement = statement.where(
                or_(
                    *(
                        text.contains(json.dumps(coupon), autoescape=True)
                        for coupon in leaf.params["coupon_ids"]
                    )
                )
            )
        else:
            statement = statement.where(func.json_array_length(Order.coupon_ids) > 0)
        found = self.member(statement, False)
        return found if leaf.value else not_(found)

    def leaf_chat_keyword(self, leaf: Leaf) -> ColumnElement[bool]:
        if self.settings is None:
            raise ValueError("chat_keyword conditions need the settings (for the archive's keyed hashes)")
        from haina.archive.service import customers_saying

        since, until = self.window(leaf.params)
        saying = customers_saying(
            self.tenant_id, self.settings, leaf.value, since, tenant_words=self.chat_words
        )
        if until is not None:
            from haina.archive.models import ArchiveMessage

            saying = saying.where(ArchiveMessage.sent_at < until)
        found = saying.subquery()
        (column,) = found.c
        return self.member(select(column).where(self.in_scope(column)), False)

    def contact_values(self, column: Any, *tests: ColumnElement[bool], follows: bool = False) -> Select[Any]:
        statement = select(Contact.customer_id).where(
            Contact.tenant_id == self.tenant_id,
            Contact.customer_id.is_not(None),
            Contact.is_deleted.is_(False),
            self.in_scope(Contact.customer_id),
            *tests,
        )
        if follows:
            statement = statement.join(
                ContactFollow,
                and_(ContactFollow.tenant_id == Contact.tenant_id, ContactFollow.contact_id == Contact.id),
            ).where(ContactFollow.is_active.is_(True))
        return statement

    def any_value(
        self, leaf: Leaf, ids_matching: Callable[[ColumnElement[bool]], Select[Any]], column: Any
    ) -> ColumnElement[bool]:
        """A many-valued field: some value matches; != / not_in: none matches."""
        op = _NEGATIVE.get(leaf.op, leaf.op)
        found = self.member(ids_matching(_string_test(column, op, leaf.value)), False)
        return not_(found) if leaf.op in _NEGATIVE else found

    def leaf_channel_state(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.any_value(
            leaf, lambda test: self.contact_values(None, test, follows=True), ContactFollow.add_channel_state
        )

    def leaf_followed_by(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.any_value(
            leaf, lambda test: self.contact_values(None, test, follows=True), ContactFollow.staff_userid
        )

    def leaf_gender(self, leaf: Leaf) -> ColumnElement[bool]:
        value = (
            [GENDERS[each] for each in leaf.value] if isinstance(leaf.value, list) else GENDERS[leaf.value]
        )
        return self.any_value(
            Leaf(leaf.field, leaf.op, value), lambda test: self.contact_values(None, test), Contact.gender
        )

    def leaf_in_group(self, leaf: Leaf) -> ColumnElement[bool]:
        tests = [
            CustomerGroupMember.tenant_id == self.tenant_id,
            CustomerGroup.is_dismissed.is_(False),
            Contact.is_deleted.is_(False),
            Contact.customer_id.is_not(None),
            self.in_scope(Contact.customer_id),
        ]
        if leaf.params.get("chat_ids"):
            tests.append(CustomerGroup.chat_id.in_(leaf.params["chat_ids"]))
        statement = customer_repository.group_member_customers().where(*tests)
        found = self.member(statement, False)
        return found if leaf.value else not_(found)

    def leaf_platform(self, leaf: Leaf) -> ColumnElement[bool]:
        def ids(test: ColumnElement[bool]) -> Select[Any]:
            bought = self.paid_orders({}).where(test)
            known = select(IdentityNode.customer_id).where(
                IdentityNode.tenant_id == self.tenant_id,
                IdentityNode.customer_id.is_not(None),
                self.in_scope(IdentityNode.customer_id),
                _string_test(IdentityNode.platform, _NEGATIVE.get(leaf.op, leaf.op), leaf.value),
            )
            return bought.union(known)  # type: ignore[return-value]

        op = _NEGATIVE.get(leaf.op, leaf.op)
        found = self.member(ids(_string_test(Order.platform, op, leaf.value)), False)
        return not_(found) if leaf.op in _NEGATIVE else found

    def latest_order_value(self, leaf: Leaf, column: Any) -> ColumnElement[bool]:
        ranked = (
            self.paid_orders({})
            .add_columns(
                column.label("value"),
                func.row_number()
                .over(partition_by=OrderOwner.customer_id, order_by=(Order.paid_at.desc(), Order.id.desc()))
                .label("position"),
            )
            .subquery()
        )
        op = _NEGATIVE.get(leaf.op, leaf.op)
        statement = select(ranked.c.customer_id).where(
            ranked.c.position == 1, _string_test(ranked.c.value, op, leaf.value)
        )
        found = self.member(statement, False)
        # Single-valued: "!= 上海" matches customers whose latest province is something else or
        # who have no order at all (as not_in does); the positive ops need an order.
        return not_(found) if leaf.op in _NEGATIVE else found

    def leaf_province(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.latest_order_value(leaf, Order.receiver_province)

    def leaf_city(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.latest_order_value(leaf, Order.receiver_city)

    def leaf_has_tag(self, leaf: Leaf) -> ColumnElement[bool]:
        statement = select(CustomerTag.customer_id).where(
            CustomerTag.tenant_id == self.tenant_id,
            CustomerTag.tag_id.in_(leaf.value),
            self.in_scope(CustomerTag.customer_id),
        )
        found = self.member(statement, False)
        return found if leaf.op == "in" else not_(found)

    def score(self, leaf: Leaf, column: Any, default: Any) -> ColumnElement[bool]:
        holds_for_none = _holds(leaf.op, leaf.value, default)
        test = (
            _compare(column, leaf.op, leaf.value)
            if not isinstance(default, str)
            else _string_test(column, leaf.op, leaf.value)
        )
        statement = select(CustomerScore.customer_id).where(
            CustomerScore.tenant_id == self.tenant_id,
            self.in_scope(CustomerScore.customer_id),
            not_(test) if holds_for_none else test,
        )
        return self.member(statement, holds_for_none)

    def leaf_recency_score(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.score(leaf, CustomerScore.recency_score, 0)

    def leaf_frequency_score(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.score(leaf, CustomerScore.frequency_score, 0)

    def leaf_monetary_score(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.score(leaf, CustomerScore.monetary_score, 0)

    def leaf_lifecycle_stage(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.score(leaf, CustomerScore.stage, "prospect")

    # Order leaves from per-customer facts ──────────────────────────────────────────────────
    # Each reads a column of `tag_facts` (one row per customer with orders in scope, LEFT JOINed
    # to the customer) that holds the same aggregate the leaf's own subquery would compute; a
    # customer without a row has no orders: counts and amounts 0, no last order, no latest value.
    def fact(self, kind: str, key: Any, aggregate: Callable[[], Any], type_: Any) -> Any:
        assert self.facts is not None
        return self.facts.column((kind, repr(key)), aggregate, type_)

    def order_fact_count(
        self, params: dict[str, Any], extra_key: Any = None, *extra: ColumnElement[bool]
    ) -> Any:
        """Paid orders of the leaf's window and filters (and `extra` tests, told apart by
        `extra_key`), 0 without any."""
        key = (sorted((k, repr(v)) for k, v in params.items()), extra_key)
        tests = [*self.order_tests(params, lines_hashed=True), *extra]
        counted = self.fact("count", key, lambda: func.count().filter(and_(*tests)), Integer())
        return func.coalesce(counted, 0)

    def fact_order_count(self, leaf: Leaf) -> ColumnElement[bool]:
        return _compare(self.order_fact_count(leaf.params), leaf.op, leaf.value)

    def fact_order_amount(self, leaf: Leaf) -> ColumnElement[bool]:
        assert self.facts is not None
        tests = self.order_tests(leaf.params, lines_hashed=True)
        net = Order.paid_fen - func.coalesce(self.facts.refunded_money(), 0)
        key = sorted((k, repr(v)) for k, v in leaf.params.items())
        amount = self.fact(
            "amount", key, lambda: func.sum(case((net > 0, net), else_=0)).filter(and_(*tests)), BigInteger()
        )
        return _compare(func.coalesce(amount, 0), leaf.op, leaf.value)

    def fact_no_order_in_days(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.order_fact_count({"days": leaf.value}) == 0  # type: ignore[no-any-return]

    def fact_last_order_days(self, leaf: Leaf) -> ColumnElement[bool]:
        tests = self.order_tests({})
        last_paid = self.fact(
            "last", "", lambda: func.max(Order.paid_at).filter(and_(*tests)), Order.paid_at.type
        )
        return and_(last_paid.is_not(None), self.last_order_test(leaf, last_paid))

    def fact_refund_count(self, leaf: Leaf) -> ColumnElement[bool]:
        assert self.facts is not None
        since, until = self.window(leaf.params)
        per_order = self.facts.refund_count(since, until)
        counted = self.fact("refunds", (since, until), lambda: func.sum(per_order), BigInteger())
        return _compare(func.coalesce(counted, 0), leaf.op, leaf.value)

    def fact_coupon_used(self, leaf: Leaf) -> ColumnElement[bool]:
        params: dict[str, Any] = {
            key: leaf.params[key] for key in ("days", "since", "until") if key in leaf.params
        }
        if leaf.params.get("coupon_ids"):
            text = cast(Order.coupon_ids, Text)
            coupon = or_(
                *(text.contains(json.dumps(coupon), autoescape=True) for coupon in leaf.params["coupon_ids"])
            )
        else:
            coupon = func.json_array_length(Order.coupon_ids) > 0
        found = self.order_fact_count(params, ("coupon", leaf.params.get("coupon_ids")), coupon) > 0
        return found if leaf.value else not_(found)

    def fact_platform(self, leaf: Leaf) -> ColumnElement[bool]:
        op = _NEGATIVE.get(leaf.op, leaf.op)
        bought = (
            self.order_fact_count(
                {}, ("platform", op, leaf.value), _string_test(Order.platform, op, leaf.value)
            )
            > 0
        )
        known = select(IdentityNode.customer_id).where(
            IdentityNode.tenant_id == self.tenant_id,
            IdentityNode.customer_id.is_not(None),
            self.in_scope(IdentityNode.customer_id),
            _string_test(IdentityNode.platform, op, leaf.value),
        )
        found = or_(bought, self.member(known, False))
        return not_(found) if leaf.op in _NEGATIVE else found

    def latest_fact(self, leaf: Leaf, column: Any) -> ColumnElement[bool]:
        tests = self.order_tests({})

        def latest() -> Any:
            # The value of the latest paid order (greatest paid_at, then id — as the event
            # path's row_number), as a plain max() over "paid_at (17 digits) || id (32 hex) ||
            # value" in byte order: an ordered array_agg sorts every customer's orders apart,
            # which took a sixth of the batch at 1M customers.
            # date_part's double is exact to the microsecond until about 2100 (its rounding
            # errors add up to under 0.5 µs) and the conversion is monotonic, so the order of
            # paid_at is kept; to_char(…, 'YYYYMMDDHH24MISSUS') took 0.3 s more per key and
            # 500k-customer chunk.
            micros = cast(func.date_part("epoch", Order.paid_at) * 1_000_000, BigInteger)
            key = cast(micros + LATEST_OFFSET, Text).concat(Order.id).concat(column).collate("C")
            return func.substr(func.max(key).filter(and_(*tests)), LATEST_VALUE_AT)

        value = self.fact("latest", column.key, latest, column.type)
        op = _NEGATIVE.get(leaf.op, leaf.op)
        found = func.coalesce(_string_test(value, op, leaf.value), false())
        return not_(found) if leaf.op in _NEGATIVE else found

    def fact_province(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.latest_fact(leaf, Order.receiver_province)

    def fact_city(self, leaf: Leaf) -> ColumnElement[bool]:
        return self.latest_fact(leaf, Order.receiver_city)


class _Facts:
    """The per-customer order aggregates the order leaves of some conditions need, gathered while
    they compile and then computed in one pass over the scope's orders (PostgreSQL: FILTER,
    array_agg) instead of one pass per leaf."""

    NAME = "tag_facts"
    REFUNDS = "tag_refunds"

    def __init__(self, tenant_id: str, compiler_scope: Callable[[Any], ColumnElement[bool]]) -> None:
        self.tenant_id = tenant_id
        self.in_scope = compiler_scope
        self.columns: dict[tuple[str, str], tuple[str, Any]] = {}
        self.refund_windows: dict[tuple[datetime | None, datetime | None], str] = {}
        self.needs_refunded_money = False

    def column(self, key: tuple[str, str], aggregate: Callable[[], Any], type_: Any) -> Any:
        """A reference to the facts column of `key` (the same aggregate is computed once)."""
        if key not in self.columns:
            self.columns[key] = (f"f{len(self.columns)}", aggregate())
        return literal_column(f"{self.NAME}.{self.columns[key][0]}", type_)

    def refunded_money(self) -> Any:
        self.needs_refunded_money = True
        return literal_column(f"{self.REFUNDS}.money", BigInteger())

    def refund_count(self, since: datetime | None, until: datetime | None) -> Any:
        name = self.refund_windows.setdefault((since, until), f"r{len(self.refund_windows)}")
        return literal_column(f"{self.REFUNDS}.{name}", BigInteger())

    def select(self) -> Select[Any] | None:
        """customer_id and the gathered aggregates, one row per customer in scope with orders;
        None when no leaf needs one."""
        if not self.columns:
            return None
        # Grouped in byte order: the facts are sorted by customer before they are aggregated,
        # and the database's default collation compares ids with strcoll() (at 1M customers a
        # 500k chunk's 930k orders sorted 0.6 s faster in "C"). Equality, all the joins use,
        # is the same in both.
        customer_id = OrderOwner.customer_id.collate("C")
        statement = (
            select(
                customer_id.label("customer_id"),
                *(aggregate.label(name) for name, aggregate in self.columns.values()),
            )
            .select_from(OrderOwner)
            .join(Order, and_(Order.tenant_id == OrderOwner.tenant_id, Order.id == OrderOwner.order_id))
            .where(
                OrderOwner.tenant_id == self.tenant_id,
                OrderOwner.customer_id.is_not(None),
                self.in_scope(OrderOwner.customer_id),
            )
            .group_by(customer_id)
        )
        if self.refund_windows or self.needs_refunded_money:
            counted = [
                func.count()
                .filter(
                    and_(
                        Refund.status.in_(COUNTED_REFUNDS),
                        *([Refund.created_at >= since] if since is not None else []),
                        *([Refund.created_at < until] if until is not None else []),
                    )
                )
                .label(name)
                for (since, until), name in self.refund_windows.items()
            ]
            refunds = (
                select(
                    Refund.platform,
                    Refund.shop_id,
                    Refund.order_external_id,
                    func.sum(Refund.amount_fen).filter(Refund.status.in_(REFUNDED_MONEY)).label("money"),
                    *counted,
                )
                .where(Refund.tenant_id == self.tenant_id, Refund.status.in_(COUNTED_REFUNDS))
                .group_by(Refund.platform, Refund.shop_id, Refund.order_external_id)
                .subquery(self.REFUNDS)
            )
            statement = statement.outerjoin(
                refunds,
                and_(
                    refunds.c.platform == Order.platform,
                    refunds.c.shop_id == Order.shop_id,
                    refunds.c.order_external_id == Order.external_id,
                ),
            )
        if not self.refund_windows:
            # Every column counts paid orders only: the others need not be read.
            statement = statement.where(Order.status.in_(PAID_STATUSES), Order.paid_at.is_not(None))
        return statement


def _compare(expression: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "between":
        return and_(expression >= value[0], expression <= value[1])
    tests: dict[str, Callable[[], ColumnElement[bool]]] = {
        ">=": lambda: expression >= value,
        ">": lambda: expression > value,
        "<=": lambda: expression <= value,
        "<": lambda: expression < value,
        "=": lambda: expression == value,
        "!=": lambda: expression != value,
    }
    return tests[op]()


def _holds(op: str, value: Any, actual: Any) -> bool:
    """Whether the leaf holds for a customer with no rows (its value is `actual`)."""
    if isinstance(actual, str):
        if op in ("in", "not_in"):
            return (actual in value) == (op == "in")
        if op == "contains":
            return value.lower() in actual
        return (actual == value) == (op == "=")
    if op == "between":
        return bool(value[0] <= actual <= value[1])
    return {
        ">=": actual >= value,
        ">": actual > value,
        "<=": actual <= value,
        "<": actual < value,
        "=": actual == value,
        "!=": actual != value,
    }[op]


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """`column` contains `text`, ignoring case. Text with no letter that has a case (product
    words in Chinese: 面膜) is matched as it is: no character lowers to a Chinese one, so lower()
    of every title — a third of a batch's scan of the order lines — would change nothing."""
    if text.lower() == text.upper():
        return column.contains(text, autoescape=True)  # type: ignore[no-any-return]
    return func.lower(column).contains(text.lower(), autoescape=True)  # type: ignore[no-any-return]


def _string_test(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op in ("in", "not_in"):
        test = column.in_(list(value))
        return test if op == "in" else not_(test)  # type: ignore[no-any-return]
    if op == "contains":
        return _contains(column, str(value))
    return column == value if op == "=" else column != value  # type: ignore[no-any-return]


def customer_filter(
    condition: Condition,
    tenant_id: str,
    *,
    now: datetime,
    scope: Sequence[str] | Range | None = None,
    dialect: str = "postgresql",
    settings: Settings | None = None,
    chat_words: Iterable[str] = (),
) -> ColumnElement[bool]:
    """One boolean over `Customer`: the tenant's active customers (within `scope`: a list of ids or
    a `Range`) for whom `condition` holds at `now`. `dialect` picks the faster set test per
    backend; `settings` (and the tenant's archive words) are needed by chat_keyword only."""
    compiler = _Compiler(tenant_id, now, scope, dialect, settings, tuple(chat_words))
    return and_(
        Customer.tenant_id == tenant_id,
        Customer.status == CustomerStatus.ACTIVE.value,
        compiler.in_scope(Customer.id),
        compiler.compile(condition),
    )


def filter_for(
    session: Session, tenant_id: str, condition: Condition, *, scope: Sequence[str] | Range | None = None
) -> ColumnElement[bool]:
    """`customer_filter` with what the session knows: its backend, the app clock, settings."""
    from haina.core import clock

    settings = None
    words: list[str] = []
    if "chat_keyword" in fields_of(condition):
        from haina.archive.service import list_words
        from haina.connections.service import settings_for

        settings = settings_for(session)
        words = list_words(session, tenant_id)
    return customer_filter(
        condition,
        tenant_id,
        now=clock.now(),
        scope=scope,
        dialect=session.get_bind().dialect.name,
        settings=settings,
        chat_words=words,
    )


@dataclass
class BatchTests:
    """Several conditions compiled together for one batch chunk (`batch_tests`)."""

    tests: list[ColumnElement[bool]]  # one per condition, over Customer LEFT JOIN `facts`
    facts: Any  # a subquery (customer_id, aggregates…) to LEFT JOIN on customer_id, or None


def batch_tests(
    conditions: Sequence[Condition],
    tenant_id: str,
    *,
    now: datetime,
    scope: Range,
    settings: Settings | None = None,
    chat_words: Iterable[str] = (),
) -> BatchTests:
    """PostgreSQL: one boolean per condition telling whether it holds for an active customer of the
    tenant in `scope` (what `customer_filter` selects), where the order leaves of all of them read
    one shared pass of per-customer aggregates instead of each scanning the orders."""
    compiler = _Compiler(tenant_id, now, scope, "postgresql", settings, tuple(chat_words))
    compiler.facts = _Facts(tenant_id, compiler.in_scope)
    tests = [
        and_(Customer.status == CustomerStatus.ACTIVE.value, compiler.compile(condition))
        for condition in conditions
    ]
    statement = compiler.facts.select()
    return BatchTests(tests, statement.subquery(_Facts.NAME) if statement is not None else None)


def batch_tests_for(
    session: Session, tenant_id: str, conditions: Sequence[Condition], *, scope: Range
) -> BatchTests:
    """`batch_tests` with what the session knows: the app clock, settings for chat keywords."""
    from haina.core import clock

    settings = None
    words: list[str] = []
    if any("chat_keyword" in fields_of(condition) for condition in conditions):
        from haina.archive.service import list_words
        from haina.connections.service import settings_for

        settings = settings_for(session)
        words = list_words(session, tenant_id)
    return batch_tests(
        conditions, tenant_id, now=clock.now(), scope=scope, settings=settings, chat_words=words
    )
