"""Event handlers and periodic jobs of engage.groupcodes.

* `groupcodes.rotate` (every 30 s): each code's pool is read and its join way moved on to the
  next groups as groups fill (service.refresh) — the safety net, since WeCom's callbacks can be
  late or lost.
* `engage.groupcodes.chat_changed`: a change_external_chat callback (members joined or left,
  a group created or dismissed) refreshes at once the codes whose pool holds that group, so a
  full group leaves the QR code seconds after it fills.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.core.events import inbox
from haina.core.events.models import OutboxEvent
from haina.core.events.registry import registry
from haina.engage import schedule
from haina.engage.groupcodes import service
from haina.platforms.wecom.crypto import WeComCryptoError, xml_fields

CALLBACK_EVENT = inbox.received_event_type("wecom")


@schedule.periodic("groupcodes.rotate", seconds=30)
def rotate(session: Session, tenant_id: str) -> None:
    service.refresh_all(session, tenant_id)


def chat_changed(session: Session, event: OutboxEvent) -> None:
    """A stored WeCom callback: refresh the codes over the group it names, if it is a group's."""
    item = inbox.item_for_event(session, event)
    if item is None or not item.connection_id:
        return
    try:
        fields = xml_fields(item.payload)
    except WeComCryptoError:
        return  # the spine's handler dead-letters what cannot be read
    chat_id = fields.get("ChatId")
    if fields.get("Event") != "change_external_chat" or not isinstance(chat_id, str) or not chat_id:
        return
    service.chat_changed(session, item.tenant_id, item.connection_id, chat_id)


registry.add(CALLBACK_EVENT, "engage.groupcodes.chat_changed", chat_changed)
