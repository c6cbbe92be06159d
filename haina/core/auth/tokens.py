"""API bearer tokens: HS256 JWTs signed with the secret key, carrying user, tenant and expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt

from haina.core import clock
from haina.core.errors import NotAuthenticated

ISSUER = "haina"


def issue_access_token(secret: str, *, user_id: str, tenant_id: str, minutes: int) -> str:
    issued = clock.now()
    claims = {
        "iss": ISSUER,
        "sub": user_id,
        "tid": tenant_id,
        "typ": "access",
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_access_token(secret: str, token: str) -> dict[str, Any]:
    """The claims of a valid token; NotAuthenticated with the reason otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "tid", "iat"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError as error:
        raise NotAuthenticated(
            f"invalid access token ({error}); request a new one at POST /api/v1/auth/token",
            code="invalid_token",
        )
    # Expiry and issue time checked against the app clock, not the machine's (PyJWT would use
    # the machine's), so a token issued after the clock moved is valid and tests can move time.
    now = int(clock.now().timestamp())
    if int(claims["iat"]) > now + 60:
        raise NotAuthenticated("access token issued in the future", code="invalid_token")
    if int(claims["exp"]) <= now:
        raise NotAuthenticated(
            "access token expired; request a new one at POST /api/v1/auth/token", code="token_expired"
        )
    if claims.get("typ") != "access":
        raise NotAuthenticated("not an access token", code="invalid_token")
    return claims
