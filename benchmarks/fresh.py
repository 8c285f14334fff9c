"""A fresh database for a benchmark: a temporary SQLite file, or the given server database
emptied (its `public` schema dropped and made again), upgraded to the current schema."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from storage.db import Database


@asynccontextmanager
async def fresh_database(url: str | None) -> AsyncIterator[tuple[Database, Path]]:
    """The database and a temporary folder for the benchmark's files, both gone afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        db = Database(url or f"sqlite+aiosqlite:///{folder}/bench.db")
        try:
            if url:
                async with db.engine.begin() as conn:
                    await conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
                    await conn.exec_driver_sql("CREATE SCHEMA public")
            await db.upgrade()
            yield db, Path(folder)
        finally:
            await db.close()
