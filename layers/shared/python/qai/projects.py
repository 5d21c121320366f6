"""SQL for the "Project" table. Every query is scoped by the owner's id."""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import DictRow

from qai.db import Connection

_COLUMNS = 'id, name, "createdAt" AS created_at, "updatedAt" AS updated_at'


def insert_project(conn: Connection, *, project_id: str, name: str, user_id: str) -> DictRow:
    row = conn.execute(
        f'INSERT INTO "Project" (id, name, "userId") VALUES (%s, %s, %s) RETURNING {_COLUMNS}',
        (project_id, name, user_id),
    ).fetchone()
    assert row is not None
    return row


def find_project(conn: Connection, *, project_id: str, user_id: str, lock: bool = False) -> DictRow | None:
    """The project if it is that user's; ``lock`` holds its row until the transaction ends."""
    return conn.execute(
        f'SELECT {_COLUMNS} FROM "Project" WHERE id = %s AND "userId" = %s' + (" FOR UPDATE" if lock else ""),
        (project_id, user_id),
    ).fetchone()


def list_projects(conn: Connection, *, user_id: str, limit: int, after: tuple[datetime, str] | None) -> list[DictRow]:
    """Up to ``limit`` projects, newest update first, strictly after the keyset ``after``."""
    if after is None:
        return conn.execute(
            f'SELECT {_COLUMNS} FROM "Project" WHERE "userId" = %s ORDER BY "updatedAt" DESC, id DESC LIMIT %s',
            (user_id, limit),
        ).fetchall()
    return conn.execute(
        f'SELECT {_COLUMNS} FROM "Project" WHERE "userId" = %s AND ("updatedAt", id) < (%s, %s)'
        ' ORDER BY "updatedAt" DESC, id DESC LIMIT %s',
        (user_id, after[0], after[1], limit),
    ).fetchall()


def delete_project(conn: Connection, *, project_id: str, user_id: str) -> bool:
    """Delete the project; its messages, fragments and runs go with it (ON DELETE CASCADE)."""
    cur = conn.execute('DELETE FROM "Project" WHERE id = %s AND "userId" = %s', (project_id, user_id))
    return cur.rowcount == 1


def touch_project(conn: Connection, *, project_id: str) -> None:
    # The trigger sets "updatedAt"; an UPDATE is all it takes.
    conn.execute('UPDATE "Project" SET name = name WHERE id = %s', (project_id,))
