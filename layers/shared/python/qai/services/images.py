"""Images with a prompt: kept in the uploads store before the message that lists them is committed,
and served back to their owner."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from qai import messages
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import NotFoundError
from qai.images import Image, checked_images, image_key, images_prefix
from qai.models import Download, ImageInput, MessageImage
from qai.services import new_id

StoredImage = tuple[str, str, int]  # id, media type, size


@contextlib.contextmanager
def stored_images(
    deps: Dependencies, project_id: str, message_id: str, images: list[ImageInput]
) -> Iterator[list[StoredImage]]:
    """Each image checked and put in the store (none of them when one is refused), for the block
    that records the message listing them; removed again when that block fails (not the caller's
    project, no credit, a run under way), so a refused request leaves nothing in the store."""
    checked: list[Image] = checked_images(deps.settings, [(image.media_type, image.data) for image in images])
    if not checked:
        yield []
        return
    stored = []
    try:
        for image in checked:
            image_id = new_id()
            deps.uploads.put(image_key(project_id, message_id, image_id), image)
            stored.append((image_id, image.media_type, len(image.data)))
        yield stored
    except BaseException:
        deps.uploads.delete_under(images_prefix(project_id, message_id))
        raise


def listed(project_id: str, message_id: str, stored: list[StoredImage]) -> list[MessageImage]:
    """The images as the message lists them."""
    base = f"/projects/{project_id}/messages/{message_id}/images"
    return [
        MessageImage.model_validate({"id": image_id, "mediaType": media_type, "url": f"{base}/{image_id}"})
        for image_id, media_type, _ in stored
    ]


def record_images(conn: Connection, message_id: str, stored: list[StoredImage]) -> None:
    messages.insert_images(conn, message_id=message_id, images=stored)


def get_image(
    deps: Dependencies, user_id: str, project_id: str, message_id: str, image_id: str
) -> tuple[str, Download]:
    """The image's media type, and its bytes or a short-lived link."""
    row = deps.database.in_autocommit(
        lambda conn: messages.find_image(
            conn, image_id=image_id, message_id=message_id, project_id=project_id, user_id=user_id
        )
    )
    if row is None:
        raise NotFoundError("Image not found")
    key = image_key(project_id, message_id, image_id)
    filename = f"{image_id}.{row['media_type'].split('/')[1]}"
    if (url := deps.uploads.link(key)) is not None:
        return row["media_type"], Download(filename=filename, url=url)
    return row["media_type"], Download(filename=filename, data=deps.uploads.get(key))
