"""Event handlers of engage.welcome: a raw WeCom callback announcing a new customer with a
WelcomeCode → the welcome message goes out at once (the code lives 20 s).

The handler reads the stored callback itself (not the spine's contact.added, which comes later,
after storing and identity resolution) so it never waits on other handlers.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.connections.wecom_corps import corp_by_connection
from haina.core.events import inbox
from haina.core.events.models import OutboxEvent
from haina.core.events.registry import registry
from haina.engage.welcome import service
from haina.platforms.wecom.crypto import WeComCryptoError, xml_fields

CALLBACK_EVENT = inbox.received_event_type("wecom")
ADD_CHANGES = frozenset({"add_external_contact", "add_half_external_contact"})


def _text(fields: dict[str, str | list[str]], name: str) -> str:
    value = fields.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def callback_received(session: Session, event: OutboxEvent) -> None:
    """A stored WeCom callback: send the welcome message if it carries a WelcomeCode."""
    item = inbox.item_for_event(session, event)
    if item is None or not item.connection_id:
        return
    try:
        fields = xml_fields(item.payload)
    except WeComCryptoError:
        return  # the spine's handler dead-letters what cannot be read
    if _text(fields, "Event") != "change_external_contact" or _text(fields, "ChangeType") not in ADD_CHANGES:
        return
    code = _text(fields, "WelcomeCode")
    userid = _text(fields, "UserID")
    external_userid = _text(fields, "ExternalUserID")
    if not code or not userid or not external_userid:
        return  # no code: WeCom sends its own (admin-configured) welcome, or they already chat
    corp = corp_by_connection(session, item.tenant_id, item.connection_id)
    if corp is None:
        return
    receiver = _text(fields, "ToUserName")
    if receiver and receiver != corp.corp_id:
        return  # another corp's event: the spine dead-letters it
    service.send_welcome(
        session,
        item.tenant_id,
        corp,
        service.AddCallback(
            corp_id=corp.corp_id,
            staff_userid=userid,
            external_userid=external_userid,
            state=_text(fields, "State"),
            welcome_code=code,
            received_at=item.received_at,
        ),
    )


registry.add(CALLBACK_EVENT, "engage.welcome.send", callback_received)
