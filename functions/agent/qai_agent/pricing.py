"""What the agent knows of each model: what its calls cost (USD per million tokens of each kind),
and how much it may write in one reply.

The built-in prices are Anthropic's list prices of current Claude models (5-minute cache writes);
``AGENT_PRICES`` (JSON: model id → {input, output, cacheRead, cacheWrite}) adds models or
overrides these, for a negotiated rate or a new model. A model id with a date suffix
(``claude-haiku-4-5-20251001``) takes its model's price. A model without a price costs ``None``:
unknown, never a guessed figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeFloat
from pydantic.alias_generators import to_camel

from qai.runs import RunUsage

PER_TOKEN = 1 / 1_000_000


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    input: NonNegativeFloat
    output: NonNegativeFloat
    cache_read: NonNegativeFloat
    cache_write: NonNegativeFloat


def _price(input_: float, output: float, cache_read: float) -> ModelPrice:
    return ModelPrice(input=input_, output=output, cache_read=cache_read, cache_write=input_ * 1.25)


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-2": _price(10, 50, 0.25),
    "claude-fable-5-1": _price(10, 50, 0.25),
    "claude-fable-5": _price(10, 50, 1),
    "claude-opus-5-5": _price(4, 20, 0.2),
    "claude-opus-5": _price(5, 25, 0.5),
    "claude-opus-4-8": _price(5, 25, 0.5),
    "claude-opus-4-7": _price(5, 25, 0.5),
    "claude-opus-4-6": _price(5, 25, 0.5),
    "claude-opus-4-5": _price(5, 25, 0.5),
    "claude-sonnet-5-5": _price(2, 10, 0.1),
    "claude-sonnet-5": _price(2, 10, 0.2),
    "claude-sonnet-4-6": _price(3, 15, 0.3),
    "claude-sonnet-4-5": _price(3, 15, 0.3),
    "claude-haiku-5-5": _price(0.1, 0.5, 0.01),
    "claude-haiku-4-5": _price(1, 5, 0.1),
}


def price_of(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The model's price: its own id, or the longest id it extends with a date suffix."""
    if model in prices:
        return prices[model]
    dated = [known for known in prices if model.startswith(known + "-") and model[len(known) + 1 :].isdigit()]
    return prices[max(dated, key=len)] if dated else None


def call_cost(price: ModelPrice, usage: Any) -> float:
    """The cost of one call, from the SDK's usage (input_tokens excludes the cached ones)."""
    return PER_TOKEN * (
        price.input * (usage.input_tokens or 0)
        + price.output * (usage.output_tokens or 0)
        + price.cache_read * (getattr(usage, "cache_read_input_tokens", 0) or 0)
        + price.cache_write * (getattr(usage, "cache_creation_input_tokens", 0) or 0)
    )


# The most output one reply may have, per model (the Messages API refuses more); a model not listed
# gets FALLBACK_MAX_OUTPUT. Streaming makes replies this long practical (no request timeout).
MAX_OUTPUT_TOKENS = {
    "claude-fable-5": 128_000,
    "claude-opus-5": 128_000,
    "claude-sonnet-5": 128_000,
    "claude-haiku-5": 128_000,
    "claude-opus-4-8": 128_000,
    "claude-opus-4-7": 128_000,
    "claude-opus-4-6": 128_000,
    "claude-opus-4-5": 64_000,
    "claude-sonnet-4-6": 64_000,
    "claude-sonnet-4-5": 64_000,
    "claude-haiku-4-5": 64_000,
}
FALLBACK_MAX_OUTPUT = 16_000


def max_output_tokens(model: str) -> int:
    """The longest prefix of ``model`` in MAX_OUTPUT_TOKENS decides (claude-sonnet-5-5 → claude-sonnet-5)."""
    known = [prefix for prefix in MAX_OUTPUT_TOKENS if model == prefix or model.startswith(prefix + "-")]
    return MAX_OUTPUT_TOKENS[max(known, key=len)] if known else FALLBACK_MAX_OUTPUT


@dataclass
class UsageMeter(RunUsage):
    """Tokens and cost over every model call of a run, added up as the SDK reports them."""

    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: DEFAULT_PRICES, repr=False)

    def add(self, usage: Any, model: str) -> None:
        self.input_tokens += usage.input_tokens or 0
        self.output_tokens += usage.output_tokens or 0
        self.cache_read_tokens += getattr(usage, "cache_read_input_tokens", 0) or 0
        self.cache_write_tokens += getattr(usage, "cache_creation_input_tokens", 0) or 0
        self.model_calls += 1
        price = price_of(model, self.prices)
        self.cost_usd = None if price is None or self.cost_usd is None else self.cost_usd + call_cost(price, usage)
