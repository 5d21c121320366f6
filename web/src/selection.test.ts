import { describe, expect, it } from "vitest";
import { acceptSelectEvent, readSelection, selectionLabel, toSelectionInput } from "./selection";

const selected = { type: "qai:selected", file: "app/page.tsx", line: 12, column: 5, tag: "h1", text: "Welcome" };
const frame = {} as Window;
const other = {} as Window;
const origin = "http://127.0.0.1:8790";

describe("readSelection", () => {
  it("takes exactly the shape the app template posts", () => {
    expect(readSelection(selected)).toEqual({ file: "app/page.tsx", line: 12, column: 5, tag: "h1", text: "Welcome" });
  });

  it.each([
    ["another type", { ...selected, type: "qai:runtime-error" }],
    ["an absolute path", { ...selected, file: "/etc/passwd" }],
    ["a path out of the app", { ...selected, file: "../secrets.ts" }],
    ["a dot part", { ...selected, file: "app/./page.tsx" }],
    ["a backslash", { ...selected, file: "app\\page.tsx" }],
    ["an empty path", { ...selected, file: "" }],
    ["a path too long", { ...selected, file: `${"a".repeat(500)}.tsx` }],
    ["line 0", { ...selected, line: 0 }],
    ["a fractional column", { ...selected, column: 1.5 }],
    ["a line as text", { ...selected, line: "12" }],
    ["a tag with markup", { ...selected, tag: "h1><script" }],
    ["no text", { ...selected, text: undefined }],
    ["an array", [selected]],
    ["nothing", null],
  ])("refuses %s", (_, data) => {
    expect(readSelection(data)).toBeNull();
  });

  it("keeps only the start of a long text", () => {
    expect(readSelection({ ...selected, text: "x".repeat(500) })?.text).toHaveLength(80);
  });
});

describe("acceptSelectEvent", () => {
  it("takes a selection or a cancel from the preview's frame at its origin", () => {
    expect(acceptSelectEvent({ source: frame, origin, data: selected }, frame, origin)).toEqual({
      kind: "selected",
      selection: readSelection(selected),
    });
    expect(acceptSelectEvent({ source: frame, origin, data: { type: "qai:select-cancelled" } }, frame, origin)).toEqual({
      kind: "cancelled",
    });
    expect(acceptSelectEvent({ source: frame, origin, data: { type: "qai:select-ready" } }, frame, origin)).toEqual({
      kind: "ready",
    });
    expect(acceptSelectEvent({ source: other, origin, data: { type: "qai:select-ready" } }, frame, origin)).toBeNull();
  });

  it("ignores another window, another origin, no preview and other shapes", () => {
    expect(acceptSelectEvent({ source: other, origin, data: selected }, frame, origin)).toBeNull();
    expect(acceptSelectEvent({ source: frame, origin: "http://evil.test", data: selected }, frame, origin)).toBeNull();
    expect(acceptSelectEvent({ source: frame, origin, data: selected }, null, origin)).toBeNull();
    expect(acceptSelectEvent({ source: frame, origin, data: selected }, frame, undefined)).toBeNull();
    expect(acceptSelectEvent({ source: frame, origin, data: { type: "qai:select", on: true } }, frame, origin)).toBeNull();
  });
});

describe("selectionLabel", () => {
  it("names the element, where it is written and the start of its text", () => {
    expect(selectionLabel(readSelection(selected)!)).toBe("<h1> app/page.tsx:12 “Welcome”");
    expect(selectionLabel({ file: "app/page.tsx", line: 3, text: "a".repeat(40) })).toBe(`app/page.tsx:3 “${"a".repeat(29)}…”`);
    expect(selectionLabel({ file: "app/page.tsx", line: 3, column: 1 })).toBe("app/page.tsx:3");
  });

  it("gives the API only where it is", () => {
    expect(toSelectionInput(readSelection(selected)!)).toEqual({ file: "app/page.tsx", line: 12, column: 5 });
  });
});
