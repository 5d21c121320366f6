import { describe, expect, it } from "vitest";
import type { Message, Run, RunEvent, RunStatus } from "./api/client";
import {
  activeRun,
  checkProblem,
  eventFailed,
  eventText,
  eventTone,
  isFinished,
  runHeadline,
  shownEvents,
  usageText,
  withNewerEvents,
} from "./runProgress";

const at = "2026-01-02T03:04:05.000Z";

// The events of a run as the API serves them (the kinds and data the agent records).
const started: RunEvent = { seq: 1, at, kind: "status", text: "Started (attempt 1)", data: { status: "RUNNING", attempt: 1 } };
const working: RunEvent = {
  seq: 2,
  at,
  kind: "status",
  text: "Working on the app (a new sandbox)",
  data: { attached: false, installed: false },
};
const turn: RunEvent = {
  seq: 3,
  at,
  kind: "model",
  text: "Turn 1 of 15",
  data: { turn: 1, inputTokens: 120, outputTokens: 40 },
};
const commandStarts: RunEvent = { seq: 4, at, kind: "command", text: "npm test", data: { status: "running" } };
const commandEnds: RunEvent = {
  seq: 5,
  at,
  kind: "command",
  text: "npm test",
  data: { status: "exit code 1", output: "1 failed", error: true },
};
const wrote: RunEvent = {
  seq: 6,
  at,
  kind: "files",
  text: "Wrote 2 file(s)",
  data: { written: ["app/page.tsx", "lib/a.ts"], error: false },
};
const read: RunEvent = { seq: 7, at, kind: "files", text: "Read 1 file(s)", data: { read: ["app/page.tsx"], error: false } };
const edited: RunEvent = {
  seq: 13,
  at,
  kind: "files",
  text: "Edited app/page.tsx",
  data: { edited: ["app/page.tsx"], error: false },
};
const skipped: RunEvent = {
  seq: 8,
  at,
  kind: "files",
  text: "Not saved: link (a link, not a file)",
  data: { skipped: "link" },
};
const checkFailed: RunEvent = {
  seq: 9,
  at,
  kind: "check",
  text: "The page fails to load (HTTP 500)",
  data: { passed: false, problem: "x".repeat(700) },
};
const checkPassed: RunEvent = {
  seq: 10,
  at,
  kind: "check",
  text: "The app type-checks and its page loads.",
  data: { passed: true, problem: "" },
};
const error: RunEvent = { seq: 11, at, kind: "error", text: "Unknown tool paint", data: {} };
const done: RunEvent = { seq: 12, at, kind: "status", text: "Done: the reply is ready", data: { status: "SUCCEEDED" } };

function run(status: RunStatus, events: RunEvent[], nextAfter: number): Run {
  const usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, modelCalls: 0, costUsd: 0 };
  return { id: "r1", messageId: "m1", status, createdAt: at, startedAt: at, finishedAt: null, usage, events, nextAfter };
}

function message(id: string, status: RunStatus | null): Message {
  return {
    id,
    projectId: "p1",
    content: "a todo app",
    role: "USER",
    type: "RESULT",
    mode: "build",
    createdAt: at,
    updatedAt: at,
    fragment: null,
    run: status ? { id: `run-${id}`, status } : null,
  };
}

describe("run status", () => {
  it("is finished once it succeeded, failed or was cancelled", () => {
    expect(["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"].map((s) => isFinished(s as RunStatus))).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
  });

  it("says whether a worker has the run yet", () => {
    expect(runHeadline("RUNNING")).toBe("Building your app…");
    expect(runHeadline("QUEUED")).toBe("Waiting for a worker…");
    expect(runHeadline(undefined)).toBe("Waiting for a worker…");
  });

  it("finds the message whose run is still going, the newest first", () => {
    expect(activeRun([message("a", "SUCCEEDED"), message("b", null), message("c", "RUNNING")])?.id).toBe("c");
    expect(activeRun([message("a", "QUEUED"), message("b", "FAILED")])?.id).toBe("a");
    expect(activeRun([message("a", "CANCELLED"), message("b", null)])).toBeUndefined();
    expect(activeRun(undefined)).toBeUndefined();
  });
});

describe("events polled with ?after=", () => {
  it("keep the events seen, then add the page's newer ones and take its status", () => {
    const first = run("RUNNING", [started, working], 2);
    const merged = withNewerEvents(first, run("SUCCEEDED", [turn, done], 12));
    expect(merged.events.map((e) => e.seq)).toEqual([1, 2, 3, 12]);
    expect(merged.status).toBe("SUCCEEDED");
    expect(merged.nextAfter).toBe(12);
    expect(withNewerEvents(undefined, first).events).toEqual([started, working]);
  });
});

describe("the events shown", () => {
  it("show a running command once, as the last line, until its result replaces it", () => {
    expect(shownEvents([started, turn, commandStarts])).toEqual([started, turn, commandStarts]);
    expect(shownEvents([started, turn, commandStarts, commandEnds, wrote])).toEqual([started, turn, commandEnds, wrote]);
  });

  it("are each a line of text that says what happened", () => {
    const events = [started, working, turn, commandStarts, commandEnds, wrote, edited, read, skipped, error];
    expect(events.map(eventText)).toEqual([
      "Started (attempt 1)",
      "Working on the app (a new sandbox)",
      "Turn 1 of 15 (40 tokens written)",
      "$ npm test (running)",
      "$ npm test (exit code 1)",
      "Wrote 2 file(s): app/page.tsx, lib/a.ts",
      "Edited app/page.tsx", // the path is in the text already
      "Read 1 file(s): app/page.tsx",
      "Not saved: link (a link, not a file)",
      "Unknown tool paint",
    ]);
  });

  it("are red when something failed, green for a passed check, grey otherwise", () => {
    const tones = [started, turn, commandStarts, commandEnds, wrote, checkFailed, checkPassed, error, done].map(eventTone);
    expect(tones).toEqual(["gray", "gray", "gray", "red", "gray", "red", "green", "red", "gray"]);
    const failedWrite: RunEvent = { ...wrote, data: { written: [], error: true } };
    expect(eventFailed(failedWrite)).toBe(true);
    expect(eventFailed({ ...commandEnds, data: { status: "exit code 0", output: "", error: false } })).toBe(false);
  });

  it("show what a failed check found, cut to 600 characters, and nothing for a passed one", () => {
    expect(checkProblem(checkFailed)).toBe("x".repeat(600));
    expect(checkProblem(checkPassed)).toBeNull();
    expect(checkProblem(error)).toBeNull();
  });
});

describe("usageText", () => {
  const usage = { inputTokens: 1200, outputTokens: 340, cacheReadTokens: 9000, cacheWriteTokens: 300, modelCalls: 4 };
  it("sums the tokens in, says what came from the cache, and the cost", () => {
    expect(usageText({ ...usage, costUsd: 0.01234 })).toBe(
      "4 model calls · 10.5k tokens in (9.0k from the cache) · 340 out · $0.0123",
    );
  });
  it("says when the cost is unknown, and nothing before the first call", () => {
    expect(usageText({ ...usage, modelCalls: 1, costUsd: null })).toContain("1 model call · ");
    expect(usageText({ ...usage, modelCalls: 1, costUsd: null })).toContain("cost unknown");
    expect(usageText({ ...usage, modelCalls: 0, costUsd: 0 })).toBeNull();
    expect(usageText(undefined)).toBeNull();
  });
});

describe("writing events", () => {
  const writing = (seq: number, bytes: number): RunEvent => ({
    seq,
    at,
    kind: "writing",
    text: `writing app/page.tsx (${(bytes / 1000).toFixed(1)} kB so far)`,
    data: { turn: 1, tool: "createOrUpdateFiles", path: "app/page.tsx", bytes },
  });
  it("show only the newest, while it is the last line", () => {
    const events = [writing(1, 1000), writing(2, 2000)];
    expect(shownEvents(events).map((e) => e.seq)).toEqual([2]);
    expect(eventText(writing(2, 3200))).toBe("Claude is writing app/page.tsx (3.2 kB so far)");
    const done: RunEvent = { seq: 3, at, kind: "files", text: "Edited app/page.tsx", data: { edited: ["app/page.tsx"] } };
    expect(shownEvents([...events, done]).map((e) => e.seq)).toEqual([3]);
    expect(eventText(done)).toBe("Edited app/page.tsx");
  });
});
