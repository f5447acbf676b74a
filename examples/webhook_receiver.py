"""Receive OpenHITL's decisions in a FastAPI app, refusing anything not signed with your secret.

The secret is your account's signing secret (`GET /v1/api/webhooks/secret`, or `Client.signing_secret()`)
for callback_url deliveries, or the secret of a webhook endpoint you created.

    OPENHITL_WEBHOOK_SECRET=whsec_... uvicorn examples.webhook_receiver:app --port 9000

then create requests with "callback_url": "http://127.0.0.1:9000/openhitl/webhook".
"""

import os
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from openhitl import InvalidSignature, verify_webhook


def make_app(secret: str) -> FastAPI:
    app = FastAPI(title="OpenHITL webhook receiver")
    app.state.decisions = {}

    @app.post("/openhitl/webhook")
    async def receive(request: Request) -> dict[str, bool]:
        # The raw body, exactly as sent: the signature covers these bytes, not a re-encoded JSON.
        try:
            event: dict[str, Any] = verify_webhook(await request.body(), request.headers, secret)
        except InvalidSignature as error:
            raise HTTPException(status_code=401, detail=str(error)) from None
        if event["event"] in ("request.completed", "request.timeout", "request.cancelled"):
            answer = event["response_data"] if event["status"] == "completed" else event["default_response"]
            app.state.decisions[event["request_id"]] = {"status": event["status"], "answer": answer}
        return {"received": True}

    return app


app = make_app(os.environ.get("OPENHITL_WEBHOOK_SECRET", ""))
