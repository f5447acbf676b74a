"""The owner's dashboard under /dashboard: loops, requests, analytics and settings."""

from fastapi import APIRouter

from openhitl.web.dashboard import analytics, home, loops, requests, settings

router = APIRouter()
for part in (home, loops, analytics, requests, settings):
    router.include_router(part.router)
