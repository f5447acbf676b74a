"""The tally's compactor (requests/tallies.py) folds the rows appended since its last fold into one per key,
keeps every sum while writers keep appending, and leaves a short tally alone."""

import asyncio
import random
from collections import Counter

import pytest
from sqlalchemy import func, insert, select

from openhitl.kit.db import Database
from openhitl.requests import tallies
from openhitl.requests.models import RequestTally

pytestmark = pytest.mark.anyio
KEYS = [
    (f"{loop:024x}", f"{creator:024x}", status, priority)
    for loop in range(3)
    for creator in range(2)
    for status in ("pending", "completed")
    for priority in ("low", "high")
]


async def append(db: Database, rows: list[tuple[tuple[str, str, str, str], int]]) -> None:
    async with db.write() as session:
        await session.execute(
            insert(RequestTally),
            [
                {"loop_id": k[0], "creator_id": k[1], "status": k[2], "priority": k[3], "n": n}
                for k, n in rows
            ],
        )


def changes(count: int, seed: int) -> list[tuple[tuple[str, str, str, str], int]]:
    chosen = random.Random(seed)
    return [(chosen.choice(KEYS), chosen.choice((1, 1, -1))) for _ in range(count)]


async def sums(db: Database) -> tuple[Counter[tuple[str, ...]], int]:
    keys = (RequestTally.loop_id, RequestTally.creator_id, RequestTally.status, RequestTally.priority)
    async with db.read() as session:
        rows = (await session.execute(select(*keys, func.sum(RequestTally.n)).group_by(*keys))).all()
        count = await session.scalar(select(func.count()).select_from(RequestTally))
    return Counter({tuple(row[:4]): int(row[4]) for row in rows if row[4]}), int(count or 0)


def expected(rows: list[tuple[tuple[str, str, str, str], int]]) -> Counter[tuple[str, ...]]:
    total: Counter[tuple[str, ...]] = Counter()
    for key, n in rows:
        total[key] += n
    return Counter({key: n for key, n in total.items() if n})


async def test_a_long_tally_is_folded_to_one_row_per_key_and_a_short_one_left_alone(db: Database) -> None:
    rows = changes(tallies.COMPACT_AFTER_ROWS + 500, seed=1)
    await append(db, rows)
    compactor = tallies.TallyCompactor(db)
    assert await compactor.run_once()
    folded, count = await sums(db)
    assert folded == expected(rows) and count == len(folded)
    await append(db, changes(10, seed=2))
    assert not await compactor.run_once()  # ten more rows: not worth a transaction yet


async def test_sums_hold_while_writers_append_during_folds(db: Database) -> None:
    written: list[tuple[tuple[str, str, str, str], int]] = []

    async def writer(seed: int) -> None:
        for round_number in range(15):
            batch = changes(40, seed=seed * 100 + round_number)
            await append(db, batch)
            written.extend(batch)
            await asyncio.sleep(0)

    async def folder() -> None:
        compactor = tallies.TallyCompactor(db)
        for _ in range(15):
            async with db.read() as session:
                last = await session.scalar(select(func.max(RequestTally.id)))
            if last is not None:
                await compactor.compact(last)
            await asyncio.sleep(0)

    await asyncio.gather(writer(1), writer(2), folder(), folder())
    folded, _ = await sums(db)
    assert folded == expected(written)
