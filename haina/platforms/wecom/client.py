"""WeCom (企业微信) API client: the corp access_token (cached until it expires, fetched again on
40014/42001 and the call retried once), and `classify`, which turns WeCom's in-body `errcode`
into PlatformError / Throttled / AuthExpired (REFERENCE §1.1, §1.2, §1.6).

Retries, rate limits, failover and the circuit breaker are haina.platforms.http's.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from haina.core import clock
from haina.platforms.base import Credentials, Endpoint
from haina.platforms.http import (
    AuthExpired,
    PlatformError,
    PlatformHttp,
    RateLimiter,
    RetryPolicy,
    Sleep,
    Throttled,
)
from haina.platforms.reading import read_json
from haina.platforms.wecom import errors

PRODUCTION = Endpoint("https://qyapi.weixin.qq.com")
# Fetch a new token this long before WeCom says the old one expires.
TOKEN_MARGIN = timedelta(minutes=5)
# 45009 means "blocked for the rest of the minute" (REFERENCE §1.6).
THROTTLE_SECONDS = 60.0
HINTS = {
    errors.INVALID_SECRET: "check the customer-contact secret of this corp",
    errors.INVALID_CORPID: "check the corp id",
    errors.NO_API_PERMISSION: "grant the app customer-contact permission",
    60020: "add this server's IP to the app's trusted IPs",
}


def classify(response: httpx.Response) -> PlatformError | None:
    """WeCom's errors are HTTP 200 with a non-zero errcode; key on the code, never the text."""
    try:
        document = read_json(response.content)
    except PlatformError as error:
        return error
    if not isinstance(document, Mapping):
        return PlatformError("unexpected_answer", "the answer is not a JSON object")
    code = document.get("errcode", 0)
    if not isinstance(code, int) or isinstance(code, bool):
        return PlatformError("unexpected_answer", f"errcode is not a number: {code!r}")
    if code == errors.OK:
        return None
    message = str(document.get("errmsg") or errors.message_for(code)).split(", hint:")[0]
    if code in errors.BACK_OFF:
        return Throttled(code, message, THROTTLE_SECONDS)
    if code in errors.RETRY_LATER:
        return PlatformError(code, message, retryable=True)
    if code in errors.REFRESH_TOKEN_AND_RETRY:
        return AuthExpired(code, message)
    hint = HINTS.get(code)
    return PlatformError(code, f"{message}: {hint}" if hint else message)


class WeComClient:
    """Calls for one corp, authenticated with its customer-contact secret."""

    platform = "wecom"

    def __init__(
        self,
        credentials: Credentials,
        endpoint: Endpoint = PRODUCTION,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        self.corp_id = credentials.app_key
        self.shop_id = credentials.shop_id or credentials.app_key
        self._secret = credentials.app_secret
        self.http = PlatformHttp(
            endpoint.base_url,
            endpoint.backup_url,
            classify=classify,
            limiter=limiter,
            retry=retry,
            sleep=sleep,
            transport=transport,
            **options,
        )
        self._token = credentials.access_token
        # A token handed in has no known expiry: use it until WeCom refuses it.
        self._token_expires_at: datetime | None = None
        self._token_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # -- token -----------------------------------------------------------------------------

    def access_token(self, *, renew: bool = False) -> str:
        with self._token_lock:
            fresh = self._token and (self._token_expires_at is None or clock.now() < self._token_expires_at)
            if renew or not fresh:
                self._fetch_token()
            return self._token

    def _fetch_token(self) -> None:
        response = self.http.request(
            "GET", "/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}
        )
        document = read_json(response.content)
        token = document.get("access_token")
        expires_in = document.get("expires_in", 7200)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise PlatformError("unexpected_answer", "gettoken answered without an access_token")
        self._token = token
        self._token_expires_at = clock.now() + timedelta(seconds=expires_in) - TOKEN_MARGIN

    # -- calls -----------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, body=body)

    def _call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> dict[str, Any]:
        token = self.access_token()
        try:
            response = self.http.request(
                method, path, params={**(params or {}), "access_token": token}, json=body
            )
        except AuthExpired:
            # WeCom may end a token early: fetch another and try once more (REFERENCE §1.2).
            token = self.access_token(renew=True)
            response = self.http.request(
                method, path, params={**(params or {}), "access_token": token}, json=body
            )
        document = read_json(response.content)
        if not isinstance(document, dict):
            raise PlatformError("unexpected_answer", f"{path} did not answer a JSON object")
        return document

    def upload(
        self,
        path: str,
        params: Mapping[str, str],
        field: str,
        filename: str,
        content: bytes,
        content_type: str,
    ) -> dict[str, Any]:
        """POST one file as multipart/form-data (media/upload, media/upload_attachment), with the
        token, retries and error classification of every other call. WeCom's own example puts
        `filename` and `filelength` in the part's Content-Disposition (docs 90253)."""
        boundary = f"----haina{uuid.uuid4().hex}"
        # Quotes and line breaks would end the header early; the name is only informative.
        safe_name = "".join(ch for ch in filename if ch not in '"\\\r\n') or "upload"
        body = b"".join(
            (
                f"--{boundary}\r\n".encode(),
                (
                    f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"; '
                    f"filelength={len(content)}\r\n"
                ).encode(),
                f"Content-Type: {content_type or 'application/octet-stream'}\r\n\r\n".encode(),
                content,
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        token = self.access_token()
        try:
            response = self.http.request(
                "POST", path, params={**params, "access_token": token}, content=body, headers=headers
            )
        except AuthExpired:
            token = self.access_token(renew=True)
            response = self.http.request(
                "POST", path, params={**params, "access_token": token}, content=body, headers=headers
            )
        document = read_json(response.content)
        if not isinstance(document, dict):
            raise PlatformError("unexpected_answer", f"{path} did not answer a JSON object")
        return document

    # -- the calls the streams use ---------------------------------------------------------

    def follow_users(self) -> list[str]:
        """Members with customer-contact permission (externalcontact/get_follow_user_list)."""
        answer = self.get("/cgi-bin/externalcontact/get_follow_user_list")
        users = answer.get("follow_user") or []
        if not isinstance(users, list) or not all(isinstance(user, str) for user in users):
            raise PlatformError("unexpected_answer", "follow_user is not a list of userids")
        return users

    def contacts_of(self, userids: list[str], cursor: str, limit: int) -> tuple[list[object], str]:
        """One page of externalcontact/batch/get_by_user: the records and the next cursor."""
        answer = self.post(
            "/cgi-bin/externalcontact/batch/get_by_user",
            {"userid_list": userids, "cursor": cursor, "limit": limit},
        )
        return _list(answer, "external_contact_list"), _cursor(answer)

    def contact(self, external_userid: str) -> dict[str, Any]:
        """One customer with every member who follows them (externalcontact/get)."""
        answer = self.get("/cgi-bin/externalcontact/get", {"external_userid": external_userid})
        follows = _list(answer, "follow_user")
        cursor = _cursor(answer)
        while cursor:  # more than 500 followers
            more = self.get(
                "/cgi-bin/externalcontact/get", {"external_userid": external_userid, "cursor": cursor}
            )
            follows += _list(more, "follow_user")
            cursor = _cursor(more)
        return {**answer, "follow_user": follows}

    def group_chats(self, cursor: str, limit: int) -> tuple[list[object], str]:
        answer = self.post(
            "/cgi-bin/externalcontact/groupchat/list", {"status_filter": 0, "cursor": cursor, "limit": limit}
        )
        return _list(answer, "group_chat_list"), _cursor(answer)

    def group_chat(self, chat_id: str) -> object:
        answer = self.post("/cgi-bin/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})
        return answer.get("group_chat")

    def corp_tags(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> list[object]:
        """get_corp_tag_list: every live tag, or those of `tag_ids` / `group_ids` (with `deleted`)."""
        body: dict[str, Any] = {}
        if tag_ids:
            body["tag_id"] = tag_ids
        if group_ids:
            body["group_id"] = group_ids
        return _list(self.post("/cgi-bin/externalcontact/get_corp_tag_list", body), "tag_group")

    # -- the calls the WeCom tag mirror makes (haina.tags.wecom_sync) ------------------------------

    def mark_tag(
        self,
        userid: str,
        external_userid: str,
        *,
        add: list[str] | None = None,
        remove: list[str] | None = None,
    ) -> None:
        """externalcontact/mark_tag: corp tags on one member's customer (at least one list non-empty)."""
        body: dict[str, Any] = {"userid": userid, "external_userid": external_userid}
        if add:
            body["add_tag"] = add
        if remove:
            body["remove_tag"] = remove
        self.post("/cgi-bin/externalcontact/mark_tag", body)

    def add_corp_tag(
        self, names: list[str], *, group_id: str = "", group_name: str = "", order: int | None = None
    ) -> dict[str, Any]:
        """externalcontact/add_corp_tag into `group_id`, or a group named `group_name` (created or
        reused); returns the tag_group answered, with the new tags' ids."""
        body: dict[str, Any] = {"tag": [{"name": name} for name in names]}
        if group_id:
            body["group_id"] = group_id
        else:
            body["group_name"] = group_name
            if order is not None:
                body["order"] = order
        group = self.post("/cgi-bin/externalcontact/add_corp_tag", body).get("tag_group")
        if not isinstance(group, dict):
            raise PlatformError("unexpected_answer", "add_corp_tag answered without a tag_group")
        return group

    def edit_corp_tag(
        self, tag_or_group_id: str, *, name: str | None = None, order: int | None = None
    ) -> None:
        """externalcontact/edit_corp_tag: rename or reorder a tag or a tag group (by its id)."""
        body: dict[str, Any] = {"id": tag_or_group_id}
        if name is not None:
            body["name"] = name
        if order is not None:
            body["order"] = order
        self.post("/cgi-bin/externalcontact/edit_corp_tag", body)

    def del_corp_tag(self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None) -> None:
        """externalcontact/del_corp_tag: tags, or whole groups with their tags."""
        body: dict[str, Any] = {}
        if tag_ids:
            body["tag_id"] = tag_ids
        if group_ids:
            body["group_id"] = group_ids
        self.post("/cgi-bin/externalcontact/del_corp_tag", body)


def _list(answer: Mapping[str, Any], name: str) -> list[object]:
    value = answer.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlatformError("unexpected_answer", f"{name} is not a list")
    return value


def _cursor(answer: Mapping[str, Any]) -> str:
    cursor = answer.get("next_cursor") or ""
    if not isinstance(cursor, str):
        raise PlatformError("unexpected_answer", "next_cursor is not text")
    return cursor
