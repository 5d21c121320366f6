"""Versions of the app (fragments): read one, restore it as the newest, download it as a zip."""

from __future__ import annotations

from psycopg.rows import DictRow

from qai import messages, previews, projects, runs
from qai.app_files import app_archive
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.diffs import DiffLimits, version_diff
from qai.errors import ConflictError, NotFoundError
from qai.models import Download, Fragment, Message, VersionDiff
from qai.services import new_id
from qai.services.previews import send_preview_job


def get_fragment(deps: Dependencies, user_id: str, project_id: str, fragment_id: str) -> Fragment:
    row = deps.database.in_autocommit(
        lambda conn: messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
    )
    if row is None:
        raise NotFoundError("Fragment not found")
    return Fragment.model_validate(row)


def restore_fragment(deps: Dependencies, user_id: str, project_id: str, fragment_id: str) -> Message:
    """A new ASSISTANT/RESULT message whose fragment has that version's files, and a job that puts
    them into the app's live sandbox (or a new one). No model run and no credit."""
    message_id, new_fragment_id = new_id(), new_id()
    stale = deps.settings.preview_job_stale_seconds

    def work(conn: Connection) -> Message:
        # The project's row lock orders this against a follow-up being posted at the same moment.
        if projects.find_project(conn, project_id=project_id, user_id=user_id, lock=True) is None:
            raise NotFoundError("Project not found")
        source = messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
        if source is None:
            raise NotFoundError("Fragment not found")
        if runs.has_active_run(conn, project_id=project_id):
            raise ConflictError("A run is queued or running for this project: restore once it has finished.")
        latest = messages.latest_fragment(conn, project_id=project_id)
        assert latest is not None  # the source is one
        row = messages.insert_message(
            conn,
            message_id=message_id,
            project_id=project_id,
            content=f'Restored the version "{source["title"]}".',
            role="ASSISTANT",
            type_="RESULT",
        )
        # The restored version takes over the app's current sandbox; the job makes it hold these files.
        messages.insert_fragment(
            conn,
            fragment_id=new_fragment_id,
            message_id=message_id,
            content=messages.FragmentContent(
                sandbox_url=latest["sandbox_url"],
                title=source["title"],
                files=source["files"],
                summary=source["summary"],
                sandbox_id=latest["sandbox_id"],
                check_error=source["check_error"],
            ),
        )
        projects.touch_project(conn, project_id=project_id)
        previews.start_job(conn, fragment_id=new_fragment_id, stale_seconds=stale)
        fragment = messages.find_fragment(conn, fragment_id=new_fragment_id, project_id=project_id, user_id=user_id)
        return Message.model_validate({**row, "fragment": fragment})

    message = deps.database.in_transaction(work)
    send_preview_job(deps, project_id=project_id, fragment_id=new_fragment_id)
    return message


def download_fragment(deps: Dependencies, user_id: str, project_id: str, fragment_id: str) -> Download:
    """The whole runnable app of that version as a zip, or a short-lived link to it when too large."""

    def load(conn: Connection) -> tuple[str, dict[str, str]]:
        project = projects.find_project(conn, project_id=project_id, user_id=user_id)
        fragment = messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
        if project is None or fragment is None:
            raise NotFoundError("Fragment not found")
        return project["name"], fragment["files"]

    name, files = deps.database.in_transaction(load)
    data = app_archive(files, folder=name)
    filename = f"{name}.zip"
    if len(data) <= deps.downloads.inline_max_bytes:
        return Download(filename=filename, data=data)
    return Download(filename=filename, url=deps.downloads.store(data, filename))


def diff_fragment(
    deps: Dependencies, user_id: str, project_id: str, fragment_id: str, base_id: str | None
) -> VersionDiff:
    """What that version changed: from ``base_id`` (another version of the project), by default from
    the version before it, or from the template for the first."""

    def load(conn: Connection) -> tuple[DictRow, DictRow | None]:
        head = messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
        if head is None:
            raise NotFoundError("Fragment not found")
        if base_id is None:
            return head, messages.previous_fragment(conn, fragment_id=fragment_id, project_id=project_id)
        base = messages.find_fragment(conn, fragment_id=base_id, project_id=project_id, user_id=user_id)
        if base is None:
            raise NotFoundError("Base fragment not found")
        return head, base

    head, base = deps.database.in_transaction(load)
    limits = DiffLimits(deps.settings.diff_patch_max_bytes, deps.settings.diff_max_bytes)
    return version_diff(base["files"] if base else None, head["files"], limits, base_id=base["id"] if base else None)
