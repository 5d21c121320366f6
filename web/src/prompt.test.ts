import { describe, expect, it } from "vitest";
import { components } from "../../openapi.json";
import { longestPrompt, PROMPT_LIMIT, PROMPT_PATTERN } from "./prompt";

describe("the prompt limit, read from the OpenAPI document", () => {
  const rule = new RegExp(PROMPT_PATTERN);

  it("is the longest prompt the document's pattern takes", () => {
    expect(rule.test("a".repeat(PROMPT_LIMIT))).toBe(true);
    expect(rule.test("a".repeat(PROMPT_LIMIT + 1))).toBe(false);
    expect(rule.test(`  ${"a".repeat(PROMPT_LIMIT)}\n`)).toBe(true); // white space around it is trimmed
    expect(rule.test("   ")).toBe(false);
  });

  it("agrees with the document's own words", () => {
    expect(components.schemas.PromptInput.properties.value.description).toContain(`(${PROMPT_LIMIT})`);
  });

  it("fails loudly when the pattern no longer bounds the length", () => {
    expect(longestPrompt("^x(?:y{0,8}z)?$")).toBe(10);
    expect(() => longestPrompt("^.+$")).toThrow(/sets no length/);
  });
});
