"""The caller's commands: `openhitl loops`, `openhitl requests` and `openhitl ask`, over the SDK.

Configured by OPENHITL_URL and OPENHITL_API_KEY. Results go to stdout, messages to stderr. `ask` exits by
outcome (EXIT_CODES) so a shell script can branch on what the human decided.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, cast

import typer
from pydantic import BaseModel

from openhitl.client.api import AskOptions, ResponseType
from openhitl.client.core import checked_id
from openhitl.client.errors import InvalidId, OpenHITLError
from openhitl.client.models import Decision
from openhitl.client.sync import Client

EXIT_ANSWERED = 0
EXIT_FAILED = 1  # the server refused the call, or could not be reached
EXIT_USAGE = 2  # bad arguments or missing configuration
EXIT_TIMED_OUT = 3  # nobody answered in time: the default answer is printed
EXIT_CANCELLED = 4  # the request was cancelled: the default answer is printed
EXIT_REJECTED = 5  # answered with one of the --reject values
EXIT_CODES = {"completed": EXIT_ANSWERED, "timeout": EXIT_TIMED_OUT, "cancelled": EXIT_CANCELLED}

loops_cli = typer.Typer(help="Loops you belong to (needs OPENHITL_API_KEY).", no_args_is_help=True)
requests_cli = typer.Typer(help="Requests you can read (needs OPENHITL_API_KEY).", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of lines of text")]


def an_id(value: str | None) -> str | None:
    """Refuses an argument that is not an id (24 hex characters) before anything is sent (exit code 2)."""
    if value is not None:
        try:
            checked_id("id", value)
        except InvalidId:
            raise typer.BadParameter(f"must be a 24-character hexadecimal id, got {value!r}") from None
    return value


@contextmanager
def connected() -> Iterator[Client]:
    """A client from the environment; server errors become a message on stderr and exit code 1."""
    client = Client()
    if not client.settings.api_key:
        typer.echo("set OPENHITL_API_KEY (and OPENHITL_URL if the server is not on 127.0.0.1:8000)", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        with client:
            yield client
    except OpenHITLError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def print_json(value: BaseModel | list[Any]) -> None:
    data = (
        [item.model_dump(mode="json") for item in value]
        if isinstance(value, list)
        else value.model_dump(mode="json")
    )
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_rows(rows: list[tuple[object, ...]]) -> None:
    for row in rows:
        typer.echo("\t".join(str(cell) for cell in row))


@loops_cli.command("list")
def loops_list(as_json: JsonFlag = False) -> None:
    """One line per loop: id, name, active members, your role."""
    with connected() as client:
        loops = client.list_loops()
    if as_json:
        print_json(loops)
    else:
        print_rows([(loop.id, loop.name, loop.member_count, loop.role) for loop in loops])


@loops_cli.command("create")
def loops_create(
    name: Annotated[str, typer.Argument(help="The loop's name")],
    icon: Annotated[str, typer.Option(help="A named icon or an emoji")] = "shield-check",
    description: Annotated[str | None, typer.Option(help="What the loop reviews")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a loop; prints its id, invite code and join link."""
    with connected() as client:
        created = client.create_loop(name, icon=icon, description=description)
    if as_json:
        print_json(created)
    else:
        print_rows([(created.loop.id, created.invite_code, created.join_url)])


@requests_cli.command("list")
def requests_list(
    status: Annotated[
        str | None, typer.Option(help="pending, claimed, completed, timeout, cancelled")
    ] = None,
    loop: Annotated[str | None, typer.Option(help="Only this loop's requests", callback=an_id)] = None,
    limit: Annotated[int, typer.Option(help="1-100")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """One line per request, newest first: id, status, priority, text."""
    with connected() as client:
        page = client.list_requests(status=status, loop_id=loop, limit=limit)
    if as_json:
        print_json(page.requests)
    else:
        print_rows(
            [(r.id, r.status, r.priority, r.request_text[:60].replace("\n", " ")) for r in page.requests]
        )


@requests_cli.command("get")
def requests_get(request_id: Annotated[str, typer.Argument(help="The request's id", callback=an_id)]) -> None:
    """The request as JSON."""
    with connected() as client:
        print_json(client.get_request(request_id))


@requests_cli.command("cancel")
def requests_cancel(
    request_id: Annotated[str, typer.Argument(help="The request's id", callback=an_id)],
    reason: Annotated[str | None, typer.Option(help="Kept with the request")] = None,
) -> None:
    """Cancel a pending or claimed request."""
    with connected() as client:
        cancelled = client.cancel_request(request_id, reason=reason)
    typer.echo(f"{cancelled.request_id} cancelled (was {cancelled.previous_status})")


def _split(values: str | None) -> list[str]:
    return [v.strip() for v in (values or "").split(",") if v.strip()]


def _default(value: str, response_type: str | None) -> Any:
    """--default as the question's type wants it: true/false and numbers for those types, else text."""
    if response_type not in ("boolean", "rating", "number"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise typer.BadParameter(
            f"a {response_type} default must be JSON, such as true or 3", param_hint="--default"
        ) from None


def describe(decision: Decision) -> str:
    if decision.answered:
        who = (
            decision.answered_by.name or decision.answered_by.email if decision.answered_by else "a reviewer"
        )
        return f"answered by {who} at {decision.answered_at:%Y-%m-%d %H:%M:%S %Z}"
    return {"timeout": "nobody answered in time", "cancelled": "the request was cancelled"}[
        decision.status
    ] + ("; the default answer is printed")


def ask(
    text: Annotated[str, typer.Argument(help="The question (Markdown)")],
    loop: Annotated[str, typer.Option("--loop", help="The loop's id", callback=an_id)],
    options: Annotated[str | None, typer.Option(help="Choices, comma-separated: Approve,Reject")] = None,
    response_type: Annotated[
        str | None, typer.Option("--type", help="text, boolean, rating, number, single_select, multi_select")
    ] = None,
    default: Annotated[
        str | None, typer.Option(help="The answer if nobody answers in time (default: the last option)")
    ] = None,
    timeout: Annotated[int, typer.Option(help="Seconds the human has, 60-86400")] = 3600,
    reject: Annotated[str | None, typer.Option(help="Answers that exit with code 5, comma-separated")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask the loop and wait for the decision. Prints the answer; exit code 0 answered, 1 error, 2 usage,
    3 timed out, 4 cancelled, 5 answered with a --reject value."""
    asking: AskOptions = {"timeout": timeout}
    if options:
        asking["options"] = _split(options)
    if response_type:
        asking["response_type"] = cast(ResponseType, response_type)
    if default is not None:
        asking["default"] = _default(default, response_type)
    with connected() as client:
        try:
            decision = client.ask(loop, text, **asking)
        except ValueError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        print_json(decision)
    else:
        value = decision.value
        typer.echo(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    typer.echo(describe(decision), err=True)
    if decision.answered and str(decision.value) in _split(reject):
        raise typer.Exit(EXIT_REJECTED)
    raise typer.Exit(EXIT_CODES[decision.status])
