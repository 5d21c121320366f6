"""SQL for previews: which sandbox a fragment's app is in, and the "PreviewJob" that brings it back.

A sandbox holds one version of an app at a time: the newest fragment that records it. An older
fragment of the same sandbox (a follow-up or a restore took the sandbox over) has no preview of
its own until a job rebuilds one.
"""

from __future__ import annotations

from psycopg.rows import DictRow

from qai.db import UTC_NOW, Connection

# Whether a newer fragment of the same project records the same sandbox.
_HELD_BY_NEWER = """EXISTS (
    SELECT 1 FROM "Fragment" nf JOIN "Message" nm ON nm.id = nf."messageId"
    WHERE nf."sandboxId" = f."sandboxId" AND nm."projectId" = m."projectId"
      AND (nm."createdAt", nm.id) > (m."createdAt", m.id))"""


def fragment_preview(
    conn: Connection, *, fragment_id: str, project_id: str, user_id: str, stale_seconds: int
) -> DictRow | None:
    """The fragment's preview facts, if it belongs to that project of that user: its URL, whether a
    newer fragment holds its sandbox, and its latest preview job (``job_status`` None if never)."""
    return conn.execute(
        f"""SELECT f."sandboxUrl" AS sandbox_url, f."sandboxId" AS sandbox_id, {_HELD_BY_NEWER} AS held_by_newer,
                   j.status::text AS job_status, j.error AS job_error,
                   j."requestedAt" > {UTC_NOW} - make_interval(secs => %s) AS job_fresh
            FROM "Fragment" f JOIN "Message" m ON m.id = f."messageId"
            JOIN "Project" p ON p.id = m."projectId"
            LEFT JOIN "PreviewJob" j ON j."fragmentId" = f.id
            WHERE f.id = %s AND p.id = %s AND p."userId" = %s""",
        (stale_seconds, fragment_id, project_id, user_id),
    ).fetchone()


def start_job(conn: Connection, *, fragment_id: str, stale_seconds: int) -> bool:
    """Mark a preview job STARTING; False when one already is (and is not stale): that one goes on.

    The row lock of the upsert makes concurrent requests queue up, and only the first starts a job.
    """
    row = conn.execute(
        f"""INSERT INTO "PreviewJob" ("fragmentId") VALUES (%s)
            ON CONFLICT ("fragmentId") DO UPDATE SET status = 'STARTING', error = NULL, attempts = 0,
                "leaseExpiresAt" = NULL, "requestedAt" = {UTC_NOW}
            WHERE "PreviewJob".status <> 'STARTING'
               OR "PreviewJob"."requestedAt" <= {UTC_NOW} - make_interval(secs => %s)
            RETURNING "fragmentId" """,
        (fragment_id, stale_seconds),
    ).fetchone()
    return row is not None


def fail_job(conn: Connection, *, fragment_id: str, error: str) -> None:
    conn.execute(
        """UPDATE "PreviewJob" SET status = 'FAILED', error = %s, "leaseExpiresAt" = NULL
           WHERE "fragmentId" = %s AND status = 'STARTING'""",
        (error, fragment_id),
    )


def claim_job(conn: Connection, *, fragment_id: str, lease_seconds: int) -> int | None:
    """Take a STARTING job whose lease is free; its attempt number (the fencing token), or None."""
    row = conn.execute(
        f"""UPDATE "PreviewJob" SET attempts = attempts + 1,
               "leaseExpiresAt" = {UTC_NOW} + make_interval(secs => %s)
           WHERE "fragmentId" = %s AND status = 'STARTING'
             AND ("leaseExpiresAt" IS NULL OR "leaseExpiresAt" < {UTC_NOW})
           RETURNING attempts""",
        (lease_seconds, fragment_id),
    ).fetchone()
    return row["attempts"] if row else None


def job_fragment(conn: Connection, *, fragment_id: str) -> DictRow | None:
    """What a preview job needs of its fragment: files, sandbox, and whether a newer one holds it."""
    return conn.execute(
        f"""SELECT f.files, f."sandboxId" AS sandbox_id, {_HELD_BY_NEWER} AS held_by_newer
            FROM "Fragment" f JOIN "Message" m ON m.id = f."messageId" WHERE f.id = %s""",
        (fragment_id,),
    ).fetchone()


def finish_job(
    conn: Connection,
    *,
    fragment_id: str,
    attempt: int,
    error: str | None,
    sandbox_url: str | None = None,
    sandbox_id: str | None = None,
) -> bool:
    """READY (the fragment now points at its sandbox) or FAILED; False if the job is no longer ours."""
    row = conn.execute(
        """UPDATE "PreviewJob" SET status = %s::"PreviewStatus", error = %s, "leaseExpiresAt" = NULL
           WHERE "fragmentId" = %s AND attempts = %s AND status = 'STARTING' RETURNING "fragmentId" """,
        ("FAILED" if error else "READY", error, fragment_id, attempt),
    ).fetchone()
    if row is None:
        return False
    if error is None:
        conn.execute(
            'UPDATE "Fragment" SET "sandboxUrl" = %s, "sandboxId" = %s WHERE id = %s',
            (sandbox_url, sandbox_id, fragment_id),
        )
    return True
