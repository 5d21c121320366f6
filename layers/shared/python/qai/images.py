"""Images sent with a prompt: checked (type, bytes that are that type, count and sizes), kept in the
uploads store, and read back for the model and for the API.

Deployed, the bytes live in a private S3 bucket (``UPLOADS_BUCKET``) and the API answers an image
with a short-lived link; on one machine in a folder (``LOCAL_UPLOADS_DIR``) and the API answers
the bytes. Either way under ``uploads/<projectId>/<messageId>/<imageId>``.
"""

from __future__ import annotations

import base64
import binascii
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from qai.errors import BadRequestError, ServiceUnavailableError
from qai.settings import Settings

# The first bytes of each type the model takes.
_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


@dataclass(frozen=True)
class Image:
    media_type: str
    data: bytes


def _matches(media_type: str, data: bytes) -> bool:
    if media_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(_SIGNATURES[media_type])


# Anthropic's documented sizing: an image is shrunk to at most 1568 px a side and about 1.15
# megapixels, then costs about width x height / 750 input tokens.
MODEL_LONG_SIDE = 1568
MODEL_PIXELS = 1_150_000
PIXELS_PER_TOKEN = 750
# What an image whose size cannot be read is taken to cost: the most any image does.
MOST_IMAGE_TOKENS = round(MODEL_PIXELS / PIXELS_PER_TOKEN)
# JPEG's start-of-frame markers (the ones that carry the size): C0 to CF but C4, C8 and CC.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # padding
            at += 1
            continue
        if marker in _JPEG_FRAMES:
            return int.from_bytes(data[at + 7 : at + 9], "big"), int.from_bytes(data[at + 5 : at + 7], "big")
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def image_size(media_type: str, data: bytes) -> tuple[int, int] | None:
    """The image's width and height from its header, or None when they cannot be read."""
    if media_type == "image/png" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if media_type == "image/gif" and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if media_type == "image/jpeg":
        return _jpeg_size(data)
    if media_type == "image/webp":
        return _webp_size(data)
    return None


def image_tokens(media_type: str, data: bytes) -> int:
    """About how many input tokens the model counts for the image (the most any image costs when its
    size cannot be read)."""
    size = image_size(media_type, data)
    if not size or not all(size):
        return MOST_IMAGE_TOKENS
    width, height = size
    scale = min(1.0, MODEL_LONG_SIDE / max(width, height), (MODEL_PIXELS / (width * height)) ** 0.5)
    return max(1, round(int(width * scale) * int(height * scale) / PIXELS_PER_TOKEN))


def checked_images(settings: Settings, images: list[tuple[str, str]]) -> list[Image]:
    """Each (media type, base64) decoded and checked against the limits; BadRequestError naming it."""
    if len(images) > settings.images_max_count:
        raise BadRequestError(f"images: at most {settings.images_max_count}")
    checked, total = [], 0
    for index, (media_type, encoded) in enumerate(images):
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError(f"images[{index}].data: not base64") from None
        if not data:
            raise BadRequestError(f"images[{index}].data: empty")
        if len(data) > settings.image_max_bytes:
            raise BadRequestError(f"images[{index}]: larger than {settings.image_max_bytes} bytes")
        if not _matches(media_type, data):
            raise BadRequestError(f"images[{index}]: the bytes are not a {media_type} image")
        total += len(data)
        checked.append(Image(media_type, data))
    if total > settings.images_max_total_bytes:
        raise BadRequestError(f"images: larger than {settings.images_max_total_bytes} bytes together")
    return checked


def image_key(project_id: str, message_id: str, image_id: str) -> str:
    return f"{images_prefix(project_id, message_id)}{image_id}"


def images_prefix(project_id: str, message_id: str | None = None) -> str:
    """Where a project's images are kept (or one message's, given its id)."""
    return f"uploads/{project_id}/" + (f"{message_id}/" if message_id else "")


class UploadsUnavailableError(ServiceUnavailableError):
    """Neither UPLOADS_BUCKET nor LOCAL_UPLOADS_DIR is set: an image has nowhere to go."""


class UploadStore:
    """Where images go: S3 (answered with short-lived links), a folder on one machine, or nowhere."""

    def __init__(self, settings: Settings) -> None:
        self._bucket = settings.uploads_bucket
        self._directory = Path(settings.local_uploads_dir) if settings.local_uploads_dir else None
        self._link_seconds = settings.download_link_seconds

    @cached_property
    def _s3(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", config=Config(signature_version="s3v4"))

    def _refuse(self) -> UploadsUnavailableError:
        return UploadsUnavailableError("Images are not set up here: set UPLOADS_BUCKET (or LOCAL_UPLOADS_DIR)")

    def put(self, key: str, image: Image) -> None:
        if self._bucket:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=image.data, ContentType=image.media_type)
        elif self._directory is not None:
            target = self._directory / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(image.data)
        else:
            raise self._refuse()

    def get(self, key: str) -> bytes:
        if self._bucket:
            return bytes(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
        if self._directory is not None:
            return (self._directory / key).read_bytes()
        raise self._refuse()

    def delete_under(self, prefix: str) -> None:
        """Remove every image whose key starts with ``prefix`` (a project's or a message's folder)."""
        if self._bucket:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
            for page in pages:
                if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
                    self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
        elif self._directory is not None:
            shutil.rmtree(self._directory / prefix, ignore_errors=True)

    def link(self, key: str) -> str | None:
        """A short-lived link to the image (S3), or None when the API answers its bytes."""
        if not self._bucket:
            return None
        params = {"Bucket": self._bucket, "Key": key}
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=self._link_seconds))
