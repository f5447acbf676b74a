"""`require_approval`: a human approves each call of an agent's tool before it runs.

The call's name and arguments go to the reviewers as the request's text and context; an approval runs
the function and returns its result, anything else (a rejection, the deadline passing, a cancel) raises
ApprovalDenied and the function never runs. Nobody answering means no: the default is "reject".
"""

import inspect
import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast

from openhitl.client import aio, sync
from openhitl.client.aio import AsyncClient
from openhitl.client.api import ASK_KEYWORDS, DEFAULT_ASK_TIMEOUT, AskOptions, Priority, one_spelling
from openhitl.client.errors import ApprovalDenied
from openhitl.client.models import Decision
from openhitl.client.sync import Client

P = ParamSpec("P")
R = TypeVar("R")
APPROVE = "approve"
REJECT = "reject"
CHOICES = [{"value": APPROVE, "label": "Approve"}, {"value": REJECT, "label": "Reject"}]


def call_arguments(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name, as JSON (values JSON cannot hold are shown by repr)."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return cast(dict[str, Any], json.loads(json.dumps(dict(bound.arguments), default=repr)))


def approval_question(name: str, arguments: dict[str, Any], text: str | None) -> str:
    shown = json.dumps(arguments, indent=2, ensure_ascii=False)
    return f"{text or f'Approve running `{name}`?'}\n\n```json\n{shown}\n```"


def approved(name: str, decision: Decision) -> None:
    if not (decision.answered and decision.value == APPROVE):
        raise ApprovalDenied(name, decision)


# What an approval decides for itself: the choices, the default, and what the request shows of the call.
APPROVAL_OWNED = frozenset(
    {"options", "multiple", "response_type", "response_config", "default", "default_response", "context"}
)


def require_approval(
    *,
    loop: str | None = None,
    client: Client | AsyncClient | None = None,
    text: str | None = None,
    timeout: int | None = None,
    priority: Priority = "medium",
    **request_fields: Any,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Ask `loop` before each call of the decorated function. `client` is a Client for a plain function,
    an AsyncClient for an async one, or by default one configured from OPENHITL_URL and OPENHITL_API_KEY;
    `text` replaces the question's first line. The API's names work too (`loop_id`, `request_text`,
    `timeout_seconds`), and other request fields (`title`, `tags`, `callback_url`, ...) go with the request."""
    given = {"loop": loop, "text": text, "timeout": timeout}
    given |= {long: request_fields.pop(long, None) for long in ("loop_id", "request_text", "timeout_seconds")}
    loop, text, timeout = (
        one_spelling(given, short, long, caller="require_approval()")
        for short, long in (("loop", "loop_id"), ("text", "request_text"), ("timeout", "timeout_seconds"))
    )
    if loop is None:
        raise TypeError("require_approval() needs the loop to ask: loop or loop_id")
    unknown = sorted(set(request_fields) - ASK_KEYWORDS)
    if unknown:
        raise TypeError(f"require_approval() got unexpected keyword arguments: {', '.join(unknown)}")
    owned = sorted(APPROVAL_OWNED & set(request_fields))
    if owned:
        raise TypeError(f"require_approval() sets {', '.join(owned)} itself: leave them out")
    asked_loop: str = loop
    extra = cast(AskOptions, request_fields)

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        name = function.__name__

        def ask(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, AskOptions]:
            arguments = call_arguments(function, args, kwargs)
            options: AskOptions = {
                "title": f"Approve {name}?",
                **extra,
                "options": CHOICES,
                "default": REJECT,
                "timeout": timeout if timeout is not None else DEFAULT_ASK_TIMEOUT,
                "priority": priority,
                "context": {"tool": name, "arguments": arguments},
            }
            return approval_question(name, arguments, text), options

        is_async = inspect.iscoroutinefunction(function)
        if client is not None and isinstance(client, AsyncClient) != is_async:
            raise TypeError(f"{name} needs {'an AsyncClient' if is_async else 'a Client'} to ask with")

        if is_async:

            @wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                question, options = ask(args, kwargs)
                async with aio.given_or_default(cast(AsyncClient | None, client)) as sdk:
                    approved(name, await sdk.ask(asked_loop, question, **options))
                return await cast(Callable[..., Awaitable[Any]], function)(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            question, options = ask(args, kwargs)
            with sync.given_or_default(cast(Client | None, client)) as sdk:
                approved(name, sdk.ask(asked_loop, question, **options))
            return function(*args, **kwargs)

        return run

    return decorate
