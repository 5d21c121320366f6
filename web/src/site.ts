/** The project's published site in words: what it is doing, which version it serves, and when to ask again. */
import type { Site, SiteStatus } from "./api/client";

/** How often a site being published is asked about, in milliseconds. */
export const SITE_POLL_MS = 1500;

/** Names a version: "v3", or "an earlier version" for one the list does not hold. */
export type VersionLabel = (fragmentId: string) => string;

/** A site's status in a heading and a sentence (the address itself is shown apart, as a link). */
export interface SiteSummary {
  heading: string;
  text: string | null;
  /** Whether the site is being published: a loader, and asked about again. */
  busy: boolean;
}

// Every status of the OpenAPI document has its words: a new one fails the type check until it has them.
const SUMMARIES = {
  PUBLISHING: (site, labelOf) => ({
    heading: `Publishing ${labelOf(site.fragmentId)}…`,
    text: site.liveFragmentId
      ? `${labelOf(site.liveFragmentId)} serves until it is done.`
      : "Building the app as a static site.",
    busy: true,
  }),
  PUBLISHED: (site, labelOf) => ({
    heading: `${labelOf(site.liveFragmentId ?? site.fragmentId)} is live`,
    text: null,
    busy: false,
  }),
  FAILED: (site, labelOf) => ({
    heading: `Publishing ${labelOf(site.fragmentId)} failed`,
    text: site.liveFragmentId
      ? `${labelOf(site.liveFragmentId)}, published before, still serves.`
      : "Nothing is published.",
    busy: false,
  }),
  UNPUBLISHED: () => ({
    heading: "Not published",
    text: "The site was taken down: its address answers 404 until you publish a version again.",
    busy: false,
  }),
} satisfies Record<SiteStatus, (site: Site, labelOf: VersionLabel) => SiteSummary>;

/** What the site area says of the project's site (null: it was never published). */
export function siteSummary(site: Site | null, labelOf: VersionLabel): SiteSummary {
  if (!site) {
    const text = "Publish a version to put it on the web, at an address of its own.";
    return { heading: "Not published", text, busy: false };
  }
  return SUMMARIES[site.status](site, labelOf);
}

/** The version the site's address serves now, or null (never published, taken down, or none yet). */
export function liveVersion(site: Site | null | undefined): string | null {
  return site && site.status !== "UNPUBLISHED" ? site.liveFragmentId : null;
}

/** Whether a publish may be asked for now: not while one is under way (the API would answer 409). */
export function canPublish(site: Site | null | undefined): boolean {
  return site?.status !== "PUBLISHING";
}

/** The query's refetch interval: every SITE_POLL_MS while the site is being published, then no more. */
export function sitePollInterval(site: Site | null | undefined): number | false {
  return site?.status === "PUBLISHING" ? SITE_POLL_MS : false;
}

/** The site as it is right after DELETE …/site: down, nothing serving. */
export function unpublished(site: Site): Site {
  return { ...site, status: "UNPUBLISHED", liveFragmentId: null, error: null };
}
