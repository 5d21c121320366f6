"""SQL for the "GitPush" table: a project's last push of its history, and the job that makes it."""

from __future__ import annotations

from psycopg.rows import DictRow

from qai.db import UTC_NOW, Connection

_PUSH_COLUMNS = (
    'g.status, g.url, g.branch, g.username, g."fragmentId" AS fragment_id, g.commit, g.error,'
    ' g."requestedAt" AS requested_at, g."finishedAt" AS finished_at'
)


def start_push(
    conn: Connection,
    *,
    project_id: str,
    push_id: str,
    fragment_id: str,
    url: str,
    branch: str,
    username: str,
    sealed_token: bytes,
    stale_seconds: int,
) -> DictRow | None:
    """The project's push, now this one (PUSHING); None while another is under way (and not stale)."""
    return conn.execute(
        f"""INSERT INTO "GitPush" AS g ("projectId", id, "fragmentId", url, branch, username, "sealedToken")
            VALUES (%(project)s, %(id)s, %(fragment)s, %(url)s, %(branch)s, %(username)s, %(token)s)
            ON CONFLICT ("projectId") DO UPDATE SET id = EXCLUDED.id, "fragmentId" = EXCLUDED."fragmentId",
                url = EXCLUDED.url, branch = EXCLUDED.branch, username = EXCLUDED.username,
                "sealedToken" = EXCLUDED."sealedToken", status = 'PUSHING', commit = NULL, error = NULL,
                attempts = 0, "leaseExpiresAt" = NULL, "requestedAt" = {UTC_NOW}, "finishedAt" = NULL
            WHERE g.status IN ('PUSHED', 'FAILED')
               OR g."requestedAt" <= {UTC_NOW} - make_interval(secs => %(stale)s)
            RETURNING {_PUSH_COLUMNS}""",
        {
            "project": project_id,
            "id": push_id,
            "fragment": fragment_id,
            "url": url,
            "branch": branch,
            "username": username,
            "token": sealed_token,
            "stale": stale_seconds,
        },
    ).fetchone()


def find_push(conn: Connection, *, project_id: str, user_id: str) -> DictRow | None:
    return conn.execute(
        f"""SELECT {_PUSH_COLUMNS} FROM "GitPush" g JOIN "Project" p ON p.id = g."projectId"
            WHERE g."projectId" = %s AND p."userId" = %s""",
        (project_id, user_id),
    ).fetchone()


def claim_push(conn: Connection, *, project_id: str, push_id: str, lease_seconds: int) -> DictRow | None:
    """A push under way whose lease is free (queued, or its worker died), now leased: its attempt, target,
    sealed token and owner."""
    return conn.execute(
        f"""UPDATE "GitPush" g SET attempts = attempts + 1,
                "leaseExpiresAt" = {UTC_NOW} + make_interval(secs => %s)
            FROM "Project" p
            WHERE p.id = g."projectId" AND g."projectId" = %s AND g.id = %s AND g.status = 'PUSHING'
              AND (g."leaseExpiresAt" IS NULL OR g."leaseExpiresAt" < {UTC_NOW})
            RETURNING g.attempts AS attempt, g."fragmentId" AS fragment_id, g.url, g.branch, g.username,
                g."sealedToken" AS sealed_token, p."userId" AS user_id""",
        (lease_seconds, project_id, push_id),
    ).fetchone()


def finish_push(
    conn: Connection, *, project_id: str, push_id: str, attempt: int, commit: str | None, error: str | None
) -> bool:
    """PUSHED or FAILED, the token forgotten; False when the push is no longer this attempt's."""
    row = conn.execute(
        f"""UPDATE "GitPush" SET status = %s, commit = COALESCE(%s, commit), error = %s,
                "sealedToken" = NULL, "leaseExpiresAt" = NULL, "finishedAt" = {UTC_NOW}
            WHERE "projectId" = %s AND id = %s AND attempts = %s AND status = 'PUSHING'
            RETURNING id""",
        ("FAILED" if error else "PUSHED", commit, error, project_id, push_id, attempt),
    ).fetchone()
    return row is not None


def fail_unsent_push(conn: Connection, *, project_id: str, push_id: str, error: str) -> None:
    """A push the queue refused: FAILED at once, its token forgotten, so that pushing again works."""
    conn.execute(
        f"""UPDATE "GitPush" SET status = 'FAILED', error = %s, "sealedToken" = NULL, "finishedAt" = {UTC_NOW}
            WHERE "projectId" = %s AND id = %s AND status = 'PUSHING'""",
        (error, project_id, push_id),
    )


def end_stale_pushes(conn: Connection, *, stale_seconds: int, error: str) -> int:
    """Pushes under way for longer than any job lives: FAILED, their tokens forgotten."""
    rows = conn.execute(
        f"""UPDATE "GitPush" SET status = 'FAILED', error = %s, "sealedToken" = NULL, "leaseExpiresAt" = NULL,
                "finishedAt" = {UTC_NOW}
            WHERE status = 'PUSHING' AND "requestedAt" <= {UTC_NOW} - make_interval(secs => %s)
              AND ("leaseExpiresAt" IS NULL OR "leaseExpiresAt" < {UTC_NOW})
            RETURNING id""",
        (error, stale_seconds),
    ).fetchall()
    return len(rows)
