"""INSERT … ON CONFLICT for the session's database: SQLAlchemy builds it per dialect, with one API."""

from typing import Any, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, table: Any) -> postgresql.Insert:
    """An INSERT that takes `on_conflict_do_nothing` and `on_conflict_do_update` (the SQLite construct has
    the same methods and arguments; typed as PostgreSQL's)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return cast(postgresql.Insert, sqlite.insert(table))
