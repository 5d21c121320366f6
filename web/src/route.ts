import { useEffect, useState } from "react";

/** The open project lives in the URL's hash (#/projects/<id>): links work and the back button too,
 * and no client path can collide with an API path on the same origin. */
function projectInHash(): string | null {
  const match = /^#\/projects\/([^/]+)/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

export function openProject(projectId: string | null): void {
  window.location.hash = projectId ? `#/projects/${encodeURIComponent(projectId)}` : "#/";
}

export function useOpenProject(): string | null {
  const [projectId, setProjectId] = useState(projectInHash);
  useEffect(() => {
    const follow = () => setProjectId(projectInHash());
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  return projectId;
}
