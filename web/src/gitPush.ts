/** Pushing the project's history to a git remote: the form's checks, the push's status in words, and
 * when to ask again. The API checks everything again (and more: public addresses only). */
import type { GitPush, GitPushInput, GitPushStatus } from "./api/client";

/** How often a push under way is asked about, in milliseconds. */
export const PUSH_POLL_MS = 1500;

export const DEFAULT_BRANCH = "main";
export const DEFAULT_USERNAME = "x-access-token";

/** The form as typed. The token stays in the dialog's state only: never stored, never cached. */
export type PushForm = GitPushInput;
export type PushFormProblems = Partial<Record<keyof PushForm, string>>;

const REMOTE = /^https?:\/\//i;

/** What is wrong with a remote's URL, or null: http(s):// with a host, no spaces, no credentials in it. */
export function remoteUrlProblem(value: string): string | null {
  const url = value.trim();
  if (!url) return "Enter the repository's URL.";
  if (!REMOTE.test(url)) return "The URL starts with https:// (for example https://github.com/you/app.git).";
  if (/\s/.test(url)) return "A URL has no spaces.";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "This is not a URL.";
  }
  if (!parsed.hostname) return "This is not a URL.";
  if (parsed.username || parsed.password) return "Give the token below, not in the URL.";
  return null;
}

/** The form's problems by field; empty when it may be sent. */
export function pushFormProblems(form: PushForm): PushFormProblems {
  const problems: PushFormProblems = {};
  const url = remoteUrlProblem(form.url);
  if (url) problems.url = url;
  if (!form.branch.trim()) problems.branch = "Enter a branch.";
  else if (/\s/.test(form.branch.trim())) problems.branch = "A branch has no spaces.";
  if (!form.username.trim()) problems.username = "Enter a username.";
  else if (form.username.includes(":")) problems.username = "A username has no colon.";
  if (!form.token) problems.token = "Enter a token that may push to the repository.";
  return problems;
}

/** The body of POST …/git/push: the form with the URL, branch and username trimmed (not the token). */
export function pushRequest(form: PushForm): GitPushInput {
  return { url: form.url.trim(), branch: form.branch.trim(), username: form.username.trim(), token: form.token };
}

/** A commit id as git shortens it: its first 7 characters. */
export function shortCommit(commit: string | null | undefined): string {
  return (commit ?? "").slice(0, 7);
}

// Every status of the OpenAPI document has its word: a new one fails the type check until it has one.
export const PUSH_STATUS_LABEL = {
  PUSHING: "Pushing…",
  PUSHED: "Pushed",
  FAILED: "The push failed",
} satisfies Record<GitPushStatus, string>;

/** A push's status in one line: "Pushing to main…", "main is at 1a2b3c4", or the failure. */
export function pushSummary(push: GitPush): string {
  if (push.status === "PUSHING") return `Pushing to ${push.branch}…`;
  if (push.status === "PUSHED") return `${push.branch} is at ${shortCommit(push.commit)}`;
  return push.error ?? "The push failed.";
}

/** The query's refetch interval: every PUSH_POLL_MS while the push is under way, then no more. */
export function pushPollInterval(push: GitPush | null | undefined): number | false {
  return push?.status === "PUSHING" ? PUSH_POLL_MS : false;
}

/** The form as it opens: where the last push went (never its token), or the defaults. */
export function initialPushForm(last: GitPush | null | undefined): PushForm {
  return {
    url: last?.url ?? "",
    branch: last?.branch ?? DEFAULT_BRANCH,
    username: last?.username ?? DEFAULT_USERNAME,
    token: "",
  };
}

/** The history's file name and the command that makes a repository of it (the name quoted for a
 * shell when it holds more than letters, digits and ._-). */
export function bundleName(projectName: string): { file: string; clone: string } {
  const file = `${projectName}.bundle`;
  const quoted = /^[\w.-]+$/.test(file) ? file : `'${file.replaceAll("'", "'\\''")}'`;
  return { file, clone: `git clone ${quoted}` };
}
