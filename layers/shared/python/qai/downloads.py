"""Where a download too large for a Lambda response goes: a short-lived link instead of the body.

A Lambda response holds at most 6 MB, and a binary body travels in base64 (4/3 of its size), so a
zip above ``DOWNLOAD_INLINE_MAX_BYTES`` (4 MB by default) is stored and the API answers 302 to a
link that works for ``DOWNLOAD_LINK_SECONDS``: a presigned S3 URL to the template's downloads
bucket (its lifecycle rule deletes objects after a day), or, on one machine, a file under
``LOCAL_DOWNLOADS_DIR`` that the local stack serves at ``LOCAL_DOWNLOADS_URL``.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from qai.settings import Settings

TOKEN = re.compile(r"[0-9a-f]{32}")


class DownloadStoreUnavailableError(RuntimeError):
    """Neither DOWNLOADS_BUCKET nor LOCAL_DOWNLOADS_DIR is set: a large download has nowhere to go."""


class DownloadStore:
    """Where the API puts a zip too large to answer with: S3, or a folder on one machine."""

    def __init__(self, settings: Settings) -> None:
        self.inline_max_bytes = settings.download_inline_max_bytes
        self._link_seconds = settings.download_link_seconds
        self._bucket = settings.downloads_bucket
        self._directory = settings.local_downloads_dir
        self._url = settings.local_downloads_url

    def store(self, data: bytes, filename: str, content_type: str = "application/zip") -> str:
        """Keep ``data`` for a short while; a link to it that needs no credentials."""
        token = uuid.uuid4().hex
        if self._bucket:
            import boto3
            from botocore.config import Config

            s3 = boto3.client("s3", config=Config(signature_version="s3v4"))
            key = f"downloads/{token}/{filename}"
            s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ContentDisposition=f'attachment; filename="{filename}"',
            )
            return str(
                s3.generate_presigned_url(
                    "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._link_seconds
                )
            )
        if self._directory:
            target = Path(self._directory) / token / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            return f"{self._url.rstrip('/')}/{token}/{filename}"
        raise DownloadStoreUnavailableError("Set DOWNLOADS_BUCKET (or LOCAL_DOWNLOADS_DIR) for large downloads")


def local_file(directory: Path, token: str, filename: str, link_seconds: float) -> Path | None:
    """A stored local download that has not expired (expired ones are removed), or None."""
    if not TOKEN.fullmatch(token) or "/" in filename or filename.startswith("."):
        return None
    path = directory / token / filename
    if not path.is_file():
        return None
    if time.time() - path.stat().st_mtime > link_seconds:
        path.unlink(missing_ok=True)
        return None
    return path
