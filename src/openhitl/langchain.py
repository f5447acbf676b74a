"""LangChain and LangGraph: a tool that asks a human, and LangGraph `interrupt`s answered by one.

Needs the `langchain` extra (`pip install openhitl[langchain]`); the server never imports this module.

- `ask_human_tool(loop=…)`: a LangChain tool an agent calls with a question (and optional choices); it
  blocks until a reviewer answers or the request times out, and returns the answer as text.
- `invoke_with_human(graph, input, config, loop=…)`: runs a LangGraph graph; every `interrupt(value)` it
  reaches becomes an OpenHITL request, and the graph resumes with the human's answer (or the request's
  default, if nobody answers in time). `value` is the question as a string, or a dict with `question`
  and any `ask` option (`options`, `response_type`, `default`, `timeout`, …); its other keys go to the
  reviewer as context.
"""

from typing import Any, TypeAlias

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.pregel import Pregel
from langgraph.types import Command
from pydantic import BaseModel, Field

from openhitl.client import aio, sync
from openhitl.client.aio import AsyncClient
from openhitl.client.api import AskOptions
from openhitl.client.models import Decision
from openhitl.client.sync import Client

Graph: TypeAlias = "Pregel[Any, Any, Any, Any]"
ASK_KEYS = (
    "options",
    "multiple",
    "response_type",
    "response_config",
    "default",
    "timeout",
    "priority",
    "title",
)


class HumanQuestion(BaseModel):
    question: str = Field(description="What to ask the human, with the context they need to answer")
    options: list[str] | None = Field(None, description="Choices, if the human should pick one")


def answer_text(decision: Decision) -> str:
    """A decision as an agent should read it."""
    if decision.answered:
        who = decision.answered_by.name if decision.answered_by else "The human"
        return f"{who or 'The human'} answered: {decision.value}"
    why = "nobody answered in time" if decision.status == "timeout" else "the question was cancelled"
    return f"No human answer ({why}); the default answer is: {decision.value}"


def ask_human_tool(
    *,
    loop: str,
    client: Client | None = None,
    async_client: AsyncClient | None = None,
    timeout: int = 3600,
    name: str = "ask_human",
) -> BaseTool:
    """A tool that asks the loop's reviewers and waits; the clients default to OPENHITL_URL and _API_KEY."""

    def options_for(choices: list[str] | None) -> AskOptions:
        options: AskOptions = {"timeout": timeout}
        if choices:
            options["options"] = choices
        else:
            options["default"] = ""
        return options

    def ask(question: str, options: list[str] | None = None) -> str:
        with sync.given_or_default(client) as sdk:
            return answer_text(sdk.ask(loop, question, **options_for(options)))

    async def ask_async(question: str, options: list[str] | None = None) -> str:
        async with aio.given_or_default(async_client) as sdk:
            return answer_text(await sdk.ask(loop, question, **options_for(options)))

    return StructuredTool.from_function(
        func=ask,
        coroutine=ask_async,
        name=name,
        description="Ask a human and wait for the answer. Use it for decisions you must not make alone.",
        args_schema=HumanQuestion,
    )


def interrupt_question(value: Any) -> tuple[str, AskOptions]:
    """The question and ask options an interrupt's value stands for."""
    if isinstance(value, str):
        return value, {"default": ""}
    if not isinstance(value, dict) or not isinstance(value.get("question"), str):
        raise ValueError("interrupt with a string, or a dict with a 'question' string")
    options: dict[str, Any] = {key: value[key] for key in ASK_KEYS if key in value}
    context = {k: v for k, v in value.items() if k not in (*ASK_KEYS, "question")}
    if context:
        options["context"] = context
    if "options" not in options and "response_type" not in options:
        options.setdefault("default", "")
    return value["question"], options  # type: ignore[return-value]


def invoke_with_human(
    graph: Graph, input: Any, config: RunnableConfig, *, loop: str, client: Client | None = None
) -> Any:
    """Runs the graph (it needs a checkpointer and a thread_id in `config`), asking a human at each
    interrupt and resuming with the answers, until it finishes; returns its final output."""
    with sync.given_or_default(client) as sdk:
        result = graph.invoke(input, config)
        while interrupts := list(graph.get_state(config).interrupts):
            answers = {}
            for pending in interrupts:
                question, options = interrupt_question(pending.value)
                answers[pending.id] = sdk.ask(loop, question, **options).value
            result = graph.invoke(Command(resume=answers), config)
    return result


async def ainvoke_with_human(
    graph: Graph, input: Any, config: RunnableConfig, *, loop: str, client: AsyncClient | None = None
) -> Any:
    """`invoke_with_human` for asyncio."""
    async with aio.given_or_default(client) as sdk:
        result = await graph.ainvoke(input, config)
        while interrupts := list((await graph.aget_state(config)).interrupts):
            answers = {}
            for pending in interrupts:
                question, options = interrupt_question(pending.value)
                answers[pending.id] = (await sdk.ask(loop, question, **options)).value
            result = await graph.ainvoke(Command(resume=answers), config)
    return result
