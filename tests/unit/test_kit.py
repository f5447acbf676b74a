"""Small pieces of the kit: ids, the UTC type, the callback guard, error messages, rate-limit windows, the
API's alias prefixes."""

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy.dialects import postgresql, sqlite

from openhitl.app import create_app
from openhitl.config import Settings
from openhitl.kit.clock import isoformat
from openhitl.kit.crypto import INVITE_ALPHABET, random_code, token_digest
from openhitl.kit.db import database_unavailable, normalise_url
from openhitl.kit.ids import is_valid_id, new_id
from openhitl.kit.netguard import UnsafeTarget, check_address, check_url, is_globally_reachable
from openhitl.kit.ratelimit import RateLimitState, next_hour
from openhitl.kit.routing import Aliases
from openhitl.kit.types import UTCDateTime
from openhitl.kit.validation import describe_error, summarise


def test_ids_are_24_hex_unique_and_time_ordered() -> None:
    ids = [new_id() for _ in range(2000)]
    assert all(is_valid_id(i) and len(i) == 24 and i == i.lower() for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # same second, same process: the counter keeps them in order
    assert not is_valid_id("65f1234567890abcdef1234") and not is_valid_id("g" * 24)


def test_utc_type_refuses_naive_datetimes() -> None:
    column = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2024, 3, 15, 10, 30), sqlite.dialect())


def test_utc_type_stores_utc_on_both_dialects() -> None:
    column = UTCDateTime()
    postgres = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's PostgreSQL dialect is unannotated
    local = datetime(2024, 3, 15, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert column.process_bind_param(local, sqlite.dialect()) == datetime(2024, 3, 15, 10, 0)
    assert column.process_bind_param(local, postgres) == datetime(2024, 3, 15, 10, 0, tzinfo=UTC)
    assert column.process_result_value("2024-03-15 10:00:00.000000", sqlite.dialect()) == datetime(
        2024, 3, 15, 10, 0, tzinfo=UTC
    )
    assert column.process_result_value(local, postgres) == datetime(2024, 3, 15, 10, 0, tzinfo=UTC)


def test_isoformat_is_utc_with_z() -> None:
    assert (
        isoformat(datetime(2024, 3, 15, 12, 0, tzinfo=timezone(timedelta(hours=2)))) == "2024-03-15T10:00:00Z"
    )
    assert isoformat(None) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://169.254.1.1/",
        "http://[fe80::1%25eth0]/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.GOOGLE.INTERNAL./",
    ],
)
def test_link_local_and_metadata_targets_are_always_refused(url: str) -> None:
    for allow_private in (True, False):
        with pytest.raises(UnsafeTarget, match="link-local or cloud metadata"):
            check_url(url, allow_private=allow_private)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/x", "http://10.0.0.5/", "http://[::1]/", "http://192.168.1.9/"]
)
def test_private_targets_follow_the_setting(url: str) -> None:
    check_url(url, allow_private=True)
    with pytest.raises(UnsafeTarget, match="loopback or private"):
        check_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "example.com/hook", "http://", "http://[::1/", "https://x:99999/"]
)
def test_malformed_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="valid http or https URL"):
        check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "192.0.0.9", "192.31.196.1", "2606:4700::1111", "2001:1::1", "64:ff9b::808:808"],
)
def test_globally_reachable_addresses_pass_with_private_targets_refused(address: str) -> None:
    """Globally reachable entries nested in special-purpose blocks (PCP anycast in 192.0.0.0/24, AS112) and
    NAT64 of a public address are callable; the answers from them are the only ones a delivery log keeps."""
    assert is_globally_reachable(ipaddress.ip_address(address))
    check_address(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "100.64.0.1", "198.18.0.1", "::1", "fd00::1", "::ffff:10.0.0.1"]
)
def test_loopback_private_and_other_special_purpose_addresses_are_not_globally_reachable(
    address: str,
) -> None:
    assert not is_globally_reachable(ipaddress.ip_address(address))


def test_public_hosts_pass_without_dns() -> None:
    check_url("https://hooks.example.com/hitl?x=1", allow_private=False)
    check_address(ipaddress.ip_address("93.184.216.34"), allow_private=False)


def test_validation_messages_name_the_field_and_the_fix() -> None:
    assert describe_error({"type": "missing", "loc": ("body", "name")}) == "name is required"
    assert (
        describe_error(
            {"type": "literal_error", "loc": ("body", "priority"), "ctx": {"expected": "'low' or 'high'"}}
        )
        == "priority must be one of: low, high"
    )
    assert describe_error({"type": "int_parsing", "loc": ("query", "limit")}) == "limit must be an integer"
    assert (
        describe_error({"type": "value_error", "loc": ("body", "x"), "ctx": {"error": "x is bad"}})
        == "x is bad"
    )
    assert summarise([{"type": "json_invalid", "loc": ("body", 3), "ctx": {"error": "Expecting value"}}]) == (
        "Invalid request body",
        "Request body is not valid JSON: Expecting value",
    )
    assert (
        summarise([{"type": "int_parsing", "loc": ("query", "offset")}])[0] == "Invalid pagination parameters"
    )


def test_rate_limit_window_ends_at_the_next_top_of_the_hour() -> None:
    now = datetime(2024, 3, 15, 10, 59, 59, tzinfo=UTC)
    assert next_hour(now) == datetime(2024, 3, 15, 11, 0, tzinfo=UTC)
    state = RateLimitState(limit=100, used=15, reset_at=next_hour(now))
    assert state.headers() == {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "85",
        "X-RateLimit-Reset": str(int(datetime(2024, 3, 15, 11, 0, tzinfo=UTC).timestamp())),
    }
    assert not state.exceeded and RateLimitState(100, 101, state.reset_at).exceeded


def test_invite_codes_and_key_digests() -> None:
    codes = {random_code(6) for _ in range(500)}
    assert all(len(c) == 6 and set(c) <= set(INVITE_ALPHABET) for c in codes)
    assert not set("01IO") & set(INVITE_ALPHABET)
    assert token_digest("secret", "hitl_live_x") == token_digest("secret", "hitl_live_x")
    assert token_digest("secret", "hitl_live_x") != token_digest("other", "hitl_live_x")


def test_database_urls_get_async_drivers() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+asyncpg://")
    assert normalise_url("postgres://u@h/db").startswith("postgresql+asyncpg://")
    assert normalise_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert normalise_url("postgresql+psycopg://u@h/db").startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("sqlstate", "unavailable"),
    [("08006", True), ("53300", True), ("57P01", True), ("23505", False), ("22P02", False)],
)
def test_which_database_errors_mean_out_of_reach_for_now(sqlstate: str, unavailable: bool) -> None:
    error = type("PgError", (Exception,), {"sqlstate": sqlstate})()
    assert database_unavailable(error) is unavailable


def test_alias_prefixes_are_rewritten_to_the_canonical_one_and_put_back_in_redirects() -> None:
    aliases = Aliases("/v1/api", ("/v1", "/api/v1"))
    for asked, canonical in [
        ("/v1/loops/x", "/v1/api/loops/x"),
        ("/api/v1/loops/x", "/v1/api/loops/x"),
        ("/v1/api/loops/x", "/v1/api/loops/x"),
        ("/v1/api", "/v1/api/api"),  # under /v1, as when the API was mounted under each prefix: no route
        ("/v1", "/v1"),
        ("/v1x/loops", "/v1x/loops"),
        ("/api/v1", "/api/v1"),
        ("/dashboard/loops", "/dashboard/loops"),
    ]:
        scope = {"path": asked, "raw_path": asked.replace("x", "%78").encode()}
        assert aliases.rewrite(scope) == scope["path"] == canonical
        assert scope["raw_path"] == canonical.replace("x", "%78").encode()
    assert aliases.restore(b"http://h/v1/api/loops", "/v1/loops/") == b"http://h/v1/loops"
    assert aliases.restore(b"http://h/v1/api/loops", "/api/v1/loops/") == b"http://h/api/v1/loops"
    assert aliases.restore(b"http://h/v1/api/loops", "/v1/api/loops/") == b"http://h/v1/api/loops"


@pytest.mark.parametrize("prefix", ["/v1/api", "/v1", "/api/v1"])
def test_a_trailing_slash_redirects_under_the_prefix_the_client_used(prefix: str, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="unused"))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as client:
            return await client.get(f"{prefix}/loops/")

    answer = asyncio.run(get())
    assert answer.status_code == 307 and answer.headers["location"] == f"http://h{prefix}/loops"
