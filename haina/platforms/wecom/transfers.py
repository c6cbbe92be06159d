"""Customer handover endpoints (在职继承 92125, 离职继承 92124, get_unassigned_list 92273).

Typed wrappers over a WeComClient; errors raise PlatformError (code = errcode). Each call takes
at most MAX_CUSTOMERS_PER_CALL customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from haina.platforms.wecom.client import WeComClient

MAX_CUSTOMERS_PER_CALL = 100
MAX_MESSAGE_LENGTH = 200
UNASSIGNED_PAGE_SIZE = 1000

# transfer_result's status per customer
STATUS_DONE = 1  # 接替完毕
STATUS_WAITING = 2  # 等待接替
STATUS_REFUSED = 3  # 客户拒绝
STATUS_TAKEOVER_FULL = 4  # 接替成员客户达到上限
STATUS_NO_RECORD = 5  # 无接替记录


@dataclass(frozen=True)
class TransferOutcome:
    external_userid: str
    errcode: int


@dataclass(frozen=True)
class TransferStatus:
    external_userid: str
    status: int
    takeover_time: datetime | None


@dataclass(frozen=True)
class Unassigned:
    handover_userid: str
    external_userid: str
    dimission_time: datetime | None


def _time(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def transfer_customers(
    client: WeComClient,
    handover_userid: str,
    takeover_userid: str,
    external_userids: list[str],
    *,
    resigned: bool = False,
    message: str = "",
) -> list[TransferOutcome]:
    """Ask WeCom to move ≤100 customers; one errcode per customer (0 = accepted)."""
    if len(external_userids) > MAX_CUSTOMERS_PER_CALL:
        raise ValueError(f"at most {MAX_CUSTOMERS_PER_CALL} customers per call")
    body: dict[str, Any] = {
        "handover_userid": handover_userid,
        "takeover_userid": takeover_userid,
        "external_userid": list(external_userids),
    }
    if message and not resigned:
        body["transfer_success_msg"] = message[:MAX_MESSAGE_LENGTH]
    path = (
        "/cgi-bin/externalcontact/resigned/transfer_customer"
        if resigned
        else "/cgi-bin/externalcontact/transfer_customer"
    )
    answer = client.post(path, body)
    return [
        TransferOutcome(str(item.get("external_userid", "")), int(item.get("errcode", 0) or 0))
        for item in answer.get("customer") or []
        if isinstance(item, dict)
    ]


def transfer_results(
    client: WeComClient, handover_userid: str, takeover_userid: str, *, resigned: bool = False
) -> list[TransferStatus]:
    """Every customer of this handover pair and their status, all pages."""
    path = (
        "/cgi-bin/externalcontact/resigned/transfer_result"
        if resigned
        else "/cgi-bin/externalcontact/transfer_result"
    )
    found: list[TransferStatus] = []
    cursor = ""
    for _ in range(10_000):
        answer = client.post(
            path, {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor}
        )
        for item in answer.get("customer") or []:
            if isinstance(item, dict):
                found.append(
                    TransferStatus(
                        str(item.get("external_userid", "")),
                        int(item.get("status", 0) or 0),
                        _time(item.get("takeover_time")),
                    )
                )
        cursor = str(answer.get("next_cursor") or "")
        if not cursor:
            break
    return found


def unassigned_customers(client: WeComClient) -> list[Unassigned]:
    """Customers of members who left, still waiting for a new member (离职待分配), all pages."""
    found: list[Unassigned] = []
    cursor = ""
    for _ in range(10_000):
        answer = client.post(
            "/cgi-bin/externalcontact/get_unassigned_list",
            {"cursor": cursor, "page_size": UNASSIGNED_PAGE_SIZE},
        )
        for item in answer.get("info") or []:
            if isinstance(item, dict):
                found.append(
                    Unassigned(
                        str(item.get("handover_userid", "")),
                        str(item.get("external_userid", "")),
                        _time(item.get("dimission_time")),
                    )
                )
        cursor = str(answer.get("next_cursor") or "")
        if answer.get("is_last") or not cursor:
            break
    return found


def customers_of_member(client: WeComClient, userid: str) -> list[str]:
    """externalcontact/list: the external_userids a member follows."""
    answer = client.get("/cgi-bin/externalcontact/list", {"userid": userid})
    return [str(item) for item in answer.get("external_userid") or []]
