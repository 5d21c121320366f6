"""SQL for usage credits: the per-user account row (the lock that makes check-and-spend atomic)
and one charge per queued run."""

from __future__ import annotations

from datetime import datetime

from qai.db import UTC_NOW, Connection


def lock_account(conn: Connection, *, user_id: str) -> None:
    """Hold the user's account row until the transaction ends: spends of one user queue up here."""
    conn.execute('INSERT INTO "CreditAccount" ("userId") VALUES (%s) ON CONFLICT DO NOTHING', (user_id,))
    conn.execute('SELECT 1 FROM "CreditAccount" WHERE "userId" = %s FOR UPDATE', (user_id,))


def spent_in_window(conn: Connection, *, user_id: str, period_days: int) -> tuple[int, datetime | None]:
    """How many credits the user spent in the rolling window, and when the oldest of them was spent."""
    row = conn.execute(
        f"""SELECT count(*) AS spent, min("createdAt") AS oldest FROM "CreditCharge"
            WHERE "userId" = %s AND "refundedAt" IS NULL AND "createdAt" > {UTC_NOW} - make_interval(days => %s)""",
        (user_id, period_days),
    ).fetchone()
    assert row is not None
    return int(row["spent"]), row["oldest"]


def insert_charge(conn: Connection, *, charge_id: str, user_id: str, run_id: str) -> None:
    conn.execute('INSERT INTO "CreditCharge" (id, "userId", "runId") VALUES (%s, %s, %s)', (charge_id, user_id, run_id))


def refund_charge(conn: Connection, *, run_id: str) -> bool:
    """Give the run's credit back; False if it was refunded already (or never charged)."""
    cur = conn.execute(
        f'UPDATE "CreditCharge" SET "refundedAt" = {UTC_NOW} WHERE "runId" = %s AND "refundedAt" IS NULL', (run_id,)
    )
    return cur.rowcount == 1
