"""One PostgreSQL connection per execution environment, re-opened once when it has dropped.

A Lambda execution environment handles one request at a time, so a single connection is both
enough and the cheapest: no pool, no per-request handshake. Between invocations the server may
have closed it (idle timeout, failover, a proxy recycling it); the first statement then fails with
an OperationalError on a broken connection, and the unit of work is run again once on a new one.
Nothing was committed by a unit that failed that way, so running it again is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg.rows import DictRow, dict_row

T = TypeVar("T")
Connection = psycopg.Connection[DictRow]

# The current time as the schema stores it: UTC in TIMESTAMP(3), whatever the session's TimeZone.
UTC_NOW = "(now() AT TIME ZONE 'UTC')"
# How many times a statement runs on a connection before it is prepared (psycopg's own default).
PREPARE_THRESHOLD = 5


class Database:
    """The units of work over one database: one connection per thread (a Lambda execution
    environment has one; the local stack runs several workers in one process), opened on first use."""

    def __init__(self, url: str, *, prepared_statements: bool = False) -> None:
        self._url = url
        # None: no server-side prepared statements, which RDS Proxy and PgBouncer in transaction mode
        # cannot carry across the backends they multiplex.
        self._prepare_threshold = PREPARE_THRESHOLD if prepared_statements else None
        self._local = threading.local()

    def _connect(self) -> Connection:
        return psycopg.connect(
            self._url,
            autocommit=True,
            prepare_threshold=self._prepare_threshold,
            row_factory=dict_row,
            connect_timeout=10,
        )

    def connection(self) -> Connection:
        """This thread's connection, opened again if it was closed."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next unit of work opens another)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _reconnected(self, error: psycopg.OperationalError, conn: Connection) -> Connection:
        """A new connection when ``conn`` dropped; ``error`` itself when the statement failed otherwise."""
        if not conn.broken and not conn.closed:
            raise error
        self.close()
        return self.connection()

    def in_autocommit(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` (one statement, atomic by itself, or reads that need no snapshot in common)
        outside a transaction: no BEGIN and COMMIT round trips; a dropped connection is re-opened
        once, as in_transaction does."""
        conn = self.connection()
        try:
            return work(conn)
        except psycopg.OperationalError as exc:
            return work(self._reconnected(exc, conn))

    def in_transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction; on a dropped connection, reconnect and run it once more."""
        conn = self.connection()
        try:
            with conn.transaction():
                return work(conn)
        except psycopg.OperationalError as exc:
            conn = self._reconnected(exc, conn)
            with conn.transaction():
                return work(conn)
