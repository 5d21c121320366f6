"""SQL for the "Site" table: a project's published site, and the publish job that updates it."""

from __future__ import annotations

from psycopg.rows import DictRow

from qai.db import UTC_NOW, Connection

_SITE_COLUMNS = (
    's.slug, s.status, s."fragmentId" AS fragment_id, s."liveFragmentId" AS live_fragment_id,'
    ' s."publishedAt" AS published_at, s.error'
)


def start_publish(
    conn: Connection, *, project_id: str, slug: str, job_id: str, fragment_id: str, stale_seconds: int
) -> DictRow | None:
    """The project's site, now PUBLISHING that version; None while another publish is under way (not stale)."""
    return conn.execute(
        f"""INSERT INTO "Site" AS s ("projectId", slug, "jobId", "fragmentId")
            VALUES (%(project)s, %(slug)s, %(job)s, %(fragment)s)
            ON CONFLICT ("projectId") DO UPDATE SET status = 'PUBLISHING', "jobId" = EXCLUDED."jobId",
                "fragmentId" = EXCLUDED."fragmentId", error = NULL, attempts = 0, "leaseExpiresAt" = NULL,
                "requestedAt" = {UTC_NOW}
            WHERE s.status <> 'PUBLISHING' OR s."requestedAt" <= {UTC_NOW} - make_interval(secs => %(stale)s)
            RETURNING {_SITE_COLUMNS}""",
        {"project": project_id, "slug": slug, "job": job_id, "fragment": fragment_id, "stale": stale_seconds},
    ).fetchone()


def find_site(conn: Connection, *, project_id: str, user_id: str) -> DictRow | None:
    return conn.execute(
        f"""SELECT {_SITE_COLUMNS} FROM "Site" s JOIN "Project" p ON p.id = s."projectId"
            WHERE s."projectId" = %s AND p."userId" = %s""",
        (project_id, user_id),
    ).fetchone()


def site_slug(conn: Connection, *, project_id: str) -> str | None:
    row = conn.execute('SELECT slug FROM "Site" WHERE "projectId" = %s', (project_id,)).fetchone()
    return row["slug"] if row else None


def claim_publish(conn: Connection, *, project_id: str, job_id: str, lease_seconds: int) -> DictRow | None:
    """Take the publish under a free lease: its attempt, slug, and the version's files."""
    return conn.execute(
        f"""UPDATE "Site" s SET attempts = attempts + 1, "leaseExpiresAt" = {UTC_NOW} + make_interval(secs => %s)
            FROM "Fragment" f
            WHERE f.id = s."fragmentId" AND s."projectId" = %s AND s."jobId" = %s AND s.status = 'PUBLISHING'
              AND (s."leaseExpiresAt" IS NULL OR s."leaseExpiresAt" < {UTC_NOW})
            RETURNING s.attempts AS attempt, s.slug, s."fragmentId" AS fragment_id, f.files,
                f."sandboxId" AS sandbox_id""",
        (lease_seconds, project_id, job_id),
    ).fetchone()


def lock_publish(conn: Connection, *, project_id: str, job_id: str, attempt: int) -> bool:
    """Whether the publish is still this attempt's, holding its row until the transaction ends (so that
    an unpublish or a new publish waits for the pointer to move, or not)."""
    row = conn.execute(
        """SELECT 1 FROM "Site" WHERE "projectId" = %s AND "jobId" = %s AND attempts = %s AND status = 'PUBLISHING'
           FOR UPDATE""",
        (project_id, job_id, attempt),
    ).fetchone()
    return row is not None


def finish_publish(conn: Connection, *, project_id: str, job_id: str, attempt: int, prefix: str) -> None:
    """PUBLISHED: the URL now serves that prefix (call with the row locked by lock_publish)."""
    conn.execute(
        f"""UPDATE "Site" SET status = 'PUBLISHED', "livePrefix" = %s, "liveFragmentId" = "fragmentId",
                "publishedAt" = {UTC_NOW}, "leaseExpiresAt" = NULL
            WHERE "projectId" = %s AND "jobId" = %s AND attempts = %s""",
        (prefix, project_id, job_id, attempt),
    )


def fail_publish(conn: Connection, *, project_id: str, job_id: str, attempt: int | None, error: str) -> bool:
    """FAILED (what was live goes on serving); False when the publish is no longer this one's."""
    row = conn.execute(
        """UPDATE "Site" SET status = 'FAILED', error = %s, "leaseExpiresAt" = NULL
           WHERE "projectId" = %s AND "jobId" = %s AND status = 'PUBLISHING'
             AND (%s::int IS NULL OR attempts = %s::int)
           RETURNING 1""",
        (error, project_id, job_id, attempt, attempt),
    ).fetchone()
    return row is not None


def release_publish(conn: Connection, *, project_id: str, job_id: str, attempt: int) -> None:
    """Give the publish back for another delivery."""
    conn.execute(
        """UPDATE "Site" SET "leaseExpiresAt" = NULL WHERE "projectId" = %s AND "jobId" = %s AND attempts = %s""",
        (project_id, job_id, attempt),
    )


def unpublish(conn: Connection, *, project_id: str, user_id: str) -> str | None:
    """UNPUBLISHED, nothing live; the slug to take down, or None when the project has no site."""
    row = conn.execute(
        """UPDATE "Site" s SET status = 'UNPUBLISHED', "livePrefix" = NULL, "liveFragmentId" = NULL, error = NULL,
               "leaseExpiresAt" = NULL
           FROM "Project" p WHERE p.id = s."projectId" AND s."projectId" = %s AND p."userId" = %s
           RETURNING s.slug""",
        (project_id, user_id),
    ).fetchone()
    return row["slug"] if row else None
