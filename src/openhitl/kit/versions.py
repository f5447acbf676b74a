"""The dependency whose private internals OpenHITL relies on, and the start-up check of its version.

Two places lean on internals of SQLAlchemy's async adapters, because no public API does the same at the
same cost; they are the only ones, and each points back here:

- `kit/prepared.py` `_begin_asyncpg`: statements sent straight to asyncpg must run inside the unit of
  work's transaction, which the asyncpg adapter begins only with its own first statement. It begins it
  under the adapter's lock (`_execute_mutex`, `_transaction`, `_start_transaction`) so the adapter knows
  and commits it. The public way, a statement of its own through SQLAlchemy, costs every write unit of
  work on PostgreSQL one more round trip and that statement's trip through SQLAlchemy.
- `kit/sqlite_inline.py` `InlineConnection._connection`: the aiosqlite adapter reads aiosqlite's private
  `_connection` before commit and rollback, so the connection that stands in for aiosqlite's has it too.

A release of SQLAlchemy may rename or change them. Rather than fail in the middle of a request, the process
refuses to start with a version it was not tested with (the pins in pyproject.toml).
"""

from collections.abc import Mapping
from functools import cache
from importlib.metadata import version

# Distribution name -> the versions tested; tests/unit/test_versions.py keeps this equal to pyproject.toml's pins.
TESTED: dict[str, tuple[str, ...]] = {"sqlalchemy": ("2.1.9",)}
EXTRAS = {"sqlalchemy": "[asyncio]"}


class UntestedDependency(RuntimeError):
    """An installed dependency is not a version whose internals OpenHITL was tested with."""


def check(installed: Mapping[str, str]) -> None:
    """Raises UntestedDependency, naming the package and both versions, unless each is a tested one."""
    for name, tested in TESTED.items():
        found = installed[name]
        if found not in tested:
            pin = f"{name}{EXTRAS.get(name, '')}=={tested[-1]}"
            raise UntestedDependency(
                f"{name} {found} is installed, but OpenHITL is tested with {name} {' or '.join(tested)} "
                f"and relies on internals of its async database adapters that other versions may not "
                f"have (see openhitl/kit/versions.py). Install the tested version: pip install '{pin}'"
            )


@cache
def check_installed() -> None:
    """`check` on the versions installed in this environment; run when a Database is built."""
    check({name: version(name) for name in TESTED})
