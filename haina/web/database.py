"""One unit of work per request: the session commits when the endpoint returns normally and rolls
back when it raises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from haina.core.database import Database
from haina.core.settings import Settings


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.unit_of_work() as session:
        yield session


# scope="function": the commit happens when the endpoint returns, before the response is sent,
# so a client that follows a redirect or reads its own write at once finds it. Every route and
# dependency uses this one alias, so a request has exactly one session.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
