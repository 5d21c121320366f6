import { describe, expect, it } from "vitest";
import { PROMPT_LIMIT, PROMPT_PATTERN } from "./prompt";
import {
  acceptRuntimeError,
  errorKey,
  errorsOf,
  fixItPrompt,
  MAX_MESSAGE,
  MAX_SHOWN,
  MAX_STACK,
  NO_PREVIEW_ERRORS,
  originOf,
  readRuntimeError,
  type RuntimeError,
  stackFrames,
  withRuntimeError,
} from "./runtimeErrors";

const STACK = [
  "Error: The counter broke",
  "    at onClick (http://127.0.0.1:4100/_next/static/chunks/app_page_tsx.js:12:15)",
  "    at executeDispatch (http://127.0.0.1:4100/_next/static/chunks/react-dom.js:100:7)",
].join("\n");

const report = {
  type: "qai:runtime-error",
  kind: "error",
  message: "Error: The counter broke",
  stack: STACK,
  url: "http://127.0.0.1:4100/",
};

const thrown: RuntimeError = { kind: "error", message: report.message, stack: STACK, url: report.url };

// Windows stand-ins: the check is by identity, which is all a MessageEvent's source offers.
const preview = {} as Window;
const other = {} as Window;
const ORIGIN = "http://127.0.0.1:4100";

describe("a message from the preview", () => {
  it("is read when it has exactly the report's shape", () => {
    expect(readRuntimeError(report)).toEqual(thrown);
    expect(readRuntimeError({ ...report, kind: "unhandledrejection", extra: "<b>ignored</b>" })).toEqual({
      ...thrown,
      kind: "unhandledrejection",
    });
  });

  it("is ignored in any other shape", () => {
    for (const data of [
      null,
      undefined,
      "qai:runtime-error",
      [report],
      { ...report, type: "qai:runtime-error " },
      { ...report, type: "QAI:RUNTIME-ERROR" },
      { ...report, kind: "warning" },
      { ...report, message: 42 },
      { ...report, message: "   " },
      { ...report, stack: undefined },
      { ...report, url: { toString: () => "x" } },
    ]) {
      expect(readRuntimeError(data)).toBeNull();
    }
  });

  it("is cut to size", () => {
    const long = readRuntimeError({ ...report, message: "m".repeat(5000), stack: "s".repeat(50_000), url: "u".repeat(9000) });
    expect(long?.message).toHaveLength(MAX_MESSAGE);
    expect(long?.message.endsWith("…")).toBe(true);
    expect(long?.stack).toHaveLength(MAX_STACK);
    expect(long?.url.length).toBeLessThanOrEqual(2000);
  });

  it("counts only from the preview's own frame at the preview's origin", () => {
    expect(acceptRuntimeError({ source: preview, origin: ORIGIN, data: report }, preview, ORIGIN)).toEqual(thrown);
    // The same shape from another window, another origin, or with no frame or origin to compare: ignored.
    expect(acceptRuntimeError({ source: other, origin: ORIGIN, data: report }, preview, ORIGIN)).toBeNull();
    expect(acceptRuntimeError({ source: null, origin: ORIGIN, data: report }, preview, ORIGIN)).toBeNull();
    expect(acceptRuntimeError({ source: preview, origin: "https://evil.example", data: report }, preview, ORIGIN)).toBeNull();
    expect(acceptRuntimeError({ source: preview, origin: "null", data: report }, preview, ORIGIN)).toBeNull();
    expect(acceptRuntimeError({ source: null, origin: ORIGIN, data: report }, null, ORIGIN)).toBeNull();
    expect(acceptRuntimeError({ source: preview, origin: ORIGIN, data: report }, preview, undefined)).toBeNull();
    expect(acceptRuntimeError({ source: preview, origin: ORIGIN, data: { ...report, kind: 1 } }, preview, ORIGIN)).toBeNull();
  });

  it("has the origin of the preview's address", () => {
    expect(originOf("http://127.0.0.1:4100/")).toBe(ORIGIN);
    expect(originOf("https://3000-abc.e2b.app")).toBe("https://3000-abc.e2b.app");
    expect(originOf("not a url")).toBeUndefined();
    expect(originOf("data:text/html,hi")).toBeUndefined();
    expect(originOf(undefined)).toBeUndefined();
  });
});

describe("errors shown under the preview", () => {
  it("start from the first frame of the stack", () => {
    expect(stackFrames(STACK).split("\n")).toEqual([
      "at onClick (http://127.0.0.1:4100/_next/static/chunks/app_page_tsx.js:12:15)",
      "at executeDispatch (http://127.0.0.1:4100/_next/static/chunks/react-dom.js:100:7)",
    ]);
    expect(stackFrames("onClick@http://x/a.js:1:2\nf@http://x/b.js:3:4")).toBe("onClick@http://x/a.js:1:2\nf@http://x/b.js:3:4");
    expect(stackFrames("no frames here")).toBe("no frames here");
    expect(stackFrames("")).toBe("");
  });

  it("count the same message from the same place once, newest first", () => {
    let state = withRuntimeError(NO_PREVIEW_ERRORS, "v1", thrown);
    const elsewhere = { ...thrown, stack: STACK.replace("onClick", "onSubmit") };
    state = withRuntimeError(state, "v1", elsewhere);
    state = withRuntimeError(state, "v1", { ...thrown, url: "http://127.0.0.1:4100/again" });
    const shown = errorsOf(state, "v1");
    expect(shown.map((error) => [error.count, error.url])).toEqual([
      [2, "http://127.0.0.1:4100/again"],
      [1, "http://127.0.0.1:4100/"],
    ]);
    expect(shown[0].key).toBe(errorKey(thrown));
    expect(errorKey(elsewhere)).not.toBe(errorKey(thrown));
  });

  it(`keep at most ${MAX_SHOWN}`, () => {
    let state = NO_PREVIEW_ERRORS;
    for (let n = 0; n < MAX_SHOWN + 5; n++) state = withRuntimeError(state, "v1", { ...thrown, message: `error ${n}` });
    const shown = errorsOf(state, "v1");
    expect(shown).toHaveLength(MAX_SHOWN);
    expect(shown[0].message).toBe(`error ${MAX_SHOWN + 4}`);
  });

  it("belong to one version: another one starts with none", () => {
    const state = withRuntimeError(NO_PREVIEW_ERRORS, "v1", thrown);
    expect(errorsOf(state, "v2")).toEqual([]);
    expect(errorsOf(state, undefined)).toEqual([]);
    const next = withRuntimeError(state, "v2", { ...thrown, message: "another" });
    expect(errorsOf(next, "v2").map((error) => error.message)).toEqual(["another"]);
  });
});

describe("the follow-up 'Fix it' sends", () => {
  it("holds the error, its stack and the page", () => {
    expect(fixItPrompt(thrown)).toBe(
      [
        "Fix this error the app throws in the browser:",
        "Error: The counter broke",
        stackFrames(STACK),
        "at http://127.0.0.1:4100/",
      ].join("\n\n"),
    );
  });

  it("fits the prompt limit, dropping the stack's last frames first", () => {
    const frames = Array.from({ length: 200 }, (_, n) => `    at f${n} (http://127.0.0.1:4100/_next/static/chunks/x.js:${n}:1)`);
    const huge = { ...thrown, message: "m".repeat(MAX_MESSAGE), stack: ["Error: m", ...frames].join("\n"), url: `http://x/${"u".repeat(1900)}` };
    const text = fixItPrompt(huge);
    expect(text.length).toBeLessThanOrEqual(PROMPT_LIMIT);
    expect(new RegExp(PROMPT_PATTERN).test(text)).toBe(true);
    expect(text).toContain("at f0 (");
    expect(text).not.toContain("at f199 (");
    expect(text.startsWith("Fix this error the app throws in the browser:\n\nmmm")).toBe(true);
  });

  it("goes without a stack when there is none", () => {
    expect(fixItPrompt({ ...thrown, kind: "unhandledrejection", message: "offline", stack: "" })).toBe(
      "Fix this error the app throws in the browser:\n\noffline\n\nat http://127.0.0.1:4100/",
    );
  });
});
