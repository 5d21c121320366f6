"""A project's conversation: its messages, and follow-ups that queue a run on the same app."""

from __future__ import annotations

from qai import messages, projects
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import NotFoundError
from qai.models import Caller, ImageInput, Message, MessageMode
from qai.services import new_id
from qai.services.images import listed, record_images, store_images
from qai.services.runs import checked_prompt, queue_run, send_run


def list_messages_json(deps: Dependencies, user_id: str, project_id: str) -> str:
    """The conversation as the response body (a MessageList), built by the database."""
    body = deps.database.in_transaction(
        lambda conn: messages.conversation_json(conn, project_id=project_id, user_id=user_id)
    )
    if body is None:
        raise NotFoundError("Project not found")
    return body


def post_message(
    deps: Dependencies,
    caller: Caller,
    project_id: str,
    prompt: str,
    mode: MessageMode = "build",
    images: list[ImageInput] | None = None,
) -> Message:
    """A follow-up and its run: build changes the app, ask answers about it (either spends a credit)."""
    prompt = checked_prompt(deps.settings, prompt)
    message_id = new_id()
    stored = store_images(deps, project_id, message_id, images or [])

    def work(conn: Connection) -> Message:
        if projects.find_project(conn, project_id=project_id, user_id=caller.user_id) is None:
            raise NotFoundError("Project not found")
        row = messages.insert_message(
            conn, message_id=message_id, project_id=project_id, content=prompt, role="USER", type_="RESULT", mode=mode
        )
        record_images(conn, message_id, stored)
        projects.touch_project(conn, project_id=project_id)
        run_id = queue_run(conn, deps.settings, caller, project_id=project_id, message_id=message_id)
        run = {"id": run_id, "status": "QUEUED"}
        return Message.model_validate(
            {**row, "fragment": None, "run": run, "images": listed(project_id, message_id, stored)}
        )

    message = deps.database.in_transaction(work)
    send_run(deps, project_id=project_id, message_id=message_id)
    return message
