"""Authorization-matrix samples of the image library routes (loaded by
tests/core/test_authorization_matrix.py): one picture per tenant, and a PNG to upload."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from tests.factories import TenantFixture


def png_bytes(width: int = 4, height: int = 3, color: tuple[int, int, int] = (22, 119, 255)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "image_id": lambda tenant: tenant.extra["image_id"],
}

BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/images"): lambda: {"files": {"media": ("a.png", png_bytes(), "image/png")}},
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    """One picture in the tenant's library (its colour differs per tenant, so no dedupe across)."""
    from haina.core.auth.actor import Actor
    from haina.engage.media import service

    actor = Actor(
        user_id=tenant.users["owner"],
        tenant_id=tenant.id,
        username=tenant.usernames["owner"],
        display_name="店长",
        role="owner",
    )
    with database.unit_of_work() as session:
        image = service.store_image(session, actor, "sample.png", png_bytes(5, 5), "image/png")
        tenant.extra["image_id"] = image.id
