"""Hot statements, compiled once, run on a unit of work's connection.

SQLAlchemy's execution path (the compiled cache lookup, the execution context, the result
object, the greenlet hop) costs about 0.1 ms of CPU per statement, an ORM query with its
session several times that; the PostgreSQL driver itself needs about 0.02 ms. A `Query` keeps
SQLAlchemy as the only place that writes SQL and converts values (the statement is a Core
expression; its types' bind and result processors are used as they are), and on PostgreSQL
sends the compiled text straight to the asyncpg connection under the unit's own transaction.
Other dialects (SQLite) run the same statement through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable, ReturnsRows, UpdateBase
from sqlalchemy.sql.sqltypes import ARRAY
from sqlalchemy.sql.type_api import TypeEngine

from impl.kit.db import Unit

Row: TypeAlias = Sequence[Any]
Processor: TypeAlias = Callable[[Any], Any] | None
StatementSpan: TypeAlias = Callable[[str], AbstractContextManager[Any]]

# Set while tracing is on (`impl.observability.tracing`): statements sent to the driver are
# invisible to SQLAlchemy's instrumentation, so they get their spans here.
_statement_span: StatementSpan | None = None


def trace_statements(span: StatementSpan | None) -> None:
    """Wrap every statement sent straight to the driver in `span(sql)`; None stops it."""
    global _statement_span  # one process-wide hook, off by default
    _statement_span = span


@dataclass(frozen=True, slots=True)
class _Native:
    """A statement compiled for the asyncpg driver: its text, its parameters in `$n` order
    with their defaults and bind processors, and one result processor per column."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...] | None


class Query:
    """A Core statement run on a `Unit`'s connection, compiled once per process.

    `postgresql` may give a variant of the statement for PostgreSQL (an array parameter
    instead of an expanding `IN`, say). Statements are run with named parameters; a
    parameter the statement holds a value for (a literal in `.values()`) may be omitted.
    A read-only unit refuses statements that write: DML, or what `writes` says (a `text()`).

    On PostgreSQL a read-write unit begins its transaction with its first statement that
    writes or locks rows (`FOR UPDATE`): the reads before it run on their own, each reading
    committed data as it would in the transaction (READ COMMITTED takes no locks to read).
    `alone` marks a statement that is atomic by itself and may be all a unit writes: if
    nothing has begun the unit's transaction when it runs, it runs without one (no BEGIN
    and no COMMIT round trips), and the unit then refuses any other write.
    """

    def __init__(
        self,
        statement: Executable,
        *,
        postgresql: Executable | None = None,
        writes: bool | None = None,
        alone: bool = False,
    ) -> None:
        self.statement = statement
        self._postgresql = statement if postgresql is None else postgresql
        self._writes = isinstance(statement, UpdateBase) if writes is None else writes
        locks = getattr(self._postgresql, "_for_update_arg", None) is not None
        self._begins = self._writes or locks
        self._alone = alone
        self._native: _Native | None = None

    async def rows(self, unit: Unit, params: Mapping[str, Any]) -> list[Row]:
        """Every row the statement returns."""
        await self._check(unit)
        if unit.dialect.name != "postgresql":
            result = await unit.connection.execute(self.statement, dict(params))
            return list(result.all()) if result.returns_rows else []
        # Compiling asks the server for the result types (a prepare): it can meet a broken
        # connection too, so it is inside the guard.
        async with _invalidating(unit):
            native = self._native or await self._compile(unit)
            driver, alone = await self._driver(unit)
            arguments = _arguments(native, params)
            if _statement_span is None:
                records = await driver.fetch(native.sql, *arguments)
            else:
                with _statement_span(native.sql):
                    records = await driver.fetch(native.sql, *arguments)
        if alone:
            unit.seal()
        if native.results is None:
            return list(records)
        processors = native.results
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, record, strict=True))
            for record in records
        ]

    async def one_or_none(self, unit: Unit, params: Mapping[str, Any]) -> Row | None:
        """The one row the statement returns, or None; more than one is a bug."""
        rows = await self.rows(unit, params)
        if len(rows) > 1:
            raise RuntimeError(f"expected at most one row, got {len(rows)}")
        return rows[0] if rows else None

    async def execute_many(self, unit: Unit, params: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per parameter set, in one round trip where the driver can
        (asyncpg pipelines them); returns nothing."""
        if not params:
            return
        await self._check(unit)
        if unit.dialect.name != "postgresql":
            await unit.connection.execute(self.statement, [dict(p) for p in params])
            return
        async with _invalidating(unit):
            native = self._native or await self._compile(unit)
            driver, alone = await self._driver(unit)
            arguments_list = [_arguments(native, p) for p in params]
            if _statement_span is None:
                await driver.executemany(native.sql, arguments_list)
            else:
                with _statement_span(native.sql):
                    await driver.executemany(native.sql, arguments_list)
        if alone:
            unit.seal()

    async def _check(self, unit: Unit) -> None:
        if self._writes and unit.read_only:
            raise RuntimeError("a read-only unit of work cannot write; use a read-write one")
        if self._writes:
            unit.check_writable()
        await unit.autoflush()

    async def _driver(self, unit: Unit) -> tuple[Any, bool]:
        """The unit's asyncpg connection, inside the unit's transaction if this statement
        needs one; and whether it runs alone instead (see the class).

        SQLAlchemy's asyncpg adapter begins its transaction lazily, on the first statement
        it runs itself; a statement sent to the driver first must begin it. The adapter is
        SQLAlchemy's `AsyncAdapt_asyncpg_connection`; `tests/impl/kit/test_query.py` pins
        what we use of it.
        """
        adapter = await unit.dbapi_connection()
        alone = False
        if self._begins and not unit.read_only and adapter._transaction is None:
            alone = self._alone and unit.may_write_alone()
            if not alone:
                await adapter._start_transaction()
        return adapter.driver_connection, alone

    async def _compile(self, unit: Unit) -> _Native:
        dialect = unit.dialect
        compiled = self._postgresql.compile(dialect=dialect)  # type: ignore[attr-defined]
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        if any(binds[name].expanding for name in names):
            raise TypeError("expanding parameters are not supported; give a postgresql variant")
        defaults = {name: binds[name].effective_value for name in names if not binds[name].required}
        results = None
        if isinstance(self._postgresql, ReturnsRows):
            results = await _result_processors(unit, compiled, dialect)
        self._native = _Native(
            sql=compiled.string,
            names=names,
            defaults=defaults,
            binds=tuple(_bind_processor(binds[name].type, dialect) for name in names),
            results=results,
        )
        return self._native


async def _result_processors(
    unit: Unit, compiled: SQLCompiler, dialect: Dialect
) -> tuple[Processor, ...] | None:
    statement = compiled.statement
    assert isinstance(statement, ReturnsRows)
    columns = list(statement.exported_columns)
    if not columns:
        return None
    # Some processors depend on the type the server sends (numeric vs float), so ask it once.
    # (A prepare needs no transaction.)
    driver = (await unit.dbapi_connection()).driver_connection
    prepared = await driver.prepare(compiled.string)
    oids = [attribute.type.oid for attribute in prepared.get_attributes()]
    processors = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, oid)
        for column, oid in zip(columns, oids, strict=True)
    )
    return None if all(p is None for p in processors) else processors


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    """The type's bind processor, but none for an array whose items need none: SQLAlchemy's
    would copy every list item by item (8% of create order's CPU went there), and asyncpg
    takes the list as it is."""
    impl = type_.dialect_impl(dialect)
    if (
        isinstance(impl, ARRAY)
        and impl.item_type.dialect_impl(dialect).bind_processor(dialect) is None
    ):
        return None
    return impl.bind_processor(dialect)


def _arguments(native: _Native, params: Mapping[str, Any]) -> list[Any]:
    arguments = []
    for name, processor in zip(native.names, native.binds, strict=True):
        value = params[name] if name in params else native.defaults[name]
        arguments.append(value if processor is None else processor(value))
    return arguments


@asynccontextmanager
async def _invalidating(unit: Unit) -> AsyncIterator[None]:
    """A driver connection that broke (server restart, network) is dropped from the pool,
    as SQLAlchemy does for the statements it runs itself; otherwise the pool would hand
    the dead connection out again."""
    try:
        yield
    except BaseException as error:
        # An error the server reports for the statement leaves the connection usable; any
        # other (closed, cancelled mid-protocol, admin shutdown) may not.
        if not isinstance(error, asyncpg.PostgresError) or isinstance(
            error, asyncpg.PostgresConnectionError | asyncpg.exceptions.OperatorInterventionError
        ):
            await unit.invalidate(error)
        raise
