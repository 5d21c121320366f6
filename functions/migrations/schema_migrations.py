"""Apply the SQL migrations in ``migrations/`` to a PostgreSQL database, with yoyo: the one runner
of `make migrate` and of the migrations function that CloudFormation invokes at every deploy.

Safe to run again (applied migrations are recorded) and from several processes at once (a
session-level advisory lock serialises them, including yoyo's own bookkeeping set-up). A database
created by the original Prisma app is adopted: its schema is exactly our first migration, so that
migration is recorded as applied instead of run, and no existing row is touched.

The SQL is read from ``sql/`` next to this file: a link to the repository's ``migrations/``, which
``sam build`` copies into the function's package.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent / "sql"
ORIGINAL_SCHEMA_MIGRATION = "0001_original_schema"
PRISMA_SEED_MIGRATIONS = frozenset({"20251019200148_message_fragment", "20251019214950_projects"})
# Any fixed 64-bit key works; this one spells "QAI-MIGR" so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = 0x5141492D4D494752


class AdoptionError(RuntimeError):
    """The database has a Prisma history that is not the original app's finished schema."""


def _yoyo_uri(database_url: str) -> str:
    # yoyo picks its driver from the scheme; psycopg 3 is the one the project ships.
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql+psycopg", *parts[1:]))


def _created_by_original_app(conn: psycopg.Connection) -> bool:
    has_prisma = conn.execute("SELECT to_regclass('_prisma_migrations') IS NOT NULL").fetchone()
    if not has_prisma or not has_prisma[0]:
        return False
    rows = conn.execute(
        "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
    ).fetchall()
    applied = {row[0] for row in rows}
    if not applied >= PRISMA_SEED_MIGRATIONS:
        missing = ", ".join(sorted(PRISMA_SEED_MIGRATIONS - applied))
        raise AdoptionError(f"_prisma_migrations lacks finished seed migrations: {missing}")
    return True


def migrate(database_url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the ids of those applied (or adopted) by this call.

    Each migration runs in a transaction of its own: a failing one leaves nothing of itself behind,
    and those before it stay applied."""
    with psycopg.connect(database_url, autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        backend = get_backend(_yoyo_uri(database_url))
        try:
            migrations = read_migrations(str(migrations_dir))
            with backend.lock():
                pending = backend.to_apply(migrations)
                done = [m.id for m in pending]
                adopted = [m for m in pending if m.id == ORIGINAL_SCHEMA_MIGRATION]
                if adopted and _created_by_original_app(lock_conn):
                    backend.mark_migrations(adopted)
                    pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
            return done
        finally:
            backend.connection.close()
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
