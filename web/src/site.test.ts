import { describe, expect, it } from "vitest";
import type { Site } from "./api/client";
import { canPublish, liveVersion, SITE_POLL_MS, sitePollInterval, siteSummary, unpublished } from "./site";

const URL = "http://127.0.0.1:8788/brave-otter-1a2b3c4d/";
const labelOf = (fragmentId: string) => ({ f1: "v1", f2: "v2", f3: "v3" })[fragmentId] ?? "an earlier version";

function site(changes: Partial<Site>): Site {
  return {
    status: "PUBLISHED",
    url: URL,
    fragmentId: "f2",
    liveFragmentId: "f2",
    publishedAt: "2026-03-04T05:06:07.000Z",
    error: null,
    ...changes,
  };
}

describe("the site in words", () => {
  it("never published: how to put it on the web", () => {
    expect(siteSummary(null, labelOf)).toEqual({
      heading: "Not published",
      text: "Publish a version to put it on the web, at an address of its own.",
      busy: false,
    });
  });

  it("being published names the version, and the one serving meanwhile", () => {
    const first = siteSummary(site({ status: "PUBLISHING", fragmentId: "f3", liveFragmentId: null }), labelOf);
    expect(first).toEqual({ heading: "Publishing v3…", text: "Building the app as a static site.", busy: true });
    const again = siteSummary(site({ status: "PUBLISHING", fragmentId: "f3", liveFragmentId: "f1" }), labelOf);
    expect(again.heading).toBe("Publishing v3…");
    expect(again.text).toBe("v1 serves until it is done.");
  });

  it("published names the version it serves", () => {
    expect(siteSummary(site({}), labelOf)).toEqual({ heading: "v2 is live", text: null, busy: false });
  });

  it("failed says whether an earlier version still serves", () => {
    const kept = siteSummary(site({ status: "FAILED", fragmentId: "f3", liveFragmentId: "f2", error: "x" }), labelOf);
    expect(kept).toEqual({ heading: "Publishing v3 failed", text: "v2, published before, still serves.", busy: false });
    const none = siteSummary(site({ status: "FAILED", fragmentId: "f3", liveFragmentId: null, error: "x" }), labelOf);
    expect(none.text).toBe("Nothing is published.");
  });

  it("taken down says its address answers 404", () => {
    const down = siteSummary(site({ status: "UNPUBLISHED", liveFragmentId: null }), labelOf);
    expect(down.heading).toBe("Not published");
    expect(down.text).toContain("answers 404");
  });

  it("a version the list does not hold is still named", () => {
    expect(siteSummary(site({ status: "PUBLISHING", fragmentId: "gone" }), labelOf).heading).toBe(
      "Publishing an earlier version…",
    );
  });
});

describe("which version is live", () => {
  it("is the one the address serves, also while another is published or after a failure", () => {
    expect(liveVersion(site({}))).toBe("f2");
    expect(liveVersion(site({ status: "PUBLISHING", fragmentId: "f3" }))).toBe("f2");
    expect(liveVersion(site({ status: "FAILED", fragmentId: "f3" }))).toBe("f2");
  });

  it("is none before the first publish, during it, and once taken down", () => {
    expect(liveVersion(null)).toBeNull();
    expect(liveVersion(undefined)).toBeNull();
    expect(liveVersion(site({ status: "PUBLISHING", liveFragmentId: null }))).toBeNull();
    expect(liveVersion(site({ status: "UNPUBLISHED", liveFragmentId: "f2" }))).toBeNull();
  });

  it("is none right after unpublishing, which keeps the address", () => {
    const down = unpublished(site({ error: "old" }));
    expect(down).toEqual({ ...site({}), status: "UNPUBLISHED", liveFragmentId: null, error: null });
    expect(liveVersion(down)).toBeNull();
  });
});

describe("asking again", () => {
  it("polls every 1.5 s while publishing, and stops once it is anything else", () => {
    expect(SITE_POLL_MS).toBe(1500);
    expect(sitePollInterval(site({ status: "PUBLISHING" }))).toBe(1500);
    for (const status of ["PUBLISHED", "FAILED", "UNPUBLISHED"] as const) {
      expect(sitePollInterval(site({ status }))).toBe(false);
    }
    expect(sitePollInterval(null)).toBe(false);
    expect(sitePollInterval(undefined)).toBe(false);
  });

  it("a publish may be asked for unless one is under way", () => {
    expect(canPublish(site({ status: "PUBLISHING" }))).toBe(false);
    expect(canPublish(site({ status: "FAILED" }))).toBe(true);
    expect(canPublish(null)).toBe(true);
    expect(canPublish(undefined)).toBe(true);
  });
});
