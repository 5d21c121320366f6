"""Migrations: fresh, again, concurrently, and adopting the original app's database."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from qai_tools.migrate import AdoptionError, migrate

SEED_SQL = Path(__file__).parent / "fixtures" / "prisma_seed.sql"
ALL = sorted(path.stem for path in (Path(__file__).parent.parent / "migrations").glob("*.sql"))


def schema_snapshot(url: str) -> list[tuple]:
    """Columns, constraints and indexes of the app's tables, comparable across databases."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, datetime_precision, is_nullable, udt_name"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name IN ('Project', 'Message', 'Fragment') ORDER BY 1, 2"
        ).fetchall()
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid::regclass::text IN ('\"Project\"', '\"Message\"', '\"Fragment\"') ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename IN ('Project', 'Message', 'Fragment') ORDER BY 1"
        ).fetchall()
        enums = conn.execute(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t"
            " JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return [*columns, *constraints, *indexes, *enums]


def test_fresh_database_gets_every_migration_then_nothing(empty_database: str) -> None:
    assert ALL[:4] == ["0001_original_schema", "0002_owner_indexes_timestamps", "0003_agent_runs", "0004_usage_credits"]
    assert migrate(empty_database) == ALL
    assert migrate(empty_database) == []


def test_first_migration_is_exactly_the_original_schema(make_database: Callable[..., str]) -> None:
    seeded, ours = make_database(migrated=False), make_database(migrated=False)
    with psycopg.connect(seeded, autocommit=True) as conn:
        conn.execute(SEED_SQL.read_text())
    with psycopg.connect(ours, autocommit=True) as conn:
        conn.execute((Path(__file__).parent.parent / "migrations" / "0001_original_schema.sql").read_text())
    assert schema_snapshot(ours) == schema_snapshot(seeded)


def test_adopts_the_original_apps_database_without_touching_rows(empty_database: str) -> None:
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(SEED_SQL.read_text())
        before = [
            conn.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()
            for table in ("Project", "Message", "Fragment")
        ]
    assert migrate(empty_database) == ALL
    assert migrate(empty_database) == []
    with psycopg.connect(empty_database) as conn:
        after = [
            conn.execute(f'SELECT {", ".join(c for c in cols)} FROM "{table}" ORDER BY id').fetchall()
            for table, cols in (
                ("Project", ["id", "name", '"createdAt"', '"updatedAt"']),
                # The original columns, untouched (the mode added after them: every old message built).
                ("Message", ["id", "content", "role", "type", '"createdAt"', '"updatedAt"', '"projectId"']),
                # The original columns, untouched; the columns added after them are empty.
                ("Fragment", ["*"]),
            )
        ]
        owner = conn.execute('SELECT "userId" FROM "Project"').fetchone()
        prisma = conn.execute("SELECT count(*) FROM _prisma_migrations").fetchone()
    original_columns = len(before[2][0])
    assert [row[original_columns:] for row in after[2]] == [(None, None)] * len(before[2])
    assert [row[:original_columns] for row in after[2]] == before[2]
    assert after[:2] == before[:2]
    with psycopg.connect(empty_database) as conn:
        assert conn.execute('SELECT DISTINCT mode FROM "Message"').fetchall() == [("build",)]
    assert owner == (None,)
    assert prisma == (2,)


def test_refuses_a_half_migrated_original_database(empty_database: str) -> None:
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(SEED_SQL.read_text())
        conn.execute("DELETE FROM _prisma_migrations WHERE migration_name = '20251019214950_projects'")
    with pytest.raises(AdoptionError, match="20251019214950_projects"):
        migrate(empty_database)


def test_concurrent_runs_apply_each_migration_once(empty_database: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        try:
            results.append(migrate(empty_database))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], ALL]


def test_two_processes_at_once(empty_database: str) -> None:
    env_cmd = [sys.executable, "-m", "qai_tools.migrate"]
    root = Path(__file__).parent.parent
    env = {"DATABASE_URL": empty_database, "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen(env_cmd, cwd=root, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert sorted(outputs) == sorted(
        ["applied 0 migration(s)\n", f"applied {len(ALL)} migration(s): {', '.join(ALL)}\n"]
    )


def test_updated_at_is_maintained_on_update(fresh_database: str) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("""INSERT INTO "Project" (id, name, "updatedAt") VALUES ('p', 'n', '2000-01-01')""")
        conn.execute("""UPDATE "Project" SET name = 'm' WHERE id = 'p'""")
        row = conn.execute(
            """SELECT "updatedAt" > '2020-01-01', abs(extract(epoch FROM "updatedAt" - (now() AT TIME ZONE 'UTC')))
               FROM "Project" WHERE id = 'p'"""
        ).fetchone()
    assert row is not None and row[0] is True and row[1] < 60


def test_timestamps_are_utc_whatever_the_session_time_zone(fresh_database: str) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Asia/Tokyo'")
        conn.execute("""INSERT INTO "Project" (id, name) VALUES ('p', 'n')""")
        row = conn.execute(
            """SELECT abs(extract(epoch FROM "createdAt" - (now() AT TIME ZONE 'UTC'))) FROM "Project" """
        ).fetchone()
    assert row is not None and row[0] < 60
