"""Building archived chats at chosen times in the sandbox and pulling them (retention, insights
and schedule tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from haina.archive import tasks
from haina.sandbox.world import ChatMessage
from tests.archive.conftest import CORP_ID, Intake, add_keys


class Script:
    """Chat messages in seq order: `say(sender, to, when, text)`."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []

    def say(self, sender: str, to: str, when: datetime, text: str, msgtype: str = "text") -> str:
        seq = len(self.messages) + 1
        msgid = f"m{seq:05d}"
        content: dict[str, Any] = (
            {"content": text} if msgtype == "text" else {"md5sum": "x", "sdkfileid": f"f{seq}"}
        )
        self.messages.append(ChatMessage(seq, msgid, "send", sender, [to], "", when, msgtype, content, 1))
        return msgid


def load(database: Any, tenant: Any, sandbox: Any, intake: Intake, key_pairs: Any, script: Script) -> None:
    """Serve `script` from the sandbox's archive and pull it into `tenant`."""
    sandbox.state.world.messages = list(script.messages)
    add_keys(database, tenant, key_pairs, (1,))
    tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
