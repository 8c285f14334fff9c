"""The hottest statements of the IPN path, run on asyncpg itself (PostgreSQL only).

Through a session, a statement costs a good share of an IPN's Python: the compiled-cache
lookup, the execution context, a bind processor per parameter, asyncpg's
adapter, the result's wrapping. A `DriverStatement` is the same Core statement compiled once
for the connection's dialect; running it converts the parameters with the very bind
processors SQLAlchemy would use (so a value is written as through the session: the same
casts, the same UTC datetimes) and hands the SQL to asyncpg's `fetchrow` on the session's own
connection (`AdaptedConnection.run_async`, SQLAlchemy's way to await the driver from
synchronous code), inside the transaction the session began. The row's values go back
through the columns' result processors.

Only for statements after the transaction's first (the session's BEGIN is SQLAlchemy's, and
it is sent with that first statement) and whose parameters are all given: no defaults are
filled in here (`storage.event_writes` passes them).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select


class DriverStatement:
    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        names = compiled.positiontup or []
        if len(set(names)) != len(names):  # a name bound twice would need its value twice
            raise ValueError("a DriverStatement binds each parameter once")
        # each type as this dialect implements it (`dialect_impl`), as a session would use
        # it: the generic one may differ (a generic NUMERIC would be bound as a float)
        self.params = [
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        ]
        self.results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def one(self, connection: Connection, values: dict[str, Any]) -> tuple[Any, ...]:
        """The statement's one row for `values`, run in `connection`'s transaction."""
        args = [values[name] if p is None else p(values[name]) for name, p in self.params]
        adapted = connection.connection.dbapi_connection
        row = adapted.run_async(lambda raw: raw.fetchrow(self.sql, *args))  # type: ignore[union-attr]
        return tuple(
            value if p is None else p(value) for p, value in zip(self.results, row, strict=True)
        )


@cache
def on_driver(statement: Select[Any], dialect: Dialect) -> DriverStatement:
    """`statement` compiled for `dialect` once (statements here come from cached builders)."""
    return DriverStatement(statement, dialect)
