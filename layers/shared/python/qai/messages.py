"""SQL for the "Message" and "Fragment" tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from qai.db import Connection

_MESSAGE_COLUMNS = (
    'm.id, m."projectId" AS project_id, m.content, m.role::text AS role, m.type::text AS type, m.mode,'
    ' m.selection, m."createdAt" AS created_at, m."updatedAt" AS updated_at'
)
# File paths are computed in the database so that file contents never leave it for a list.
_FRAGMENT_SUMMARY_COLUMNS = (
    'f.id, f."messageId" AS message_id, f."sandboxUrl" AS sandbox_url, f.title, f.summary,'
    ' ARRAY(SELECT jsonb_object_keys(f.files) ORDER BY 1) AS paths, f."checkError" AS check_error,'
    ' f."createdAt" AS created_at, f."updatedAt" AS updated_at'
)


def insert_message(
    conn: Connection,
    *,
    message_id: str,
    project_id: str,
    content: str,
    role: str,
    type_: str,
    mode: str = "build",
    selection: dict[str, Any] | None = None,
) -> DictRow:
    row = conn.execute(
        'INSERT INTO "Message" AS m (id, "projectId", content, role, type, mode, selection)'
        ' VALUES (%s, %s, %s, %s::"MessageRole", %s::"MessageType", %s, %s)'
        f" RETURNING {_MESSAGE_COLUMNS}",
        (message_id, project_id, content, role, type_, mode, Jsonb(selection) if selection else None),
    ).fetchone()
    assert row is not None
    return row


@dataclass(frozen=True)
class FragmentContent:
    """What a fragment holds: the app's files and where its preview runs."""

    sandbox_url: str
    title: str
    files: dict[str, str]
    summary: str | None
    sandbox_id: str | None = None
    check_error: str | None = None


def insert_fragment(conn: Connection, *, fragment_id: str, message_id: str, content: FragmentContent) -> None:
    conn.execute(
        'INSERT INTO "Fragment" (id, "messageId", "sandboxUrl", title, files, summary, "sandboxId", "checkError")'
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            fragment_id,
            message_id,
            content.sandbox_url,
            content.title,
            Jsonb(content.files),
            content.summary,
            content.sandbox_id,
            content.check_error,
        ),
    )


def _iso(column: str) -> str:
    # The API's timestamp format (models.iso_utc): UTC with milliseconds and a Z.
    return f"""to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


# A message's images as the API lists them: an id, a type and the API's own path to the bytes. Only a
# user's message has images, so the assistant's skip the look-up.
_IMAGES_JSON = """CASE WHEN m.role = 'USER' THEN COALESCE((SELECT json_agg(json_build_object('id', i.id,
        'mediaType', i."mediaType",
        'url', '/projects/' || m."projectId" || '/messages/' || m.id || '/images/' || i.id) ORDER BY i.position)
    FROM "MessageImage" i WHERE i."messageId" = m.id), '[]'::json) ELSE '[]'::json END"""
_MESSAGE_JSON = f"""json_build_object(
    'id', m.id, 'projectId', m."projectId", 'content', m.content, 'role', m.role, 'type', m.type, 'mode', m.mode,
    'selection', m.selection,
    'createdAt', {_iso('m."createdAt"')}, 'updatedAt', {_iso('m."updatedAt"')},
    'fragment', CASE WHEN f.id IS NULL THEN NULL ELSE json_build_object(
        'id', f.id, 'messageId', f."messageId", 'sandboxUrl', f."sandboxUrl", 'title', f.title,
        'summary', f.summary, 'paths', ARRAY(SELECT jsonb_object_keys(f.files) ORDER BY 1),
        'checkError', f."checkError", 'createdAt', {_iso('f."createdAt"')}, 'updatedAt', {_iso('f."updatedAt"')})
    END,
    'run', CASE WHEN r.id IS NULL THEN NULL ELSE json_build_object('id', r.id, 'status', r.status) END,
    'images', {_IMAGES_JSON})"""


def conversation_json(conn: Connection, *, project_id: str, user_id: str) -> str | None:
    """The conversation as the API answers it, ``{"items": [Message]}``, serialised by the database
    in one query (the read path's hot spot: no row objects, no model validation, no encoder); None
    when the project is not that user's."""
    # The project id is compared with the parameter itself, not joined from "Project": the planner
    # then estimates this project's own rows (a few), not an average over every project's (which,
    # in a table dominated by one large project, costs enough to start JIT compilation: 60 ms).
    row = conn.execute(
        f"""SELECT CASE WHEN EXISTS (SELECT 1 FROM "Project" WHERE id = %(project)s AND "userId" = %(user)s)
                THEN json_build_object('items', COALESCE((
                    SELECT json_agg({_MESSAGE_JSON} ORDER BY m."createdAt", m.id)
                    FROM "Message" m LEFT JOIN "Fragment" f ON f."messageId" = m.id
                    LEFT JOIN "AgentRun" r ON r."messageId" = m.id
                    WHERE m."projectId" = %(project)s), '[]'::json))::text END AS body""",
        {"project": project_id, "user": user_id},
    ).fetchone()
    return row["body"] if row else None


def find_fragment(conn: Connection, *, fragment_id: str, project_id: str, user_id: str) -> DictRow | None:
    """The fragment with its files, if it belongs to that project of that user."""
    return conn.execute(
        f"SELECT {_FRAGMENT_SUMMARY_COLUMNS}, f.files"
        ' FROM "Fragment" f JOIN "Message" m ON m.id = f."messageId"'
        ' JOIN "Project" p ON p.id = m."projectId"'
        ' WHERE f.id = %s AND p.id = %s AND p."userId" = %s',
        (fragment_id, project_id, user_id),
    ).fetchone()


def recent_messages(conn: Connection, *, project_id: str, limit: int) -> list[DictRow]:
    """The project's last ``limit`` messages, oldest first."""
    rows = conn.execute(
        f'SELECT {_MESSAGE_COLUMNS} FROM "Message" m WHERE m."projectId" = %s'
        ' ORDER BY m."createdAt" DESC, m.id DESC LIMIT %s',
        (project_id, limit),
    ).fetchall()
    return rows[::-1]


def latest_fragment(conn: Connection, *, project_id: str) -> DictRow | None:
    """The project's newest fragment (id, files, sandbox_id): the app as it stands; None for a new project."""
    return conn.execute(
        'SELECT f.id, f.files, f."sandboxId" AS sandbox_id, f."sandboxUrl" AS sandbox_url'
        ' FROM "Fragment" f JOIN "Message" m ON m.id = f."messageId"'
        ' WHERE m."projectId" = %s ORDER BY m."createdAt" DESC, m.id DESC LIMIT 1',
        (project_id,),
    ).fetchone()


def previous_fragment(conn: Connection, *, fragment_id: str, project_id: str) -> DictRow | None:
    """The project's version before that one (id, files); None for its first."""
    return conn.execute(
        """SELECT f.id, f.files FROM "Fragment" f JOIN "Message" m ON m.id = f."messageId"
           WHERE m."projectId" = %(project)s AND (m."createdAt", m.id) < (
               SELECT m2."createdAt", m2.id FROM "Fragment" f2 JOIN "Message" m2 ON m2.id = f2."messageId"
               WHERE f2.id = %(fragment)s)
           ORDER BY m."createdAt" DESC, m.id DESC LIMIT 1""",
        {"project": project_id, "fragment": fragment_id},
    ).fetchone()


def project_versions(conn: Connection, *, project_id: str) -> Iterator[DictRow]:
    """The project's versions oldest first (title, files, created_at, request), read one row at a time.

    ``request`` is the user's last build request since the version before (a restored version has
    none, and gets its own reply: 'Restored the version …').
    """
    yield from conn.cursor().stream(
        """SELECT f.id, f.title, f.files, f."createdAt" AS created_at, COALESCE((
                   SELECT u.content FROM "Message" u
                   WHERE u."projectId" = m."projectId" AND u.role = 'USER' AND u.mode = 'build'
                     AND (u."createdAt", u.id) < (m."createdAt", m.id)
                     AND NOT EXISTS (
                         SELECT 1 FROM "Fragment" f2 JOIN "Message" m2 ON m2.id = f2."messageId"
                         WHERE m2."projectId" = m."projectId"
                           AND (m2."createdAt", m2.id) > (u."createdAt", u.id)
                           AND (m2."createdAt", m2.id) < (m."createdAt", m.id))
                   ORDER BY u."createdAt" DESC, u.id DESC LIMIT 1), m.content) AS request
           FROM "Fragment" f JOIN "Message" m ON m.id = f."messageId"
           WHERE m."projectId" = %s ORDER BY m."createdAt", m.id""",
        (project_id,),
    )


def insert_images(conn: Connection, *, message_id: str, images: list[tuple[str, str, int]]) -> None:
    """The message's images, in order: (id, media type, size) each."""
    for position, (image_id, media_type, size) in enumerate(images):
        conn.execute(
            'INSERT INTO "MessageImage" (id, "messageId", position, "mediaType", size) VALUES (%s, %s, %s, %s, %s)',
            (image_id, message_id, position, media_type, size),
        )


def message_images(conn: Connection, *, message_ids: Sequence[str]) -> list[DictRow]:
    """The messages' images, each message's in order (id, message_id, media_type)."""
    return conn.execute(
        'SELECT id, "messageId" AS message_id, "mediaType" AS media_type FROM "MessageImage"'
        ' WHERE "messageId" = ANY(%s) ORDER BY "messageId", position',
        (list(message_ids),),
    ).fetchall()


def find_image(conn: Connection, *, image_id: str, message_id: str, project_id: str, user_id: str) -> DictRow | None:
    """The image's type, if it belongs to that message of that project of that user."""
    return conn.execute(
        """SELECT i."mediaType" AS media_type FROM "MessageImage" i JOIN "Message" m ON m.id = i."messageId"
           JOIN "Project" p ON p.id = m."projectId"
           WHERE i.id = %s AND m.id = %s AND p.id = %s AND p."userId" = %s""",
        (image_id, message_id, project_id, user_id),
    ).fetchone()
