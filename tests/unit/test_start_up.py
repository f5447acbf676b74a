"""What the server loads at start-up: every MiB imported is held by each replica for its whole life."""

import subprocess
import sys
from pathlib import Path

# Loaded when first used: migrating (alembic, mako), MCP calls, Web Push (cryptography, py_vapid, pywebpush),
# QR codes (segno).
LOADED_ON_FIRST_USE = {"alembic", "mako", "mcp", "cryptography", "py_vapid", "pywebpush", "segno"}


def test_the_app_is_built_without_what_only_some_callers_use(tmp_path: Path) -> None:
    check = (
        "import sys; from openhitl.app import create_app; from openhitl.config import Settings; "
        f"create_app(Settings(data_dir={str(tmp_path)!r}, secret_key='unused')); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(LOADED_ON_FIRST_USE)!r})))"
    )
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert (loaded.returncode, loaded.stdout) == (0, "[]\n"), loaded.stderr


def test_serve_freezes_what_start_up_made_out_of_the_collectors_sight(tmp_path: Path) -> None:
    """`openhitl serve` builds its app with freeze_after_start: full collections skip the start-up objects."""
    check = f"""
import asyncio, gc
from openhitl.app import create_app
from openhitl.config import Settings
from openhitl.migrations import upgrade

settings = Settings(data_dir={str(tmp_path)!r}, secret_key="unused")
upgrade(settings.resolved_database_url)
for freeze in (False, True):
    app = create_app(settings, freeze_after_start=freeze)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            print(freeze, gc.get_freeze_count() > 100_000)

    asyncio.run(start())
"""
    started = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert (started.returncode, started.stdout) == (0, "False False\nTrue True\n"), started.stderr


def test_start_up_says_where_links_in_emails_point(tmp_path: Path) -> None:
    """Emails never link to a request's Host: to OPENHITL_BASE_URL, or else where `serve` listens, said once."""
    from structlog.testing import capture_logs

    from openhitl.app import say_where_links_go
    from openhitl.cli import listen_url
    from openhitl.config import Settings

    listening = Settings(data_dir=tmp_path, secret_key="unused")
    listening.listen_url = listen_url("127.0.0.1", 9000)
    configured = Settings(data_dir=tmp_path, secret_key="unused", base_url="https://hitl.example.com/")
    with capture_logs() as logs:
        say_where_links_go(listening)
        say_where_links_go(configured)
    assert [(log["log_level"], log["base_url"]) for log in logs] == [
        ("warning", "http://127.0.0.1:9000"),
        ("info", "https://hitl.example.com"),
    ]
    assert "OPENHITL_BASE_URL is not set" in logs[0]["event"]
    assert listen_url("::1", 8000) == "http://[::1]:8000"
    assert Settings(data_dir=tmp_path, secret_key="unused").link_base_url == "http://127.0.0.1:8000"
