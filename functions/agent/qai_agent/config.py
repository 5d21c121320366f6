"""The agent's settings, read once per cold start."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qai.app_files import DEFAULT_MAX_BYTES
from qai.settings import get_settings, secret_or_env

# Current models from the anthropic SDK's model list: a Sonnet to build, a Haiku for the short texts.
DEFAULT_AGENT_MODEL = "claude-sonnet-5-5"
DEFAULT_FAST_MODEL = "claude-haiku-5-5"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


@dataclass(frozen=True)
class AgentSettings:
    model: str
    fast_model: str
    max_turns: int
    max_tokens: int
    history_messages: int
    command_timeout_seconds: float
    # Time kept back from the Lambda deadline to record the outcome once the loop stops.
    deadline_margin_seconds: float
    lease_seconds: int
    # A failed attempt comes back after this (doubling with each delivery), not after the queue's
    # visibility timeout of six function timeouts.
    retry_base_seconds: int
    max_receive_count: int
    sandbox_provider: str
    e2b_template: str
    e2b_timeout_seconds: int
    local_sandbox_root: Path
    local_template_cache: Path
    # A sandbox's dev server stops after this long without a request; at most this many run at once.
    local_preview_idle_seconds: float
    local_preview_max_running: int
    # A new sandbox's dev server starts at once (during the model's first turn), not on the first preview.
    local_preview_prestart: bool
    model_max_retries: int
    # The most a fragment may hold (its files as stored): the fragment route answers within Lambda's 6 MB.
    fragment_max_bytes: int
    install_timeout_seconds: float
    # The build check before an app is saved (type check, the preview answering without errors).
    check_app: bool
    check_page_timeout_seconds: float


def _flag(name: str, default: str) -> bool:
    return _env(name, default).lower() not in ("0", "false", "no", "off")


@cache
def get_agent_settings() -> AgentSettings:
    return AgentSettings(
        model=_env("AGENT_MODEL", DEFAULT_AGENT_MODEL),
        fast_model=_env("AGENT_FAST_MODEL", DEFAULT_FAST_MODEL),
        max_turns=int(_env("AGENT_MAX_TURNS", "15")),
        max_tokens=int(_env("AGENT_MAX_TOKENS", "16000")),
        history_messages=5,
        command_timeout_seconds=float(_env("AGENT_COMMAND_TIMEOUT_SECONDS", "120")),
        deadline_margin_seconds=float(_env("AGENT_DEADLINE_MARGIN_SECONDS", "60")),
        lease_seconds=int(_env("AGENT_LEASE_SECONDS", "960")),
        retry_base_seconds=int(_env("AGENT_RETRY_BASE_SECONDS", "30")),
        max_receive_count=get_settings().agent_max_receive_count,
        sandbox_provider=_env("SANDBOX_PROVIDER", "local"),
        e2b_template=_env("E2B_TEMPLATE", "qai-nextjs"),
        e2b_timeout_seconds=int(_env("E2B_TIMEOUT_SECONDS", "1800")),
        local_sandbox_root=Path(_env("LOCAL_SANDBOX_ROOT", str(Path(tempfile.gettempdir()) / "qai-sandboxes"))),
        local_template_cache=Path(_env("LOCAL_TEMPLATE_CACHE", str(Path.home() / ".cache" / "qai" / "app-template"))),
        local_preview_idle_seconds=float(_env("LOCAL_PREVIEW_IDLE_SECONDS", "600")),
        local_preview_max_running=int(_env("LOCAL_PREVIEW_MAX_RUNNING", "6")),
        local_preview_prestart=_flag("LOCAL_PREVIEW_PRESTART", "true"),
        model_max_retries=int(_env("AGENT_MODEL_MAX_RETRIES", "4")),
        fragment_max_bytes=int(_env("FRAGMENT_MAX_BYTES", str(DEFAULT_MAX_BYTES))),
        install_timeout_seconds=float(_env("AGENT_INSTALL_TIMEOUT_SECONDS", "300")),
        check_app=_flag("AGENT_CHECK_APP", "true"),
        check_page_timeout_seconds=float(_env("AGENT_CHECK_PAGE_TIMEOUT_SECONDS", "120")),
    )


def anthropic_api_key() -> str:
    return secret_or_env("ANTHROPIC_API_KEY", "ANTHROPIC_SECRET_ARN")


def e2b_api_key() -> str:
    return secret_or_env("E2B_API_KEY", "E2B_SECRET_ARN")


def model_configured() -> bool:
    """A key, or an Anthropic-compatible server (which may need none)."""
    return bool(anthropic_api_key() or os.environ.get("ANTHROPIC_BASE_URL"))
