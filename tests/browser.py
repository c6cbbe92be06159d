"""What the browser tests share: the Chromium binary, a real uvicorn server on a free loopback
port, the launch flags of this machine, signing in through the login page, and where
screenshots go ($HAINA_SCREENSHOT_DIR or the test's tmp directory)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="the Debian chromium binary (/usr/bin/chromium) is not installed"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Any, *, start_seconds: float = 20, stop_seconds: float = 10) -> Iterator[str]:
    """Run `app` under uvicorn on its own thread; yields the base URL, stops on exit."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=stop_seconds)


def screenshot_dir(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("HAINA_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def launch(playwright: Any) -> Any:
    """Headless Chromium with the flags this machine needs."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)


def sign_in(page: Any, url: str, username: str, password: str, next_path: str) -> None:
    """Sign in through the login page, landing on `next_path`."""
    page.goto(url + "/login?next=" + quote(next_path))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
