"""The work of an agent run: what its USER message asks for, built or changed in a sandbox (or,
in ask mode, answered from the app's files), and its reply recorded with the run's last events in
one transaction. agent_run.py drives it as a job of the queue (claim, lease, fence, retry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import psycopg
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from psycopg.rows import DictRow

from qai import messages, runs
from qai.app_files import AppTooLargeError, template_texts
from qai.db import Connection
from qai.messages import FragmentContent
from qai.models import AgentRunRequest
from qai.replies import RunTakenOverError, record_reply
from qai.runs import ClaimedRun
from qai_agent.app_sync import open_app, sync_app
from qai_agent.ask import AppFiles, answer_question
from qai_agent.check import check_app
from qai_agent.config import AgentSettings
from qai_agent.conversation_images import conversation_image_blocks
from qai_agent.dependencies import AgentDependencies, ModelAccess
from qai_agent.loop import Deadline, run_agent_loop, short_text
from qai_agent.pricing import UsageMeter
from qai_agent.prompts import (
    TITLE_AND_REPLY_MAX_TOKENS,
    TITLE_AND_REPLY_SYSTEM_PROMPT,
    TITLE_WORDS,
    first_user_message,
    selection_excerpt,
    title_and_reply,
)
from qai_agent.run_errors import FinalRunError, LostRunError
from qai_agent.run_log import RunLog
from qai_agent.sandboxes import SandboxConfigurationError
from qai_agent.sandboxes.base import Sandbox
from qai_agent.tools import ToolRunner

logger = Logger()
metrics = Metrics()

FALLBACK_REPLY = "Your app is ready: have a look at the preview."
CHECK_FAILED_REPLY = (
    "I saved the app, but it does not work yet: {problem} Ask me to fix it, or restore an earlier version."
)
CHECK_ERROR_LIMIT = 4000


@dataclass(frozen=True)
class BuiltApp:
    reply: str
    fragment: FragmentContent | None  # None: an answer in ask mode, which changes nothing


def model_client(model: ModelAccess) -> anthropic.Anthropic:
    if not model.configured:
        raise FinalRunError(
            "No model configured: set ANTHROPIC_API_KEY (or ANTHROPIC_SECRET_ARN), "
            "or ANTHROPIC_BASE_URL for an Anthropic-compatible server"
        )
    return model.client


def _title(text: str | None, request: str) -> str:
    words = (text or "").replace('"', "").replace("'", "").split()[:TITLE_WORDS]
    if not words:
        words = request.split()[:TITLE_WORDS]
    return " ".join(words).strip(".,:;!?") or "Untitled"


def work_on_message(
    deps: AgentDependencies, request: AgentRunRequest, deadline: Deadline, meter: UsageMeter, log: RunLog
) -> BuiltApp:
    """What the USER message asks for: the app built or changed, or (ask mode) an answer about it."""
    settings = deps.settings

    def load(conn: Connection) -> tuple[list[psycopg.rows.DictRow], psycopg.rows.DictRow | None, list[DictRow]]:
        recent = messages.recent_messages(conn, project_id=request.project_id, limit=settings.history_messages)
        sent_by_user = [m["id"] for m in recent if m["role"] == "USER"]
        attached = messages.message_images(conn, message_ids=sent_by_user) if sent_by_user else []
        return recent, messages.latest_fragment(conn, project_id=request.project_id), attached

    log.stop_if_requested()  # cancelled while its delivery waited
    # Reads only, each with its own snapshot as in a READ COMMITTED transaction: no BEGIN, no COMMIT.
    recent, latest, attached = deps.database.in_autocommit(load)
    images = conversation_image_blocks(
        deps.uploads,
        project_id=request.project_id,
        message_id=request.message_id,
        images=attached,
        conversation=recent,
        budget_tokens=settings.history_image_tokens,
    )
    current = next((m for m in recent if m["id"] == request.message_id), None)
    if current is None:
        raise FinalRunError("The message to answer is not among the project's recent messages")
    previous_files: dict[str, str] = dict(latest["files"]) if latest else {}
    history = [(m["role"].title(), m["content"]) for m in recent if m["id"] != request.message_id]
    prompt = first_user_message(
        current["content"], history, sorted(previous_files), selected_lines(current["selection"], previous_files)
    )
    if current["mode"] == "ask":
        return _answer(deps, prompt, images, previous_files, deadline, meter, log)
    return build_app(deps, current["content"], prompt, images, latest, deadline, meter, log)


def selected_lines(selection: dict[str, Any] | None, files: dict[str, str]) -> str | None:
    """The element the user pointed at, with its lines from the version the run starts from."""
    if not selection:
        return None
    content = files.get(selection["file"], template_texts().get(selection["file"]))
    if content is None:
        return None
    return selection_excerpt(content, file=selection["file"], line=selection["line"], column=selection["column"])


def _answer(
    deps: AgentDependencies,
    prompt: str,
    images: list[dict[str, Any]],
    files: dict[str, str],
    deadline: Deadline,
    meter: UsageMeter,
    log: RunLog,
) -> BuiltApp:
    """Ask mode: the model reads the newest version's files (no sandbox) and its text is the reply."""
    client = model_client(deps.model)
    log.record("status", "Reading the app to answer (nothing is changed)")
    log.flush()
    answer = answer_question(
        client,
        model=deps.settings.model,
        max_tokens=deps.settings.max_tokens,
        max_turns=deps.settings.max_turns,
        app=AppFiles.of_version(files),
        first_message=prompt,
        meter=meter,
        log=log,
        timeout=max(deadline.seconds_left(), 1.0),
        images=images,
    )
    return BuiltApp(reply=answer, fragment=None)


def build_app(
    deps: AgentDependencies,
    request_text: str,
    prompt: str,
    images: list[dict[str, Any]],
    latest: psycopg.rows.DictRow | None,
    deadline: Deadline,
    meter: UsageMeter,
    log: RunLog,
) -> BuiltApp:
    """The app built (or changed) in a sandbox by the tool loop, checked, and snapshotted."""
    settings = deps.settings
    previous_files: dict[str, str] = dict(latest["files"]) if latest else {}
    client = model_client(deps.model)
    try:
        opened = open_app(deps.sandboxes, settings, previous_files, latest["sandbox_id"] if latest else None)
    except SandboxConfigurationError as exc:
        raise FinalRunError(str(exc)) from exc
    sandbox = opened.sandbox
    logger.info("Sandbox ready", extra={"attached": opened.attached, "sync": opened.sync.__dict__})
    how = (
        "its sandbox reconnected"
        if opened.attached
        else "a new sandbox" + (", packages installed" if opened.sync.installed else "")
    )
    log.record("status", f"Working on the app ({how})", attached=opened.attached, installed=opened.sync.installed)
    log.flush()
    succeeded = False
    try:
        log.stop_if_requested()
        runner = ToolRunner(
            sandbox,
            settings.command_timeout_seconds,
            time_left=deadline.seconds_left,
            stop_requested=log.stop_requested,
        )
        result = run_agent_loop(
            client,
            model=settings.model,
            max_turns=settings.max_turns,
            max_tokens=settings.max_tokens,
            sandbox=sandbox.description,
            runner=runner,
            first_message=prompt,
            images=images,
            deadline=deadline,
            meter=meter,
            check=_app_check(sandbox, settings, deadline) if settings.check_app else None,
            log=log,
            max_fixes=settings.max_fixes,
        )
        metrics.add_metric(name="ModelTurns", unit=MetricUnit.Count, value=result.turns)
        metrics.add_metric(name="AppChecks", unit=MetricUnit.Count, value=result.checks)
        if result.summary is None:
            raise FinalRunError(f"The agent stopped without a task summary ({result.stop_reason})")
        log.stop_if_requested()
        try:
            files = sandbox.snapshot(
                settings.fragment_max_bytes,
                skipped=lambda path, reason: log.record("files", f"Not saved: {path} ({reason})", skipped=path),
            )
        except AppTooLargeError as exc:
            raise FinalRunError(str(exc), reply=str(exc)) from exc
        if not files:
            raise FinalRunError("The app is the bare template: the agent changed no file")
        title, reply = title_and_reply(
            short_text(
                client,
                model=settings.fast_model,
                system=TITLE_AND_REPLY_SYSTEM_PROMPT,
                content=result.summary,
                max_tokens=TITLE_AND_REPLY_MAX_TOKENS,
                meter=meter,
            )
        )
        if result.check_error:
            logger.warning("The app failed its check", extra={"problem": result.check_error[:1000]})
            metrics.add_metric(name="AppsFailingCheck", unit=MetricUnit.Count, value=1)
            reply = CHECK_FAILED_REPLY.format(problem=_first_line(result.check_error))
        built = BuiltApp(
            reply=reply or FALLBACK_REPLY,
            fragment=FragmentContent(
                sandbox_url=sandbox.preview_url(),
                title=_title(title, request_text),
                files=files,
                summary=result.summary,
                sandbox_id=sandbox.sandbox_id,
                check_error=result.check_error[:CHECK_ERROR_LIMIT] if result.check_error else None,
            ),
        )
        succeeded = True
        return built
    finally:
        if not succeeded and opened.attached:
            _put_back(sandbox, previous_files, settings)
        # A reconnected sandbox is the previous version's preview: it is kept whatever happened.
        sandbox.close(keep=succeeded or opened.attached)


def _app_check(sandbox: Sandbox, settings: AgentSettings, deadline: Deadline) -> Callable[[], str | None]:
    return lambda: check_app(sandbox, time_left=deadline.seconds_left, page_timeout=settings.check_page_timeout_seconds)


def _first_line(problem: str) -> str:
    """The headline of the check's first finding (the rest is output for the model), mid-sentence."""
    headline = problem.strip().splitlines()[0]
    return headline[:1].lower() + headline[1:]


def _put_back(sandbox: Sandbox, files: dict[str, str], settings: AgentSettings) -> None:
    """Undo a failed run's changes to a reconnected sandbox, so its preview is the previous version again."""
    try:
        sync_app(sandbox, files, settings)
    except Exception:
        # The next run or preview job that takes this sandbox puts it right in any case.
        logger.warning("Could not put the sandbox back as it was", exc_info=True)


def record_outcome(
    deps: AgentDependencies,
    run: ClaimedRun,
    request: AgentRunRequest,
    meter: UsageMeter,
    log: RunLog,
    *,
    built: BuiltApp | None,
    error: str | None,
    error_reply: str | None = None,
    cancelled: bool = False,
) -> None:
    """The reply message (with its fragment on success), the finished run and the run's last
    events, in one statement (fenced: none of it when the run is no longer this attempt's)."""
    fragment = built.fragment if built else None
    content = built.reply if built else (error_reply or runs.FAILED_RUN_REPLY)
    events = log.drain()

    def record(conn: Connection) -> None:
        record_reply(
            conn,
            run,
            project_id=request.project_id,
            content=content,
            usage=meter,
            fragment=fragment,
            error=error,
            cancelled=cancelled,
            answered=built is not None and built.fragment is None,
            events=events,
        )

    try:
        deps.database.in_autocommit(record)
    except RunTakenOverError as exc:
        raise LostRunError(str(exc)) from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise LostRunError("the project was deleted during the run") from exc
