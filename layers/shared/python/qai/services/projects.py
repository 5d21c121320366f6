"""Projects: created from a prompt (with its first run), listed a page at a time, deleted."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from coolname import generate_slug

from qai import messages, projects, sites
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import BadRequestError, NotFoundError
from qai.images import images_prefix
from qai.models import Caller, ImageInput, Project, ProjectPage
from qai.services import new_id
from qai.services.images import StoredImage, record_images, stored_images
from qai.services.runs import checked_prompt, queue_run, send_run


def create_project(deps: Dependencies, caller: Caller, prompt: str, images: list[ImageInput] | None = None) -> Project:
    prompt = checked_prompt(deps.settings, prompt)
    project_id, message_id = new_id(), new_id()
    name = generate_slug(2)

    def work(conn: Connection, stored: list[StoredImage]) -> Project:
        row = projects.insert_project(conn, project_id=project_id, name=name, user_id=caller.user_id)
        messages.insert_message(
            conn, message_id=message_id, project_id=project_id, content=prompt, role="USER", type_="RESULT"
        )
        record_images(conn, message_id, stored)
        queue_run(conn, deps.settings, caller, project_id=project_id, message_id=message_id)
        return Project.model_validate(row)

    with stored_images(deps, project_id, message_id, images or []) as stored:
        project = deps.database.in_transaction(lambda conn: work(conn, stored))
    send_run(deps, project_id=project_id, message_id=message_id)
    return project


def _encode_cursor(project: Project) -> str:
    raw = json.dumps([project.updated_at.isoformat(), project.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, project_id = json.loads(raw)
        return datetime.fromisoformat(updated_at).replace(tzinfo=None), str(uuid.UUID(project_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequestError("cursor: not a cursor from a previous page") from exc


def list_projects(deps: Dependencies, user_id: str, *, limit: int, cursor: str | None) -> ProjectPage:
    after = _decode_cursor(cursor) if cursor else None

    def work(conn: Connection) -> list[Project]:
        rows = projects.list_projects(conn, user_id=user_id, limit=limit + 1, after=after)
        return [Project.model_validate(row) for row in rows]

    items = deps.database.in_autocommit(work)
    has_more = len(items) > limit
    items = items[:limit]
    return ProjectPage(items=items, next_cursor=_encode_cursor(items[-1]) if has_more else None)


def get_project(deps: Dependencies, user_id: str, project_id: str) -> Project:
    row = deps.database.in_autocommit(lambda conn: projects.find_project(conn, project_id=project_id, user_id=user_id))
    if row is None:
        raise NotFoundError("Project not found")
    return Project.model_validate(row)


def delete_project(deps: Dependencies, user_id: str, project_id: str) -> None:
    """The project and everything of it, its published site included."""

    def work(conn: Connection) -> str | None:
        slug = sites.site_slug(conn, project_id=project_id)
        if not projects.delete_project(conn, project_id=project_id, user_id=user_id):
            raise NotFoundError("Project not found")
        return slug

    slug = deps.database.in_transaction(work)
    if slug is not None:
        deps.sites.take_down(slug)
    deps.uploads.delete_under(images_prefix(project_id))  # the images sent with its prompts
