"""A tenant's WeCom corps and their API clients, for every module that calls WeCom on its own
behalf (tags mirror, engage operations).

One client per connection and credentials, shared by the process, so the access_token is
fetched once and every caller shares the connection's rate limit. Handlers run inside a
transaction: the client retries briefly in the call (`CALL_RETRY`), then the error goes to the
caller (the event dispatcher retries the delivery with backoff).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session

from haina.connections import limits
from haina.connections import service as connections
from haina.connections.models import Connection
from haina.platforms.http import RetryPolicy
from haina.platforms.wecom.client import WeComClient

PLATFORM = "wecom"
# A handler must not sleep for a minute inside its transaction: a short in-call retry, then the
# error goes to the dispatcher, which retries the delivery with backoff.
CALL_RETRY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.5, longest_requested_wait=1.0)

_clients: dict[tuple[str, ...], WeComClient] = {}
_clients_lock = threading.Lock()


@dataclass
class Corp:
    """One active WeCom connection of a tenant and its client."""

    connection: Connection
    corp_id: str
    client: WeComClient


def _client_for(session: Session, connection: Connection) -> tuple[str, WeComClient]:
    settings = connections.settings_for(session)
    connector = connections.connector_for(PLATFORM)
    credentials = connections.connector_credentials(connection, settings)
    endpoint = connections.endpoint_of(connection, connector)
    secret = hashlib.sha256(credentials.app_secret.encode()).hexdigest()
    key = (connection.id, endpoint.base_url, endpoint.backup_url, credentials.app_key, secret)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            for old in [k for k in _clients if k[0] == connection.id]:  # re-keyed or moved
                _clients.pop(old).close()
            limiter = limits.limiter_for(PLATFORM, connection.id, settings)
            client = WeComClient(credentials, endpoint, limiter=limiter, retry=CALL_RETRY)
            _clients[key] = client
    return credentials.app_key, client


def forget_clients() -> None:
    """Close and drop the cached clients (tests, and after credentials change)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def corps_of(session: Session, tenant_id: str) -> list[Corp]:
    """The tenant's active WeCom connections, each with a client."""
    found = []
    for connection in connections.list_connections(session, tenant_id):
        if connection.platform != PLATFORM or not connection.is_active:
            continue
        corp_id, client = _client_for(session, connection)
        found.append(Corp(connection, corp_id, client))
    return found


def corp_by_connection(session: Session, tenant_id: str, connection_id: str) -> Corp | None:
    """The active WeCom connection `connection_id` of the tenant, or None."""
    for corp in corps_of(session, tenant_id):
        if corp.connection.id == connection_id:
            return corp
    return None


def first_corp(session: Session, tenant_id: str) -> Corp | None:
    """The tenant's first active WeCom connection (most merchants have exactly one), or None."""
    corps = corps_of(session, tenant_id)
    return corps[0] if corps else None
