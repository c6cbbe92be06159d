"""WeCom emulator: customer handover: transfer_customer, transfer_result, resigned/transfer_customer,
resigned/transfer_result, get_unassigned_list (official docs 92125, 92124, 92273).

Limits enforced: ≤100 customers per call; a customer transferred at most twice in 90 days
(per-customer errcode CUSTOMER_TRANSFER_LIMIT [UNCONFIRMED code]); the takeover member's
customer cap (`set_takeover_cap`) checked when a transfer completes (status 4, transfer_fail
customer_limit_exceed). In-office transfers wait 24 h for the customer to refuse (status 2);
resigned ones are due at once. A due transfer completes when `simulate_transfer_completes` runs
or when transfer_result is read: the follow relation moves in the world and WeCom's callbacks
are pushed (del_external_contact with Source DELETE_BY_TRANSFER for the old member,
add_external_contact without WelcomeCode for the new one [UNCONFIRMED: no welcome code]).

State in `scratch(state)["transfers"]`: records (one per accepted customer and call), resigned
members (userid → dimission time) and the takeover cap.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_events import contact_changes
from haina.sandbox.emulators.wecom_http import TokenGate, integer, json_body, ok, string_list
from haina.sandbox.emulators.wecom_push import Callback, send
from haina.sandbox.emulators.wecom_store import (
    contact_index,
    decode_cursor,
    encode_cursor,
    find_contact,
    find_follow_user,
    require_staff,
    scratch,
    touch_contacts,
    unix,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import FollowUser

MAX_PER_CALL = 100
MAX_TRANSFERS_IN_WINDOW = 2
WINDOW = timedelta(days=90)
IN_OFFICE_WAIT = timedelta(hours=24)
MAX_MESSAGE_LENGTH = 200
RESULT_PAGE_SIZE = 1000  # [UNCONFIRMED] the docs give no page size for transfer_result
UNASSIGNED_MAX_PAGE = 1000
DEFAULT_TAKEOVER_CAP = 50_000

DONE, WAITING, REFUSED, TAKEOVER_FULL, NO_RECORD = 1, 2, 3, 4, 5


def _data(state: SandboxState) -> dict[str, Any]:
    with state.lock:
        data = scratch(state).setdefault(
            "transfers", {"records": [], "calls": [], "resigned": {}, "takeover_cap": DEFAULT_TAKEOVER_CAP}
        )
        return data


def set_takeover_cap(state: SandboxState, cap: int) -> None:
    """How many customers a member may hold before a transfer to them fails (status 4)."""
    with state.lock:
        _data(state)["takeover_cap"] = cap


def transfer_records(state: SandboxState) -> list[dict[str, Any]]:
    with state.lock:
        return [dict(record) for record in _data(state)["records"]]


def transfer_calls(state: SandboxState) -> list[dict[str, Any]]:
    """The accepted transfer_customer calls, oldest first: {resigned, external_userid}."""
    with state.lock:
        return [dict(call) for call in _data(state)["calls"]]


def simulate_resign(state: SandboxState, userid: str) -> None:
    """A member leaves the company: their customers become unassigned (离职待分配)."""
    with state.lock:
        _data(state)["resigned"][userid] = clock.now()


def _transfers_in_window(records: list[dict[str, Any]], external_userid: str) -> int:
    since = clock.now() - WINDOW
    return sum(
        1
        for record in records
        if record["external_userid"] == external_userid
        and record["requested_at"] > since
        and record["status"] in (DONE, WAITING)
    )


def _request(state: SandboxState, body: dict[str, Any], *, resigned: bool) -> dict[str, Any]:
    handover = require_staff(state, body.get("handover_userid"))
    takeover = require_staff(state, body.get("takeover_userid"))
    customers = string_list(body, "external_userid")
    if not customers:
        raise WeComApiError(errors.MISSING_EXTERNAL_USERID)
    if len(customers) > MAX_PER_CALL:
        raise WeComApiError(errors.INVALID_PARAMETER, f"at most {MAX_PER_CALL} external_userid")
    message = body.get("transfer_success_msg") or ""
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_LENGTH:
        raise WeComApiError(
            errors.INVALID_PARAMETER, f"transfer_success_msg is at most {MAX_MESSAGE_LENGTH} characters"
        )
    now = clock.now()
    answer = []
    with state.lock:
        data = _data(state)
        if resigned and handover not in data["resigned"]:
            raise WeComApiError(errors.INVALID_PARAMETER, f"{handover} has not resigned")
        data["calls"].append({"resigned": resigned, "external_userid": list(customers)})
        for external_userid in customers:
            contact = find_contact(state, external_userid)
            if contact is None:
                answer.append({"external_userid": external_userid, "errcode": errors.INVALID_EXTERNAL_USERID})
                continue
            if find_follow_user(contact, handover) is None:
                answer.append({"external_userid": external_userid, "errcode": errors.NOT_EXTERNAL_CONTACT})
                continue
            if _transfers_in_window(data["records"], external_userid) >= MAX_TRANSFERS_IN_WINDOW:
                answer.append({"external_userid": external_userid, "errcode": errors.CUSTOMER_TRANSFER_LIMIT})
                continue
            data["records"].append(
                {
                    "external_userid": external_userid,
                    "handover_userid": handover,
                    "takeover_userid": takeover,
                    "resigned": resigned,
                    "message": message,
                    "requested_at": now,
                    "due_at": now if resigned else now + IN_OFFICE_WAIT,
                    "status": WAITING,
                    "takeover_time": None,
                }
            )
            answer.append({"external_userid": external_userid, "errcode": errors.OK})
    return ok(customer=answer)


def _customer_count(state: SandboxState, userid: str) -> int:
    return len(contact_index(state).by_userid.get(userid, []))


def _complete(state: SandboxState, record: dict[str, Any]) -> list[Callback]:
    """Move one follow relation (lock held); the callbacks WeCom would push."""
    contact = find_contact(state, record["external_userid"])
    old = find_follow_user(contact, record["handover_userid"]) if contact else None
    if contact is None or old is None:
        record["status"] = NO_RECORD
        return []
    takeover = record["takeover_userid"]
    if _customer_count(state, takeover) >= _data(state)["takeover_cap"]:
        record["status"] = TAKEOVER_FULL
        return [_transfer_fail(takeover, contact.external_userid, "customer_limit_exceed")]
    contact.follow_users = [follow for follow in contact.follow_users if follow.userid != old.userid]
    if find_follow_user(contact, takeover) is None:
        contact.follow_users.append(
            FollowUser(
                userid=takeover,
                remark=old.remark,
                description=old.description,
                createtime=clock.now(),
                tag_ids=list(old.tag_ids),
                remark_mobiles=list(old.remark_mobiles),
                add_way=old.add_way,
                state=old.state,
                oper_userid=takeover,
            )
        )
    touch_contacts(state)
    record["status"] = DONE
    record["takeover_time"] = clock.now()
    callbacks = contact_changes(state, contact, issue_welcome_code=False)
    for callback in callbacks:
        if callback.value("ChangeType") == "del_external_contact":
            callback.fields.append(("Source", "DELETE_BY_TRANSFER"))
    return callbacks


def _transfer_fail(takeover: str, external_userid: str, reason: str) -> Callback:
    return Callback(
        "change_external_contact",
        [
            ("ChangeType", "transfer_fail"),
            ("FailReason", reason),
            ("UserID", takeover),
            ("ExternalUserID", external_userid),
        ],
    )


def _settle(state: SandboxState, *, force: bool = False) -> list[Callback]:
    now = clock.now()
    callbacks: list[Callback] = []
    with state.lock:
        for record in _data(state)["records"]:
            if record["status"] == WAITING and (force or record["due_at"] <= now):
                callbacks.extend(_complete(state, record))
    return callbacks


def simulate_transfer_completes(state: SandboxState, *, force: bool = False) -> int:
    """Complete every waiting transfer that is due (in-office after 24 h, resigned at once), or
    all of them with `force`; pushes the callbacks. Returns how many callbacks went out."""
    callbacks = _settle(state, force=force)
    for callback in callbacks:
        send(state, callback)
    return len(callbacks)


def simulate_transfer_refused(state: SandboxState, external_userid: str) -> None:
    """The customer refuses a waiting in-office transfer (status 3, transfer_fail customer_refused)."""
    with state.lock:
        record = next(
            (
                record
                for record in _data(state)["records"]
                if record["external_userid"] == external_userid and record["status"] == WAITING
            ),
            None,
        )
        if record is None:
            raise KeyError(f"no waiting transfer of {external_userid}")
        record["status"] = REFUSED
        callback = _transfer_fail(record["takeover_userid"], external_userid, "customer_refused")
    send(state, callback)


def _result(state: SandboxState, body: dict[str, Any], *, resigned: bool) -> dict[str, Any]:
    handover = require_staff(state, body.get("handover_userid"))
    takeover = require_staff(state, body.get("takeover_userid"))
    for callback in _settle(state):
        send(state, callback)
    after = decode_cursor(str(body.get("cursor") or ""))
    start = int(after[0]) if after else 0
    with state.lock:
        latest: dict[str, dict[str, Any]] = {}
        for record in _data(state)["records"]:
            if (
                record["handover_userid"] == handover
                and record["takeover_userid"] == takeover
                and record["resigned"] == resigned
            ):
                latest[record["external_userid"]] = record
        rows = sorted(latest.values(), key=lambda record: record["external_userid"])
        page = rows[start : start + RESULT_PAGE_SIZE]
        customers = [
            {
                "external_userid": record["external_userid"],
                "status": record["status"],
                "takeover_time": unix(record["takeover_time"]),
            }
            for record in page
        ]
    has_more = start + RESULT_PAGE_SIZE < len(rows)
    return ok(customer=customers, next_cursor=encode_cursor([start + RESULT_PAGE_SIZE]) if has_more else "")


def add_transfer_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    """Adds this area's endpoints to the WeCom router."""

    @router.post("/cgi-bin/externalcontact/transfer_customer")
    def transfer_customer(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        return _request(state, body, resigned=False)

    @router.post("/cgi-bin/externalcontact/resigned/transfer_customer")
    def resigned_transfer_customer(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        return _request(state, body, resigned=True)

    @router.post("/cgi-bin/externalcontact/transfer_result")
    def transfer_result(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        return _result(state, body, resigned=False)

    @router.post("/cgi-bin/externalcontact/resigned/transfer_result")
    def resigned_transfer_result(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        return _result(state, body, resigned=True)

    @router.post("/cgi-bin/externalcontact/get_unassigned_list")
    def get_unassigned_list(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        page_size = integer(body, "page_size", UNASSIGNED_MAX_PAGE)
        if not 1 <= page_size <= UNASSIGNED_MAX_PAGE:
            raise WeComApiError(errors.INVALID_PARAMETER, f"page_size must be 1..{UNASSIGNED_MAX_PAGE}")
        after = decode_cursor(str(body.get("cursor") or ""))
        start = int(after[0]) if after else 0
        with state.lock:
            resigned = dict(_data(state)["resigned"])
            index = contact_index(state)
            rows = [
                (userid, external_userid, resigned[userid])
                for userid in sorted(resigned)
                for external_userid in index.by_userid.get(userid, [])
            ]
        page = rows[start : start + page_size]
        is_last = start + page_size >= len(rows)
        return ok(
            info=[
                {"handover_userid": userid, "external_userid": external_userid, "dimission_time": unix(left)}
                for userid, external_userid, left in page
            ],
            is_last=is_last,
            next_cursor="" if is_last else encode_cursor([start + page_size]),
        )
