"""A project's published site: publish a version (a job on the agent queue), read it, take it down."""

from __future__ import annotations

import re

from psycopg.rows import DictRow

from qai import messages, projects, sites
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import ConflictError, NotFoundError
from qai.models import Site
from qai.services import new_id, sent_or_failed
from qai.sites_store import SitesUnavailableError

PUBLISH_NOT_QUEUED = "The publish could not be queued just now. Try again."
_NOT_IN_A_SLUG = re.compile(r"[^a-z0-9-]+")


def site_slug(project_name: str, project_id: str) -> str:
    """``<project name>-<8 of its id>``: readable, and the same for the project's whole life."""
    name = _NOT_IN_A_SLUG.sub("-", project_name.lower()).strip("-")[:40] or "app"
    return f"{name}-{project_id.replace('-', '')[:8]}"


def _site(deps: Dependencies, row: DictRow) -> Site:
    return Site.model_validate({**row, "url": deps.sites.site_url(row["slug"])})


def publish(deps: Dependencies, user_id: str, project_id: str, fragment_id: str) -> Site:
    """That version as the project's site, by a job: 202 at once; no credit."""
    job_id = new_id()
    stale = deps.settings.site_publish_stale_seconds

    def work(conn: Connection) -> DictRow:
        project = projects.find_project(conn, project_id=project_id, user_id=user_id)
        fragment = messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
        if project is None or fragment is None:
            raise NotFoundError("Fragment not found")
        row = sites.start_publish(
            conn,
            project_id=project_id,
            slug=site_slug(project["name"], project_id),
            job_id=job_id,
            fragment_id=fragment_id,
            stale_seconds=stale,
        )
        if row is None:
            raise ConflictError("A publish of this project is under way: wait for it to finish.")
        return row

    if not deps.sites.configured:
        raise SitesUnavailableError("Publishing is not set up here: set SITES_BUCKET (or LOCAL_SITES_DIR)")
    row = deps.database.in_transaction(work)
    if sent_or_failed(
        deps,
        lambda: deps.queue.enqueue_publish_job(project_id=project_id, job_id=job_id),
        lambda conn: sites.fail_publish(
            conn, project_id=project_id, job_id=job_id, attempt=None, error=PUBLISH_NOT_QUEUED
        ),
        "publish",
    ):
        return _site(deps, row)
    return get_site(deps, user_id, project_id)


def get_site(deps: Dependencies, user_id: str, project_id: str) -> Site:
    row = deps.database.in_autocommit(lambda conn: sites.find_site(conn, project_id=project_id, user_id=user_id))
    if row is None:
        raise NotFoundError("This project has not been published")
    return _site(deps, row)


def unpublish(deps: Dependencies, user_id: str, project_id: str) -> None:
    """The site taken down: its URL answers 404. A publish under way ends without moving the pointer.
    A project never published has nothing to take down: done already (a DELETE may be repeated)."""

    def work(conn: Connection) -> str | None:
        if projects.find_project(conn, project_id=project_id, user_id=user_id) is None:
            raise NotFoundError("Project not found")
        return sites.unpublish(conn, project_id=project_id, user_id=user_id)

    slug = deps.database.in_transaction(work)
    if slug is not None:
        deps.sites.take_down(slug)
