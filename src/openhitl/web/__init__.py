"""The web app: the reviewer's phone-first screens and the owner's dashboard, rendered on the server."""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    """Static files and the pages. The pages come after the API, so an API path always wins."""
    from openhitl.web import dashboard, reviewer, shell
    from openhitl.web.pages import STATIC_DIR

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(shell.contract_pages)
    app.include_router(shell.router)
    app.include_router(reviewer.router)
    app.include_router(dashboard.router)
