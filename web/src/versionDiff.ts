/** What a version changed, in words and lines: the summary on each version and its patches. */
import type { FileDiff, FileStatus, VersionDiff } from "./api/client";

/** "1 file", "2 files": a count with its noun, singular for exactly one. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

export interface ChangeSummary {
  /** "1 file changed", "3 files changed", or "No changes". */
  files: string;
  /** "+12" */
  added: string;
  /** "−3" (a minus sign, not a hyphen) */
  deleted: string;
  /** The lines in words: "12 lines added, 3 lines deleted". */
  lines: string;
  /** The whole summary in words, for a screen reader: "1 file changed, 12 lines added, 3 lines deleted". */
  spoken: string;
}

export function changeSummary(diff: Pick<VersionDiff, "files" | "additions" | "deletions">): ChangeSummary {
  const files = diff.files.length ? `${plural(diff.files.length, "file")} changed` : "No changes";
  const lines = `${plural(diff.additions, "line")} added, ${plural(diff.deletions, "line")} deleted`;
  return {
    files,
    added: `+${diff.additions}`,
    deleted: `\u2212${diff.deletions}`,
    lines,
    spoken: diff.files.length ? `${files}, ${lines}` : files,
  };
}

// Every status of the OpenAPI document has its word: a new one fails the type check until it has one.
export const STATUS_LABEL = {
  added: "added",
  modified: "modified",
  deleted: "deleted",
} satisfies Record<FileStatus, string>;

/** What a file's part of the view shows: its patch, or why there is none. */
export type FileBody =
  | { kind: "patch"; lines: PatchLine[] }
  | { kind: "binary"; text: string }
  | { kind: "truncated"; text: string }
  | { kind: "empty"; text: string };

export function fileBody(file: FileDiff): FileBody {
  if (file.binary) return { kind: "binary", text: "binary file" };
  if (file.truncated || file.patch === null) return { kind: "truncated", text: "too large to show" };
  const lines = parsePatch(file.patch).filter((line) => line.kind !== "header");
  if (!lines.length) return { kind: "empty", text: file.status === "modified" ? "no line changed" : "empty file" };
  return { kind: "patch", lines };
}

/** One line of a unified diff: the file headers (--- a/… +++ b/…), a hunk header (@@ … @@), a line
 * added, deleted or kept as context, or a note ("\ No newline at end of file"). */
export type PatchLineKind = "header" | "hunk" | "added" | "deleted" | "context" | "note";

export interface PatchLine {
  kind: PatchLineKind;
  /** The line as the patch has it, its +, − or space included. */
  text: string;
}

const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

/** A unified diff (as git writes it) into its lines, each with its kind. Inside a hunk the line
 * counts of its header say where it ends, so a deleted line that begins "--" is not taken for a
 * file header. */
export function parsePatch(patch: string): PatchLine[] {
  const lines: PatchLine[] = [];
  let oldLeft = 0;
  let newLeft = 0;
  const text = patch.endsWith("\n") ? patch.slice(0, -1) : patch;
  if (!text) return lines;
  for (const line of text.split("\n")) {
    const inHunk = oldLeft > 0 || newLeft > 0;
    const hunk = inHunk ? null : HUNK.exec(line);
    if (hunk) {
      oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
      newLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
      lines.push({ kind: "hunk", text: line });
    } else if (line.startsWith("\\")) {
      lines.push({ kind: "note", text: line });
    } else if (!inHunk) {
      lines.push({ kind: "header", text: line });
    } else if (line.startsWith("+")) {
      newLeft -= 1;
      lines.push({ kind: "added", text: line });
    } else if (line.startsWith("-")) {
      oldLeft -= 1;
      lines.push({ kind: "deleted", text: line });
    } else {
      oldLeft -= 1;
      newLeft -= 1;
      lines.push({ kind: "context", text: line });
    }
  }
  return lines;
}
