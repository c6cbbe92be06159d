"""WeCom emulator: the contact book (通讯录) read endpoints, user/get (docs 90196) and
user/simplelist (docs 90200), served from `state.world.staff`.

Departments: department 1 is the root and holds every member; a member's own department (Staff
.department) is a direct child of it. With fetch_child=1 a department lists its sub-departments'
members too (so the root lists everyone); with 0, only members placed directly in it.

`set_contact_book_permission(state, False)` makes both endpoints answer 48002, as WeCom does to
an app that was not granted contact-book read permission (scratch key "contact_book_permission").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.platforms.wecom.users import INVALID_DEPARTMENT, ROOT_DEPARTMENT
from haina.sandbox.emulators.wecom_http import TokenGate, ok
from haina.sandbox.emulators.wecom_store import scratch
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Staff

KEY = "contact_book_permission"


def set_contact_book_permission(state: SandboxState, allowed: bool) -> None:
    """Whether the app may read the contact book (False: user/* answer 48002)."""
    with state.lock:
        scratch(state)[KEY] = allowed


def _require_permission(state: SandboxState) -> None:
    with state.lock:
        allowed = scratch(state).get(KEY, True)
    if not allowed:
        raise WeComApiError(errors.NO_API_PERMISSION)


def _departments(member: Staff) -> list[int]:
    return [member.department or ROOT_DEPARTMENT]


def _invalid_department(detail: str) -> WeComApiError:
    error = WeComApiError(INVALID_DEPARTMENT, detail)
    error.errmsg = f"invalid department: {detail}"
    return error


def add_users_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    @router.get("/cgi-bin/user/get")
    def get_user(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        _require_permission(state)
        userid = request.query_params.get("userid", "")
        if not userid:
            raise WeComApiError(errors.MISSING_USERID)
        member = next((staff for staff in state.world.staff if staff.userid == userid), None)
        if member is None:
            raise WeComApiError(errors.USERID_NOT_FOUND, userid)
        departments = _departments(member)
        return ok(
            userid=member.userid,
            name=member.name,
            department=departments,
            order=[0] * len(departments),
            position=member.position,
            mobile=member.mobile,
            main_department=departments[0],
            status=1,  # 1 activated
        )

    @router.get("/cgi-bin/user/simplelist")
    def simplelist(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        _require_permission(state)
        raw = request.query_params.get("department_id", "")
        try:
            department_id = int(raw)
        except ValueError:
            raise _invalid_department(raw or "department_id missing")
        known = {ROOT_DEPARTMENT} | {
            department for staff in state.world.staff for department in _departments(staff)
        }
        if department_id not in known:
            raise _invalid_department(str(department_id))
        fetch_child = request.query_params.get("fetch_child", "0") == "1"
        if department_id == ROOT_DEPARTMENT and fetch_child:
            members = list(state.world.staff)
        else:
            members = [staff for staff in state.world.staff if department_id in _departments(staff)]
        return ok(
            userlist=[
                {"userid": staff.userid, "name": staff.name, "department": _departments(staff)}
                for staff in members
            ]
        )
