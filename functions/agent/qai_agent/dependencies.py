"""What the agent's handler hands down, built once per execution environment (or by the local
stack, which shares one among its workers, or by a test)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import anthropic

from qai.dependencies import Dependencies
from qai.settings import load_settings, secret_value
from qai_agent.config import AgentSettings
from qai_agent.sandboxes import SandboxProvider, sandbox_provider


class ModelAccess:
    """The model's credentials; one client, built on first use, keeps its connections."""

    def __init__(self, *, api_key: str, base_url: str, max_retries: int) -> None:
        self._api_key = api_key
        self.base_url = base_url
        self._max_retries = max_retries

    @property
    def configured(self) -> bool:
        """A key, or an Anthropic-compatible server (which may need none)."""
        return bool(self._api_key or self.base_url)

    @cached_property
    def client(self) -> anthropic.Anthropic:
        # A server reached through ANTHROPIC_BASE_URL may need no key; the SDK still wants one.
        return anthropic.Anthropic(
            api_key=self._api_key or "not-needed", base_url=self.base_url or None, max_retries=self._max_retries
        )


@dataclass(frozen=True)
class AgentDependencies(Dependencies):
    """The shared dependencies, with the agent's settings, its model and its sandboxes."""

    settings: AgentSettings
    model: ModelAccess
    sandboxes: SandboxProvider

    @classmethod
    def for_agent(cls, settings: AgentSettings) -> AgentDependencies:
        """Everything ``settings`` name, with the secrets fetched now (once)."""
        shared = Dependencies.build(settings)
        return cls(
            **{field.name: getattr(shared, field.name) for field in fields(Dependencies)},
            model=ModelAccess(
                api_key=secret_value(settings.anthropic_api_key, settings.anthropic_secret_arn),
                base_url=settings.anthropic_base_url,
                max_retries=settings.model_max_retries,
            ),
            sandboxes=sandbox_provider(
                settings, e2b_api_key=secret_value(settings.e2b_api_key, settings.e2b_secret_arn)
            ),
        )

    @classmethod
    def from_environment(cls) -> AgentDependencies:
        return cls.for_agent(load_settings(AgentSettings))
