"""Settings from the environment (prefix OPENHITL_), one object passed explicitly."""

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENHITL_", extra="ignore")

    data_dir: Path = Path(".openhitl")
    database_url: str | None = None
    base_url: str | None = None
    # Where `openhitl serve` listens (set by it, not by the environment): what emails link to when
    # OPENHITL_BASE_URL is unset. Links in emails never come from a request's Host header.
    listen_url: str | None = Field(None, exclude=True)
    secret_key: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    signup: Literal["invite", "open"] = "invite"
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    # HITL.sh limits, configurable (hitl-api.md §12).
    request_text_max_length: int = Field(2000, ge=1)
    timeout_seconds_min: int = Field(60, ge=1)
    timeout_seconds_max: int = Field(86400, ge=60)
    deferred_default_timeout_seconds: int = Field(30 * 86400, ge=60)
    context_max_bytes: int = Field(50_000, ge=2)
    claim_lease_seconds: int = Field(600, ge=10)
    # The reviewer app's own claims: short, renewed by the open page while it is visible and given back
    # when it is hidden or closed, so a closed tab strands a request for this long at most.
    web_claim_lease_seconds: int = Field(90, ge=3)
    # 0 switches rate limiting off (the default for a self-hosted server); HITL.sh uses 100 per hour.
    rate_limit_per_hour: int = Field(0, ge=0)
    # Self-hosted callers often live on loopback or private networks; link-local and metadata never pass.
    # false: only globally reachable targets (kit/netguard.py classes addresses by the IANA registries).
    callback_allow_private: bool = True
    # /metrics: with a token, callers send it as a Bearer token; without one, only loopback may scrape.
    metrics_token: str | None = None
    # DESIGN.md §5: a receiver has 15 s to answer; below the outbox worker's 30 s limit per delivery.
    webhook_timeout_seconds: float = Field(15.0, gt=0, lt=30)
    db_pool_size: int = Field(10, ge=1)
    # `openhitl serve`'s guards against slow clients (kit/connections.py): a request's head must arrive within
    # the first deadline, its body within the second; idle kept-alive connections close after the third.
    client_header_timeout_seconds: float = Field(10.0, gt=0)
    client_body_timeout_seconds: float = Field(30.0, gt=0)
    keep_alive_timeout_seconds: int = Field(5, ge=1)
    # Open connections served at once (beyond: 503 and closed); unset: derived from the open-file limit.
    max_connections: int | None = Field(None, ge=1)
    # How long a replica may keep answering to an API key revoked on another replica; 0 looks every key up.
    api_key_cache_seconds: float = Field(5.0, ge=0, le=60)

    # Reviewers and accounts.
    email_from: str = "OpenHITL <openhitl@localhost>"
    session_days: int = Field(30, ge=1)
    login_link_minutes: int = Field(15, ge=1)
    invitation_days: int = Field(7, ge=1)
    # Guessing guards: attempts per minute, per user and per client address.
    join_attempts_per_minute: int = Field(10, ge=1)
    join_attempts_per_minute_per_address: int = Field(30, ge=1)
    login_attempts_per_minute: int = Field(10, ge=1)
    # Wrong codes and tokens (invite codes, join links, QR codes, invitation and sign-in links) per minute:
    # per client address, and from all clients together (guessing spread over many addresses).
    code_misses_per_minute_per_address: int = Field(30, ge=1)
    code_misses_per_minute: int = Field(300, ge=1)
    # How replicas wake each other: auto (redis if configured, else postgres LISTEN/NOTIFY, else memory).
    notifier: Literal["auto", "memory", "postgres", "redis"] = "auto"
    # Background delivery (the outbox worker).
    worker_enabled: bool = True
    # Longest sleep when no hint arrives: new messages wake the worker by hint (from this process or another
    # replica) and retries are scheduled to the moment, so this only bounds how late a lost hint is noticed.
    worker_poll_seconds: float = Field(5.0, gt=0)
    # Reviewer notifications: the VAPID `sub` push services may contact, and the deferred-request digest.
    vapid_contact: str = Field("mailto:admin@localhost", pattern=r"^(mailto:\S+@\S+|https://\S+)$")
    email_digest_seconds: int = Field(3600, ge=60)
    # Longest sleep between deadline checks and event-log reads when no hint arrives.
    deadline_poll_seconds: float = Field(1.0, gt=0)
    feed_poll_seconds: float = Field(1.0, gt=0)

    @property
    def link_base_url(self) -> str:
        """The public URL links in emails use: configured, or the address this server listens on."""
        return (self.base_url or self.listen_url or "http://127.0.0.1:8000").rstrip("/")

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'openhitl.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        tmp = path.with_name(f"secret_key.{secrets.token_hex(6)}.tmp")
        tmp.write_text(key)
        tmp.chmod(0o600)
        try:
            # link fails if another process won the race: then theirs is the key.
            path.hardlink_to(tmp)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return path.read_text().strip()
