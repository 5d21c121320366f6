import { components } from "../../openapi.json";
import type { MessageMode } from "./api/client";

/** The rule for a prompt (POST /projects, POST …/messages), read from the OpenAPI document rather
 * than copied: a character that is not white space, then at most N more up to the last such
 * character, as the pattern of PromptInput.value says (`…(?:[^\x00]{0,N}[^…])?…`). */
export const PROMPT_PATTERN: string = components.schemas.PromptInput.properties.value.pattern;

/** The most characters a prompt may have from its first non-space character to its last. */
export function longestPrompt(pattern: string): number {
  const between = /\{0,(\d+)\}/.exec(pattern);
  if (!between) throw new Error(`PromptInput.value's pattern sets no length: ${pattern}`);
  return Number(between[1]) + 2;
}

export const PROMPT_LIMIT = longestPrompt(PROMPT_PATTERN);

/** How the prompt box reads in each mode of a follow-up: build changes the app, ask only answers. */
export const MODES = {
  build: { label: "Build", field: "Ask for a change", placeholder: "Add a delete button" },
  ask: { label: "Ask", field: "Ask about the app (nothing is changed)", placeholder: "Where are the todos stored?" },
} satisfies Record<MessageMode, { label: string; field: string; placeholder: string }>;

export function isMode(value: string): value is MessageMode {
  return Object.hasOwn(MODES, value); // not "in": that would take "toString" for a mode
}
