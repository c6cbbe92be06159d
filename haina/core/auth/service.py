"""Logins, console sessions and user management."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.models import ConsoleSession, User
from haina.core.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    verify_against_dummy,
    verify_password,
)
from haina.core.auth.permissions import Role
from haina.core.auth.repository import UserRepository
from haina.core.crypto import FieldCipher, keyed_hash, mask_phone
from haina.core.database import Database
from haina.core.errors import Conflict, DomainError, InvalidInput, NotAuthenticated, NotFound, TooManyAttempts
from haina.core.settings import Settings
from haina.core.tenancy.models import Tenant

PHONE_CONTEXT = "users.phone"


def actor_for(user: User, *, via: str = "token", ip: str = "") -> Actor:
    return Actor(
        user_id=user.id,
        tenant_id=user.tenant_id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        via=via,
        ip=ip,
    )


def login(
    database: Database,
    settings: Settings,
    username: str,
    password: str,
    *,
    ip: str = "",
    tenant_slug: str | None = None,
) -> User:
    """Check a password; failures are counted and audited (committed even though the login then
    fails), and the account is locked for a while after too many of them."""
    with database.unit_of_work() as session:
        outcome = _check_login(session, settings, username, password, ip=ip, tenant_slug=tenant_slug)
        if isinstance(outcome, User):
            session.flush()
            session.expunge(outcome)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _check_login(
    session: Session, settings: Settings, username: str, password: str, *, ip: str, tenant_slug: str | None
) -> User | DomainError:
    tenant: Tenant | None = None
    if tenant_slug:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug, Tenant.is_active.is_(True)))
        if tenant is None:
            audit.record(
                session,
                "auth.login_failed",
                detail={"username": username[:64], "reason": "unknown_tenant"},
                outcome="denied",
                ip=ip,
            )
            return NotFound(f"unknown tenant '{tenant_slug}'", code="unknown_tenant")
    user = session.scalar(select(User).where(User.username == username).with_for_update())
    now = clock.now()
    wrong = NotAuthenticated("wrong username or password", code="bad_credentials")
    if user is None or not user.is_active or (tenant is not None and user.tenant_id != tenant.id):
        verify_against_dummy(password)
        audit.record(
            session,
            "auth.login_failed",
            detail={"username": username[:64], "reason": "unknown_user"},
            outcome="denied",
            ip=ip,
        )
        return wrong
    if user.locked_until and user.locked_until > now:
        audit.record(
            session,
            "auth.login_locked",
            tenant_id=user.tenant_id,
            target_type="user",
            target_id=user.id,
            outcome="denied",
            ip=ip,
        )
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return TooManyAttempts(
            f"account locked after repeated failures; try again in {minutes} min or ask an admin",
            code="account_locked",
        )
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
        audit.record(
            session,
            "auth.login_failed",
            tenant_id=user.tenant_id,
            target_type="user",
            target_id=user.id,
            outcome="denied",
            detail={"reason": "bad_password"},
            ip=ip,
        )
        return wrong
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, "auth.login", actor=actor_for(user, ip=ip))
    return user


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def open_console_session(session: Session, user: User, settings: Settings) -> tuple[str, ConsoleSession]:
    """A new console session; returns the raw cookie token (only its hash is stored)."""
    raw = secrets.token_urlsafe(32)
    console_session = ConsoleSession(
        token_hash=_hash_token(raw),
        tenant_id=user.tenant_id,
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=clock.now() + timedelta(hours=settings.session_hours),
    )
    session.add(console_session)
    session.flush()
    return raw, console_session


def find_console_session(session: Session, raw_token: str) -> tuple[User, ConsoleSession] | None:
    found = session.get(ConsoleSession, _hash_token(raw_token))
    if found is None or found.revoked_at is not None or found.expires_at <= clock.now():
        return None
    user = session.get(User, found.user_id)
    if user is None or not user.is_active:
        return None
    return user, found


def close_console_session(session: Session, raw_token: str) -> None:
    found = session.get(ConsoleSession, _hash_token(raw_token))
    if found is not None and found.revoked_at is None:
        found.revoked_at = clock.now()


@dataclass(frozen=True)
class NewUser:
    username: str
    display_name: str
    role: str
    password: str
    phone: str | None = None
    wecom_userid: str | None = None


def _validate_new_user(data: NewUser) -> None:
    if len(data.password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", code="weak_password"
        )
    if data.role not in {role.value for role in Role}:
        raise InvalidInput(
            f"unknown role '{data.role}'; use one of {', '.join(r.value for r in Role)}", code="unknown_role"
        )


def create_user(
    session: Session, tenant_id: str, data: NewUser, settings: Settings, *, actor: Actor | None = None
) -> User:
    """Create a login in `tenant_id`; the phone is stored encrypted with a keyed hash beside it."""
    _validate_new_user(data)
    if session.scalar(select(User.id).where(User.username == data.username)):
        raise Conflict(f"username '{data.username}' is taken", code="username_taken")
    users = UserRepository(session, tenant_id)
    user = User(
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        password_hash=hash_password(data.password),
        wecom_userid=data.wecom_userid,
    )
    if data.phone:
        set_user_phone(user, data.phone, settings)
    users.add(user)
    audit.record(
        session,
        "user.created",
        actor=actor,
        tenant_id=tenant_id,
        target_type="user",
        target_id=user.id,
        detail={"role": user.role},
    )
    return user


def set_user_phone(user: User, phone: str, settings: Settings) -> None:
    cipher = FieldCipher.from_spec(settings.encryption_keys)
    user.phone_encrypted = cipher.encrypt(phone, context=PHONE_CONTEXT)
    user.phone_hash = keyed_hash(phone, settings.hash_key)


def user_phone_for(session: Session, actor: Actor, user: User, settings: Settings) -> str | None:
    """The phone as this actor may see it: full (and the read audited) or masked."""
    if not user.phone_encrypted:
        return None
    phone = FieldCipher.from_spec(settings.encryption_keys).decrypt(
        user.phone_encrypted, context=PHONE_CONTEXT
    )
    if actor.may_see_pii:
        audit.record(session, "pii.read", actor=actor, target_type="user.phone", target_id=user.id)
        return phone
    return mask_phone(phone)


def update_user(
    session: Session,
    actor: Actor,
    user_id: str,
    *,
    role: str | None = None,
    display_name: str | None = None,
    is_active: bool | None = None,
    unlock: bool = False,
) -> User:
    user = UserRepository(session, actor.tenant_id).get(user_id)
    changes: dict[str, object] = {}
    if role is not None:
        if role not in {r.value for r in Role}:
            raise InvalidInput(f"unknown role '{role}'", code="unknown_role")
        if user.id == actor.user_id and role != user.role:
            raise InvalidInput("you cannot change your own role", code="own_role")
        changes["role"] = role
        user.role = role
    if display_name is not None:
        changes["display_name"] = display_name
        user.display_name = display_name
    if is_active is not None:
        if user.id == actor.user_id and not is_active:
            raise InvalidInput("you cannot deactivate yourself", code="own_account")
        changes["is_active"] = is_active
        user.is_active = is_active
    if unlock:
        user.locked_until = None
        user.failed_logins = 0
        changes["unlocked"] = True
    session.flush()
    audit.record(session, "user.updated", actor=actor, target_type="user", target_id=user.id, detail=changes)
    return user


def reencrypt_user_phones(session: Session, settings: Settings) -> int:
    """Re-encrypt phones stored under an older key with the current one; returns how many."""
    cipher = FieldCipher.from_spec(settings.encryption_keys)
    count = 0
    for user in session.scalars(select(User).where(User.phone_encrypted.is_not(None))):
        if user.phone_encrypted and cipher.needs_reencryption(user.phone_encrypted):
            plain = cipher.decrypt(user.phone_encrypted, context=PHONE_CONTEXT)
            user.phone_encrypted = cipher.encrypt(plain, context=PHONE_CONTEXT)
            count += 1
    session.flush()
    return count
