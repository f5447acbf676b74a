"""The `openhitl` command: results on stdout, logs on stderr."""

import asyncio
from typing import Annotated

import typer

from openhitl.client.commands import ask, loops_cli, requests_cli
from openhitl.config import Settings

cli = typer.Typer(
    help="OpenHITL: a self-hosted human-in-the-loop server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
api_key_cli = typer.Typer(help="Manage API keys.", no_args_is_help=True)
cli.add_typer(api_key_cli, name="api-key")
user_cli = typer.Typer(help="Manage accounts.", no_args_is_help=True)
cli.add_typer(user_cli, name="user")
# The caller's side, over the SDK (OPENHITL_URL, OPENHITL_API_KEY).
cli.add_typer(loops_cli, name="loops")
cli.add_typer(requests_cli, name="requests")
cli.command("ask")(ask)


def _settings() -> Settings:
    from openhitl.kit.logging import configure_logging

    settings = Settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


def where_the_database_is(settings: Settings) -> str:
    """The database a command opens, and the settings that chose it (a URL's password hidden)."""
    from sqlalchemy.engine import make_url

    if settings.database_url:
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        return f"{url} (from OPENHITL_DATABASE_URL)"
    data_dir = settings.data_dir.resolve()
    return (
        f"{data_dir / 'openhitl.db'} (OPENHITL_DATABASE_URL is unset: a SQLite file in "
        f"OPENHITL_DATA_DIR={settings.data_dir}, {data_dir})"
    )


def _migrate_here(settings: Settings) -> None:
    """Migrates in this process, and says so when that made a new database: run from another folder, or with
    other settings than the server's, a command would otherwise work on a database the server never reads."""
    from openhitl.migrations import upgrade

    if upgrade(settings.resolved_database_url):
        typer.echo(
            f"created a new database: {where_the_database_is(settings)}. A server started with other "
            "settings, or from another folder, does not see it: give this command the server's "
            "OPENHITL_DATA_DIR or OPENHITL_DATABASE_URL",
            err=True,
        )


@cli.command()
def migrate(
    quiet: Annotated[
        bool, typer.Option(hidden=True, help="Nothing on stderr when no database is made")
    ] = False,
) -> None:
    """Migrate the database to the newest schema."""
    settings = _settings()
    _migrate_here(settings)
    if not quiet:
        typer.echo("database is at the newest schema", err=True)


def _migrate_in_child() -> None:
    """`openhitl migrate` as a child process: alembic and mako never load into the long-running process."""
    import subprocess
    import sys

    migrated = subprocess.run([sys.executable, "-m", "openhitl", "migrate", "--quiet"], check=False)
    if migrated.returncode != 0:
        typer.echo("migrating the database failed; not starting", err=True)
        raise typer.Exit(migrated.returncode)


def listen_url(host: str, port: int) -> str:
    """The URL of this server as `serve` knows it: emails link there when OPENHITL_BASE_URL is unset."""
    import ipaddress
    import socket

    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()  # every interface: the machine's name is the best guess
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}"


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Migrate the database, then serve the API."""
    import uvicorn

    from openhitl.app import create_app
    from openhitl.kit.connections import default_max_connections, guarded_protocol

    settings = _settings()
    settings.listen_url = listen_url(host, port)
    _migrate_in_child()
    if not settings.smtp_url:
        _say_how_to_get_in(settings)
    app = create_app(settings, freeze_after_start=True)
    max_connections = settings.max_connections or default_max_connections()
    typer.echo(
        f"serving at most {max_connections} connections; a request's head must arrive within "
        f"{settings.client_header_timeout_seconds:g} s, its body within {settings.client_body_timeout_seconds:g} s",
        err=True,
    )
    # No access log: its logger is held at WARNING (kit/logging.py), and uvicorn would still build each line.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        access_log=False,
        http=guarded_protocol(
            header_timeout=settings.client_header_timeout_seconds,
            body_timeout=settings.client_body_timeout_seconds,
            max_connections=max_connections,
        ),
        ws="none",  # no route speaks WebSocket; an upgrade request is answered as plain HTTP
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
    )


def _say_how_to_get_in(settings: Settings) -> None:
    """No email leaves without SMTP, so sign-in links never arrive: when no account has a password either,
    nobody can sign in to the dashboard. One line tells the operator the command that gets them in."""
    from openhitl.accounts import repository
    from openhitl.runtime import open_database

    async def accounts_state() -> tuple[int, bool]:
        db = open_database(settings, pool_size=1)
        try:
            async with db.read() as session:
                return await repository.count_users(session), await repository.any_user_with_password(session)
        finally:
            await db.dispose()

    users, with_password = asyncio.run(accounts_state())
    if with_password:
        return
    if users:
        how = (
            "no account has a password and no SMTP server is set up (OPENHITL_SMTP_URL) to email sign-in "
            "links; run `openhitl login-link --email YOUR_EMAIL` for a link, then set a password in Settings"
        )
    else:
        how = (
            f"there is no account yet; the first to sign up at {settings.link_base_url}/signup gets in at once, "
            "or run `openhitl api-key create --email YOUR_EMAIL`, then `openhitl login-link --email YOUR_EMAIL`"
        )
    typer.echo(f"nobody can sign in to the dashboard yet: {how}", err=True)


def _read_new_password() -> str:
    """From the terminal without echo (asked twice), or the first line of a pipe."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != password:
        typer.echo("the two passwords differ; nothing changed", err=True)
        raise typer.Exit(2)
    return password


@cli.command("login-link")
def login_link(email: Annotated[str, typer.Option(help="The account's email")]) -> None:
    """Print a single-use sign-in link for an account (valid for OPENHITL_LOGIN_LINK_MINUTES), and only it."""
    from openhitl.accounts import service
    from openhitl.kit.clock import Clock
    from openhitl.kit.errors import ApiError
    from openhitl.runtime import open_database

    settings = _settings()
    _migrate_here(settings)

    async def make() -> str:
        db = open_database(settings, pool_size=1)
        try:
            async with db.write() as session:
                return await service.operator_login_link(
                    session, email=email, settings=settings, now=Clock().now()
                )
        finally:
            await db.dispose()

    try:
        url = asyncio.run(make())
    except ApiError as exc:
        typer.echo(f"{exc.msg}; {exc.data}" if isinstance(exc.data, str) else exc.msg, err=True)
        raise typer.Exit(1) from exc
    if not settings.base_url:
        typer.echo(
            f"the link assumes the server at {settings.link_base_url}; set OPENHITL_BASE_URL if it is elsewhere",
            err=True,
        )
    typer.echo(url)


@user_cli.command("set-password")
def user_set_password(email: Annotated[str, typer.Option(help="The account's email")]) -> None:
    """Set an account's password, read from stdin (typed without echo on a terminal, or piped)."""
    from openhitl.accounts import repository, service
    from openhitl.kit.clock import Clock
    from openhitl.kit.errors import ApiError
    from openhitl.runtime import open_database

    settings = _settings()
    address = email.strip().lower()
    password = _read_new_password()
    try:
        service.check_password(password)
    except ApiError as exc:
        typer.echo(f"{exc.data}; nothing changed", err=True)
        raise typer.Exit(2) from exc
    _migrate_here(settings)

    async def store() -> bool:
        password_hash = await service.hash_password_off_loop(password)
        db = open_database(settings, pool_size=1)
        try:
            async with db.write() as session:
                user = await repository.get_user_by_email(session, address)
                if user is None:
                    return False
                replaces = await service.check_password_change(
                    session, user_id=user.id, current_password=None, new_password=password
                )
                await service.store_password(
                    session,
                    user_id=user.id,
                    password_hash=password_hash,
                    replaces=replaces,
                    now=Clock().now(),
                )
                return True
        finally:
            await db.dispose()

    if not asyncio.run(store()):
        typer.echo(
            f"no account with the email {address}; make one with: openhitl api-key create --email {address}",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"password set for {address}", err=True)


@cli.command()
def worker() -> None:
    """Run only the background workers (outbox deliveries and deadlines), for scaled deployments."""
    import signal

    from openhitl.app import build_worker
    from openhitl.runtime import Background, build_state

    settings = _settings()
    _migrate_in_child()

    async def run() -> None:
        state = build_state(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await Background(state, worker=build_worker(state), streams=False).run_until(stop)
        finally:
            await state.db.dispose()

    typer.echo("worker started", err=True)
    asyncio.run(run())
    typer.echo("worker stopped", err=True)


@cli.command()
def openapi() -> None:
    """Print the OpenAPI document of the HTTP API."""
    import json
    import tempfile

    from openhitl.app import create_app

    with tempfile.TemporaryDirectory() as scratch:  # no database is opened; the app just needs a URL
        app = create_app(Settings(data_dir=scratch, secret_key="unused"))
        typer.echo(json.dumps(app.openapi(), indent=2, ensure_ascii=False))


@api_key_cli.command("create")
def api_key_create(
    email: Annotated[str, typer.Option(help="Owner's email; the user is created if needed")],
    name: Annotated[str, typer.Option(help="A name to recognise the key by")] = "default",
    permission: Annotated[
        list[str] | None,
        typer.Option(
            help="A permission the key gets (repeat for several); without any, every permission its owner has"
        ),
    ] = None,
) -> None:
    """Create an API key and print it (only the key) on stdout."""
    from openhitl.accounts import service
    from openhitl.kit.clock import Clock
    from openhitl.runtime import open_database

    settings = _settings()
    if "@" not in email or len(email) > 320:
        typer.echo(f"not an email address: {email!r}", err=True)
        raise typer.Exit(2)
    unknown = [p for p in permission or [] if p not in service.KNOWN_PERMISSIONS]
    if unknown:
        typer.echo(
            f"unknown permission {', '.join(unknown)}; valid ones: {', '.join(service.KNOWN_PERMISSIONS)}",
            err=True,
        )
        raise typer.Exit(2)
    # The owner may do everything through a browser session; a key from the command line may too unless narrowed.
    permissions = list(dict.fromkeys(permission)) if permission else list(service.KNOWN_PERMISSIONS)
    _migrate_here(settings)

    async def create() -> str:
        db = open_database(settings, pool_size=1)
        try:
            now = Clock().now()
            async with db.write() as session:
                user = await service.get_or_create_user(session, email=email, name=None, now=now)
                issued = await service.issue_api_key(
                    session,
                    user=user,
                    name=name,
                    secret_key=settings.resolved_secret_key,
                    now=now,
                    permissions=permissions,
                )
            return issued.secret
        finally:
            await db.dispose()

    typer.echo(asyncio.run(create()))


@cli.command("mcp")
def mcp_stdio() -> None:
    """Serve the MCP tools over stdio for an agent, acting for OPENHITL_API_KEY on OPENHITL_URL."""
    from openhitl.mcp_server.tools import run_stdio

    run_stdio()


def main() -> None:
    cli()
