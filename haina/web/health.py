from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from haina import __version__
from haina.web.security import PUBLIC

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[PUBLIC])
def healthz(request: Request) -> JSONResponse:
    """Liveness and database status; 503 when the database does not answer."""
    database = request.app.state.database
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        status = {
            "status": "ok",
            "database": "ok",
            "backend": database.engine.dialect.name,
            "version": __version__,
        }
        return JSONResponse(status)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return JSONResponse(
            {"status": "degraded", "database": f"error: {type(error).__name__}"}, status_code=503
        )
