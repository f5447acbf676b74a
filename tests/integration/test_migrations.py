"""The one Alembic tree builds the models' schema on both databases, and goes down and up again."""

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from openhitl.kit.db import normalise_url
from openhitl.migrations import _revision_ids, alembic_config, head_revision, upgrade
from openhitl.models import metadata
from tests.support.databases import query, throwaway_database
from tests.support.processes import openhitl_env, start_openhitl


def schema_differences(url: str) -> tuple[list[Any], set[str]]:
    async def inspect_schema() -> tuple[list[Any], set[str]]:
        engine = create_async_engine(normalise_url(url))
        try:
            async with engine.connect() as connection:

                def compare(sync_connection: Any) -> tuple[list[Any], set[str]]:
                    context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                    tables = set(inspect(sync_connection).get_table_names())
                    return compare_metadata(context, metadata), tables

                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(inspect_schema())


def test_migrations_build_exactly_the_models_schema(empty_database: str) -> None:
    upgrade(empty_database)
    differences, tables = schema_differences(empty_database)
    assert differences == []
    assert set(metadata.tables) <= tables


def test_migrations_go_down_and_up_again(empty_database: str) -> None:
    upgrade(empty_database)
    command.downgrade(alembic_config(empty_database), "base")
    _, tables = schema_differences(empty_database)
    assert tables <= {"alembic_version"}
    upgrade(empty_database)
    assert schema_differences(empty_database)[0] == []


def test_upgrading_twice_is_harmless(empty_database: str) -> None:
    upgrade(empty_database)
    upgrade(empty_database)
    assert schema_differences(empty_database)[0] == []


def test_replicas_starting_at_once_migrate_one_at_a_time(tmp_path: Path) -> None:
    """Three `openhitl migrate` processes (as three replicas starting together run them) on one new
    PostgreSQL database: an advisory lock lets one migrate and the others find the schema done.
    PostgreSQL only: replicas need a shared database; SQLite serves one process."""
    with throwaway_database("postgres", tmp_path) as url:
        env = openhitl_env(url, tmp_path)
        runs = [start_openhitl(["migrate"], env, tmp_path / f"migrate-{n}.log") for n in range(3)]
        assert [run.wait(timeout=120) for run in runs] == [0, 0, 0], [
            (tmp_path / f"migrate-{n}.log").read_text()[-2000:] for n in range(3)
        ]
        assert schema_differences(url)[0] == []
        assert query(url, "SELECT version_num FROM alembic_version") == [(script_head(),)]


def test_the_head_read_from_the_revision_files_is_alembics_head() -> None:
    """/readyz compares the database with `head_revision`, which reads the files without alembic."""
    assert head_revision() == script_head()


def test_revision_ids_follow_branches_and_merges() -> None:
    assert _revision_ids('revision = "b"\ndown_revision = "a"\n') == ("b", {"a"})
    assert _revision_ids('revision: str = "m"\ndown_revision: tuple = ("b", "c")\n') == ("m", {"b", "c"})
    assert _revision_ids('revision: str = "a"\ndown_revision: str | None = None\n') == ("a", set())


def script_head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
