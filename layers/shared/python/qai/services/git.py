"""A project's history as git: a bundle to clone, and pushes to a remote (jobs on the agent queue)."""

from __future__ import annotations

from qai import git_pushes, messages, projects
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import ConflictError, NotFoundError
from qai.git_history import History, Version
from qai.git_remote import checked_remote_url
from qai.models import Download, GitPush, GitPushInput
from qai.services import new_id, sent_or_failed

BUNDLE_TYPE = "application/x-git-bundle"


def project_history(deps: Dependencies, user_id: str, project_id: str) -> tuple[str, History]:
    """The project's name and its versions as commits on ``main``, oldest first."""

    def load(conn: Connection) -> tuple[str, History]:
        project = projects.find_project(conn, project_id=project_id, user_id=user_id)
        if project is None:
            raise NotFoundError("Project not found")
        history = History(user_id)
        for row in messages.project_versions(conn, project_id=project_id):
            history.add(Version(row["title"], row["request"], row["created_at"], row["files"], row["id"]))
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


PUSH_NOT_QUEUED = "The push could not be queued just now. Try again."


def start_push(deps: Dependencies, user_id: str, project_id: str, request: GitPushInput) -> GitPush:
    """A push of the project's history up to its newest version, as a job; its token sealed at once."""
    settings = deps.settings
    url = checked_remote_url(request.url, allow_private=settings.git_push_allow_private)
    sealed = deps.sealer.seal(request.token.get_secret_value(), project_id=project_id)
    push_id = new_id()

    def work(conn: Connection) -> GitPush:
        if projects.find_project(conn, project_id=project_id, user_id=user_id) is None:
            raise NotFoundError("Project not found")
        latest = messages.latest_fragment(conn, project_id=project_id)
        if latest is None:
            raise ConflictError("The project has no version yet: push once its first run succeeds.")
        row = git_pushes.start_push(
            conn,
            project_id=project_id,
            push_id=push_id,
            fragment_id=latest["id"],
            url=url,
            branch=request.branch,
            username=request.username,
            sealed_token=sealed,
            stale_seconds=settings.git_push_stale_seconds,
        )
        if row is None:
            raise ConflictError("A push of this project is under way: wait for it to finish.")
        return GitPush.model_validate(row)

    push = deps.database.in_transaction(work)
    if sent_or_failed(
        deps,
        lambda: deps.queue.enqueue_push_job(project_id=project_id, push_id=push_id),
        lambda conn: git_pushes.fail_unsent_push(conn, project_id=project_id, push_id=push_id, error=PUSH_NOT_QUEUED),
        "push",
    ):
        return push
    return get_push(deps, user_id, project_id)


def get_push(deps: Dependencies, user_id: str, project_id: str) -> GitPush:
    row = deps.database.in_autocommit(lambda conn: git_pushes.find_push(conn, project_id=project_id, user_id=user_id))
    if row is None:
        raise NotFoundError("No push of this project yet")
    return GitPush.model_validate(row)
