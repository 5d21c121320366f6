"""Where published sites live: each publish of a site goes to a new prefix, and the site's pointer
moves to it only once every file is in place, so a visitor never gets a mix of two versions.

Deployed: an S3 bucket (``SITES_BUCKET``: ``<slug>/<prefix>/<path>``) behind one CloudFront
distribution (``SITES_URL``) whose viewer-request function reads the pointer of ``/<slug>/`` from a
CloudFront KeyValueStore (``SITES_KVS_ARN``). On one machine: a folder (``LOCAL_SITES_DIR``:
``<slug>/<prefix>/<path>``, the pointer a ``<slug>/current`` link replaced in one rename) that
the local stack serves on its own port.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from qai.errors import ServiceUnavailableError
from qai.settings import Settings

POINTER = "current"
# A site's slug (the first segment of its URL) and the prefix of one of its publishes: the shapes the
# sites distribution's router accepts, and all that the servers of a site's files ever join into a path.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,80}")
PREFIX = re.compile(r"[0-9a-f]{1,64}")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".webmanifest": "application/manifest+json",
    ".map": "application/json",
}


def content_type(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def cache_control(path: str) -> str:
    """Next's hashed build assets never change under their name; everything else is asked again."""
    return IMMUTABLE if path.startswith("_next/static/") else REVALIDATE


def site_path(rest: str) -> str | None:
    """The file a request's path inside a site names (``about/`` → ``about/index.html``), or None
    when the path could escape the site (``..``, a backslash, a NUL, a hidden name)."""
    if "\\" in rest or "\x00" in rest:
        return None
    parts = rest.split("/")
    if any(part in (".", "..") or part.startswith(".") for part in parts if part):
        return None
    if rest == "" or rest.endswith("/"):
        return rest + "index.html"
    return rest if "." in parts[-1] else rest + "/index.html"


def new_prefix() -> str:
    return secrets.token_hex(8)


class SitesUnavailableError(ServiceUnavailableError):
    """Neither SITES_BUCKET nor LOCAL_SITES_DIR is set: a site has nowhere to go."""


class SiteStore(Protocol):
    configured: bool  # False: publishing is not set up here

    def site_url(self, slug: str) -> str: ...

    def upload(self, slug: str, prefix: str, files: Mapping[str, bytes]) -> None:
        """Every file of one publish, under its own prefix (nothing serves it yet)."""
        ...

    def point(self, slug: str, prefix: str) -> None:
        """The site now serves that prefix, all at once."""
        ...

    def remove_others(self, slug: str, keep: str) -> None:
        """The site's other prefixes (earlier publishes, failed uploads) deleted."""
        ...

    def take_down(self, slug: str) -> None:
        """The site gone: its URL answers 404, its files deleted."""
        ...


class LocalSiteStore:
    configured = True

    def __init__(self, directory: Path, url: str) -> None:
        self.directory = directory
        self._url = url.rstrip("/")

    def site_url(self, slug: str) -> str:
        return f"{self._url}/{slug}/"

    def upload(self, slug: str, prefix: str, files: Mapping[str, bytes]) -> None:
        root = self.directory / slug / prefix
        for relative, data in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def point(self, slug: str, prefix: str) -> None:
        staged = self.directory / slug / f".{POINTER}-{secrets.token_hex(4)}"
        os.symlink(prefix, staged)
        os.replace(staged, self.directory / slug / POINTER)  # a rename: the old target or the new, never neither

    def remove_others(self, slug: str, keep: str) -> None:
        for entry in (self.directory / slug).iterdir():
            if entry.name not in (keep, POINTER) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)

    def take_down(self, slug: str) -> None:
        (self.directory / slug / POINTER).unlink(missing_ok=True)
        shutil.rmtree(self.directory / slug, ignore_errors=True)


class S3SiteStore:
    """S3 for the files; the pointer of each site in CloudFront's KeyValueStore, read at the edge."""

    configured = True

    def __init__(self, bucket: str, url: str, kvs_arn: str) -> None:
        self._bucket = bucket
        self._url = url.rstrip("/")
        self._kvs_arn = kvs_arn

    @cached_property
    def _s3(self) -> Any:
        import boto3

        return boto3.client("s3")

    @cached_property
    def _kvs(self) -> Any:
        import boto3

        return boto3.client("cloudfront-keyvaluestore")

    def site_url(self, slug: str) -> str:
        return f"{self._url}/{slug}/"

    def upload(self, slug: str, prefix: str, files: Mapping[str, bytes]) -> None:
        for relative, data in files.items():
            self._s3.put_object(
                Bucket=self._bucket,
                Key=f"{slug}/{prefix}/{relative}",
                Body=data,
                ContentType=content_type(relative),
                CacheControl=cache_control(relative),
            )

    def _etag(self) -> str:
        return str(self._kvs.describe_key_value_store(KvsARN=self._kvs_arn)["ETag"])

    def point(self, slug: str, prefix: str) -> None:
        self._kvs.put_key(KvsARN=self._kvs_arn, Key=slug, Value=prefix, IfMatch=self._etag())

    def _keys(self, slug: str) -> list[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=f"{slug}/")
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # S3 deletes at most 1,000 keys a request
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})

    def remove_others(self, slug: str, keep: str) -> None:
        self._delete([key for key in self._keys(slug) if not key.startswith(f"{slug}/{keep}/")])

    def take_down(self, slug: str) -> None:
        with contextlib.suppress(self._kvs.exceptions.ResourceNotFoundException):  # never pointed: nothing serves it
            self._kvs.delete_key(KvsARN=self._kvs_arn, Key=slug, IfMatch=self._etag())
        self._delete(self._keys(slug))


class NoSiteStore:
    """What a publish meets when no store is set up: a clear refusal."""

    configured = False

    def _refuse(self) -> SitesUnavailableError:
        return SitesUnavailableError("Publishing is not set up here: set SITES_BUCKET (or LOCAL_SITES_DIR)")

    def site_url(self, slug: str) -> str:
        raise self._refuse()

    def upload(self, slug: str, prefix: str, files: Mapping[str, bytes]) -> None:
        raise self._refuse()

    def point(self, slug: str, prefix: str) -> None:
        raise self._refuse()

    def remove_others(self, slug: str, keep: str) -> None:
        raise self._refuse()

    def take_down(self, slug: str) -> None:
        raise self._refuse()


def site_store(settings: Settings) -> SiteStore:
    if settings.sites_bucket:
        return S3SiteStore(settings.sites_bucket, settings.sites_url, settings.sites_kvs_arn)
    if settings.local_sites_dir:
        return LocalSiteStore(Path(settings.local_sites_dir), settings.sites_url)
    return NoSiteStore()
