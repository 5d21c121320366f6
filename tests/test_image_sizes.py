"""Reading an image's size from its header, and what the model is taken to count for it, on images
Pillow encodes in each type the API takes."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PillowImage

from qai.images import MOST_IMAGE_TOKENS, image_size, image_tokens


def encoded(media_type: str, width: int, height: int, **options: object) -> bytes:
    out = io.BytesIO()
    kind = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}[media_type]
    PillowImage.new("RGB", (width, height), (200, 30, 30)).save(out, kind, **options)
    return out.getvalue()


@pytest.mark.parametrize("media_type", ["image/png", "image/jpeg", "image/gif", "image/webp"])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (580, 580), (1920, 1080), (17, 4000)])
def test_the_size_comes_from_the_header(media_type: str, width: int, height: int) -> None:
    assert image_size(media_type, encoded(media_type, width, height)) == (width, height)


@pytest.mark.parametrize("options", [{"lossless": True}, {"lossless": False}, {"lossless": False, "exif": b"Exif\0\0"}])
def test_each_kind_of_webp(options: dict[str, object]) -> None:
    # VP8L (lossless), VP8 (lossy) and VP8X (extended: here, with EXIF)
    assert image_size("image/webp", encoded("image/webp", 300, 200, **options)) == (300, 200)


def test_a_progressive_jpeg_with_metadata() -> None:
    data = encoded("image/jpeg", 640, 480, progressive=True, exif=b"Exif\0\0" + b"x" * 5000, quality=50)
    assert image_size("image/jpeg", data) == (640, 480)


def test_tokens_follow_the_model_sizing() -> None:
    assert image_tokens("image/png", encoded("image/png", 580, 580)) == 449  # 580 x 580 / 750
    assert image_tokens("image/png", encoded("image/png", 200, 200)) == 53
    # Shrunk first: to 1568 px a side, then to about 1.15 megapixels.
    assert image_tokens("image/png", encoded("image/png", 3000, 100)) == round(1568 * 52 / 750)
    assert image_tokens("image/png", encoded("image/png", 4000, 4000)) == MOST_IMAGE_TOKENS - 1


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),  # cut before its frame
        ("image/jpeg", b"\xff\xd8\xff" + b"\x00" * 40),  # not a marker where one must be
        ("image/webp", b"RIFF\0\0\0\0WEBPVP8Z" + b"\0" * 20),  # a chunk it does not know
        ("image/png", b"\x89PNG\r\n\x1a\n"),  # no header
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 16),  # a size of 0 x 0
    ],
)
def test_a_size_that_cannot_be_read_costs_the_most(media_type: str, data: bytes) -> None:
    assert image_tokens(media_type, data) == MOST_IMAGE_TOKENS
