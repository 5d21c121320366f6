"""The tool loop on its own, against the scripted model through the real SDK: how the build check's
findings are sent back and when that stops, and what a run's calls cost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from qai_agent.loop import Deadline, LoopResult, run_agent_loop, short_text
from qai_agent.pricing import DEFAULT_PRICES, ModelPrice, UsageMeter, price_of
from qai_agent.sandboxes.base import SandboxDescription
from qai_agent.tools import ToolRunner
from qai_tools import scripted_model as sm

SONNET_CALL = (2 * 120 + 10 * 40 + 0.1 * 900 + 2.5 * 30) / 1e6  # scripted usage at claude-sonnet-5-5's prices
SANDBOX = SandboxDescription(environment="A test sandbox.", workdir="/app")
HAIKU_CALL = (0.1 * 120 + 0.5 * 40 + 0.01 * 900 + 0.125 * 30) / 1e6


@pytest.fixture
def client(model_server: sm.ScriptedModelServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key="test", base_url=model_server.url, max_retries=0) as client:
        yield client


def loop(client: anthropic.Anthropic, check: Any, meter: UsageMeter, *, max_fixes: int = 3) -> LoopResult:
    return run_agent_loop(
        client,
        model="claude-sonnet-5-5",
        max_turns=15,
        max_tokens=1000,
        sandbox=SANDBOX,
        runner=ToolRunner(sandbox=None, command_timeout_seconds=1),  # type: ignore[arg-type] - no tool is called
        first_message="build it",
        deadline=Deadline(lambda: 600_000, 0),
        meter=meter,
        check=check,
        max_fixes=max_fixes,
    )


def test_a_fix_that_leaves_the_same_problem_ends_the_fixing(
    client: anthropic.Anthropic, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(*(sm.summary(f"Attempt {i}.") for i in range(1, 6)))
    problems = iter(["app/page.tsx(3,5): error TS2322", "app/page.tsx(3,5):  error TS2322\n"])
    result = loop(client, lambda: next(problems), UsageMeter())
    # One round of findings went back; the second check found the same problem (white space aside).
    assert (result.turns, result.checks, result.summary) == (2, 2, "Attempt 2.")
    assert result.check_error is not None and "TS2322" in result.check_error
    assert len(model_server.agent_requests()) == 2


@pytest.mark.parametrize("max_fixes", [0, 3])
def test_at_most_agent_max_fixes_rounds_of_findings_go_back(
    client: anthropic.Anthropic, model_server: sm.ScriptedModelServer, max_fixes: int
) -> None:
    model_server.script(*(sm.summary(f"Attempt {i}.") for i in range(1, 10)))
    problems = (f"problem number {i}" for i in range(1, 10))  # a new problem each time
    result = loop(client, lambda: next(problems), UsageMeter(), max_fixes=max_fixes)
    assert (result.checks, result.turns) == (max_fixes + 1, max_fixes + 1)
    assert result.check_error == f"problem number {max_fixes + 1}"
    sent_back = [m for r in model_server.agent_requests() for m in r["messages"] if "does not work yet" in str(m)]
    assert len(model_server.agent_requests()[-1]["messages"]) == 1 + 2 * max_fixes
    assert len(sent_back) >= max_fixes


def test_a_passing_check_ends_the_loop_at_once(
    client: anthropic.Anthropic, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(sm.summary("Done."))
    result = loop(client, lambda: None, UsageMeter())
    assert (result.summary, result.checks, result.check_error) == ("Done.", 1, None)


def test_usage_counts_every_call_and_prices_it_per_model(
    client: anthropic.Anthropic, model_server: sm.ScriptedModelServer
) -> None:
    meter = UsageMeter()
    model_server.script(sm.write_files({"a.txt": "a"}), sm.summary())
    runner_loop = run_agent_loop(
        client,
        model="claude-sonnet-5-5",
        max_turns=5,
        max_tokens=1000,
        sandbox=SANDBOX,
        runner=ToolRunner(sandbox=_Files(), command_timeout_seconds=1),  # type: ignore[arg-type]
        first_message="build it",
        deadline=Deadline(lambda: 600_000, 0),
        meter=meter,
    )
    assert runner_loop.summary is not None
    assert short_text(client, model="claude-haiku-5-5", system="s", content="c", max_tokens=10, meter=meter)
    assert (meter.model_turns, meter.model_calls) == (2, 3)
    assert (meter.input_tokens, meter.output_tokens, meter.cache_read_tokens, meter.cache_write_tokens) == (
        360,
        120,
        2700,
        90,
    )
    assert meter.cost_usd == pytest.approx(2 * SONNET_CALL + HAIKU_CALL)
    # A model without a price makes the whole run's cost unknown, not a guess.
    short_text(client, model="someone-elses-model", system="s", content="c", max_tokens=10, meter=meter)
    assert meter.cost_usd is None and meter.model_calls == 4


def test_prices_by_model_id_with_a_date_suffix_and_overrides() -> None:
    assert price_of("claude-haiku-4-5-20251001", DEFAULT_PRICES) == DEFAULT_PRICES["claude-haiku-4-5"]
    assert price_of("claude-haiku-4-5-preview", DEFAULT_PRICES) is None
    assert price_of("claude-sonnet-5-5", DEFAULT_PRICES) == ModelPrice(
        input=2, output=10, cache_read=0.1, cache_write=2.5
    )
    assert price_of("gpt-9", DEFAULT_PRICES) is None


class _Files:
    """Enough of a sandbox for createOrUpdateFiles."""

    def write_files(self, files: dict[str, str]) -> None:
        self.files = files


def test_a_reply_may_be_as_long_as_the_model_allows_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from qai.settings import load_settings
    from qai_agent.config import AgentSettings
    from qai_agent.pricing import FALLBACK_MAX_OUTPUT, max_output_tokens

    assert max_output_tokens("claude-sonnet-5-5") == 128_000
    assert max_output_tokens("claude-haiku-4-5-20251001") == 64_000
    assert max_output_tokens("claude-sonnet-50") == FALLBACK_MAX_OUTPUT  # a prefix only at a dash
    assert load_settings(AgentSettings).max_tokens == 128_000
    monkeypatch.setenv("AGENT_MAX_TOKENS", "8000")
    assert load_settings(AgentSettings).max_tokens == 8000
