"""A tenant connected to the sandbox's WeCom emulator over loopback HTTP, with the emulator's
callbacks pushed (synchronously) into Haina's real webhook path; shared by the tests of every
module that works against WeCom (tags mirror, engage).

    with serve(SandboxState(generate_world(7, 40))) as sandbox:
        with connected_corp(database, settings, tenant.id, sandbox) as corp:
            ...
            drain(database)   # run event deliveries until none is left
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import haina.connections.tasks  # noqa: F401 - the spine's push handlers
import haina.customers.tasks  # noqa: F401 - identity resolution (customer.resolved)
from haina.connections import service as connections
from haina.core import clock
from haina.core.database import Database
from haina.core.events import run_due
from haina.core.events.dispatcher import has_open_work
from haina.core.settings import Settings
from haina.sandbox.emulators.wecom import set_synchronous_push
from haina.sandbox.world import CorpTag, ExternalContact, World
from tests.platforms.live_sandbox import LiveSandbox


def drain(database: Database, rounds: int = 40) -> None:
    """Run the dispatcher until no work is left, moving the clock past any backoff."""
    for _ in range(rounds):
        run_due(database, limit=500)
        with database.session_factory() as session:
            if not has_open_work(session):
                return
        clock.advance(timedelta(minutes=5))
    raise AssertionError("events are still being delivered after many rounds (a loop?)")


@dataclass
class Corp:
    """A tenant connected to the emulator's corp, with callbacks pushed to Haina's webhook path."""

    sandbox: LiveSandbox
    tenant_id: str
    connection_id: str

    @property
    def world(self) -> World:
        return self.sandbox.state.world

    def corp_tag(self, name: str) -> CorpTag:
        return next(
            tag
            for group in self.world.tag_groups
            for tag in group.tags
            if tag.name == name and not tag.deleted
        )

    def contact(self, external_userid: str) -> ExternalContact:
        return next(c for c in self.world.contacts if c.external_userid == external_userid)

    def marked(self, external_userid: str, tag_id: str) -> list[bool]:
        """Whether each member following the contact carries the corp tag in WeCom."""
        return [tag_id in follow.tag_ids for follow in self.contact(external_userid).follow_users]


@contextmanager
def connected_corp(
    database: Database, settings: Settings, tenant_id: str, sandbox: LiveSandbox, *, first_crawl: bool = True
) -> Iterator[Corp]:
    """Connect the tenant to the sandbox's corp; with `first_crawl`, contacts are synced, stored
    and resolved into customers (and their corp tags adopted) before the block starts."""
    world = sandbox.state.world
    with database.unit_of_work() as session:
        connection = connections.create_connection(
            session,
            tenant_id,
            connections.NewConnection(
                platform="wecom",
                name="企业微信",
                app_key=world.corp_id,
                app_secret=world.corp_secret,
                base_url=sandbox.base_url("wecom"),
                extra={"callback_token": world.callback_token, "encoding_aes_key": world.callback_aes_key},
            ),
            settings,
        )
        connection_id = connection.id

    class Receiver(BaseHTTPRequestHandler):
        """Haina's webhook endpoint, as the web app runs it (service.receive_webhook)."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            query = dict(parse_qsl(urlsplit(self.path).query))
            with database.unit_of_work() as session:
                outcome = connections.receive_webhook(
                    session,
                    database,
                    settings,
                    "wecom",
                    connection_id,
                    "POST",
                    query,
                    dict(self.headers),
                    body,
                )
            self.send_response(outcome.status)
            self.end_headers()
            self.wfile.write(outcome.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox.state.push_targets["wecom"] = f"http://127.0.0.1:{server.server_address[1]}/webhooks/wecom/x"
    set_synchronous_push(sandbox.state, True)
    connections.bind_settings(database)
    try:
        if first_crawl:
            result = connections.run_sync(database, settings, connection_id, "contacts")
            assert result.status == "idle", result
            drain(database)
        yield Corp(sandbox, tenant_id, connection_id)
    finally:
        sandbox.state.push_targets.pop("wecom", None)
        server.shutdown()
        server.server_close()
