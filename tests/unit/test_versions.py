"""The start-up check of the SQLAlchemy version whose private internals kit/prepared.py and
kit/sqlite_inline.py rely on (kit/versions.py)."""

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from openhitl.kit import versions
from openhitl.kit.db import Database

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture
def fresh_check() -> Iterator[None]:
    versions.check_installed.cache_clear()
    yield
    versions.check_installed.cache_clear()


def test_the_tested_versions_are_the_pins_of_pyproject() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for name, tested in versions.TESTED.items():
        pins = [
            found.group(1)
            for dependency in dependencies
            if (found := re.fullmatch(rf"{name}(?:\[[a-z,]+\])?==([0-9.]+)", dependency, re.IGNORECASE))
        ]
        assert pins == [tested[-1]], (name, dependencies)


def test_the_installed_versions_are_tested_ones(fresh_check: None) -> None:
    versions.check_installed()


def test_an_untested_version_is_refused_with_the_package_both_versions_and_the_fix() -> None:
    with pytest.raises(versions.UntestedDependency) as refused:
        versions.check({"sqlalchemy": "2.2.0"})
    message = str(refused.value)
    assert message.startswith("sqlalchemy 2.2.0 is installed, but OpenHITL is tested with sqlalchemy 2.1.9")
    assert "openhitl/kit/versions.py" in message
    assert message.endswith("pip install 'sqlalchemy[asyncio]==2.1.9'")


def test_a_database_is_not_built_on_an_untested_version(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(versions, "version", lambda name: "2.0.0" if name == "sqlalchemy" else "1")
    with pytest.raises(versions.UntestedDependency, match=r"sqlalchemy 2\.0\.0 is installed"):
        Database(f"sqlite:///{tmp_path / 'data' / 'openhitl.db'}")
    assert not (tmp_path / "data").exists()  # refused before anything was made for it
