import { afterEach, describe, expect, it, vi } from "vitest";
import { openProject, projectHash, projectInHash } from "./route";

describe("the open project in the hash", () => {
  it("is read from #/projects/<id>", () => {
    expect(projectInHash("#/projects/8d3e-41")).toBe("8d3e-41");
    expect(projectInHash("#/projects/8d3e-41/files")).toBe("8d3e-41");
  });

  it("is none on the new-project page and on any other hash", () => {
    for (const hash of ["", "#", "#/", "#/projects", "#/projects/", "#token=abc", "#/other/8d3e"]) {
      expect(projectInHash(hash), hash).toBeNull();
    }
  });

  it("round-trips any id, slashes, spaces and percent signs included", () => {
    for (const id of ["plain", "a/b", "with space", "100%", "ünïcode", "a#b?c"]) {
      expect(projectInHash(projectHash(id)), id).toBe(id);
    }
    expect(projectHash("a/b")).toBe("#/projects/a%2Fb");
    expect(projectHash(null)).toBe("#/");
  });

  it("is none for a malformed escape rather than an error", () => {
    expect(projectInHash("#/projects/%E0%A4%A")).toBeNull();
  });
});

describe("opening a project", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("sets the window's hash, and clears it to #/ for a new project", () => {
    const window = { location: { hash: "" } };
    vi.stubGlobal("window", window);
    openProject("p 1");
    expect(window.location.hash).toBe("#/projects/p%201");
    openProject(null);
    expect(window.location.hash).toBe("#/");
  });
});
