"""WeCom (企业微信) emulator: the real API's paths under `/cgi-bin/...`, mounted by the sandbox
at `/sandbox/wecom`, so a client's base URL is `http://host:port/sandbox/wecom`.

Served (REFERENCE §1): gettoken; externalcontact list / get / batch/get_by_user /
get_follow_user_list / remark; get_corp_tag_list, add_corp_tag, edit_corp_tag, del_corp_tag,
mark_tag; add / get / update / del / list_contact_way (with a PNG QR code and, sandbox only, a scan
page); groupchat/list, groupchat/get, groupchat add / get / update / del_join_way
(wecom_join_ways); send_welcome_msg; add_msg_template and its follow-ups get_groupmsg_list_v2 /
get_groupmsg_task / get_groupmsg_send_result / remind / cancel (wecom_groupmsg); transfer_customer,
transfer_result, resigned/transfer_customer, resigned/transfer_result, get_unassigned_list
(wecom_transfer); message/send (wecom_app_messages); add_moment_task, get_moment_task_result,
get_moment_task, get_moment_customer_list, get_moment_list, cancel_moment_task (wecom_moments);
media/upload, media/upload_attachment and media/get, whose image media_ids the senders check
(wecom_media); the contact book's user/get and user/simplelist (wecom_users);
the OAuth code → userid exchange (auth/getuserinfo) for pages opened inside WeCom; and, sandbox
only, the archive pull `msgaudit/get_chat_data` (see wecom_archive). What members and customers
do in the WeCom app is acted out by the `simulate_*` functions of these modules.

Every endpoint asks the fault plan first (45009 or HTTP 500), then checks the access_token
(41001 missing, 40014 unknown, 42001 expired). Errors are HTTP 200 with errcode/errmsg.
Changes to the world push encrypted callbacks to `state.push_targets["wecom"]` (wecom_events,
wecom_push).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_app_messages import add_app_messages_routes
from haina.sandbox.emulators.wecom_archive import (
    SandboxDecryptor,
    add_archive_routes,
    generate_archive_key_pair,
    set_archive_public_key,
)
from haina.sandbox.emulators.wecom_contacts import add_contact_routes
from haina.sandbox.emulators.wecom_engage import add_engage_routes
from haina.sandbox.emulators.wecom_events import (
    simulate_add_contact,
    simulate_delete_contact,
    simulate_edit_contact,
    simulate_scan_contact_way,
    subscribe,
)
from haina.sandbox.emulators.wecom_groupmsg import add_groupmsg_routes
from haina.sandbox.emulators.wecom_http import TokenGate, WeComRoute, apply_faults, ok
from haina.sandbox.emulators.wecom_join_ways import add_join_ways_routes
from haina.sandbox.emulators.wecom_media import add_media_routes
from haina.sandbox.emulators.wecom_moments import add_moments_routes
from haina.sandbox.emulators.wecom_push import deliver, push_log, set_synchronous_push, wait_for_pushes
from haina.sandbox.emulators.wecom_store import (
    OAUTH_CODE_LIFETIME,
    TOKEN_LIFETIME,
    scratch,
    staff_by_userid,
)
from haina.sandbox.emulators.wecom_transfer import add_transfer_routes
from haina.sandbox.emulators.wecom_users import add_users_routes
from haina.sandbox.state import SandboxState

__all__ = [
    "SandboxDecryptor",
    "build_router",
    "deliver",
    "generate_archive_key_pair",
    "issue_oauth_code",
    "push_log",
    "revoke_tokens",
    "set_api_changes_push",
    "set_archive_public_key",
    "set_synchronous_push",
    "simulate_add_contact",
    "simulate_delete_contact",
    "simulate_edit_contact",
    "simulate_scan_contact_way",
    "wait_for_pushes",
]


def issue_token(state: SandboxState) -> tuple[str, int]:
    """The corp's access_token and its remaining seconds; a live token is handed out again."""
    now = clock.now()
    with state.lock:
        tokens = scratch(state)["tokens"]
        for token, expires_at in tokens.items():
            if expires_at > now:
                # [UNCONFIRMED] WeCom returns the same token within its validity; the remaining
                # lifetime (rather than a fresh 7200) is the sandbox's reading of that.
                return token, int((expires_at - now).total_seconds())
        token = secrets.token_urlsafe(96)
        tokens[token] = now + TOKEN_LIFETIME
        return token, int(TOKEN_LIFETIME.total_seconds())


def revoke_tokens(state: SandboxState) -> None:
    """Invalidate every token early, as WeCom may (callers then get 40014)."""
    with state.lock:
        scratch(state)["tokens"].clear()


def set_api_changes_push(state: SandboxState, enabled: bool) -> None:
    """Whether changes made through the API (mark_tag, add_corp_tag) also push callbacks."""
    with state.lock:
        scratch(state)["api_changes_push"] = enabled


def issue_oauth_code(state: SandboxState, userid: str) -> str:
    """An OAuth code for `userid`, single use, valid 5 minutes (auth/getuserinfo consumes it)."""
    code = secrets.token_urlsafe(24)
    with state.lock:
        scratch(state)["oauth_codes"][code] = (userid, clock.now() + OAUTH_CODE_LIFETIME)
    return code


def _add_auth_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    @router.get("/cgi-bin/gettoken")
    def gettoken(request: Request) -> dict[str, Any]:
        apply_faults(state)
        corpid = request.query_params.get("corpid", "")
        corpsecret = request.query_params.get("corpsecret", "")
        if not corpid:
            raise WeComApiError(errors.MISSING_CORPID)
        if not corpsecret:
            raise WeComApiError(errors.MISSING_SECRET)
        if corpid != state.world.corp_id:
            raise WeComApiError(errors.INVALID_CORPID)
        if not secrets.compare_digest(corpsecret.encode(), state.world.corp_secret.encode()):
            raise WeComApiError(errors.INVALID_SECRET)
        token, expires_in = issue_token(state)
        return ok(access_token=token, expires_in=expires_in)

    @router.get("/cgi-bin/auth/getuserinfo")
    def getuserinfo(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        code = request.query_params.get("code", "")
        if not code:
            raise WeComApiError(errors.MISSING_OAUTH_CODE)
        with state.lock:
            issued = scratch(state)["oauth_codes"].pop(code, None)
        if issued is None or clock.now() > issued[1]:
            raise WeComApiError(errors.INVALID_OAUTH_CODE)
        return ok(userid=issued[0])

    @router.get("/connect/oauth2/authorize")
    def authorize(request: Request) -> Response:
        # Sandbox stand-in for open.weixin.qq.com's page: the member is chosen with `userid`
        # (default: the first member) instead of WeCom's own login.
        params = request.query_params
        redirect_uri = params.get("redirect_uri", "")
        if params.get("appid") != state.world.corp_id or not redirect_uri:
            return PlainTextResponse("appid or redirect_uri is wrong", status_code=400)
        staff = staff_by_userid(state)
        userid = params.get("userid") or next(iter(staff), "")
        if userid not in staff:
            return PlainTextResponse(f"no member {userid!r}", status_code=400)
        parts = urlsplit(redirect_uri)
        extra = urlencode({"code": issue_oauth_code(state, userid), "state": params.get("state", "")})
        query = f"{parts.query}&{extra}" if parts.query else extra
        return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


def build_router(state: SandboxState) -> APIRouter:
    """Every WeCom endpoint for one sandbox; also starts pushing callbacks for its changes."""
    router = APIRouter(route_class=WeComRoute, tags=["sandbox wecom"])
    gate = TokenGate(state)
    _add_auth_routes(router, state, gate)
    add_contact_routes(router, state, gate)
    add_engage_routes(router, state, gate)
    add_join_ways_routes(router, state, gate)
    add_groupmsg_routes(router, state, gate)
    add_transfer_routes(router, state, gate)
    add_app_messages_routes(router, state, gate)
    add_moments_routes(router, state, gate)
    add_media_routes(router, state, gate)
    add_archive_routes(router, state, gate)
    add_users_routes(router, state, gate)
    subscribe(state)
    return router
