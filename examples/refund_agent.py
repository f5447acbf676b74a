"""A scripted support agent that refunds orders, but only after a human approves each refund.

No LLM needed: the "agent" works through a list of tickets and calls its `issue_refund` tool, which
`require_approval` guards. Each call becomes a request in your loop showing the order, amount and reason;
the refund runs only if a reviewer approves, and a rejection or no answer in time skips it.

    OPENHITL_URL=http://127.0.0.1:8000 OPENHITL_API_KEY=hitl_live_... python examples/refund_agent.py LOOP_ID
"""

import sys
from collections.abc import Callable

from openhitl import ApprovalDenied, Client, require_approval

TICKETS = [
    ("A-1001", 25.00, "The mug arrived broken"),
    ("A-1002", 480.00, "Changed my mind after six months"),
]


def refund_tool(client: Client, loop_id: str) -> Callable[[str, float, str], str]:
    @require_approval(loop=loop_id, client=client, timeout=600)
    def issue_refund(order_id: str, amount: float, reason: str) -> str:
        # A real agent would call the payment provider here; it only ever runs once approved.
        return f"refunded {amount:.2f} on {order_id}"

    return issue_refund


def work_through(client: Client, loop_id: str, tickets: list[tuple[str, float, str]] = TICKETS) -> list[str]:
    issue_refund = refund_tool(client, loop_id)
    outcomes = []
    for order_id, amount, reason in tickets:
        print(f"agent: {order_id} asks for {amount:.2f} ({reason}); asking a human first", flush=True)
        try:
            outcomes.append(issue_refund(order_id, amount, reason))
        except ApprovalDenied as denied:
            outcomes.append(f"no refund on {order_id}: {denied}")
        print(f"agent: {outcomes[-1]}", flush=True)
    return outcomes


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/refund_agent.py LOOP_ID")
    with Client() as sdk:
        work_through(sdk, sys.argv[1])
