"""Resolved API keys, kept for a few seconds so most requests skip the key lookup.

The process that revokes a key forgets it as soon as the revocation commits. Another replica keeps
answering to a key revoked elsewhere (or an owner suspended in the database) for at most `seconds`, the
life of its cached entry. A lookup that started before a revocation committed may have read the key as
still valid; the generation counter stops such a result from being cached.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from openhitl.kit.work import UnitOfWork, WritingSession, unit_of_work

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class KeyOwner:
    """An API key and its owner, as authentication reads them."""

    api_key_id: str
    permissions: list[str] | None
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    user_id: str
    email: str
    name: str
    status: str
    is_admin: bool

    @classmethod
    def from_row(cls, row: Row[Any]) -> "KeyOwner":
        return cls(**row._mapping)


@dataclass(frozen=True)
class _Entry:
    owner: KeyOwner
    stored_at: datetime


class KeyCache:
    def __init__(self, seconds: float) -> None:
        self.lifetime = timedelta(seconds=seconds)
        self.generation = 0
        self._entries: dict[str, _Entry] = {}

    def get(self, digest: str, now: datetime) -> KeyOwner | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if not entry.stored_at <= now < entry.stored_at + self.lifetime:
            del self._entries[digest]
            return None
        return entry.owner

    def put(self, digest: str, owner: KeyOwner, *, now: datetime, generation: int) -> None:
        """Keep `owner`, unless a key was forgotten since `generation` was read (the lookup may be stale)."""
        if not self.lifetime or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = _Entry(owner, now)

    def touched(self, digest: str, now: datetime) -> None:
        """The key's use was just recorded: keep the entry from asking for another write this interval."""
        entry = self._entries.get(digest)
        if entry is not None:
            self._entries[digest] = _Entry(replace(entry.owner, last_used_at=now), entry.stored_at)

    def forget(self, api_key_ids: set[str]) -> None:
        self.generation += 1
        stale = [digest for digest, entry in self._entries.items() if entry.owner.api_key_id in api_key_ids]
        for digest in stale:
            del self._entries[digest]

    def after_commit(self, work: UnitOfWork) -> None:
        """A `Database.after_commit` listener: forget the keys a committed unit of work revoked."""
        revoked = work.revoked_api_keys
        if revoked:
            self.forget(revoked)


def mark_revoked(session: WritingSession, api_key_id: str) -> None:
    """Tell this process's key cache, once the unit of work commits, that the key no longer works."""
    unit_of_work(session).revoked_api_keys.add(api_key_id)
