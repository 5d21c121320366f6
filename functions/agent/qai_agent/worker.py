"""One agent run, from a queue message to the reply in the database.

Exactly one reply per USER message: the run is claimed in the database under a lease (a duplicate
delivery finds it held or finished and does no work) and the outcome is written in one transaction
fenced by the attempt number (a worker whose lease was taken over cannot write a second reply). A
failed attempt is given back to the queue, except on the last delivery, which records the failure
as the reply.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import anthropic
import psycopg
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from qai import messages, run_events, runs
from qai.app_files import AppTooLargeError
from qai.db import Connection
from qai.messages import FragmentContent
from qai.models import AgentRunRequest
from qai.replies import RunTakenOverError, record_reply
from qai.runs import ClaimedRun
from qai_agent.app_sync import open_app, sync_app
from qai_agent.ask import AppFiles, answer_question
from qai_agent.check import check_app
from qai_agent.config import AgentSettings, prices
from qai_agent.dependencies import AgentDependencies, ModelAccess
from qai_agent.loop import Deadline, run_agent_loop, short_text
from qai_agent.pricing import UsageMeter
from qai_agent.prompts import REPLY_SYSTEM_PROMPT, TITLE_SYSTEM_PROMPT, first_user_message
from qai_agent.run_errors import FinalRunError, LostRunError, RetryLaterError
from qai_agent.run_log import RunLog, RunStoppedError
from qai_agent.sandboxes import SandboxConfigurationError
from qai_agent.sandboxes.base import Sandbox
from qai_agent.tools import ToolRunner

logger = Logger()
metrics = Metrics()

FALLBACK_REPLY = "Your app is ready: have a look at the preview."
CHECK_FAILED_REPLY = (
    "I saved the app, but it does not work yet: {problem} Ask me to fix it, or restore an earlier version."
)
Outcome = Literal["succeeded", "failed", "cancelled", "skipped"]
CHECK_ERROR_LIMIT = 4000
OUTCOME_METRICS = {"succeeded": "RunsSucceeded", "failed": "RunsFailed", "cancelled": "RunsCancelled"}


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
    words = (text or "").replace('"', "").replace("'", "").split()[:3]
    if not words:
        words = request.split()[:3]
    return " ".join(words).strip(".,:;!?") or "Untitled"


def work_on_message(
    deps: AgentDependencies, request: AgentRunRequest, deadline: Deadline, meter: UsageMeter, log: RunLog
) -> BuiltApp:
    """What the USER message asks for: the app built or changed, or (ask mode) an answer about it."""
    settings = deps.settings

    def load(conn: Connection) -> tuple[list[psycopg.rows.DictRow], psycopg.rows.DictRow | None]:
        recent = messages.recent_messages(conn, project_id=request.project_id, limit=settings.history_messages)
        return recent, messages.latest_fragment(conn, project_id=request.project_id)

    log.stop_if_requested()  # cancelled while its delivery waited
    recent, latest = deps.database.in_transaction(load)
    current = next((m for m in recent if m["id"] == request.message_id), None)
    if current is None:
        raise FinalRunError("The message to answer is not among the project's recent messages")
    previous_files: dict[str, str] = dict(latest["files"]) if latest else {}
    history = [(m["role"].title(), m["content"]) for m in recent if m["id"] != request.message_id]
    prompt = first_user_message(current["content"], history, sorted(previous_files))
    if current["mode"] == "ask":
        return _answer(deps, prompt, previous_files, deadline, meter, log)
    return build_app(deps, current["content"], prompt, latest, deadline, meter, log)


def _answer(
    deps: AgentDependencies, prompt: str, files: dict[str, str], deadline: Deadline, meter: UsageMeter, log: RunLog
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
    )
    return BuiltApp(reply=answer, fragment=None)


def build_app(
    deps: AgentDependencies,
    request_text: str,
    prompt: str,
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
        title, reply = (
            short_text(
                client, model=settings.fast_model, system=system, content=result.summary, max_tokens=limit, meter=meter
            )
            for system, limit in ((TITLE_SYSTEM_PROMPT, 30), (REPLY_SYSTEM_PROMPT, 300))
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


def _record_reply(
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
    events, in one transaction."""
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
        )
        if events:
            run_events.append(conn, run_id=run.id, events=events)

    try:
        deps.database.in_transaction(record)
    except RunTakenOverError as exc:
        raise LostRunError(str(exc)) from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise LostRunError("the project was deleted during the run") from exc


def process_run_request(
    deps: AgentDependencies, request: AgentRunRequest, *, receive_count: int, deadline: Deadline
) -> Outcome:
    settings = deps.settings
    # Thread-local: the local stack runs several workers in one process (the handler clears them).
    logger.thread_safe_append_keys(projectId=request.project_id, messageId=request.message_id)
    run = deps.database.in_transaction(
        lambda conn: runs.claim_run(
            conn, project_id=request.project_id, message_id=request.message_id, lease_seconds=settings.lease_seconds
        )
    )
    if run is None:
        return _unclaimed(deps, request, receive_count)
    logger.thread_safe_append_keys(runId=run.id, attempt=run.attempt)
    metrics.add_metric(name="Runs", unit=MetricUnit.Count, value=1)
    started = time.monotonic()
    meter = UsageMeter(prices=prices(settings))
    log = RunLog(deps.database, run.id, cancel_requested=run.cancel_requested)
    log.record("status", f"Started (attempt {run.attempt})", status="RUNNING", attempt=run.attempt)
    try:
        outcome = _attempt(deps, run, request, receive_count, deadline, meter, log)
    except LostRunError as exc:
        logger.warning("Outcome not recorded", extra={"reason": str(exc)})
        return "skipped"
    finally:
        log.flush(now=True)  # what an attempt given back to the queue recorded last
        metrics.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=time.monotonic() - started)
        metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=meter.input_tokens)
        metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=meter.output_tokens)
    metrics.add_metric(name=OUTCOME_METRICS[outcome], unit=MetricUnit.Count, value=1)
    logger.info("Run finished", extra={"outcome": outcome, "turns": meter.model_turns})
    return outcome


def _unclaimed(deps: AgentDependencies, request: AgentRunRequest, receive_count: int) -> Outcome:
    """A delivery that could not claim its run: acknowledge it, or report it failed to see it again."""
    settings = deps.settings
    run = deps.database.in_transaction(lambda conn: runs.find_run(conn, message_id=request.message_id))
    if run is not None and run["status"] in get_args(runs.FinalStatus):
        logger.info("Nothing to do: the run is finished")
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        return "skipped"
    if receive_count >= settings.agent_max_receive_count:
        logger.warning("Giving up on this delivery", extra={"runStatus": run["status"] if run else None})
        metrics.add_metric(name="DeliveriesGivenUp", unit=MetricUnit.Count, value=1)
        return "skipped"
    if run is None:
        # The API sends only after its commit: the run was deleted with its project.
        logger.info("Nothing to do: no such run")
        metrics.add_metric(name="RunsNotFound", unit=MetricUnit.Count, value=1)
        return "skipped"
    # Another delivery holds the run. This copy comes back later rather than being deleted: should
    # that delivery fail, this may be the copy of the message that brings the run back.
    metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
    # Back when the holder's lease would have run out, so a dead holder is replaced at once.
    raise RetryLaterError(f"run {run['id']} is held by another delivery", settings.lease_seconds)


def _failure(exc: Exception, reference: str) -> str:
    """What the run's events and API say of an unexpected failure: its kind, never its text, which
    may name hosts, paths or accounts (the text is in the log)."""
    if isinstance(exc, anthropic.APIStatusError):
        return f"The model answered {exc.status_code} ({type(exc).__name__})"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"The model could not be reached ({type(exc).__name__})"
    return f"An unexpected error stopped this attempt ({type(exc).__name__}, reference {reference})"


def _attempt(
    deps: AgentDependencies,
    run: ClaimedRun,
    request: AgentRunRequest,
    receive_count: int,
    deadline: Deadline,
    meter: UsageMeter,
    log: RunLog,
) -> Outcome:
    settings = deps.settings
    try:
        built = work_on_message(deps, request, deadline, meter, log)
        log.record("status", "Done: the reply is ready", status="SUCCEEDED")
        _record_reply(deps, run, request, meter, log, built=built, error=None)
        return "succeeded"
    except RunStoppedError:
        logger.info("Run cancelled by the user")
        log.record("status", "Stopped at your request", status="CANCELLED")
        reply = runs.CANCELLED_RUN_REPLY
        _record_reply(deps, run, request, meter, log, built=None, error=None, error_reply=reply, cancelled=True)
        return "cancelled"
    except FinalRunError as exc:
        logger.warning("Run failed", extra={"reason": str(exc)})
        error, error_reply = str(exc), exc.reply
    except LostRunError:
        raise
    except Exception as exc:
        error, error_reply = _failure(exc, request.message_id), None
        if receive_count < settings.agent_max_receive_count and not deadline.passed():
            logger.exception("Attempt failed; the queue will deliver the message again")
            deps.database.in_transaction(lambda conn: runs.release_run(conn, run, error=error, usage=meter))
            metrics.add_metric(name="RunRetries", unit=MetricUnit.Count, value=1)
            log.record("error", error)
            log.record("status", "This attempt failed: it will be tried again", status="QUEUED")
            raise RetryLaterError(error, settings.retry_base_seconds * 2 ** (receive_count - 1)) from exc
        logger.exception("Last attempt failed")
    log.record("error", error)
    log.record("status", "Failed", status="FAILED")
    _record_reply(deps, run, request, meter, log, built=None, error=error, error_reply=error_reply)
    return "failed"
