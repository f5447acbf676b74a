"""The in-process cache of resolved API keys: lifetime, revocation, and lookups that raced a revocation."""

from datetime import UTC, datetime, timedelta

from openhitl.accounts.keycache import KeyCache, KeyOwner
from openhitl.kit.work import UnitOfWork

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def owner(api_key_id: str = "k1") -> KeyOwner:
    return KeyOwner(
        api_key_id=api_key_id,
        permissions=["requests:write"],
        revoked_at=None,
        expires_at=None,
        last_used_at=None,
        user_id="u1",
        email="a@example.com",
        name="A",
        status="active",
        is_admin=False,
    )


def test_an_entry_lives_for_its_lifetime_only() -> None:
    cache = KeyCache(5)
    cache.put("d1", owner(), now=T0, generation=cache.generation)
    assert cache.get("d1", T0 + timedelta(seconds=4.9)) == owner()
    assert cache.get("d1", T0 + timedelta(seconds=5)) is None
    assert cache.get("d1", T0) is None  # gone once expired


def test_a_clock_moved_back_does_not_stretch_an_entry() -> None:
    cache = KeyCache(5)
    cache.put("d1", owner(), now=T0, generation=cache.generation)
    assert cache.get("d1", T0 - timedelta(seconds=1)) is None


def test_a_committed_revocation_forgets_the_key_at_once() -> None:
    cache = KeyCache(5)
    cache.put("d1", owner("k1"), now=T0, generation=cache.generation)
    cache.put("d2", owner("k2"), now=T0, generation=cache.generation)
    cache.after_commit(UnitOfWork(revoked_api_keys={"k1"}))
    assert cache.get("d1", T0) is None
    assert cache.get("d2", T0) == owner("k2")


def test_a_lookup_that_began_before_a_revocation_is_not_kept() -> None:
    cache = KeyCache(5)
    generation = cache.generation  # a lookup starts and reads the key as valid ...
    cache.forget({"k1"})  # ... while the revocation commits
    cache.put("d1", owner("k1"), now=T0, generation=generation)
    assert cache.get("d1", T0) is None


def test_a_recorded_use_updates_the_entry_without_extending_it() -> None:
    cache = KeyCache(5)
    cache.put("d1", owner(), now=T0, generation=cache.generation)
    cache.touched("d1", T0 + timedelta(seconds=3))
    found = cache.get("d1", T0 + timedelta(seconds=3))
    assert found is not None and found.last_used_at == T0 + timedelta(seconds=3)
    assert cache.get("d1", T0 + timedelta(seconds=5)) is None


def test_zero_seconds_keeps_nothing() -> None:
    cache = KeyCache(0)
    cache.put("d1", owner(), now=T0, generation=cache.generation)
    assert cache.get("d1", T0) is None
