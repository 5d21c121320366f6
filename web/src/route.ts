import { useEffect, useState } from "react";

/** The open project lives in the URL's hash (#/projects/<id>): links work and the back button too,
 * and no client path can collide with an API path on the same origin. */
export function projectInHash(hash: string): string | null {
  const match = /^#\/projects\/([^/]+)/.exec(hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null; // a malformed escape (typed or cut off): no project, rather than a page that fails
  }
}

/** The hash that opens the project, or the new-project page for null. */
export function projectHash(projectId: string | null): string {
  return projectId ? `#/projects/${encodeURIComponent(projectId)}` : "#/";
}

export function openProject(projectId: string | null): void {
  window.location.hash = projectHash(projectId);
}

export function useOpenProject(): string | null {
  const [projectId, setProjectId] = useState(() => projectInHash(window.location.hash));
  useEffect(() => {
    const follow = () => setProjectId(projectInHash(window.location.hash));
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  return projectId;
}
