"""The agent's settings: the shared ones and its own, read once per cold start (``AgentDependencies``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from qai.app_files import DEFAULT_MAX_BYTES
from qai.settings import Settings
from qai_agent.pricing import DEFAULT_PRICES, ModelPrice, max_output_tokens

# Current models from the anthropic SDK's model list: a Sonnet to build, a Haiku for the short texts.
DEFAULT_AGENT_MODEL = "claude-sonnet-5-5"
DEFAULT_FAST_MODEL = "claude-haiku-5-5"


class AgentSettings(Settings):
    """Each field is read from the variable its alias names, or else from its own name in upper case."""

    model: str = Field(DEFAULT_AGENT_MODEL, validation_alias="AGENT_MODEL")
    fast_model: str = Field(DEFAULT_FAST_MODEL, validation_alias="AGENT_FAST_MODEL")
    max_turns: PositiveInt = Field(15, validation_alias="AGENT_MAX_TURNS")
    # Unset: as much as the model allows in one reply (pricing.max_output_tokens).
    max_tokens_setting: PositiveInt | None = Field(None, validation_alias="AGENT_MAX_TOKENS")
    history_messages: PositiveInt = Field(5, validation_alias="AGENT_HISTORY_MESSAGES")
    # Images of earlier messages shown again, while they fit: about three of the largest.
    history_image_tokens: NonNegativeInt = Field(4600, validation_alias="AGENT_HISTORY_IMAGE_TOKENS")
    command_timeout_seconds: PositiveFloat = Field(120, validation_alias="AGENT_COMMAND_TIMEOUT_SECONDS")
    # Time kept back from the Lambda deadline to record the outcome once the loop stops.
    deadline_margin_seconds: PositiveFloat = Field(60, validation_alias="AGENT_DEADLINE_MARGIN_SECONDS")
    lease_seconds: PositiveInt = Field(960, validation_alias="AGENT_LEASE_SECONDS")
    # A failed attempt comes back after this (doubling with each delivery), not after the queue's
    # visibility timeout of six function timeouts.
    retry_base_seconds: NonNegativeInt = Field(30, validation_alias="AGENT_RETRY_BASE_SECONDS")
    model_max_retries: NonNegativeInt = Field(4, validation_alias="AGENT_MODEL_MAX_RETRIES")
    install_timeout_seconds: PositiveFloat = Field(300, validation_alias="AGENT_INSTALL_TIMEOUT_SECONDS")
    # The build check before an app is saved (type check, the preview answering without errors).
    check_app: bool = Field(True, validation_alias="AGENT_CHECK_APP")
    check_page_timeout_seconds: PositiveFloat = Field(120, validation_alias="AGENT_CHECK_PAGE_TIMEOUT_SECONDS")
    # The most a fragment may hold (its files as stored): the fragment route answers within Lambda's 6 MB.
    fragment_max_bytes: PositiveInt = DEFAULT_MAX_BYTES
    # AGENT_PRICES: model id → {input, output, cacheRead, cacheWrite} in USD per million tokens,
    # merged over the built-in prices (pricing.py).
    agent_prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # Rounds of the build check's findings sent back after the first summary, at most.
    max_fixes: NonNegativeInt = Field(3, validation_alias="AGENT_MAX_FIXES")
    # A publish: how long its static export may build, the most its site may hold, and whether
    # source maps (the app's source, readable by anyone) go up with it.
    site_build_timeout_seconds: PositiveFloat = 600
    site_max_bytes: PositiveInt = 100_000_000
    site_source_maps: bool = False
    # The model: a key given directly or as a Secrets Manager ARN, or an Anthropic-compatible server.
    anthropic_api_key: str = Field("", repr=False)
    anthropic_secret_arn: str = ""
    anthropic_base_url: str = ""
    sandbox_provider: str = "local"
    e2b_api_key: str = Field("", repr=False)
    e2b_secret_arn: str = ""
    e2b_template: str = "qai-nextjs"
    e2b_timeout_seconds: PositiveInt = 1800
    local_sandbox_root: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "qai-sandboxes")
    local_template_cache: Path = Field(default_factory=lambda: Path.home() / ".cache" / "qai" / "app-template")
    # A sandbox's dev server stops after this long without a request; at most this many run at once.
    local_preview_idle_seconds: PositiveFloat = 600
    local_preview_max_running: PositiveInt = 6
    # A new sandbox's dev server starts at once (during the model's first turn), not on the first preview.
    local_preview_prestart: bool = True

    @property
    def max_tokens(self) -> int:
        return self.max_tokens_setting or max_output_tokens(self.model)


def prices(settings: AgentSettings) -> dict[str, ModelPrice]:
    """The built-in prices with AGENT_PRICES over them."""
    return {**DEFAULT_PRICES, **settings.agent_prices}
