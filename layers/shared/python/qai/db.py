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

from qai.settings import database_url

T = TypeVar("T")
Connection = psycopg.Connection[DictRow]

# The current time as the schema stores it: UTC in TIMESTAMP(3), whatever the session's TimeZone.
UTC_NOW = "(now() AT TIME ZONE 'UTC')"

_local = threading.local()


def _connect() -> Connection:
    # prepare_threshold=None: no server-side prepared statements, which RDS Proxy and PgBouncer
    # in transaction mode cannot carry across the backends they multiplex.
    return psycopg.connect(
        database_url(),
        autocommit=True,
        prepare_threshold=None,
        row_factory=dict_row,
        connect_timeout=10,
    )


def connection() -> Connection:
    """The execution environment's connection (one per thread, for the local stack's threads)."""
    conn: Connection | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _connect()
        _local.conn = conn
    return conn


def close() -> None:
    conn: Connection | None = getattr(_local, "conn", None)
    if conn is not None:
        conn.close()
        _local.conn = None


def in_autocommit(work: Callable[[Connection], T]) -> T:
    """Run ``work`` (one statement, atomic by itself) outside a transaction: one round trip instead
    of three; a dropped connection is re-opened once, as in_transaction does."""
    try:
        return work(connection())
    except psycopg.OperationalError:
        conn = connection()
        if not conn.broken and not conn.closed:
            raise
        close()
        return work(connection())


def in_transaction(work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction; on a dropped connection, reconnect and run it once more."""
    conn = connection()
    try:
        with conn.transaction():
            return work(conn)
    except psycopg.OperationalError:
        if not conn.broken and not conn.closed:
            raise
        close()
        conn = connection()
        with conn.transaction():
            return work(conn)
