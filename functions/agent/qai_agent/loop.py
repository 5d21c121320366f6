"""The Claude tool loop: model turns, tool calls, until the model writes its task summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic

from qai_agent.pricing import UsageMeter
from qai_agent.prompts import agent_system_prompt, extract_summary
from qai_agent.run_log import RunLog, tool_event, tool_started
from qai_agent.sandboxes.base import SandboxDescription
from qai_agent.streaming import streamed_call
from qai_agent.tools import TOOLS, ToolRunner

CUT_OFF_NOTE = (
    "Your last reply was cut off at the output limit and any tool call in it was dropped. Continue, and "
    "write large files in several smaller createOrUpdateFiles calls."
)
KEEP_GOING_NOTE = (
    "Continue with the tools until the app is done; then reply with only the <task_summary>…</task_summary> block."
)
CHECK_FAILED_NOTE = (
    "Before the app is saved it was checked, and it does not work yet:\n\n{problem}\n\n"
    "Fix this with the tools, then reply with a new <task_summary>…</task_summary> block."
)
CACHED = {"type": "ephemeral"}


@dataclass(frozen=True)
class Deadline:
    """The Lambda's deadline, less the time kept back to record the outcome."""

    remaining_ms: Callable[[], int]
    margin_seconds: float

    def seconds_left(self) -> float:
        return self.remaining_ms() / 1000 - self.margin_seconds

    def passed(self) -> bool:
        return self.seconds_left() <= 0


@dataclass
class LoopResult:
    summary: str | None
    stop_reason: str  # "summary", "max_turns" or "deadline"
    turns: int
    check_error: str | None = None  # what the last check of the app found broken
    checks: int = 0


def _tools_with_cache_breakpoint() -> list[dict[str, Any]]:
    # One breakpoint on the last tool caches the tools; the system prompt has its own.
    return [*TOOLS[:-1], {**TOOLS[-1], "cache_control": CACHED}]


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _with_conversation_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with a cache breakpoint on the newest block: each turn then reads the whole
    conversation so far from the cache and pays only for what is new (3 breakpoints of the 4 allowed)."""
    *earlier, last = messages
    blocks = list(last["content"])
    blocks[-1] = {**blocks[-1], "cache_control": CACHED}
    return [*earlier, {**last, "content": blocks}]


def _block_param(block: Any) -> dict[str, Any]:
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return _text_block(getattr(block, "text", ""))


@dataclass
class _AgentLoop:
    """One run of the loop: what it was given, the conversation so far, and how many checks ran."""

    client: anthropic.Anthropic
    model: str
    max_turns: int
    max_tokens: int
    runner: ToolRunner
    deadline: Deadline
    meter: UsageMeter
    check: Callable[[], str | None] | None
    log: RunLog | None
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    max_fixes: int = 3
    tools: list[dict[str, Any]] = field(default_factory=_tools_with_cache_breakpoint)
    checks: int = 0
    last_problem: str | None = None

    def run(self) -> LoopResult:
        for turn in range(1, self.max_turns + 1):
            if self.log:
                self.log.stop_if_requested()
            if self.deadline.passed():
                return LoopResult(None, "deadline", turn - 1)
            response = self._model_turn(turn)
            text = "".join(getattr(block, "text", "") for block in response.content if block.type == "text")
            if response.stop_reason == "max_tokens":
                result = self._after_cut_off(text, turn)
            else:
                result = self._after_tool_calls(response.content, text, turn)
            if result is not None:
                return result
        return LoopResult(None, "max_turns", self.max_turns, checks=self.checks)

    def _model_turn(self, turn: int) -> anthropic.types.Message:
        """One model call on the whole conversation, streamed, counted and logged."""
        response = streamed_call(
            self.client,
            log=self.log,
            turn=turn,
            meter=self.meter,
            model=self.model,
            max_tokens=self.max_tokens,
            system=self.system,
            tools=self.tools,
            messages=_with_conversation_breakpoint(self.messages),
            timeout=max(self.deadline.seconds_left(), 1.0),
        )
        self.meter.model_turns += 1
        if self.log:
            usage = response.usage
            self.log.record(
                "model",
                f"Turn {turn} of {self.max_turns}",
                turn=turn,
                inputTokens=usage.input_tokens,
                outputTokens=usage.output_tokens,
            )
        return response

    def _after_cut_off(self, text: str, turn: int) -> LoopResult | None:
        """A reply cut off at the output limit: its tool calls are dropped, its summary still counts."""
        self.messages.append({"role": "assistant", "content": [_text_block(text or "(cut off)")]})
        if summary := extract_summary(text):
            return self._checked(summary, turn, [])
        self.messages.append({"role": "user", "content": [_text_block(CUT_OFF_NOTE)]})
        return None

    def _after_tool_calls(self, content: list[Any], text: str, turn: int) -> LoopResult | None:
        self.messages.append({"role": "assistant", "content": [_block_param(b) for b in content]})
        results = self._tool_results(content)
        if self.log:
            self.log.flush()  # what this turn did, visible now (at most every FLUSH_INTERVAL_SECONDS)
        if summary := extract_summary(text):
            return self._checked(summary, turn, results)
        self.messages.append({"role": "user", "content": results or [_text_block(KEEP_GOING_NOTE)]})
        return None

    def _tool_results(self, content: list[Any]) -> list[dict[str, Any]]:
        """Runs each tool call of the reply, in order, and returns the tool_result blocks."""
        results = []
        for block in content:
            if block.type != "tool_use":
                continue
            if self.log:
                tool_started(self.log, block.name, block.input)
            outcome = self.runner.run(block.name, block.input)
            if self.log:
                tool_event(self.log, block.name, block.input, outcome.content, outcome.is_error)
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": block.id,
                    "content": outcome.content,
                    "is_error": outcome.is_error,
                }
            )
        return results

    def _give_up(self, problem: str) -> bool:
        """No more fixing: AGENT_MAX_FIXES rounds of findings were sent, or a fix changed nothing (the
        check found the very same problem again), which more turns would only repeat at a cost."""
        same = self.last_problem is not None and " ".join(problem.split()) == " ".join(self.last_problem.split())
        return same or self.checks > self.max_fixes

    def _checked(self, summary: str, turn: int, pending: list[dict[str, Any]]) -> LoopResult | None:
        """The result when the summary stands, or None once the check's findings are sent back."""
        if self.log:
            self.log.stop_if_requested()
        problem = self.check() if self.check else None
        self.checks += self.check is not None
        if self.log and self.check:
            headline = problem.strip().splitlines()[0] if problem else "The app type-checks and its page loads."
            self.log.record("check", headline, passed=problem is None, problem=(problem or "")[:2000])
        if problem is None or turn == self.max_turns or self.deadline.passed() or self._give_up(problem):
            return LoopResult(summary, "summary", turn, check_error=problem, checks=self.checks)
        self.last_problem = problem
        note = _text_block(CHECK_FAILED_NOTE.format(problem=problem))
        self.messages.append({"role": "user", "content": [*pending, note]})
        return None


def run_agent_loop(
    client: anthropic.Anthropic,
    *,
    model: str,
    max_turns: int,
    max_tokens: int,
    sandbox: SandboxDescription,
    runner: ToolRunner,
    first_message: str,
    deadline: Deadline,
    meter: UsageMeter,
    images: Sequence[dict[str, Any]] = (),
    check: Callable[[], str | None] | None = None,
    log: RunLog | None = None,
    max_fixes: int = 3,
) -> LoopResult:
    """Model turns until a task summary. With ``check``, a summary stands only once the app passes
    it: what the check finds goes back to the model while turns and time remain, at most
    ``max_fixes`` times, and not again once a fix left the same problem. ``images`` (content blocks)
    go with the first message, before its text."""
    return _AgentLoop(
        client,
        model=model,
        max_turns=max_turns,
        max_tokens=max_tokens,
        runner=runner,
        deadline=deadline,
        meter=meter,
        check=check,
        log=log,
        max_fixes=max_fixes,
        system=[{"type": "text", "text": agent_system_prompt(sandbox), "cache_control": CACHED}],
        messages=[{"role": "user", "content": [*images, _text_block(first_message)]}],
    ).run()


def short_text(
    client: anthropic.Anthropic, *, model: str, system: str, content: str, max_tokens: int, meter: UsageMeter
) -> str | None:
    """One quick model answer (title, reply); None when the model fails, so callers fall back."""
    try:
        response = client.messages.create(
            model=model, max_tokens=max_tokens, system=system, messages=[{"role": "user", "content": content}]
        )
    except anthropic.APIError:
        return None
    meter.add(response.usage, model)
    text = "".join(getattr(block, "text", "") for block in response.content if block.type == "text").strip()
    return text or None
