/** Errors the app throws in the browser, as its preview reports them: the app template's
 * instrumentation-client.ts posts `{type: "qai:runtime-error", kind, message, stack, url}` to the
 * page that frames it. Anything that posts to this page can send that shape, so a message counts only
 * when it comes from the preview's own frame and origin, and only its strings are kept, bounded. */
import { PROMPT_LIMIT } from "./prompt";

export const RUNTIME_ERROR_TYPE = "qai:runtime-error";
export const MAX_MESSAGE = 1000;
export const MAX_STACK = 4000;
export const MAX_URL = 2000;
/** The most errors shown under a preview; older ones go. */
export const MAX_SHOWN = 10;

export type RuntimeErrorKind = "error" | "unhandledrejection";

export interface RuntimeError {
  kind: RuntimeErrorKind;
  message: string;
  stack: string;
  url: string;
}

/** An error as shown: the same message thrown from the same place again counts up. */
export interface ShownRuntimeError extends RuntimeError {
  key: string;
  count: number;
}

/** The errors of the version the preview shows; another version starts with none. */
export interface PreviewErrors {
  fragmentId: string | undefined;
  errors: ShownRuntimeError[];
}

export const NO_PREVIEW_ERRORS: PreviewErrors = { fragmentId: undefined, errors: [] };

function clip(text: string, most: number): string {
  return text.length > most ? `${text.slice(0, most - 1)}…` : text;
}

/** The message's error, or null for anything that is not exactly that shape. */
export function readRuntimeError(data: unknown): RuntimeError | null {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const { type, kind, message, stack, url } = data as Record<string, unknown>;
  if (type !== RUNTIME_ERROR_TYPE || (kind !== "error" && kind !== "unhandledrejection")) return null;
  if (typeof message !== "string" || typeof stack !== "string" || typeof url !== "string") return null;
  if (!message.trim()) return null;
  return { kind, message: clip(message, MAX_MESSAGE), stack: clip(stack, MAX_STACK), url: clip(url, MAX_URL) };
}

/** The origin of the preview's address, or undefined when it has none. */
export function originOf(address: string | null | undefined): string | undefined {
  if (!address) return undefined;
  try {
    const origin = new URL(address).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** Whether a `message` event comes from the preview's frame (`frame`, its contentWindow) at the
 * preview's origin: any other window can post this page the same shapes. */
export function fromPreview(
  event: Pick<MessageEvent, "source" | "origin">,
  frame: Window | null | undefined,
  previewOrigin: string | undefined,
): boolean {
  return Boolean(frame && event.source === frame && previewOrigin && event.origin === previewOrigin);
}

/** The error a `message` event carries, if it comes from the preview (fromPreview); null for any
 * other window, origin or shape. */
export function acceptRuntimeError(
  event: Pick<MessageEvent, "source" | "origin" | "data">,
  frame: Window | null | undefined,
  previewOrigin: string | undefined,
): RuntimeError | null {
  return fromPreview(event, frame, previewOrigin) ? readRuntimeError(event.data) : null;
}

// A stack frame: V8's "    at f (url:1:2)", or Firefox's and Safari's "f@url:1:2".
const FRAME = /^\s+at\s|^\S*@\S+:\d+(:\d+)?$/;

/** The stack from its first frame on, a frame a line without indent: V8 starts it with the message
 * again, which is shown already. */
export function stackFrames(stack: string): string {
  const lines = stack.split("\n");
  const first = lines.findIndex((line) => FRAME.test(line));
  if (first < 0) return stack.trim();
  return lines
    .slice(first)
    .map((line) => line.trim())
    .join("\n")
    .trim();
}

/** What makes two reports the same error: the message and where it was thrown. */
export function errorKey(error: RuntimeError): string {
  const frame = stackFrames(error.stack).split("\n", 1)[0].trim();
  return `${error.message}\n${frame}`;
}

/** The errors after one more report for the version `fragmentId`: newest first, a repeat moved to the
 * top with its count up, at most `most` kept; a report for another version starts afresh. */
export function withRuntimeError(
  state: PreviewErrors,
  fragmentId: string,
  error: RuntimeError,
  most = MAX_SHOWN,
): PreviewErrors {
  const earlier = state.fragmentId === fragmentId ? state.errors : [];
  const key = errorKey(error);
  const same = earlier.find((shown) => shown.key === key);
  const others = earlier.filter((shown) => shown !== same);
  return { fragmentId, errors: [{ ...error, key, count: (same?.count ?? 0) + 1 }, ...others].slice(0, most) };
}

/** The errors to show under the preview of `fragmentId`. */
export function errorsOf(state: PreviewErrors, fragmentId: string | undefined): ShownRuntimeError[] {
  return fragmentId !== undefined && state.fragmentId === fragmentId ? state.errors : [];
}

const FIX_HEADING = "Fix this error the app throws in the browser:";

/** The follow-up "Fix it" sends: the error, its stack and the page, within the prompt limit (the
 * stack loses its last frames first). */
export function fixItPrompt(error: RuntimeError, limit = PROMPT_LIMIT): string {
  const message = clip(error.message.trim(), Math.floor(limit / 2));
  const where = error.url ? `at ${clip(error.url, 200)}` : "";
  const fixed = [FIX_HEADING, message, where].filter(Boolean);
  let room = limit - fixed.join("\n\n").length - 2; // the stack's own "\n\n"
  const kept: string[] = [];
  for (const line of stackFrames(error.stack).split("\n")) {
    const cost = line.length + (kept.length ? 1 : 0);
    if (!line.trim() || cost > room) break;
    kept.push(line);
    room -= cost;
  }
  const stack = kept.join("\n").trimEnd();
  return [FIX_HEADING, message, stack, where].filter(Boolean).join("\n\n");
}
