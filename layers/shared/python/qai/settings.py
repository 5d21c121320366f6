"""Configuration from the environment, with secrets from AWS Secrets Manager.

Each entry point reads its settings once, at cold start, into the dependencies object it passes
down (``qai.dependencies``); nothing here is cached, so tests build settings of their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pydantic_settings
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# The certificate authorities of Amazon RDS and RDS Proxy (scripts/rds-ca-bundle.sh makes it).
RDS_CA_BUNDLE = Path(__file__).with_name("rds-ca-bundle.pem")


class SettingsError(ValueError):
    """A setting's value is not valid: the message names the environment variable and what is wrong."""


class Settings(BaseSettings):
    """What every function reads from its environment: each field is the variable of its name in
    upper case (``AGENT_QUEUE_URL``…); an empty variable counts as unset."""

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore", populate_by_name=True)

    agent_queue_url: str = ""
    max_value_length: PositiveInt = 1000
    # Must match the queue's maxReceiveCount: the delivery with this ApproximateReceiveCount is the
    # last one, so the agent records a failure instead of leaving it to the dead-letter queue.
    agent_max_receive_count: PositiveInt = 3
    # Usage credits: CREDITS_PER_PERIOD per rolling CREDITS_PERIOD_DAYS, raised by a plan claim in
    # the JWT (CREDITS_PLAN_CLAIM) looked up in CREDITS_PLANS, a JSON object of plan → credits.
    credits_per_period: NonNegativeInt = 5
    credits_period_days: PositiveInt = 30
    credits_plan_claim: str = "plan"
    credits_plans: dict[str, NonNegativeInt] = {"pro": 100}
    # A preview job still STARTING after this long is taken as lost: a new request starts another.
    preview_job_stale_seconds: PositiveInt = 900
    # How long GET …/preview waits for the preview to answer before it says STARTING.
    preview_probe_timeout_seconds: PositiveFloat = 3
    # The outbox's sweeper: a send that is merely slow is not repeated within the grace; a message
    # older than the agent's lease looks lost.
    sweeper_grace_seconds: NonNegativeFloat = 60
    sweeper_resend_after_seconds: NonNegativeFloat = 960
    # The database: a URL (on one machine), or an RDS-style secret in Secrets Manager (deployed).
    database_url: str = Field("", repr=False)
    database_secret_arn: str = ""
    # Server-side prepared statements: only for a database reached directly. RDS Proxy and PgBouncer
    # in transaction mode cannot carry them across the backends they multiplex.
    database_prepared_statements: bool = False
    # Downloads too large for a response (qai.downloads): a link to S3, or to a local folder.
    download_inline_max_bytes: PositiveInt = 4_000_000
    download_link_seconds: PositiveInt = 900
    downloads_bucket: str = ""
    local_downloads_dir: str = ""
    local_downloads_url: str = ""
    # A version's diff: the largest patch of one file, and of all of them together, in a response.
    diff_patch_max_bytes: PositiveInt = 500_000
    diff_max_bytes: PositiveInt = 4_000_000
    # Pushes of a project's history (qai.git_remote): https:// to public addresses only, unless
    # GIT_PUSH_ALLOW_PRIVATE also allows http:// and private ones (a git server on one's own network).
    git_push_allow_private: bool = False
    git_push_timeout_seconds: PositiveFloat = 30
    # A push still queued or running after this long is taken as lost: FAILED, a new one may start.
    git_push_stale_seconds: PositiveInt = 900
    # A push's token is sealed until its job ends: with a KMS key (deployed) or a key file (one machine).
    git_push_kms_key_id: str = ""
    local_push_key_file: str = ""
    # Images with a prompt (qai.images): how many, each's and all's decoded size, and where they go.
    images_max_count: NonNegativeInt = 4
    image_max_bytes: PositiveInt = 2 * 2**20
    images_max_total_bytes: PositiveInt = 4 * 2**20
    uploads_bucket: str = ""
    local_uploads_dir: str = ""
    # Published sites (qai.sites_store): S3 behind CloudFront with its KeyValueStore, or a folder.
    sites_bucket: str = ""
    sites_url: str = ""
    sites_kvs_arn: str = ""
    local_sites_dir: str = ""
    # A publish still under way after this long is taken as lost: a new one may start.
    site_publish_stale_seconds: PositiveInt = 1800

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: Any) -> Any:
        """Values without the white space around them; one that is only white space counts as unset."""
        if not isinstance(values, dict):
            return values
        stripped = {key: value.strip() if isinstance(value, str) else value for key, value in values.items()}
        return {key: value for key, value in stripped.items() if value != ""}


S = TypeVar("S", bound=BaseSettings)


def load_settings(model: type[S]) -> S:
    """``model`` read from the environment, or a SettingsError naming each variable that is wrong."""
    try:
        return model()
    except pydantic_settings.SettingsError as exc:  # a JSON value that does not parse
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1).upper() if field else model.__name__
        raise SettingsError(f"Invalid settings: {name}: not valid JSON ({exc.__cause__})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(error['loc'][0]).upper() if error['loc'] else model.__name__}: {error['msg']}"
            f" (got {error['input']!r})"
            for error in exc.errors()
        )
        raise SettingsError(f"Invalid settings: {problems}") from None


def fetch_secret(arn: str) -> str:
    """A Secrets Manager secret's string value (the dependencies object fetches each once)."""
    # Imported here so that functions configured by plain environment variables skip the cost.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=0)
    return value if isinstance(value, str) else value.decode()


def secret_value(direct: str, arn: str) -> str:
    """A credential given directly (on one machine) or as a Secrets Manager ARN (deployed)."""
    return direct or (fetch_secret(arn) if arn else "")


def resolved_database_url(settings: Settings) -> str:
    """``DATABASE_URL``, or a URL built from the RDS-style secret at ``DATABASE_SECRET_ARN``."""
    if settings.database_url:
        return settings.database_url
    if not settings.database_secret_arn:
        raise SettingsError("Set DATABASE_URL or DATABASE_SECRET_ARN")
    return url_from_rds_secret(json.loads(fetch_secret(settings.database_secret_arn)))


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
