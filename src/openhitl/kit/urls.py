"""Public URLs: OPENHITL_BASE_URL when set, else the address the caller reached us by."""

from fastapi import Request

from openhitl.config import Settings


def public_base_url(request: Request, settings: Settings) -> str:
    if settings.base_url:
        return settings.base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def join_url(base_url: str, invite_code: str) -> str:
    return f"{base_url}/join/{invite_code}"


def qr_code_url(base_url: str, invite_code: str) -> str:
    return f"{base_url}/qr/{invite_code}.png"
