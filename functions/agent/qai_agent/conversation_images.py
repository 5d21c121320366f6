"""The images the model is shown with a run's first message: those sent with the request, then
those of earlier messages of the conversation the run shows it, newest first, while they fit the
image token budget (``AGENT_HISTORY_IMAGE_TOKENS``). An earlier image is said to be earlier, with
the words it came with."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Protocol

from psycopg.rows import DictRow

from qai.images import image_key, image_tokens

SENT_WITH_CHARS = 200


class ImageReader(Protocol):
    def get(self, key: str) -> bytes: ...


def _image_block(media_type: str, data: bytes) -> dict[str, Any]:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": base64.b64encode(data).decode()},
    }


def _earlier_text(content: str) -> dict[str, Any]:
    said = content if len(content) <= SENT_WITH_CHARS else content[: SENT_WITH_CHARS - 1] + "…"
    return {"type": "text", "text": f"An earlier message of this conversation came with the image(s) below: {said!r}"}


def conversation_image_blocks(
    uploads: ImageReader,
    *,
    project_id: str,
    message_id: str,
    images: Sequence[DictRow],
    conversation: Sequence[DictRow],
    budget_tokens: int,
) -> list[dict[str, Any]]:
    """The content blocks to put before the run's first message: earlier messages' images that fit
    the budget (each message's whole or not at all; oldest first, as the conversation reads), then the
    request's own. ``images`` are the images of the conversation's messages (id, message_id,
    media_type, in order), ``conversation`` its messages as the run shows them (id, role, content)."""
    by_message: dict[str, list[tuple[str, bytes]]] = {}
    for image in images:
        data = uploads.get(image_key(project_id, image["message_id"], image["id"]))
        by_message.setdefault(image["message_id"], []).append((image["media_type"], data))
    own = by_message.pop(message_id, [])
    room = budget_tokens
    kept: list[list[dict[str, Any]]] = []
    for message in reversed(conversation):  # newest first: the latest earlier images matter most
        sent = by_message.get(message["id"])
        if not sent or message["role"] != "USER":
            continue
        cost = sum(image_tokens(media_type, data) for media_type, data in sent)
        if cost > room:
            break  # older ones are left out too: the conversation the model sees has no gap
        room -= cost
        kept.append([_earlier_text(message["content"]), *(_image_block(t, d) for t, d in sent)])
    earlier = [block for group in reversed(kept) for block in group]
    return [*earlier, *(_image_block(media_type, data) for media_type, data in own)]
