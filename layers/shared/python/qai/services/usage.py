"""Usage credits: one per run, CREDITS_PER_PERIOD (or the caller's plan's) per rolling period."""

from __future__ import annotations

from datetime import datetime, timedelta

from qai import credits
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import TooManyRequestsError
from qai.models import Caller, Usage, iso_utc
from qai.services import new_id
from qai.settings import Settings


def credit_limit(settings: Settings, caller: Caller) -> int:
    return settings.credits_plans.get(caller.plan or "", settings.credits_per_period)


def _next_credit_at(settings: Settings, oldest_spent: datetime | None) -> datetime | None:
    return oldest_spent + timedelta(days=settings.credits_period_days) if oldest_spent else None


def spend_credit(conn: Connection, settings: Settings, caller: Caller, *, run_id: str) -> None:
    """One credit for ``run_id``, or TooManyRequestsError when the period's are used up."""
    # The account row lock makes check-and-spend atomic for concurrent requests of one user.
    credits.lock_account(conn, user_id=caller.user_id)
    spent, oldest = credits.spent_in_window(conn, user_id=caller.user_id, period_days=settings.credits_period_days)
    limit = credit_limit(settings, caller)
    if spent >= limit:
        next_credit = _next_credit_at(settings, oldest)
        when = f" The next one comes back at {iso_utc(next_credit)}." if next_credit else ""
        raise TooManyRequestsError(f"You have used all {limit} credits of this period.{when}")
    credits.insert_charge(conn, charge_id=new_id(), user_id=caller.user_id, run_id=run_id)


def get_usage(deps: Dependencies, caller: Caller) -> Usage:
    period_days = deps.settings.credits_period_days
    spent, oldest = deps.database.in_transaction(
        lambda conn: credits.spent_in_window(conn, user_id=caller.user_id, period_days=period_days)
    )
    limit = credit_limit(deps.settings, caller)
    return Usage(limit=limit, remaining=max(0, limit - spent), resets_at=_next_credit_at(deps.settings, oldest))
