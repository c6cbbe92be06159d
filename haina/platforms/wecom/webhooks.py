"""WeCom callbacks (REFERENCE §1.5): the GET URL check, whose answer is the decrypted `echostr`,
and POSTed events, whose `Encrypt` is checked against `msg_signature` and decrypted with the
connection's Token and EncodingAESKey (Credentials.extra "callback_token" and
"encoding_aes_key"; the receive id is the corp id).

`receive` answers "success" and hands back the decrypted event XML as one inbox item, keyed so a
redelivery of the same event is stored once; `parse` turns a stored event into canonical records.
An event that verifies but does not parse is still stored, and `parse` reports it as a bad
record (a RecordError), so nothing WeCom sent is lost unseen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from haina.platforms.base import Credentials, PushItem, WebhookAnswer, WebhookRejected
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.reading import RecordError
from haina.platforms.wecom.crypto import ReceiveIdError, WeComCryptoError, WXBizMsgCrypt, xml_fields
from haina.platforms.wecom.mapping import map_event

ACKNOWLEDGEMENT = b"success"
# The fields that tell one event from another of the same second (REFERENCE §1.5: dedupe on MsgId,
# or FromUserName + CreateTime for events, which alone would merge two events of one second).
EVENT_KEY_FIELDS = (
    "Event",
    "ChangeType",
    "UserID",
    "ExternalUserID",
    "ChatId",
    "Id",
    "UpdateDetail",
    "CreateTime",
)


def crypt_for(credentials: Credentials) -> WXBizMsgCrypt:
    token = credentials.extra.get("callback_token", "")
    key = credentials.extra.get("encoding_aes_key", "")
    if not token or not key:
        raise WebhookRejected("this connection has no callback Token and EncodingAESKey configured", 401)
    try:
        return WXBizMsgCrypt(token, key, credentials.app_key)
    except WeComCryptoError as error:
        raise WebhookRejected(f"the connection's EncodingAESKey is unusable: {error.message}", 401)


def receive(credentials: Credentials, method: str, query: Mapping[str, str], body: bytes) -> WebhookAnswer:
    """Verify one callback and answer it; raises WebhookRejected when it is not from WeCom for us."""
    crypt = crypt_for(credentials)
    signature = query.get("msg_signature", "")
    timestamp = query.get("timestamp", "")
    nonce = query.get("nonce", "")
    if not signature or not timestamp or not nonce:
        raise WebhookRejected("msg_signature, timestamp and nonce are required", 401)
    verb = method.upper()
    try:
        if verb == "GET":
            # base64 has no spaces: a '+' sent unencoded reads back as ' ' after URL decoding.
            echostr = query.get("echostr", "").replace(" ", "+")
            if not echostr:
                raise WebhookRejected("the URL check carries no echostr", 400)
            return WebhookAnswer(200, crypt.verify_url(signature, timestamp, nonce, echostr).encode("utf-8"))
        if verb != "POST":
            raise WebhookRejected(f"WeCom callbacks are GET or POST, not {verb}", 405)
        event = crypt.decrypt_message(body, signature, timestamp, nonce)
    except ReceiveIdError as error:
        raise WebhookRejected(f"the callback is for another corp: {error.message}", 403)
    except WeComCryptoError as error:
        raise WebhookRejected(f"{error.message} (WXBizMsgCrypt {error.code})", 401)
    return WebhookAnswer(200, ACKNOWLEDGEMENT, items=[push_item(credentials.app_key, event)])


def push_item(corp_id: str, event: str) -> PushItem:
    payload = event.encode("utf-8")
    try:
        fields = xml_fields(payload)
    except WeComCryptoError:
        return PushItem(f"wecom:{corp_id}:body:{hashlib.sha256(payload).hexdigest()}", payload)
    message_id = fields.get("MsgId")
    if isinstance(message_id, str) and message_id:
        return PushItem(f"wecom:{corp_id}:message:{message_id}", payload, message_id)
    parts = [value if isinstance(value := fields.get(name, ""), str) else "" for name in EVENT_KEY_FIELDS]
    if not parts[0] or not parts[-1]:
        # Every real event names its Event and CreateTime; without them the fields cannot tell
        # two malformed events apart, so the bytes do (a redelivery is the same bytes).
        return PushItem(f"wecom:{corp_id}:body:{hashlib.sha256(payload).hexdigest()}", payload)
    object_id = next((value for value in parts[3:6] if value), "")
    return PushItem(f"wecom:{corp_id}:event:" + ":".join(parts), payload, object_id)


def parse(payload: bytes, corp_id: str) -> list[CanonicalRecord]:
    """Records carried by one stored event; raises RecordError for a malformed one."""
    try:
        fields = xml_fields(payload)
    except WeComCryptoError as error:
        raise RecordError(f"the event is not XML: {error.message}")
    receiver = fields.get("ToUserName")
    if isinstance(receiver, str) and receiver and receiver != corp_id:
        raise RecordError(f"the event is for corp {receiver!r}, this connection is {corp_id!r}")
    return map_event(fields, corp_id)
