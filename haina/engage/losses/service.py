"""Loss alerts (流失提醒): a follow relation ended by the customer (del_follow_user) or by the
member (del_external_contact) becomes a LossAlert with the customer's value and tags, and a
WeCom application message to the member (when the customer left them) and the supervisors.

The end of a relation that a handover asked for is recorded with kind `transfer`, never
notified. Notifying is best effort: a WeCom error is kept on the alert (`notify_error`), so a
retried delivery never sends the message twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.errors import InvalidInput
from haina.customers.identity import profile
from haina.customers.identity import service as identity
from haina.customers.models import record_id
from haina.engage.handover import service as handover
from haina.engage.losses import repository
from haina.engage.losses.models import AlertKind, EndedBy, LossAlert, LossAlertSettings
from haina.engage.losses.repository import AlertFilter
from haina.platforms.http import PlatformError
from haina.platforms.wecom import app_messages

logger = logging.getLogger(__name__)

MAX_SUPERVISORS = 50


@dataclass
class SettingsView:
    supervisor_userids: list[str]
    notify_customer_deleted: bool
    notify_staff_deleted: bool
    agentid: int | None


def get_settings(session: Session, tenant_id: str) -> SettingsView:
    row = repository.get_settings(session, tenant_id)
    if row is None:
        return SettingsView([], True, True, None)
    return SettingsView(
        list(row.supervisor_userids or []), row.notify_customer_deleted, row.notify_staff_deleted, row.agentid
    )


def save_settings(
    session: Session,
    tenant_id: str,
    *,
    supervisor_userids: list[str],
    notify_customer_deleted: bool,
    notify_staff_deleted: bool,
    agentid: int | None,
) -> SettingsView:
    """Who is told about losses, and from which WeCom application."""
    userids = list(dict.fromkeys(userid.strip() for userid in supervisor_userids if userid.strip()))
    if len(userids) > MAX_SUPERVISORS:
        raise InvalidInput(f"at most {MAX_SUPERVISORS} supervisors", code="too_many_supervisors")
    if agentid is not None and not app_messages.is_agentid(agentid):
        raise InvalidInput("the agentid is a positive number", code="invalid_agentid")
    row = repository.get_settings(session, tenant_id)
    if row is None:
        row = LossAlertSettings(tenant_id=tenant_id)
        session.add(row)
    row.supervisor_userids = userids
    row.notify_customer_deleted = notify_customer_deleted
    row.notify_staff_deleted = notify_staff_deleted
    row.agentid = agentid
    row.updated_at = clock.now()
    session.flush()
    return get_settings(session, tenant_id)


def _customer_value(session: Session, tenant_id: str, customer_id: str | None) -> tuple[int, int, list[str]]:
    if not customer_id:
        return 0, 0, []
    from haina.tags import service as tags

    orders = profile.customer_orders(session, tenant_id, customer_id)
    paid = [order for order in orders if order.paid_fen]
    carried = tags.tags_of_customers(session, tenant_id, [customer_id]).get(customer_id, [])
    return len(orders), sum(order.paid_fen for order in paid), [tag.name for tag in carried]


def record_removal(
    session: Session, tenant_id: str, payload: dict[str, Any], ended_by: str
) -> LossAlert | None:
    """The handler of contact.deleted_by_customer / contact.deleted_by_staff: one alert per
    ended relation (idempotent), notified unless it belongs to a handover."""
    external_userid = str(payload.get("external_userid") or "")
    staff_userid = str(payload.get("staff_userid") or "")
    corp_id = str(payload.get("corp_id") or "")
    if not external_userid or not staff_userid:
        return None
    contact_id = str(payload.get("contact_id") or record_id("contact", tenant_id, corp_id, external_userid))
    at = payload.get("at")
    occurred_at = datetime.fromisoformat(at) if isinstance(at, str) and at else clock.now()
    if repository.find_alert(session, tenant_id, contact_id, staff_userid, occurred_at) is not None:
        return None
    contact = identity.unresolved_contact(session, tenant_id, external_userid)
    customer_id = (contact.customer_id if contact else None) or identity.customer_of_contact(
        session, tenant_id, external_userid
    )
    # A handover ends the old relation as the member's removal (del_external_contact, Source
    # DELETE_BY_TRANSFER); a customer deleting the member meanwhile is still a loss.
    is_transfer = ended_by == EndedBy.STAFF and handover.is_transfer_removal(
        session, tenant_id, external_userid, staff_userid
    )
    order_count, paid_fen, tag_names = _customer_value(session, tenant_id, customer_id)
    alert = LossAlert(
        tenant_id=tenant_id,
        kind=AlertKind.TRANSFER if is_transfer else AlertKind.LOSS,
        contact_id=contact_id,
        customer_id=customer_id,
        corp_id=corp_id,
        external_userid=external_userid,
        contact_name=contact.name if contact else "",
        staff_userid=staff_userid,
        ended_by=ended_by,
        occurred_at=occurred_at,
        order_count=order_count,
        paid_fen=paid_fen,
        tags=tag_names,
        created_at=clock.now(),
    )
    session.add(alert)
    session.flush()
    if not is_transfer:
        _notify(session, alert)
    return alert


def recipients(settings: SettingsView, alert: LossAlert) -> list[str]:
    wanted = (
        settings.notify_customer_deleted
        if alert.ended_by == EndedBy.CUSTOMER
        else settings.notify_staff_deleted
    )
    if not wanted:
        return []
    userids = [alert.staff_userid] if alert.ended_by == EndedBy.CUSTOMER else []
    userids += settings.supervisor_userids
    return list(dict.fromkeys(userid for userid in userids if userid))


def message_text(alert: LossAlert) -> str:
    name = alert.contact_name or alert.external_userid
    when = alert.occurred_at.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if alert.ended_by == EndedBy.CUSTOMER:
        what = f"客户「{name}」删除了成员 {alert.staff_userid}"
    else:
        what = f"成员 {alert.staff_userid} 删除了客户「{name}」"
    value = f"累计订单 {alert.order_count} 笔，实付 ¥{alert.paid_fen / 100:,.2f}"
    tags = f"；标签：{'、'.join(alert.tags)}" if alert.tags else ""
    return f"【客户流失提醒】{what}（{when}）。{value}{tags}。"


def _notify(session: Session, alert: LossAlert) -> None:
    settings = get_settings(session, alert.tenant_id)
    userids = recipients(settings, alert)
    if not userids:
        return
    if settings.agentid is None:
        alert.notify_error = "no_agentid"
        return
    corps = wecom_corps.corps_of(session, alert.tenant_id)
    corp = next((corp for corp in corps if corp.corp_id == alert.corp_id), corps[0] if corps else None)
    if corp is None:
        alert.notify_error = "wecom_not_connected"
        return
    try:
        result = app_messages.send_text(corp.client, settings.agentid, userids, message_text(alert))
    except PlatformError as error:
        logger.warning("loss alert %s not sent: %s", alert.id, error)
        alert.notify_error = f"wecom {error.code}"[:200]
        return
    alert.notified_userids = [userid for userid in userids if userid not in result.invalid_users]


def list_alerts(
    session: Session, tenant_id: str, where: AlertFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[LossAlert], int]:
    return (
        repository.list_alerts(session, tenant_id, where, limit=limit, offset=offset),
        repository.count_alerts(session, tenant_id, where),
    )


def mark_handled(
    session: Session, tenant_id: str, alert_id: str, *, handled_by: str, note: str = ""
) -> LossAlert:
    alert = repository.get_alert(session, tenant_id, alert_id)
    alert.is_handled = True
    alert.handled_by = handled_by
    alert.handled_at = clock.now()
    alert.note = note[:1000]
    session.flush()
    return alert


@dataclass
class Statistics:
    days: list[str]
    by_customer: list[int]
    by_staff: list[int]
    ranking: list[tuple[str, int]]
    total: int


def statistics(session: Session, tenant_id: str, *, days: int = 30) -> Statistics:
    """Losses per day (Shanghai dates) by who ended them, and the members who lost the most."""
    today = clock.now().astimezone(clock.SHANGHAI).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), clock.SHANGHAI)
    rows = repository.occurred_times(session, tenant_id, AlertFilter(since=since))
    per_day: dict[tuple[date, str], int] = Counter()
    ranking: Counter[str] = Counter()
    for at, staff_userid, ended_by in rows:
        per_day[(at.astimezone(clock.SHANGHAI).date(), ended_by)] += 1
        ranking[staff_userid] += 1
    dates = [first + timedelta(days=offset) for offset in range(days)]
    return Statistics(
        days=[day.isoformat() for day in dates],
        by_customer=[per_day[(day, EndedBy.CUSTOMER)] for day in dates],
        by_staff=[per_day[(day, EndedBy.STAFF)] for day in dates],
        ranking=ranking.most_common(10),
        total=len(rows),
    )
