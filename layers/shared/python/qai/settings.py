"""Configuration from the environment, with secrets from AWS Secrets Manager.

Everything is read once per execution environment (cold start) and cached: a Lambda that is
re-used does not pay for Secrets Manager again, and tests call ``reset_caches()``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

# The certificate authorities of Amazon RDS and RDS Proxy (scripts/rds-ca-bundle.sh makes it).
RDS_CA_BUNDLE = Path(__file__).with_name("rds-ca-bundle.pem")


@dataclass(frozen=True)
class Settings:
    agent_queue_url: str
    max_value_length: int
    # Must match the queue's maxReceiveCount: the delivery with this ApproximateReceiveCount is the
    # last one, so the agent records a failure instead of leaving it to the dead-letter queue.
    agent_max_receive_count: int
    # Usage credits: CREDITS_PER_PERIOD per rolling CREDITS_PERIOD_DAYS, raised by a plan claim in
    # the JWT (CREDITS_PLAN_CLAIM) looked up in CREDITS_PLANS, a JSON object of plan → credits.
    credits_per_period: int
    credits_period_days: int
    credits_plan_claim: str
    credits_plans: dict[str, int]
    # A preview job still STARTING after this long is taken as lost: a new request starts another.
    preview_job_stale_seconds: int
    # How long GET …/preview waits for the preview to answer before it says STARTING.
    preview_probe_timeout_seconds: float


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@cache
def get_settings() -> Settings:
    return Settings(
        agent_queue_url=os.environ.get("AGENT_QUEUE_URL", ""),
        max_value_length=_int_env("MAX_VALUE_LENGTH", 1000),
        agent_max_receive_count=_int_env("AGENT_MAX_RECEIVE_COUNT", 3),
        credits_per_period=_int_env("CREDITS_PER_PERIOD", 5),
        credits_period_days=_int_env("CREDITS_PERIOD_DAYS", 30),
        credits_plan_claim=os.environ.get("CREDITS_PLAN_CLAIM", "").strip() or "plan",
        credits_plans={
            str(k): int(v) for k, v in json.loads(os.environ.get("CREDITS_PLANS") or '{"pro": 100}').items()
        },
        preview_job_stale_seconds=_int_env("PREVIEW_JOB_STALE_SECONDS", 900),
        preview_probe_timeout_seconds=float(os.environ.get("PREVIEW_PROBE_TIMEOUT_SECONDS", "").strip() or 3),
    )


@cache
def get_secret(arn: str) -> str:
    """The secret's string value, fetched once per cold start."""
    # Imported here so that functions configured by plain environment variables skip the cost.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn)
    return value if isinstance(value, str) else value.decode()


def secret_or_env(value_env: str, arn_env: str) -> str:
    """A credential given directly (local runs) or as a Secrets Manager ARN (deployments)."""
    direct = os.environ.get(value_env, "")
    if direct:
        return direct
    arn = os.environ.get(arn_env, "")
    return get_secret(arn) if arn else ""


@cache
def database_url() -> str:
    """``DATABASE_URL``, or a URL built from an RDS-style secret at ``DATABASE_SECRET_ARN``."""
    direct = os.environ.get("DATABASE_URL", "")
    if direct:
        return direct
    arn = os.environ.get("DATABASE_SECRET_ARN", "")
    if not arn:
        raise RuntimeError("Set DATABASE_URL or DATABASE_SECRET_ARN")
    return url_from_rds_secret(json.loads(get_secret(arn)))


def url_from_rds_secret(secret: Mapping[str, Any], ca_bundle: Path = RDS_CA_BUNDLE) -> str:
    """The URL of the database an RDS-style secret names, over TLS to the very host it names.

    ``verify-full``: the server's certificate must chain to a trusted authority and name the host,
    so neither a network path nor a look-alike endpoint can read the password. The authorities are
    RDS's (and RDS Proxy's) unless the secret says ``"ca": "public"``, for a hosted database whose
    certificate comes from a public authority (Neon, Supabase, Crunchy…).
    """
    user = quote(str(secret["username"]), safe="")
    password = quote(str(secret["password"]), safe="")
    host = quote(str(secret["host"]), safe="")
    port = secret.get("port", 5432)
    dbname = quote(str(secret.get("dbname", "postgres")), safe="")
    root = quote(str(_root_certificates(str(secret.get("ca", "rds")), ca_bundle)), safe="/")
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}?sslmode=verify-full&sslrootcert={root}"


def _root_certificates(authority: str, rds_bundle: Path) -> Path:
    if authority == "rds":
        return rds_bundle
    if authority == "public":
        import certifi  # Mozilla's roots, as browsers trust them

        return Path(certifi.where())
    raise RuntimeError(f'The database secret\'s "ca" must be "rds" or "public", not {authority!r}')


def reset_caches() -> None:
    for cached in (get_settings, get_secret, database_url):
        cached.cache_clear()
