import { describe, expect, it } from "vitest";
import type { FileDiff } from "./api/client";
import { changeSummary, fileBody, parsePatch, plural } from "./versionDiff";

const PAGE_PATCH = [
  "--- a/app/page.tsx",
  "+++ b/app/page.tsx",
  "@@ -1,3 +1,3 @@",
  " export default function Home() {",
  "-  return <h1>a todo app</h1>;",
  "+  return <h1>add dark mode</h1>;",
  " }",
  "",
].join("\n");

function file(changes: Partial<FileDiff>): FileDiff {
  return {
    path: "app/page.tsx",
    status: "modified",
    additions: 1,
    deletions: 1,
    patch: PAGE_PATCH,
    binary: false,
    truncated: false,
    ...changes,
  };
}

describe("the summary on a version", () => {
  it("says one file in the singular and the lines with plus and minus signs", () => {
    expect(changeSummary({ files: [file({})], additions: 1, deletions: 1 })).toEqual({
      files: "1 file changed",
      added: "+1",
      deleted: "\u22121",
      lines: "1 line added, 1 line deleted",
      spoken: "1 file changed, 1 line added, 1 line deleted",
    });
  });

  it("counts files and lines in the plural, zero included", () => {
    const summary = changeSummary({ files: [file({}), file({ path: "b.ts" })], additions: 12, deletions: 0 });
    expect(summary.files).toBe("2 files changed");
    expect(summary.added).toBe("+12");
    expect(summary.deleted).toBe("\u22120");
    expect(summary.spoken).toBe("2 files changed, 12 lines added, 0 lines deleted");
  });

  it("a version that changed nothing says so", () => {
    expect(changeSummary({ files: [], additions: 0, deletions: 0 })).toMatchObject({
      files: "No changes",
      spoken: "No changes",
    });
  });

  it("pluralises with a given plural form", () => {
    expect(plural(1, "file")).toBe("1 file");
    expect(plural(0, "file")).toBe("0 files");
    expect(plural(2, "child", "children")).toBe("2 children");
  });
});

describe("a patch into lines", () => {
  it("marks the headers, the hunk, and the lines added, deleted and kept", () => {
    expect(parsePatch(PAGE_PATCH).map((line) => line.kind)).toEqual([
      "header",
      "header",
      "hunk",
      "context",
      "deleted",
      "added",
      "context",
    ]);
    expect(parsePatch(PAGE_PATCH)[5]).toEqual({ kind: "added", text: "+  return <h1>add dark mode</h1>;" });
  });

  it("takes lines that look like headers inside a hunk for what they are", () => {
    const patch = "--- a/notes.md\n+++ b/notes.md\n@@ -1,2 +1,2 @@\n--- a rule\n+++ two\n keep\n";
    expect(parsePatch(patch).map((line) => line.kind)).toEqual(["header", "header", "hunk", "deleted", "added", "context"]);
  });

  it("reads hunks without a count, several hunks, and the no-newline note", () => {
    const patch = [
      "--- /dev/null",
      "+++ b/a.txt",
      "@@ -0,0 +1 @@",
      "+x",
      "\\ No newline at end of file",
      "@@ -10,2 +10,0 @@ function f() {",
      "-one",
      "-two",
    ].join("\n");
    expect(parsePatch(patch).map((line) => line.kind)).toEqual([
      "header",
      "header",
      "hunk",
      "added",
      "note",
      "hunk",
      "deleted",
      "deleted",
    ]);
  });

  it("keeps an empty context line (a blank line whose space was trimmed) as context", () => {
    const patch = "@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n";
    expect(parsePatch(patch).map((line) => line.kind)).toEqual(["hunk", "context", "context", "deleted", "added"]);
  });

  it("an empty patch has no lines", () => {
    expect(parsePatch("")).toEqual([]);
  });
});

describe("what a file shows", () => {
  it("its patch without the file headers (its path is shown above it)", () => {
    const body = fileBody(file({}));
    expect(body.kind).toBe("patch");
    expect(body.kind === "patch" && body.lines.map((line) => line.kind)).toEqual([
      "hunk",
      "context",
      "deleted",
      "added",
      "context",
    ]);
  });

  it("a binary file, a patch left out, or an empty file in words", () => {
    expect(fileBody(file({ binary: true, patch: null }))).toEqual({ kind: "binary", text: "binary file" });
    expect(fileBody(file({ truncated: true, patch: null }))).toEqual({ kind: "truncated", text: "too large to show" });
    expect(fileBody(file({ status: "added", patch: "", additions: 0, deletions: 0 }))).toEqual({
      kind: "empty",
      text: "empty file",
    });
  });
});
