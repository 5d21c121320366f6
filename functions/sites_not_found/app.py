"""Lambda handler behind the sites distribution's origin group: a file of a published site that the
bucket does not hold is answered with the site's own 404 page (``qai.sites_not_found``). CloudFront
calls it through a function URL (IAM auth, the distribution's origin access control); it is not
part of the API."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from qai.settings import Settings, load_settings
from qai.sites_not_found import site_not_found, sites_s3_client

logger = Logger()


@cache
def environment_bucket() -> tuple[str, Any]:
    """The sites bucket and an S3 client, made once per execution environment."""
    return load_settings(Settings).sites_bucket, sites_s3_client()


@logger.inject_lambda_context
def handle(event: dict[str, Any], context: LambdaContext, bucket: str, s3: Any) -> dict[str, Any]:
    """``event`` is a function URL request (payload format 2.0)."""
    return site_not_found(s3, bucket, str(event.get("rawPath", "")))


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bucket, s3 = environment_bucket()
    return handle(event, context, bucket, s3)
