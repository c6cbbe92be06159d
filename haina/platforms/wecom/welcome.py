"""Typed wrappers of the WeCom calls welcome messages use (REFERENCE §1.3).

* `send_welcome_msg`: the callback's single-use WelcomeCode (valid once, 20 s) with a text and at
  most 9 attachments (image / link / miniprogram). Errors raise PlatformError with `.code`:
  41050 expired or unknown code, 41051 member and customer already chatting, 41096 the code is
  being distributed.
* `customer_name`: the customer's WeChat name from externalcontact/get.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from haina.platforms.wecom.client import WeComClient

MAX_ATTACHMENTS = 9


def send_welcome_msg(
    client: WeComClient, welcome_code: str, text: str, attachments: Sequence[dict[str, Any]] = ()
) -> None:
    """Send a welcome message with the code from an add_external_contact callback."""
    body: dict[str, Any] = {"welcome_code": welcome_code}
    if text:
        body["text"] = {"content": text}
    if attachments:
        body["attachments"] = list(attachments)[:MAX_ATTACHMENTS]
    client.post("/cgi-bin/externalcontact/send_welcome_msg", body)


def customer_name(client: WeComClient, external_userid: str) -> str:
    """The customer's name as WeChat shows it ("" if WeCom gives none)."""
    answer = client.get("/cgi-bin/externalcontact/get", {"external_userid": external_userid})
    contact = answer.get("external_contact")
    name = contact.get("name") if isinstance(contact, dict) else None
    return name if isinstance(name, str) else ""
