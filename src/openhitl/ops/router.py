"""Probes for the balancer and the metrics scrape.

- `/livez`: the process is up and its event loop runs (the answer comes from the loop). Restart on failure.
- `/readyz`: the database answers, its schema is at the migrations' head, and the background tasks run.
  503 with the envelope, naming what is wrong, when not: take the replica out of rotation.
- `/metrics`: Prometheus text (see ops.metrics). With OPENHITL_METRICS_TOKEN set it wants that token as a
  Bearer token; without one, only loopback callers may scrape.
- `/health` (in app.py) stays as it was, for HITL.sh clients and old probes.
"""

import asyncio
import hmac
import ipaddress

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.errors import ApiError, Forbidden
from openhitl.kit.state import AppState
from openhitl.kit.uow import State
from openhitl.migrations import head_revision
from openhitl.ops.metrics import render

router = APIRouter(tags=["operations"])
READINESS_TIMEOUT_SECONDS = 5


class Probe(BaseModel):
    status: str


class NotReady(ApiError):
    status_code = 503


@router.get("/livez")
async def liveness() -> Envelope[Probe]:
    """The process is up and its event loop answers."""
    return ok(Probe(status="alive"), "Alive")


async def _database_problem(state: AppState) -> str | None:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS), state.db.read() as session:
            current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to read is "not ready"; the reason goes to the caller
        return f"database unreachable: {type(exc).__name__}"
    head = head_revision()
    if current != head:
        return f"database schema at {current}, migrations head is {head}: run `openhitl migrate`"
    return None


@router.get("/readyz", responses=error_responses(503))
async def readiness(request: Request, state: State) -> Envelope[Probe]:
    """Ready for traffic: database reachable and migrated, background tasks running."""
    problems = [p for p in [await _database_problem(state)] if p]
    background = getattr(request.app.state, "background", None)
    if background is not None:
        problems += [f"background task stopped: {name}" for name in background.stopped_tasks()]
    if problems:
        raise NotReady("Not ready", "; ".join(problems))
    return ok(Probe(status="ready"), "Ready")


def _may_scrape(request: Request, token: str | None) -> bool:
    if token:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(sent.encode(), token.encode())
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **error_responses(403)},
)
async def metrics(request: Request, state: State) -> Response:
    """Prometheus metrics of this process and of the database."""
    if not _may_scrape(request, state.settings.metrics_token):
        raise Forbidden(
            "Metrics are not public", "Scrape from loopback, or send OPENHITL_METRICS_TOKEN as a Bearer token"
        )
    return Response(await render(state), media_type="text/plain; version=0.0.4; charset=utf-8")
