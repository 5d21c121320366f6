import { components } from "../../openapi.json";

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
