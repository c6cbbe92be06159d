"""What a running sandbox holds: the seeded world, fault plans, push targets and each emulator's
own mutable state (issued tokens, contact ways, welcome codes, TMC queues…).

Records change through `add()`/`touch()`, which notify subscribers; the emulators subscribe to
send their platform's push message for the change (to the URL in `push_targets`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haina.sandbox.faults import Faults
from haina.sandbox.world import World

Listener = Callable[[str, Any], None]


@dataclass
class SandboxState:
    world: World
    faults: Faults = field(default_factory=Faults)
    # platform → URL the emulator pushes to (a Haina webhook), or absent for no pushes
    push_targets: dict[str, str] = field(default_factory=dict)
    # per-emulator scratch space, keyed by platform name
    scratch: dict[str, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    lock: threading.RLock = field(default_factory=threading.RLock)
    _listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def notify(self, kind: str, record: Any) -> None:
        """Tell the emulators that `record` (an order, refund, contact… of `kind`) changed."""
        for listener in list(self._listeners):
            listener(kind, record)

    def add(self, kind: str, record: Any) -> None:
        """Append a new record to the world list named `kind` ('orders', 'contacts'…) and notify."""
        with self.lock:
            getattr(self.world, kind).append(record)
        self.notify(kind, record)
