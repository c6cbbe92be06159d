"""Members of the corp's contact book (通讯录): user/get (docs 90196) and user/simplelist (docs
90200). Typed wrappers over a WeComClient; errors raise PlatformError (code = errcode).

Both need contact-book read permission for the app's visible range. An app without it is
answered 48002 (NO_API_PERMISSION); callers that only want names fall back to userids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from haina.platforms.http import PlatformError
from haina.platforms.wecom.client import WeComClient

ROOT_DEPARTMENT = 1
# [UNCONFIRMED] 60123 is WeCom's "invalid department" on the global error-code page as
# remembered, not a live check; kept here and in the emulator only.
INVALID_DEPARTMENT = 60123


@dataclass(frozen=True)
class User:
    userid: str
    name: str
    departments: tuple[int, ...] = ()
    position: str = ""
    mobile: str = ""


def _user(entry: Any) -> User:
    if not isinstance(entry, dict) or not isinstance(entry.get("userid"), str) or not entry["userid"]:
        raise PlatformError("unexpected_answer", f"a member without a userid: {entry!r}")
    departments = entry.get("department") or []
    if not isinstance(departments, list):
        departments = []
    return User(
        userid=entry["userid"],
        name=str(entry.get("name") or entry["userid"]),
        departments=tuple(d for d in departments if isinstance(d, int) and not isinstance(d, bool)),
        position=str(entry.get("position") or ""),
        mobile=str(entry.get("mobile") or ""),
    )


def get_user(client: WeComClient, userid: str) -> User:
    """One member (user/get); 60111 when the userid is unknown."""
    return _user(client.get("/cgi-bin/user/get", {"userid": userid}))


def department_users(
    client: WeComClient, department_id: int = ROOT_DEPARTMENT, *, fetch_child: bool = True
) -> list[User]:
    """The members of a department, with its sub-departments when `fetch_child` (user/simplelist).

    [UNCONFIRMED] WeCom has marked fetch_child as deprecated for newer apps; it is still sent and
    an answer that ignores it is accepted as it comes."""
    answer = client.get(
        "/cgi-bin/user/simplelist",
        {"department_id": str(department_id), "fetch_child": "1" if fetch_child else "0"},
    )
    users = answer.get("userlist") or []
    if not isinstance(users, list):
        raise PlatformError("unexpected_answer", "userlist is not a list")
    return [_user(entry) for entry in users]
