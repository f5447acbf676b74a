"""Alembic environment: async engines, batch mode for SQLite, an advisory lock on PostgreSQL."""

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import JSON, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from openhitl.migrations import FOUND_EMPTY
from openhitl.models import metadata

# Several replicas may start at once; only one migrates at a time.
MIGRATION_LOCK_ID = 0x6F68_6974


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes our portable JSON column as `JSONType`, not its dialect variants."""
    if type_ == "type" and isinstance(obj, JSON):
        autogen_context.imports.add("from openhitl.kit.types import JSONType")
        return "JSONType"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        render_item=_render_item,
        compare_type=True,
        transaction_per_migration=True,
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
    try:
        # Looked at under the lock: of replicas starting at once on a new database, one finds it empty.
        context.config.attributes[FOUND_EMPTY] = not inspect(connection).get_table_names()
        connection.commit()  # the look began a transaction; the migrations begin their own
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()


async def _run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_online())
