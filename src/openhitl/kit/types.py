"""Portable column types: a UTC datetime that refuses naive values on every dialect, and its day; JSON,
and a search in its values."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, String, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# none_as_null: a Python None is SQL NULL, so "IS NULL" means "not set".
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC. SQLite has no time zones: it gets naive UTC text, which still sorts and compares."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a UTCDateTime column as 'YYYY-MM-DD' text, computed by the database: a
    summary by day reads a short string per row instead of a datetime to parse."""

    type = String()
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    # Stored as naive UTC text ('YYYY-MM-DD HH:MM:SS...'), which begins with the day.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class json_value_like(FunctionElement[bool]):
    """True when one of a JSON document's scalar values (at any depth; keys never count), as text and
    lowercased, is LIKE the pattern (lowercase, backslash as its escape). SQL NULL matches nothing."""

    type = Boolean()
    inherit_cache = True
    name = "json_value_like"

    def __init__(self, document: Any, pattern: str) -> None:
        super().__init__(document, literal(pattern))


@compiles(json_value_like, "sqlite")
def _json_value_like_sqlite(element: json_value_like, compiler: SQLCompiler, **kw: Any) -> str:
    document, pattern = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_tree({document}) AS leaf WHERE leaf.type NOT IN ('object', 'array', 'null') "
        f"AND lower(leaf.atom) LIKE {pattern} ESCAPE '\\')"
    )


@compiles(json_value_like, "postgresql")
def _json_value_like_postgresql(element: json_value_like, compiler: SQLCompiler, **kw: Any) -> str:
    document, pattern = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM jsonb_path_query({document}, 'strict $.**') AS leaf(value) "
        "WHERE jsonb_typeof(leaf.value) NOT IN ('object', 'array', 'null') "
        f"AND lower(leaf.value #>> '{{}}') LIKE {pattern} ESCAPE '\\')"
    )
