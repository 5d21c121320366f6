import { describe, expect, it } from "vitest";
import type { GitPush } from "./api/client";
import {
  bundleName,
  initialPushForm,
  PUSH_POLL_MS,
  pushFormProblems,
  pushPollInterval,
  pushRequest,
  pushSummary,
  remoteUrlProblem,
  shortCommit,
} from "./gitPush";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

function push(changes: Partial<GitPush>): GitPush {
  return {
    status: "PUSHED",
    url: "https://github.com/you/app.git",
    branch: "main",
    username: "x-access-token",
    fragmentId: "f1",
    commit: COMMIT,
    error: null,
    requestedAt: "2026-03-04T05:06:07.000Z",
    finishedAt: "2026-03-04T05:06:09.000Z",
    ...changes,
  };
}

const form = { url: "https://github.com/you/app.git", branch: "main", username: "x-access-token", token: "t0ken" };

describe("the remote's URL", () => {
  it("takes https:// and http:// (any case), trimmed", () => {
    expect(remoteUrlProblem("https://github.com/you/app.git")).toBeNull();
    expect(remoteUrlProblem("HTTPS://gitlab.com/you/app.git")).toBeNull();
    expect(remoteUrlProblem("  http://git.example.lan:8080/app.git \n")).toBeNull();
  });

  it("refuses other schemes and what is not a URL", () => {
    expect(remoteUrlProblem("")).toBe("Enter the repository's URL.");
    expect(remoteUrlProblem("   ")).toBe("Enter the repository's URL.");
    const others = ["git@github.com:you/app.git", "ssh://git@github.com/you/app.git", "file:///tmp/app", "github.com/a/b"];
    for (const url of others) {
      expect(remoteUrlProblem(url)).toMatch(/^The URL starts with https:\/\//);
    }
    expect(remoteUrlProblem("https://github.com/you/my app.git")).toBe("A URL has no spaces.");
    expect(remoteUrlProblem("https://")).toBe("This is not a URL.");
    expect(remoteUrlProblem("https://[::1")).toBe("This is not a URL.");
  });

  it("refuses credentials in it: the token has a field of its own", () => {
    expect(remoteUrlProblem("https://me:secret@github.com/you/app.git")).toBe("Give the token below, not in the URL.");
    expect(remoteUrlProblem("https://x-access-token@github.com/you/app.git")).toBe(
      "Give the token below, not in the URL.",
    );
  });
});

describe("the push form", () => {
  it("may be sent when every field holds something sensible", () => {
    expect(pushFormProblems(form)).toEqual({});
  });

  it("names each field's problem", () => {
    expect(pushFormProblems({ url: "ssh://x", branch: " ", username: "", token: "" })).toEqual({
      url: "The URL starts with https:// (for example https://github.com/you/app.git).",
      branch: "Enter a branch.",
      username: "Enter a username.",
      token: "Enter a token that may push to the repository.",
    });
    expect(pushFormProblems({ ...form, branch: "my branch", username: "me:you" })).toEqual({
      branch: "A branch has no spaces.",
      username: "A username has no colon.",
    });
  });

  it("sends the fields trimmed, the token as typed", () => {
    expect(pushRequest({ url: " https://h/r.git ", branch: " dev ", username: " oauth2 ", token: " t " })).toEqual({
      url: "https://h/r.git",
      branch: "dev",
      username: "oauth2",
      token: " t ",
    });
  });

  it("opens with where the last push went, never a token", () => {
    expect(initialPushForm(null)).toEqual({ url: "", branch: "main", username: "x-access-token", token: "" });
    expect(initialPushForm(push({ url: "https://gitlab.com/a/b.git", branch: "site", username: "oauth2" }))).toEqual({
      url: "https://gitlab.com/a/b.git",
      branch: "site",
      username: "oauth2",
      token: "",
    });
  });
});

describe("a push in words", () => {
  it("a commit is shortened as git does", () => {
    expect(shortCommit(COMMIT)).toBe("0123456");
    expect(shortCommit(null)).toBe("");
    expect(shortCommit(undefined)).toBe("");
  });

  it("says where it is going, where the branch is, or why it failed", () => {
    expect(pushSummary(push({ status: "PUSHING", commit: null, finishedAt: null }))).toBe("Pushing to main…");
    expect(pushSummary(push({}))).toBe("main is at 0123456");
    const refused = "The remote refused the credentials (HTTP 401): check the username and the token.";
    expect(pushSummary(push({ status: "FAILED", commit: null, error: refused }))).toBe(refused);
    expect(pushSummary(push({ status: "FAILED", commit: null, error: null }))).toBe("The push failed.");
  });

  it("polls every 1.5 s while pushing, and stops once it has ended (or there is none)", () => {
    expect(PUSH_POLL_MS).toBe(1500);
    expect(pushPollInterval(push({ status: "PUSHING" }))).toBe(1500);
    expect(pushPollInterval(push({ status: "PUSHED" }))).toBe(false);
    expect(pushPollInterval(push({ status: "FAILED" }))).toBe(false);
    expect(pushPollInterval(null)).toBe(false);
    expect(pushPollInterval(undefined)).toBe(false);
  });
});

describe("the history's file", () => {
  it("is named after the project, with the command that clones it", () => {
    expect(bundleName("brave-otter")).toEqual({ file: "brave-otter.bundle", clone: "git clone brave-otter.bundle" });
  });

  it("is quoted for a shell when its name needs it", () => {
    expect(bundleName("my app").clone).toBe("git clone 'my app.bundle'");
    expect(bundleName("it's").clone).toBe("git clone 'it'\\''s.bundle'");
  });
});
