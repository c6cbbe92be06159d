"""Delivering WeCom callbacks: an event's XML, encrypted and signed with WXBizMsgCrypt, POSTed to
`state.push_targets["wecom"]` with msg_signature/timestamp/nonce in the query (REFERENCE §1.5,
§1.8). Like WeCom, a push counts as delivered on any HTTP 200 within 5 s and is tried 3 times.

Pushes go out from one background thread per sandbox, in the order they were made, so a request
that causes a push never waits for the receiver. `deliver()` sends synchronously (tests), and
`set_synchronous_push()` makes every push of a sandbox synchronous.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from haina.core import clock
from haina.platforms.wecom.crypto import WXBizMsgCrypt, cdata
from haina.sandbox.emulators.wecom_store import PLATFORM, scratch, unix
from haina.sandbox.state import SandboxState

PUSH_ATTEMPTS = 3
PUSH_TIMEOUT_SECONDS = 5.0
# [UNCONFIRMED] the 客户联系 built-in app has no agentid; the envelope carries an empty AgentID.
AGENT_ID = ""
# A worker thread with nothing to send for this long exits; the next push starts a new one.
WORKER_IDLE_SECONDS = 5.0
PUSH_LOG_LIMIT = 1000

FieldValue = str | int | list[str]


@dataclass(slots=True)
class Callback:
    """One event as WeCom would push it: `Event`, then its fields in document order."""

    event: str
    fields: list[tuple[str, FieldValue]]
    created_at: datetime = field(default_factory=clock.now)

    def value(self, name: str) -> FieldValue | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def to_xml(self, corp_id: str) -> str:
        header: list[tuple[str, FieldValue]] = [
            ("ToUserName", corp_id),
            ("FromUserName", "sys"),
            ("CreateTime", unix(self.created_at)),
            ("MsgType", "event"),
            ("Event", self.event),
        ]
        return "<xml>" + "".join(_element(name, value) for name, value in header + self.fields) + "</xml>"


def _element(name: str, value: FieldValue) -> str:
    if isinstance(value, int):
        return f"<{name}>{value}</{name}>"
    if isinstance(value, list):
        return f"<{name}>" + "".join(f"<Item>{cdata(item)}</Item>" for item in value) + f"</{name}>"
    return f"<{name}>{cdata(value)}</{name}>"


@dataclass(slots=True)
class PushResult:
    callback: Callback
    delivered: bool
    dropped: bool = False
    attempts: int = 0
    statuses: list[int | str] = field(default_factory=list)  # HTTP status or the transport error


def crypt_for(state: SandboxState) -> WXBizMsgCrypt:
    world = state.world
    return WXBizMsgCrypt(world.callback_token, world.callback_aes_key, world.corp_id)


def deliver(state: SandboxState, callback: Callback, retry_delay: float | None = None) -> PushResult:
    """Send one callback now, retrying like WeCom; the outcome is also appended to the push log."""
    url = state.push_targets.get(PLATFORM)
    if not url:
        result = PushResult(callback, delivered=False)
    elif state.faults.drop_push(PLATFORM):
        result = PushResult(callback, delivered=False, dropped=True)
    else:
        delay = scratch(state)["push_retry_delay"] if retry_delay is None else retry_delay
        result = _post(state, url, callback, delay)
    _log(state, url or "", result)
    return result


def _post(state: SandboxState, url: str, callback: Callback, retry_delay: float) -> PushResult:
    # One sealed envelope for every attempt: a retry is the same message again, which is what a
    # receiver deduplicates on.
    sealed = crypt_for(state).seal_event(
        callback.to_xml(state.world.corp_id),
        nonce=str(secrets.randbelow(10**10)),
        timestamp=str(unix(clock.now())),
        to_user_name=state.world.corp_id,
        agent_id=AGENT_ID,
    )
    # Merge, not replace: a Haina webhook URL may carry its own query (httpx's params= would drop it).
    target = httpx.URL(url).copy_merge_params(sealed.query)
    result = PushResult(callback, delivered=False)
    with httpx.Client(timeout=PUSH_TIMEOUT_SECONDS) as client:
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            result.attempts = attempt
            try:
                response = client.post(
                    target,
                    content=sealed.body.encode("utf-8"),
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                )
                result.statuses.append(response.status_code)
                if response.status_code == 200:
                    result.delivered = True
                    return result
            except httpx.HTTPError as error:
                result.statuses.append(type(error).__name__)
            if attempt < PUSH_ATTEMPTS and retry_delay > 0:
                time.sleep(retry_delay)
    return result


def _log(state: SandboxState, url: str, result: PushResult) -> None:
    entry = {
        "event": result.callback.event,
        "change_type": result.callback.value("ChangeType") or "",
        "url": url,
        "delivered": result.delivered,
        "dropped": result.dropped,
        "attempts": result.attempts,
        "statuses": list(result.statuses),
        "at": clock.now(),
    }
    with state.lock:
        log = scratch(state)["push_log"]
        log.append(entry)
        del log[:-PUSH_LOG_LIMIT]  # a long demo must not grow it without bound


class PushWorker:
    """Sends a sandbox's callbacks one after another from a background thread."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.queue: queue.Queue[Callback] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, callback: Callback) -> None:
        with self._lock:
            self.queue.put(callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wecom-push", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                callback = self.queue.get(timeout=WORKER_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self.queue.empty():
                        self._thread = None
                        return
                continue
            try:
                deliver(self.state, callback)
            except Exception:  # noqa: BLE001 - one bad push must not stop the ones behind it
                _log(self.state, "", PushResult(callback, delivered=False, statuses=["worker error"]))
            finally:
                self.queue.task_done()

    def wait(self, timeout: float) -> bool:
        """True once everything submitted so far has been sent (or given up on)."""
        deadline = time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.queue.all_tasks_done.wait(remaining)
        return True


def _worker(state: SandboxState) -> PushWorker:
    with state.lock:
        data = scratch(state)
        if "push_worker" not in data:
            data["push_worker"] = PushWorker(state)
        return data["push_worker"]


def send(state: SandboxState, callback: Callback) -> None:
    """Push a callback: in the background, or right away when the sandbox is synchronous."""
    if scratch(state)["synchronous_push"]:
        deliver(state, callback)
    else:
        _worker(state).submit(callback)


def set_synchronous_push(state: SandboxState, synchronous: bool = True) -> None:
    with state.lock:
        scratch(state)["synchronous_push"] = synchronous


def wait_for_pushes(state: SandboxState, timeout: float = 30.0) -> bool:
    """Block until the background pushes made so far are done; False if `timeout` passed first."""
    return _worker(state).wait(timeout)


def push_log(state: SandboxState) -> list[dict]:
    with state.lock:
        return list(scratch(state)["push_log"])
