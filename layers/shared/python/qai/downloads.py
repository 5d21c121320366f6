"""Where a download too large for a Lambda response goes: a short-lived link instead of the body.

A Lambda response holds at most 6 MB, and a binary body travels in base64 (4/3 of its size), so a
zip above ``DOWNLOAD_INLINE_MAX_BYTES`` (4 MB by default) is stored and the API answers 302 to a
link that works for ``DOWNLOAD_LINK_SECONDS``: a presigned S3 URL to the template's downloads
bucket (its lifecycle rule deletes objects after a day), or, on one machine, a file under
``LOCAL_DOWNLOADS_DIR`` that the local stack serves at ``LOCAL_DOWNLOADS_URL``.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

LINK_SECONDS = int(os.environ.get("DOWNLOAD_LINK_SECONDS", "").strip() or 900)
TOKEN = re.compile(r"[0-9a-f]{32}")


class DownloadStoreUnavailableError(RuntimeError):
    """Neither DOWNLOADS_BUCKET nor LOCAL_DOWNLOADS_DIR is set: a large download has nowhere to go."""


def inline_max_bytes() -> int:
    return int(os.environ.get("DOWNLOAD_INLINE_MAX_BYTES", "").strip() or 4_000_000)


def store(data: bytes, filename: str) -> str:
    """Keep ``data`` for a short while; a link to it that needs no credentials."""
    token = uuid.uuid4().hex
    bucket = os.environ.get("DOWNLOADS_BUCKET", "").strip()
    if bucket:
        import boto3
        from botocore.config import Config

        s3 = boto3.client("s3", config=Config(signature_version="s3v4"))
        key = f"downloads/{token}/{filename}"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType="application/zip",
            ContentDisposition=f'attachment; filename="{filename}"',
        )
        return str(
            s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=LINK_SECONDS)
        )
    directory = os.environ.get("LOCAL_DOWNLOADS_DIR", "").strip()
    if directory:
        target = Path(directory) / token / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return f"{os.environ['LOCAL_DOWNLOADS_URL'].rstrip('/')}/{token}/{filename}"
    raise DownloadStoreUnavailableError("Set DOWNLOADS_BUCKET (or LOCAL_DOWNLOADS_DIR) for large downloads")


def local_file(directory: Path, token: str, filename: str) -> Path | None:
    """A stored local download that has not expired (expired ones are removed), or None."""
    if not TOKEN.fullmatch(token) or "/" in filename or filename.startswith("."):
        return None
    path = directory / token / filename
    if not path.is_file():
        return None
    if time.time() - path.stat().st_mtime > LINK_SECONDS:
        path.unlink(missing_ok=True)
        return None
    return path
