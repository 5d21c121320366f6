"""A published site's own 404 page, deployed. The sites distribution asks the bucket first; when it
answers 403 or 404 (no such file), an origin group fails over to a Lambda function URL with the same
path, which the viewer-request router has already made ``/<slug>/<prefix>/<path>``. The answer is
then ``<slug>/<prefix>/404.html`` with status 404, or a plain 404 when the site has none, the path
is not one the router makes, or S3 fails: never an error status, never a file of another prefix.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from typing import Any

from qai.sites_store import PREFIX, REVALIDATE, SLUG, site_path

logger = logging.getLogger(__name__)

PAGE = "404.html"
# A function URL's response is at most 6 MB, and a binary body goes base64 (4/3 larger).
PAGE_MAX_BYTES = 4_000_000
# What S3 answers for a key that is not there: NoSuchKey, or AccessDenied without s3:ListBucket.
_NO_PAGE = frozenset({"NoSuchKey", "404", "AccessDenied", "403"})


def not_found_key(path: str) -> str | None:
    """The key of the 404 page of the site whose prefix ``path`` is in, or None for a path the
    router never makes (a bad slug or prefix, ``..``, a hidden name, encoded or not)."""
    decoded = urllib.parse.unquote(path)
    if not decoded.startswith("/"):
        return None
    slug, _, rest = decoded[1:].partition("/")
    prefix, _, inner = rest.partition("/")
    if not (SLUG.fullmatch(slug) and PREFIX.fullmatch(prefix)) or site_path(inner) is None:
        return None
    return f"{slug}/{prefix}/{PAGE}"


def not_found_response(page: bytes | None) -> dict[str, Any]:
    """A Lambda function URL response: the page with status 404, or a plain 404 without one."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if page is None:
        headers |= {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
        return {"statusCode": 404, "headers": headers, "body": "Not found\n", "isBase64Encoded": False}
    headers |= {"Content-Type": "text/html; charset=utf-8", "Cache-Control": REVALIDATE}
    body = base64.b64encode(page).decode("ascii")  # the page's bytes as they are, whatever their encoding
    return {"statusCode": 404, "headers": headers, "body": body, "isBase64Encoded": True}


def _read_page(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        found = s3.get_object(Bucket=bucket, Key=key)
        if int(found.get("ContentLength", 0)) > PAGE_MAX_BYTES:
            logger.warning("%s is over %d bytes: a plain 404 instead", key, PAGE_MAX_BYTES)
            return None
        return bytes(found["Body"].read())
    except Exception as exc:  # any failure of S3 is a plain 404, never an error page of the distribution
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code not in _NO_PAGE:
            logger.warning("Could not read %s: %s", key, exc)
        return None


def site_not_found(s3: Any, bucket: str, path: str) -> dict[str, Any]:
    """What the distribution answers for ``path`` (``/<slug>/<prefix>/<path>``), a file the bucket
    does not hold: the site's own 404 page when it has one, else a plain 404."""
    key = not_found_key(path)
    if key is None or not bucket:
        return not_found_response(None)
    return not_found_response(_read_page(s3, bucket, key))


def sites_s3_client() -> Any:
    """An S3 client that gives up quickly: CloudFront waits 30 s for an origin, a page is small."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client("s3", config=config)
