"""``GET /health``: is the service able to answer, and is its database reachable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kifu.kit.openapi import errors

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(description="`healthy`; the 503 answer says `unhealthy` and why")


@router.get(
    "/health",
    summary="Liveness and database reachability",
    response_model=Health,
    responses=errors((503, "DATABASE_UNAVAILABLE")),
)
async def health(request: Request) -> Any:
    """``{"status": "healthy"}``, or 503 with the reason when the database does not answer."""
    pool = request.app.state.pool
    try:
        async with pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the database means unhealthy
        return JSONResponse(
            {
                "status": "unhealthy",
                "code": "DATABASE_UNAVAILABLE",
                "message": f"database unreachable: {type(exc).__name__}",
            },
            status_code=503,
        )
    return {"status": "healthy"}
