"""Staff handover (在职转接 / 离职继承): move a member's customers to another member.

A job lists its customers as items; each is checked against Haina's own record of transfers
(at most MAX_TRANSFERS_IN_WINDOW in WINDOW, WeCom's limit) and refused as `limit_90d` without a
call; the rest go to WeCom in batches of ≤100. The periodic poll (`poll_jobs`) sends what is
still pending (a failed call) and reads transfer_result until every item is settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock, spreadsheets
from haina.core.errors import InvalidInput
from haina.customers.models import Contact
from haina.engage.handover import repository
from haina.engage.handover.models import (
    SETTLED,
    HandoverItem,
    HandoverJob,
    HandoverKind,
    ItemStatus,
    JobStatus,
)
from haina.platforms.http import PlatformError
from haina.platforms.wecom import errors, transfers

WINDOW = timedelta(days=90)
MAX_TRANSFERS_IN_WINDOW = 2
BATCH_SIZE = transfers.MAX_CUSTOMERS_PER_CALL
# Calls made while the person waits for the page; larger handovers go on in the periodic poll.
CALLS_WHILE_STARTING = 10
# A follow relation that ends this long after a transfer was asked is taken as the transfer.
TRANSFER_REMOVAL_WINDOW = timedelta(days=30)

RESULT_STATUS = {
    transfers.STATUS_DONE: (ItemStatus.DONE, ""),
    transfers.STATUS_REFUSED: (ItemStatus.REFUSED, "customer_refused"),
    transfers.STATUS_TAKEOVER_FULL: (ItemStatus.FAILED, "takeover_full"),
    transfers.STATUS_NO_RECORD: (ItemStatus.FAILED, "no_record"),
}
ERRCODE_REASON = {
    errors.CUSTOMER_TRANSFER_LIMIT: (ItemStatus.REFUSED, "limit_90d"),
    errors.NOT_EXTERNAL_CONTACT: (ItemStatus.FAILED, "no_relation"),
    errors.INVALID_EXTERNAL_USERID: (ItemStatus.FAILED, "unknown_customer"),
}


@dataclass
class Progress:
    total: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def settled(self) -> int:
        return sum(self.counts.get(status, 0) for status in SETTLED)

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.settled / self.total)


def _corp(session: Session, tenant_id: str, connection_id: str | None = None) -> wecom_corps.Corp:
    corp = (
        wecom_corps.corp_by_connection(session, tenant_id, connection_id)
        if connection_id
        else wecom_corps.first_corp(session, tenant_id)
    )
    if corp is None:
        raise InvalidInput("connect WeCom first", code="wecom_not_connected")
    return corp


def _contact_names(session: Session, tenant_id: str, external_userids: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    wanted = sorted(set(external_userids))
    for start in range(0, len(wanted), 500):
        statement = select(Contact.external_userid, Contact.name).where(
            Contact.tenant_id == tenant_id, Contact.external_userid.in_(wanted[start : start + 500])
        )
        names.update({row[0]: row[1] for row in session.execute(statement)})
    return names


def customers_of(session: Session, tenant_id: str, kind: str, handover_userid: str) -> list[str]:
    """All customers of the member: their WeCom list (in office) or their unassigned ones."""
    corp = _corp(session, tenant_id)
    if kind == HandoverKind.RESIGNED:
        return sorted(
            {
                item.external_userid
                for item in transfers.unassigned_customers(corp.client)
                if item.handover_userid == handover_userid
            }
        )
    return sorted(set(transfers.customers_of_member(corp.client, handover_userid)))


def start_handover(
    session: Session,
    tenant_id: str,
    *,
    kind: str,
    handover_userid: str,
    takeover_userid: str,
    external_userids: Sequence[str] | None = None,
    message: str = "",
    created_by: str = "",
) -> HandoverJob:
    """Create the job (all the member's customers when `external_userids` is None) and send its
    batches to WeCom; items over the 90-day limit are refused without a call."""
    if kind not in (HandoverKind.IN_OFFICE, HandoverKind.RESIGNED):
        raise InvalidInput("kind is in_office or resigned", code="invalid_kind")
    handover_userid, takeover_userid = handover_userid.strip(), takeover_userid.strip()
    if not handover_userid or not takeover_userid:
        raise InvalidInput(
            "choose both the member handing over and the one taking over", code="missing_staff"
        )
    if handover_userid == takeover_userid:
        raise InvalidInput("the takeover member must differ from the handover member", code="same_staff")
    if len(message) > transfers.MAX_MESSAGE_LENGTH:
        raise InvalidInput("the transfer message is at most 200 characters", code="message_too_long")
    corp = _corp(session, tenant_id)
    if external_userids is None:
        external_userids = customers_of(session, tenant_id, kind, handover_userid)
    customers = list(dict.fromkeys(item.strip() for item in external_userids if item.strip()))
    if not customers:
        raise InvalidInput("the member has no customers to hand over", code="no_customers")
    now = clock.now()
    job = HandoverJob(
        tenant_id=tenant_id,
        connection_id=corp.connection.id,
        kind=kind,
        handover_userid=handover_userid,
        takeover_userid=takeover_userid,
        transfer_message=message if kind == HandoverKind.IN_OFFICE else "",
        total=len(customers),
        created_by=created_by,
        created_at=now,
    )
    session.add(job)
    session.flush()
    names = _contact_names(session, tenant_id, customers)
    counted = repository.transfers_since(session, tenant_id, customers, now - WINDOW)
    batch = 0
    in_batch = 0
    for external_userid in customers:
        item = HandoverItem(
            tenant_id=tenant_id,
            job_id=job.id,
            external_userid=external_userid,
            handover_userid=handover_userid,
            takeover_userid=takeover_userid,
            contact_name=names.get(external_userid, ""),
        )
        if counted.get(external_userid, 0) >= MAX_TRANSFERS_IN_WINDOW:
            item.status, item.reason, item.settled_at = ItemStatus.REFUSED, "limit_90d", now
        else:
            if in_batch == BATCH_SIZE:
                batch, in_batch = batch + 1, 0
            item.batch, in_batch = batch + 1, in_batch + 1
        session.add(item)
    session.flush()
    send_pending(session, job, corp, max_calls=CALLS_WHILE_STARTING)
    _finish_if_settled(session, job)
    return job


def send_pending(
    session: Session, job: HandoverJob, corp: wecom_corps.Corp | None = None, *, max_calls: int | None = None
) -> int:
    """Send the job's pending items to WeCom, ≤100 per call; returns how many calls were made.
    A call that fails leaves its items pending for the next poll."""
    pending = repository.items_of(session, job.tenant_id, job.id, status=ItemStatus.PENDING)
    if not pending:
        return 0
    corp = corp or _corp(session, job.tenant_id, job.connection_id)
    calls = 0
    for start in range(0, len(pending), BATCH_SIZE):
        if max_calls is not None and calls >= max_calls:
            break
        chunk = pending[start : start + BATCH_SIZE]
        try:
            outcomes = transfers.transfer_customers(
                corp.client,
                job.handover_userid,
                job.takeover_userid,
                [item.external_userid for item in chunk],
                resigned=job.kind == HandoverKind.RESIGNED,
                message=job.transfer_message,
            )
        except PlatformError as error:
            for item in chunk:
                item.reason = "call_failed"
                item.errcode = int(error.code) if error.code.lstrip("-").isdigit() else 0
            break
        calls += 1
        now = clock.now()
        by_customer = {outcome.external_userid: outcome.errcode for outcome in outcomes}
        for item in chunk:
            errcode = by_customer.get(item.external_userid)
            item.requested_at = now
            if errcode is None:
                item.status, item.reason, item.settled_at = ItemStatus.FAILED, "no_answer", now
            elif errcode == errors.OK:
                item.status, item.reason, item.errcode = ItemStatus.WAITING, "", 0
            else:
                status, reason = ERRCODE_REASON.get(errcode, (ItemStatus.FAILED, "wecom_error"))
                item.status, item.reason, item.errcode, item.settled_at = status, reason, errcode, now
    session.flush()
    return calls


def poll_job(session: Session, job: HandoverJob) -> None:
    """Send what is pending, then read transfer_result and settle the waiting items."""
    corp = _corp(session, job.tenant_id, job.connection_id)
    send_pending(session, job, corp)
    waiting = repository.items_of(session, job.tenant_id, job.id, status=ItemStatus.WAITING)
    if waiting:
        results = transfers.transfer_results(
            corp.client, job.handover_userid, job.takeover_userid, resigned=job.kind == HandoverKind.RESIGNED
        )
        by_customer = {result.external_userid: result for result in results}
        now = clock.now()
        for item in waiting:
            result = by_customer.get(item.external_userid)
            if result is None or result.status not in RESULT_STATUS:
                continue
            item.status, item.reason = RESULT_STATUS[result.status]
            item.settled_at = result.takeover_time or now
    job.polled_at = clock.now()
    _finish_if_settled(session, job)
    session.flush()


def poll_jobs(session: Session, tenant_id: str) -> int:
    """Poll every running job of the tenant; returns how many were polled."""
    jobs = repository.running_jobs(session, tenant_id)
    for job in jobs:
        poll_job(session, job)
    return len(jobs)


def _finish_if_settled(session: Session, job: HandoverJob) -> None:
    counts = repository.status_counts(session, job.tenant_id, [job.id])[job.id]
    if not counts.get(ItemStatus.PENDING) and not counts.get(ItemStatus.WAITING):
        job.status = JobStatus.DONE
        job.finished_at = job.finished_at or clock.now()


def get_job(session: Session, tenant_id: str, job_id: str) -> HandoverJob:
    return repository.get_job(session, tenant_id, job_id)


def list_jobs(session: Session, tenant_id: str) -> list[tuple[HandoverJob, Progress]]:
    jobs = repository.list_jobs(session, tenant_id)
    counts = repository.status_counts(session, tenant_id, [job.id for job in jobs])
    return [(job, Progress(job.total, counts[job.id])) for job in jobs]


def progress(session: Session, job: HandoverJob) -> Progress:
    return Progress(job.total, repository.status_counts(session, job.tenant_id, [job.id])[job.id])


def items(session: Session, tenant_id: str, job_id: str, *, status: str | None = None) -> list[HandoverItem]:
    repository.get_job(session, tenant_id, job_id)
    return repository.items_of(session, tenant_id, job_id, status=status)


def is_transfer_removal(session: Session, tenant_id: str, external_userid: str, staff_userid: str) -> bool:
    """Whether the end of this follow relation is a handover's (a transfer of the customer away
    from this member asked recently), not a loss."""
    since = clock.now() - TRANSFER_REMOVAL_WINDOW
    return repository.recent_transfer(session, tenant_id, external_userid, staff_userid, since) is not None


@dataclass
class CustomerChoice:
    external_userid: str
    name: str
    recent_transfers: int  # counted transfers in the last 90 days

    @property
    def is_over_limit(self) -> bool:
        return self.recent_transfers >= MAX_TRANSFERS_IN_WINDOW


def customer_choices(
    session: Session, tenant_id: str, kind: str, handover_userid: str, *, query: str = ""
) -> list[CustomerChoice]:
    """The member's customers to pick from, with names and their 90-day transfer count;
    `query` keeps those whose name or id contains it."""
    customers = customers_of(session, tenant_id, kind, handover_userid.strip())
    names = _contact_names(session, tenant_id, customers)
    counted = repository.transfers_since(session, tenant_id, customers, clock.now() - WINDOW)
    query = query.strip().lower()
    return [
        CustomerChoice(external_userid, names.get(external_userid, ""), counted.get(external_userid, 0))
        for external_userid in customers
        if not query or query in external_userid.lower() or query in names.get(external_userid, "").lower()
    ]


@dataclass
class ResignedMember:
    userid: str
    dimission_time: datetime | None
    external_userids: list[str]


def unassigned(session: Session, tenant_id: str) -> list[ResignedMember]:
    """Members who left and their customers waiting for a new member (离职待分配)."""
    corp = _corp(session, tenant_id)
    members: dict[str, ResignedMember] = {}
    for item in transfers.unassigned_customers(corp.client):
        member = members.setdefault(
            item.handover_userid, ResignedMember(item.handover_userid, item.dimission_time, [])
        )
        member.external_userids.append(item.external_userid)
    return sorted(members.values(), key=lambda member: member.userid)


EXPORT_COLUMNS = (
    "external_userid",
    "contact_name",
    "batch",
    "status",
    "reason",
    "errcode",
    "requested_at",
    "settled_at",
)


def export_xlsx(session: Session, tenant_id: str, job_id: str, headers: Sequence[str] | None = None) -> bytes:
    """The job's result per customer as an Excel workbook (customer names are written so that a
    spreadsheet never runs them as formulas)."""
    job = repository.get_job(session, tenant_id, job_id)
    rows = (
        [
            item.external_userid,
            item.contact_name,
            item.batch,
            item.status,
            item.reason,
            item.errcode,
            item.requested_at.isoformat() if item.requested_at else "",
            item.settled_at.isoformat() if item.settled_at else "",
        ]
        for item in repository.items_of(session, tenant_id, job.id)
    )
    return spreadsheets.write_xlsx(list(headers or EXPORT_COLUMNS), rows, sheet_name="handover")
