import { describe, expect, it } from "vitest";
import { components } from "../../openapi.json";
import { isMode, longestPrompt, MODES, PROMPT_LIMIT, PROMPT_PATTERN } from "./prompt";

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

describe("modes", () => {
  it("name every mode of the document, and tell a mode from any other text", () => {
    expect(Object.keys(MODES)).toEqual(["build", "ask"]);
    expect(isMode("ask")).toBe(true);
    expect(isMode("chat")).toBe(false);
    expect(isMode("toString")).toBe(false);
  });
});
