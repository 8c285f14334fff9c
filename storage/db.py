"""Engine, session factory and schema upgrades."""

from __future__ import annotations

import asyncio
import re
import time
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, create_engine, event, exc, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from storage.types import local_date

if TYPE_CHECKING:  # Alembic (about 10 MB resident) is loaded only when there is work for it
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
UPGRADE_LOCK = 7_370_001  # PostgreSQL advisory lock key held while the schema is upgraded
T = TypeVar("T")
PING_IDLE_SECONDS = 1.0  # a pooled connection idle longer is pinged before it is used again


class DatabaseError(Exception):
    """The database cannot be opened or upgraded; the message is one clear line."""


# SQLSTATEs of a server that is away for now: connection exceptions (class 08), and shutting
# down or starting up (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now)
AWAY_STATES = ("08", "57P01", "57P02", "57P03")


def _from_driver(error: BaseException) -> bool:
    """Raised inside SQLAlchemy or the driver (a refused connect comes out as a bare OSError)."""
    return any(
        frame.f_globals.get("__name__", "").startswith(("sqlalchemy.", "asyncpg.", "aiosqlite"))
        for frame, _line in traceback.walk_tb(error.__traceback__)
    )


def unreachable(error: BaseException) -> str | None:
    """When `error` says the database cannot be reached right now (connection refused or cut,
    the server restarting), one line saying so; None for any other error. The chain of
    causes is followed: SQLAlchemy wraps the driver's error, which may wrap an OSError."""
    seen: set[int] = set()
    database = False  # an OSError alone may be any connection's (Telegram's, a provider's)
    found: BaseException | None = None
    each: BaseException | None = error
    while each is not None and id(each) not in seen:
        seen.add(id(each))
        database = database or isinstance(each, exc.SQLAlchemyError) or _from_driver(each)
        state = getattr(each, "sqlstate", None)
        away = isinstance(state, str) and state.startswith(AWAY_STATES)
        cut = isinstance(each, exc.DBAPIError) and each.connection_invalidated
        if found is None and (away or cut or isinstance(each, (OSError, exc.DisconnectionError))):
            found = each
        each = getattr(each, "orig", None) or each.__cause__ or each.__context__
    if found is None or not database:
        return None
    lines = str(found).strip().splitlines()
    return f"{type(found).__name__}: {lines[0] if lines else 'no detail'}"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.create_function(  # type: ignore[attr-defined]
        "paybot_local_date", 2, local_date, deterministic=True
    )
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_own_transactions(dbapi_connection: object, _record: object) -> None:
    """Let SQLAlchemy's "begin" event start transactions, not the driver (which would begin
    only at the first write, after the reads a decision was made from)."""
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]


def _sqlite_begin(conn: Connection) -> None:
    """`BEGIN IMMEDIATE` for writers (they take SQLite's one write lock before they read, so a
    second process's writer waits instead of deciding from rows about to change), `BEGIN`
    for readers."""
    writer = conn.get_execution_options().get("paybot_writer", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle in the pool for more than
    PING_IDLE_SECONDS (SQLAlchemy's `pool_pre_ping` pings on every checkout: three round
    trips on asyncpg, a quarter of an IPN's). A connection broken while idle (PostgreSQL
    restarted, a proxy's idle timeout) is replaced before anyone uses it, as with
    `pool_pre_ping`; one broken while busy fails its statement, and SQLAlchemy then drops
    every pooled connection older than that failure, so the next transaction reconnects."""
    sync = engine.sync_engine
    dialect = sync.dialect

    def checked_in(_dbapi: object, record: Any) -> None:
        if record is not None:
            record.info["paybot_idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: object) -> None:
        since = record.info.pop("paybot_idle_since", None)
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return  # just connected, or in use a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error
        if alive is False:
            raise exc.DisconnectionError("the database did not answer a ping")

    event.listen(sync, "checkin", checked_in)
    event.listen(sync, "checkout", checked_out)


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


REVISION = re.compile(r'^(down_)?revision = (None|"([^"]+)")$', re.MULTILINE)


def migrations_head() -> str | None:
    """The newest migration, read from the scripts' `revision` / `down_revision` lines without
    Alembic; None when that is not one clear head (Alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = {down: value for down, _, value in REVISION.findall(script.read_text())}
        if set(found) != {"", "down_"}:
            return None
        revisions.add(found[""])
        if found["down_"]:
            parents.add(found["down_"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _schema_version(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def _upgrade(conn: Connection) -> None:
    """Alembic's `upgrade head`, skipped (and Alembic not even imported) when the schema is
    already at the newest migration: the usual case for a restarted worker."""
    head = migrations_head()
    if head is not None and _schema_version(conn) == head:
        return
    from alembic import command

    command.upgrade(alembic_config(conn), "head")


class Database:
    """Owns the engine; hands out sessions. One per process, passed to whoever needs it."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, object] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if not self.is_sqlite:
            _ping_when_idle(self.engine)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._writes = self.sessions
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._sync_sessions: sessionmaker[Session] | None = None
        self._sync_engine = None
        if self.is_sqlite:  # the same file through the plain driver, for `run()`
            event.listen(self.engine.sync_engine, "connect", _sqlite_own_transactions)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            self._writes = async_sessionmaker(
                self.engine.execution_options(paybot_writer=True), expire_on_commit=False
            )
            self._sync_engine = create_engine(
                self.url.set(drivername="sqlite+pysqlite"), echo=echo
            )
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)
            event.listen(self._sync_engine, "connect", _sqlite_own_transactions)
            event.listen(self._sync_engine, "begin", _sqlite_begin)
            self._sync_sessions = sessionmaker(
                self._sync_engine.execution_options(paybot_writer=True), expire_on_commit=False
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.

        SQLite has one writer at a time; its busy handler makes waiting writers sleep and poll,
        which ruins latency under load. So on SQLite this process queues its own write
        transactions (fairly, without sleeping) instead, and each one begins with the write
        lock (`BEGIN IMMEDIATE`), so another process's writer (`paybot admin` beside
        `paybot run`) waits for it. Never nest two transactions.
        """
        if self._write_lock is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._writes() as session, session.begin():
            yield session

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` as one synchronous unit of work in one transaction.

        On SQLite it runs in a worker thread on the plain driver: one thread hop for the whole
        transaction instead of a few per statement (the webhook's hot path depends on it), and
        queued behind this process's other writers. On PostgreSQL it runs through the async
        session's `run_sync`, so its statements still go through asyncpg.
        """
        if self._sync_sessions is None:
            async with self.sessions() as session, session.begin():
                return await session.run_sync(work)
        factory = self._sync_sessions

        def unit() -> T:
            with factory.begin() as session:
                return work(session)

        async with self._write_lock:  # type: ignore[union-attr]
            return await asyncio.to_thread(unit)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run read-only `work(connection)` (Core queries, `storage.reads`) and return what
        it returns; the transaction is rolled back, nothing waits for the writers.

        On SQLite it runs in a worker thread on the plain driver (one thread hop for the
        whole read; WAL lets it read beside a writer); on PostgreSQL through the async
        connection's `run_sync`, statements on asyncpg, in autocommit: at READ COMMITTED
        each statement reads its own snapshot inside a transaction too, so a BEGIN and a
        ROLLBACK would only add two round trips.
        """
        if self._sync_engine is None:
            async with self._reader.connect() as connection:
                return await connection.run_sync(work)
        engine = self._sync_engine

        def unit() -> T:
            with engine.connect() as connection:
                return work(connection)

        return await asyncio.to_thread(unit)

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (run on every start)."""
        self._check_sqlite_path()
        try:
            async with self.engine.begin() as conn:
                if not self.is_sqlite:  # workers starting together upgrade one at a time
                    await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")
                await conn.run_sync(_upgrade)
        except OSError as exc:
            raise DatabaseError(f"cannot open database {self._safe_url()}: {exc}") from None
        except Exception as exc:  # driver errors differ per backend; report them as one line
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DatabaseError(f"cannot open database {self._safe_url()}: {detail}") from None

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:  # reachable, and our schema is there
                await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self.engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    def _safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def _check_sqlite_path(self) -> None:
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            return
        folder = Path(self.url.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise DatabaseError(f"cannot open database {self._safe_url()}: no folder {folder}")
