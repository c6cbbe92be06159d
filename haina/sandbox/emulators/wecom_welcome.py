"""What members and customers do in the WeCom app that matters to welcome messages, acted out on
the emulator (the endpoint itself, send_welcome_msg, lives in wecom_engage.py)."""

from __future__ import annotations

from typing import Any

from haina.sandbox.emulators.wecom_store import scratch
from haina.sandbox.state import SandboxState


def simulate_chat_started(state: SandboxState, welcome_code: str) -> None:
    """The member and the customer start chatting before our welcome message goes out: WeCom then
    answers 41051 to send_welcome_msg with this code."""
    with state.lock:
        scratch(state)["welcome_codes"][welcome_code].used = True


def welcome_messages(state: SandboxState) -> list[dict[str, Any]]:
    """What send_welcome_msg accepted, oldest first (a copy)."""
    with state.lock:
        return [dict(message) for message in scratch(state)["welcome_messages"]]
