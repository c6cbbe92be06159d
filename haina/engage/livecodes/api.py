"""REST: channel live codes (渠道活码) under /api/v1/engage/live-codes: list, create, read,
change, delete, statistics and the QR image. All need marketing.manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.livecodes import service
from haina.engage.livecodes.schemas import LiveCodeIn, LiveCodeListOut, LiveCodeOut, StatsOut
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage: live codes"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
LiveCodeId = Annotated[str, Path(max_length=32)]
BASE = "/api/v1/engage/live-codes"


@router.get(BASE, response_model=LiveCodeListOut)
def list_codes(actor: Manager, session: SessionDep) -> LiveCodeListOut:
    """Every live code with its adds in all and today."""
    counts = service.add_counts(session, actor.tenant_id)
    codes = service.list_codes(session, actor.tenant_id)
    return LiveCodeListOut(
        items=[LiveCodeOut.of(code, counts.get(code.id, (0, 0))) for code in codes], total=len(codes)
    )


@router.post(BASE, response_model=LiveCodeOut, status_code=201)
def create_code(body: LiveCodeIn, actor: Manager, session: SessionDep) -> LiveCodeOut:
    """A new code: a WeCom contact way sent to the pool's members on duty now (422 names the bad field)."""
    return LiveCodeOut.of(service.create_code(session, actor, body.to_input()))


@router.get(BASE + "/{live_code_id}", response_model=LiveCodeOut)
def get_code(live_code_id: LiveCodeId, actor: Manager, session: SessionDep) -> LiveCodeOut:
    counts = service.add_counts(session, actor.tenant_id)
    return LiveCodeOut.of(
        service.get_code(session, actor.tenant_id, live_code_id), counts.get(live_code_id, (0, 0))
    )


@router.put(BASE + "/{live_code_id}", response_model=LiveCodeOut)
def update_code(
    live_code_id: LiveCodeId, body: LiveCodeIn, actor: Manager, session: SessionDep
) -> LiveCodeOut:
    """Replace the code's settings; WeCom gets the new members at once. The state stays."""
    return LiveCodeOut.of(service.update_code(session, actor, live_code_id, body.to_input()))


@router.delete(BASE + "/{live_code_id}", status_code=204)
def delete_code(live_code_id: LiveCodeId, actor: Manager, session: SessionDep) -> Response:
    """Delete the code and its WeCom contact way (its adds stay in the statistics of history)."""
    service.delete_code(session, actor, live_code_id)
    return Response(status_code=204)


@router.get(BASE + "/{live_code_id}/stats", response_model=StatsOut)
def code_stats(live_code_id: LiveCodeId, actor: Manager, session: SessionDep) -> StatsOut:
    """Adds per day (30 days), per member, totals and 7/30-day retention. Scans are not known:
    WeCom does not report them."""
    return StatsOut.of(service.stats(session, actor.tenant_id, live_code_id))


@router.get(
    BASE + "/{live_code_id}/qr.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def code_qr(live_code_id: LiveCodeId, actor: Manager, session: SessionDep) -> Response:
    """The code's QR image with the merchant's logo, as a PNG attachment."""
    code, png = service.qr_png(session, actor.tenant_id, live_code_id)
    return Response(png, media_type="image/png", headers={"Content-Disposition": _attachment(code.state)})


def _attachment(state: str) -> str:
    return f'attachment; filename="live-code-{state}.png"'
