"""The LangChain tool and the LangGraph helper: a real graph interrupts, a human answers, it resumes."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from openhitl import AsyncClient, Client
from openhitl.langchain import ainvoke_with_human, ask_human_tool, invoke_with_human
from tests.integration.reviewing import Team
from tests.sdk.conftest import answer, answer_when_asked, asked, deadlines_passed
from tests.support.live import LiveServer


class Refund(TypedDict, total=False):
    order_id: str
    amount: float
    decision: str
    note: str


def refund_graph() -> CompiledStateGraph[Refund, None, Refund, Refund]:
    def approve(state: Refund) -> Refund:
        decision = interrupt(
            {
                "question": f"Refund {state['amount']} for order {state['order_id']}?",
                "options": ["Refund", "Deny"],
                "order_id": state["order_id"],
            }
        )
        return {"decision": decision}

    def explain(state: Refund) -> Refund:
        return {"note": interrupt(f"Why was order {state['order_id']} refunded?")}

    graph = StateGraph(Refund)
    graph.add_node("approve", approve)
    graph.add_node("explain", explain)
    graph.add_edge(START, "approve")
    graph.add_edge("approve", "explain")
    graph.add_edge("explain", END)
    return graph.compile(checkpointer=InMemorySaver())


def test_each_interrupt_becomes_a_request_and_the_graph_resumes_with_the_answer(
    client: Client, team: Team
) -> None:
    graph = refund_graph()
    config: RunnableConfig = {"configurable": {"thread_id": "refund-1"}}
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(
            invoke_with_human,
            graph,
            {"order_id": "A-7", "amount": 120.0},
            config,
            loop=team.loop_id,
            client=client,
        )
        first = asked(team)
        shown = client.get_request(first)
        answer(team, first, "Refund")
        second = answer_when_asked(team, "Customer was double charged", besides=first)
        final = running.result(timeout=30)
    assert final == {
        "order_id": "A-7",
        "amount": 120.0,
        "decision": "Refund",
        "note": "Customer was double charged",
    }
    assert shown.request_text == "Refund 120.0 for order A-7?" and shown.context == {"order_id": "A-7"}
    assert client.get_request(second).response_type == "text"


@pytest.mark.anyio
async def test_async_graph_resumes_with_the_default_when_nobody_answers(
    server: LiveServer, async_client: AsyncClient, team: Team
) -> None:
    graph = refund_graph()
    config: RunnableConfig = {"configurable": {"thread_id": "refund-2"}}
    running = asyncio.create_task(
        ainvoke_with_human(
            graph, {"order_id": "B-9", "amount": 9.5}, config, loop=team.loop_id, client=async_client
        )
    )
    first = await asyncio.to_thread(asked, team)
    with deadlines_passed(server):
        await asyncio.to_thread(answer_when_asked, team, "no note", besides=first)
        final = await asyncio.wait_for(running, timeout=30)
    assert (final["decision"], final["note"]) == ("Deny", "no note")


def test_the_ask_human_tool_returns_the_answer_as_text(client: Client, team: Team) -> None:
    tool = ask_human_tool(loop=team.loop_id, client=client)
    assert tool.name == "ask_human" and set(tool.args) == {"question", "options"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(tool.invoke, {"question": "Use the EU region?", "options": ["Yes", "No"]})
        answer_when_asked(team, "Yes")
        assert running.result(timeout=30) == "reviewer0 answered: Yes"


@pytest.mark.anyio
async def test_the_async_tool_reports_a_timeout_and_the_default(
    server: LiveServer, async_client: AsyncClient, team: Team
) -> None:
    tool = ask_human_tool(loop=team.loop_id, async_client=async_client)
    running = asyncio.create_task(tool.ainvoke({"question": "Pick a name", "options": ["Ada", "Grace"]}))
    await asyncio.to_thread(asked, team)
    with deadlines_passed(server):
        text = await asyncio.wait_for(running, timeout=30)
    assert text == "No human answer (nobody answered in time); the default answer is: Grace"
