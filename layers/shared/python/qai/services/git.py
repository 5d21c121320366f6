"""A project's history as git: a bundle to clone."""

from __future__ import annotations

from qai import messages, projects
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import ConflictError, NotFoundError
from qai.git_history import History, Version
from qai.models import Download

BUNDLE_TYPE = "application/x-git-bundle"


def project_history(deps: Dependencies, user_id: str, project_id: str) -> tuple[str, History]:
    """The project's name and its versions as commits on ``main``, oldest first."""

    def load(conn: Connection) -> tuple[str, History]:
        project = projects.find_project(conn, project_id=project_id, user_id=user_id)
        if project is None:
            raise NotFoundError("Project not found")
        history = History(user_id)
        for row in messages.project_versions(conn, project_id=project_id):
            history.add(Version(row["title"], row["request"], row["created_at"], row["files"]))
        return project["name"], history

    return deps.database.in_transaction(load)


def git_bundle(deps: Dependencies, user_id: str, project_id: str) -> Download:
    """``git clone <name>.bundle`` gives the project's history; a link to it when too large to answer with."""
    name, history = project_history(deps, user_id, project_id)
    if history.head is None:
        raise ConflictError("The project has no version yet: its history starts when its first run succeeds.")
    data, filename = history.bundle(), f"{name}.bundle"
    if len(data) <= deps.downloads.inline_max_bytes:
        return Download(filename=filename, data=data)
    return Download(filename=filename, url=deps.downloads.store(data, filename, BUNDLE_TYPE))
