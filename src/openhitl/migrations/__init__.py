"""The single Alembic tree for SQLite and PostgreSQL, driven from code (no alembic.ini needed).

Alembic (and mako with it, ~10 MiB) is imported only to migrate: the server runs `openhitl migrate` in a
child process and learns the head revision for /readyz by reading the revision files (`head_revision`).
"""

import ast
import asyncio
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from openhitl.kit.db import ensure_sqlite_directory, normalise_url

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
# Set by env.py in the config's attributes: the database had no tables when migrating began.
FOUND_EMPTY = "openhitl_found_empty"


def alembic_config(database_url: str) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> bool:
    """Migrates to `revision`; true when the database had no tables before (it was made just now)."""
    from alembic import command

    ensure_sqlite_directory(normalise_url(database_url))
    config = alembic_config(database_url)
    command.upgrade(config, revision)
    return bool(config.attributes.get(FOUND_EMPTY))


async def upgrade_async(database_url: str, revision: str = "head") -> bool:
    # env.py runs its own event loop; keep it off the caller's.
    return await asyncio.to_thread(upgrade, database_url, revision)


def _revision_ids(source: str) -> tuple[str | None, set[str]]:
    """A revision file's own id and the ids it revises, from its module-level assignments."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        target, value = None, None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            target, value = node.targets[0].id, node.value
        if target in ("revision", "down_revision") and value is not None:
            found[target] = ast.literal_eval(value)
    down = found.get("down_revision")
    revises = {down} if isinstance(down, str) else set(down) if isinstance(down, tuple | list) else set()
    revision = found.get("revision")
    return (revision if isinstance(revision, str) else None), revises


@cache
def head_revision() -> str | None:
    """The newest revision (what `alembic heads` shows), read from the files without importing alembic."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((HERE / "versions").glob("*.py")):
        revision, revises = _revision_ids(path.read_text(encoding="utf-8"))
        if revision is not None:
            revisions.add(revision)
            revised |= revises
    heads = revisions - revised
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {sorted(heads)}")
    return next(iter(heads), None)
