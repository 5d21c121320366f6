"""A publish job: a version exported as a static site and made the project's site (``kind: "publish"``).

The export is ``next build`` with the template's export settings (QAI_EXPORT, the site's base path)
in the version's own sandbox when it still holds that version, else in one rebuilt from its files.
Its output goes up under a new prefix, and the site's pointer moves there only once every file is
in place, with the site's row locked: an unpublish or a newer publish waits, and a publish that is
no longer this attempt's moves nothing. A build that fails is the job's outcome at once, with the
build's own words; anything else (a sandbox lost, the store failing) is tried again by the runner.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from qai import previews, sites
from qai.app_files import AppTooLargeError
from qai.db import Connection
from qai.models import PublishJobRequest
from qai.sites_store import new_prefix
from qai_agent.agent_run import job_runner
from qai_agent.app_sync import InstallError, OpenedApp, open_app
from qai_agent.dependencies import AgentDependencies
from qai_agent.jobs import JobRunner, Outcome
from qai_agent.loop import Deadline
from qai_agent.run_errors import FinalRunError

logger = Logger()
metrics = Metrics()

EXPORT_DIR = "out"
OUTPUT_TAIL = 3000


class PublishError(FinalRunError):
    """Why the version cannot be published, in words for the user; not tried again."""


def process_publish_job(
    deps: AgentDependencies, job: PublishJobRequest, *, receive_count: int, deadline: Deadline
) -> Outcome:
    logger.thread_safe_append_keys(projectId=job.project_id, publishJobId=job.job_id)
    return job_runner(deps).run(PublishJob(deps, job), receive_count=receive_count, deadline=deadline)


def site_files(exported: Mapping[str, bytes], *, source_maps: bool) -> dict[str, bytes]:
    """What of an export goes up: never a dotfile (``.env``…), source maps only when asked."""
    kept = {
        path: data
        for path, data in exported.items()
        if not any(part.startswith(".") for part in path.split("/")) and (source_maps or not path.endswith(".map"))
    }
    if "index.html" not in kept:
        raise PublishError("The export has no index.html: the app's home page did not build as a static page.")
    return kept


class PublishJob:
    retries = True
    claims_in_one_statement = False

    def __init__(self, deps: AgentDependencies, job: PublishJobRequest) -> None:
        self.deps = deps
        self.job = job
        self.opened: OpenedApp | None = None

    def claim(self, conn: Connection, lease_seconds: int) -> dict[str, Any] | None:
        claim = sites.claim_publish(
            conn, project_id=self.job.project_id, job_id=self.job.job_id, lease_seconds=lease_seconds
        )
        if claim is None:
            return None
        fragment = previews.job_fragment(conn, fragment_id=claim["fragment_id"])
        # A sandbox a newer version holds serves that version: the export is built in a new one.
        held = fragment is None or fragment["held_by_newer"]
        return {**claim, "sandbox_id": None if held else claim["sandbox_id"]}

    def unclaimed(self, receive_count: int, runner: JobRunner) -> Outcome:
        logger.info("Nothing to do for this publish job")  # finished, replaced, held, or deleted with its project
        return "skipped"

    def work(self, claim: dict[str, Any]) -> Outcome:
        settings = self.deps.settings
        self.opened = opened = open_app(self.deps.sandboxes, settings, dict(claim["files"]), claim["sandbox_id"])
        try:
            exported = self._export(opened, claim["slug"])
        finally:
            opened.sandbox.close(keep=opened.attached)
            self.opened = None
        files = site_files(exported, source_maps=settings.site_source_maps)
        prefix = new_prefix()
        self.deps.sites.upload(claim["slug"], prefix, files)
        if not self.deps.database.in_transaction(lambda conn: self._go_live(conn, claim, prefix)):
            return "skipped"
        self.deps.sites.remove_others(claim["slug"], keep=prefix)
        metrics.add_metric(name="SitesPublished", unit=MetricUnit.Count, value=1)
        logger.info("Site published", extra={"files": len(files), "bytes": sum(map(len, files.values()))})
        return "succeeded"

    def _export(self, opened: OpenedApp, slug: str) -> dict[str, bytes]:
        settings = self.deps.settings
        command = (
            f"rm -rf {EXPORT_DIR} && QAI_EXPORT=1 QAI_BASE_PATH={shlex.quote('/' + slug)} "
            "NEXT_TELEMETRY_DISABLED=1 npx next build"
        )
        built = opened.sandbox.run(command, timeout_seconds=settings.site_build_timeout_seconds)
        if built.timed_out:
            raise PublishError(f"The static export took longer than {settings.site_build_timeout_seconds:.0f} s.")
        if built.exit_code != 0:
            said = (built.stdout + "\n" + built.stderr).strip()[-OUTPUT_TAIL:]
            raise PublishError(f"The app could not be exported as a static site. next build said:\n{said}")
        try:
            return opened.sandbox.export_files(EXPORT_DIR, settings.site_max_bytes)
        except FileNotFoundError:
            raise PublishError(
                "next build wrote no static export: is output 'export' still in next.config.ts?"
            ) from None
        except AppTooLargeError as exc:
            raise PublishError(f"The site is too large to publish: {exc}") from None
        finally:
            opened.sandbox.run(f"rm -rf {EXPORT_DIR}", timeout_seconds=60)

    def _go_live(self, conn: Connection, claim: dict[str, Any], prefix: str) -> bool:
        project_id, job_id, attempt = self.job.project_id, self.job.job_id, claim["attempt"]
        if not sites.lock_publish(conn, project_id=project_id, job_id=job_id, attempt=attempt):
            return False  # unpublished, replaced, or taken over meanwhile: the pointer stays
        self.deps.sites.point(claim["slug"], prefix)
        sites.finish_publish(conn, project_id=project_id, job_id=job_id, attempt=attempt, prefix=prefix)
        return True

    def release(self, claim: dict[str, Any], error: Exception) -> str:
        self.deps.database.in_transaction(
            lambda conn: sites.release_publish(
                conn, project_id=self.job.project_id, job_id=self.job.job_id, attempt=claim["attempt"]
            )
        )
        return type(error).__name__

    def fail(self, claim: dict[str, Any], error: Exception) -> Outcome:
        shown = isinstance(error, PublishError | InstallError)
        reason = str(error) if shown else f"The site could not be published ({type(error).__name__}). Try again."
        self.deps.database.in_transaction(
            lambda conn: sites.fail_publish(
                conn, project_id=self.job.project_id, job_id=self.job.job_id, attempt=claim["attempt"], error=reason
            )
        )
        metrics.add_metric(name="SitesFailed", unit=MetricUnit.Count, value=1)
        return "failed"
