"""Side effects that leave the server: the outbox and its worker, email (and later webhooks and push)."""
