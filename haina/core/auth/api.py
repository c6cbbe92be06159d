"""REST: tokens, the current user, and user management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from haina.core.auth import service
from haina.core.auth.actor import Actor
from haina.core.auth.models import User
from haina.core.auth.permissions import Permission, permissions_of
from haina.core.auth.repository import UserRepository
from haina.core.auth.schemas import (
    MeOut,
    TenantOut,
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserOut,
    UserUpdate,
)
from haina.core.auth.tokens import issue_access_token
from haina.core.settings import Settings
from haina.core.tenancy.models import Tenant
from haina.web.database import SessionDep, get_database, get_settings
from haina.web.security import PUBLIC, SignedIn, client_ip, require

router = APIRouter(prefix="/api/v1", tags=["auth"])

UsersReader = Annotated[Actor, require(Permission.USERS_READ)]
UsersManager = Annotated[Actor, require(Permission.USERS_MANAGE)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def user_out(session: Session, actor: Actor, user: User, settings: Settings) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        is_active=user.is_active,
        phone=service.user_phone_for(session, actor, user, settings),
        wecom_userid=user.wecom_userid,
        language=user.language,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@router.post("/auth/token", dependencies=[PUBLIC], response_model=TokenResponse)
def create_token(body: TokenRequest, request: Request, settings: SettingsDep) -> TokenResponse:
    """Exchange a username and password for a bearer token."""
    user = service.login(
        get_database(request),
        settings,
        body.username,
        body.password,
        ip=client_ip(request),
        tenant_slug=body.tenant,
    )
    token = issue_access_token(
        settings.secret_key, user_id=user.id, tenant_id=user.tenant_id, minutes=settings.access_token_minutes
    )
    return TokenResponse(access_token=token, expires_in=settings.access_token_minutes * 60)


@router.get("/me", response_model=MeOut)
def me(actor: SignedIn, session: SessionDep, settings: SettingsDep) -> MeOut:
    """The signed-in user, their tenant, role, data scope and permissions."""
    user = UserRepository(session, actor.tenant_id).get(actor.user_id)
    tenant = session.get(Tenant, actor.tenant_id)
    assert tenant is not None
    return MeOut(
        user=user_out(session, actor, user, settings),
        tenant=TenantOut(id=tenant.id, slug=tenant.slug, name=tenant.name),
        role=actor.role,
        data_scope=actor.scope.value,
        permissions=sorted(p.value for p in permissions_of(actor.role)),
    )


@router.get("/users", response_model=list[UserOut])
def list_users(
    actor: UsersReader,
    session: SessionDep,
    settings: SettingsDep,
    role: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[UserOut]:
    users = UserRepository(session, actor.tenant_id).list(role=role, limit=limit, offset=offset)
    return [user_out(session, actor, user, settings) for user in users]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, actor: UsersManager, session: SessionDep, settings: SettingsDep) -> UserOut:
    data = service.NewUser(**body.model_dump())
    user = service.create_user(session, actor.tenant_id, data, settings, actor=actor)
    return user_out(session, actor, user, settings)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: str, actor: UsersReader, session: SessionDep, settings: SettingsDep) -> UserOut:
    user = UserRepository(session, actor.tenant_id).get(user_id)
    return user_out(session, actor, user, settings)


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(
    user_id: str, body: UserUpdate, actor: UsersManager, session: SessionDep, settings: SettingsDep
) -> UserOut:
    user = service.update_user(session, actor, user_id, **body.model_dump())
    return user_out(session, actor, user, settings)
