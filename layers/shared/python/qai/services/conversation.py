"""A project's conversation: its messages, and follow-ups that queue a run on the same app."""

from __future__ import annotations

from qai import messages, projects
from qai.app_files import BINARY_PREFIX, template_texts
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import BadRequestError, NotFoundError
from qai.models import Caller, ImageInput, Message, MessageMode, Selection
from qai.services import new_id
from qai.services.images import StoredImage, listed, record_images, stored_images
from qai.services.runs import checked_prompt, queue_run, send_run


def list_messages_json(deps: Dependencies, user_id: str, project_id: str) -> str:
    """The conversation as the response body (a MessageList), built by the database."""
    body = deps.database.in_autocommit(
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
    selection: Selection | None = None,
) -> Message:
    """A follow-up and its run: build changes the app, ask answers about it (either spends a credit)."""
    prompt = checked_prompt(deps.settings, prompt)
    message_id = new_id()

    def work(conn: Connection, stored: list[StoredImage]) -> Message:
        if projects.find_project(conn, project_id=project_id, user_id=caller.user_id) is None:
            raise NotFoundError("Project not found")
        if selection is not None:
            check_selection(conn, project_id, selection)
        row = messages.insert_message(
            conn,
            message_id=message_id,
            project_id=project_id,
            content=prompt,
            role="USER",
            type_="RESULT",
            mode=mode,
            selection=selection.model_dump() if selection else None,
        )
        record_images(conn, message_id, stored)
        projects.touch_project(conn, project_id=project_id)
        run_id = queue_run(conn, deps.settings, caller, project_id=project_id, message_id=message_id)
        run = {"id": run_id, "status": "QUEUED"}
        return Message.model_validate(
            {**row, "fragment": None, "run": run, "images": listed(project_id, message_id, stored)}
        )

    with stored_images(deps, project_id, message_id, images or []) as stored:
        message = deps.database.in_transaction(lambda conn: work(conn, stored))
    send_run(deps, project_id=project_id, message_id=message_id)
    return message


def check_selection(conn: Connection, project_id: str, selection: Selection) -> None:
    """The selected line must be in a file of the newest version (its own, or the template's)."""
    latest = messages.latest_fragment(conn, project_id=project_id)
    files = dict(latest["files"]) if latest else {}
    content = files.get(selection.file, template_texts().get(selection.file))
    if content is None or content.startswith(BINARY_PREFIX):
        raise BadRequestError("selection.file: not a text file of the newest version")
    lines = content.count("\n") + (0 if content.endswith("\n") else 1)
    if selection.line > lines:
        raise BadRequestError(f"selection.line: {selection.file} has {lines} lines")
