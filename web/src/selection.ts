/** "Select": the person points at an element of the app in the preview. The app template's
 * instrumentation-client.ts, told `{type: "qai:select", on}`, outlines elements and answers
 * `{type: "qai:selected", file, line, column, tag, text}` from the element's `data-qai-source`, or
 * `{type: "qai:select-cancelled"}` on Escape; each page load says `{type: "qai:select-ready"}`. The follow-up then carries `selection: {file, line, column}`. */
import type { SelectionInput } from "./api/client";
import { fromPreview } from "./runtimeErrors";

export const SELECT_TYPE = "qai:select";
export const SELECTED_TYPE = "qai:selected";
export const CANCELLED_TYPE = "qai:select-cancelled";
export const READY_TYPE = "qai:select-ready";
export const MAX_FILE = 500;
export const MAX_TEXT = 80;
const MAX_POSITION = 1_000_000;
// A path of the app as the API stores it: relative, no "." or ".." parts, no backslashes.
const APP_PATH = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[^\\\0]+$/;
const TAG = /^[a-z][a-z0-9-]{0,39}$/;

export interface ElementSelection {
  file: string;
  line: number;
  column: number;
  /** The element's tag (h1, button), shown on the chip. */
  tag: string;
  /** The start of its text, shown on the chip. */
  text: string;
}

function isPosition(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_POSITION;
}

/** The selection a message carries, or null for anything that is not exactly that shape. */
export function readSelection(data: unknown): ElementSelection | null {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const { type, file, line, column, tag, text } = data as Record<string, unknown>;
  if (type !== SELECTED_TYPE || typeof file !== "string" || typeof tag !== "string" || typeof text !== "string") return null;
  if (file.length > MAX_FILE || !APP_PATH.test(file) || !isPosition(line) || !isPosition(column) || !TAG.test(tag)) return null;
  return { file, line, column, tag, text: text.slice(0, MAX_TEXT) };
}

export type PreviewSelectEvent =
  | { kind: "selected"; selection: ElementSelection }
  | { kind: "cancelled" }
  /** A page of the app (a new load) listens: "Select" starts off there. */
  | { kind: "ready" };

/** What a `message` event from the preview says about "Select"; null for any other window, origin or
 * shape. */
export function acceptSelectEvent(
  event: Pick<MessageEvent, "source" | "origin" | "data">,
  frame: Window | null | undefined,
  previewOrigin: string | undefined,
): PreviewSelectEvent | null {
  if (!fromPreview(event, frame, previewOrigin)) return null;
  const data: unknown = event.data;
  const type = typeof data === "object" && data !== null ? (data as { type?: unknown }).type : undefined;
  if (type === CANCELLED_TYPE) return { kind: "cancelled" };
  if (type === READY_TYPE) return { kind: "ready" };
  const selection = readSelection(data);
  return selection ? { kind: "selected", selection } : null;
}

/** What the chip and a sent message show: `<h1> app/page.tsx:12 "Welcome"`. */
export function selectionLabel(selection: Pick<ElementSelection, "file" | "line"> & Partial<ElementSelection>): string {
  const tag = selection.tag ? `<${selection.tag}> ` : "";
  const text = selection.text ? ` “${selection.text.length > 30 ? `${selection.text.slice(0, 29)}…` : selection.text}”` : "";
  return `${tag}${selection.file}:${selection.line}${text}`;
}

/** The selection as the API takes it. */
export function toSelectionInput({ file, line, column }: ElementSelection): SelectionInput {
  return { file, line, column };
}
