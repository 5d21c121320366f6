import { type AnswerStatus, ApiError } from "./api/client";

export function whenCreditsReturn(resetsAt: string | null | undefined): string {
  return resetsAt ? new Date(resetsAt).toLocaleString() : "soon";
}

export interface ErrorDisplay {
  heading: string;
  text: string;
  color: "red" | "yellow";
}

// What a person is told of the answers they can act on, keyed by statuses the OpenAPI document
// gives (a status it does not document fails the type check).
const ANSWERS = {
  429: { heading: "You have used all your credits", color: "red" },
  409: { heading: "Not right now", color: "yellow" },
  401: { heading: "This browser needs the local API's token", color: "red" },
  404: { heading: "Not found", color: "red" },
} satisfies Partial<Record<AnswerStatus, Omit<ErrorDisplay, "text">>>;

function answered(status: number): status is keyof typeof ANSWERS {
  return Object.hasOwn(ANSWERS, status);
}

function message(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === "string" ? error : "Something went wrong.";
}

/** An error (an API answer, a lost connection, anything else) in words a person can act on: out of
 * credits and when they come back, a run in the way, no token, gone, or what it says. */
export function describeError(
  error: unknown,
  { title, resetsAt }: { title?: string; resetsAt?: string | null } = {},
): ErrorDisplay {
  const text = message(error);
  const status = error instanceof ApiError ? error.status : 0;
  if (!answered(status)) return { heading: title ?? "That did not work", text, color: "red" };
  const { heading, color } = ANSWERS[status];
  if (status === 429) return { heading, color, text: `They come back on ${whenCreditsReturn(resetsAt)}. ${text}` };
  if (status === 401) {
    return {
      heading,
      color,
      text: "Open the web client's address that make dev printed (it ends in #token=…); this browser keeps it.",
    };
  }
  return { heading, color, text };
}
