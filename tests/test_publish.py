"""The publish job for real: an app the agent built, exported with next build in its local sandbox,
uploaded under a new prefix, served by the local sites server; an app that cannot be exported."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qai.sites_store import IMMUTABLE, REVALIDATE
from qai_local.sites_server import SitesServer
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api
from tests.test_living_apps import follow_up, messages
from tests.test_sites import fetch

PAGE = """'use client';
import { useState } from "react";

export default function Home() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1>Counter VERSION</h1>
      <button onClick={() => setCount(count + 1)}>Clicked {count} times</button>
    </main>
  );
}
"""
NOT_FOUND = "export default function NotFound() {\n  return <h1>No such page here</h1>;\n}\n"
DYNAMIC_ROUTE = (
    'export const dynamic = "force-dynamic";\n\n'
    "export async function GET() {\n  return Response.json({ now: Date.now() });\n}\n"
)


@pytest.fixture
def sites_server(tmp_path: Path, api: Api, worker: AgentWorker, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = SitesServer(tmp_path / "sites", 0).start()
    monkeypatch.setenv("SITES_URL", server.url)
    api.reload()
    worker.reload()
    try:
        yield server.url
    finally:
        server.stop()


def publish(api: Api, worker: AgentWorker, project_id: str, fragment_id: str) -> dict[str, Any]:
    status, site = api.call("POST", f"/projects/{project_id}/fragments/{fragment_id}/publish")
    assert status == 202 and site["status"] == "PUBLISHING"
    worker.drain()
    return dict(api.call("GET", f"/projects/{project_id}/site")[1])


@pytest.mark.usefixtures("sites_server")
def test_a_version_is_published_as_a_static_site_and_a_republish_replaces_it(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, tmp_path: Path
) -> None:
    files = {
        "app/page.tsx": PAGE.replace("VERSION", "v1"),
        "app/not-found.tsx": NOT_FOUND,
        "public/.env.local": "SECRET=1\n",
        "public/robots.txt": "User-agent: *\n",
    }
    model_server.script(sm.write_files(files), sm.summary("A counter."))
    project = api.call("POST", "/projects", json_body={"value": "a counter"})[1]
    worker.drain()
    first = messages(api, project["id"])[-1]["fragment"]

    site = publish(api, worker, project["id"], first["id"])
    assert site["status"] == "PUBLISHED", site["error"]
    assert site["liveFragmentId"] == first["id"] and site["publishedAt"]
    status, headers, body = fetch(site["url"])
    page = body.decode()
    assert status == 200 and "Counter v1" in page and headers["Cache-Control"] == REVALIDATE
    slug = site["url"].rstrip("/").rsplit("/", 1)[1]
    assets = re.findall(rf'/{slug}/(_next/static/[^"]+\.js)', page)  # under the site's base path
    assert assets
    status, headers, _ = fetch(site["url"] + assets[0])
    assert status == 200 and headers["Cache-Control"] == IMMUTABLE
    assert fetch(site["url"] + "robots.txt")[0] == 200
    assert fetch(site["url"] + ".env.local")[0] == 404
    assert not list((tmp_path / "sites").rglob(".env*")) and not list((tmp_path / "sites").rglob("*.map"))
    # The preview's element marks ("Select") are the dev server's own: no published file has one.
    published = [p for p in (tmp_path / "sites").rglob("*") if p.is_file()]
    assert published and not [p for p in published if b"data-qai-source" in p.read_bytes()]
    status, _, missing = fetch(site["url"] + "no/such/page/")
    assert status == 404 and "No such page here" in missing.decode()
    # The export left nothing behind in the app: the next version holds only the app's own files.
    assert api.call("GET", f"/projects/{project['id']}/fragments/{first['id']}")[1]["files"].keys() == files.keys()

    second = follow_up(
        api,
        worker,
        model_server,
        project["id"],
        sm.write_files({"app/page.tsx": PAGE.replace("VERSION", "v2")}),
        sm.summary("Version two."),
    )["fragment"]
    assert set(second["paths"]) == set(files)  # no out/ or .next-export/ in the version
    again = publish(api, worker, project["id"], second["id"])
    assert again["status"] == "PUBLISHED" and again["url"] == site["url"]
    assert "Counter v2" in fetch(site["url"])[2].decode()
    prefixes = [p.name for p in (tmp_path / "sites" / slug).iterdir() if p.name != "current"]
    assert len(prefixes) == 1  # the earlier publish's files are gone

    # An app that cannot be a static site: the build's own words, and the last site goes on serving.
    broken = follow_up(
        api,
        worker,
        model_server,
        project["id"],
        sm.write_files({"app/api/now/route.ts": DYNAMIC_ROUTE}),
        sm.summary("An API route."),
    )["fragment"]
    failed = publish(api, worker, project["id"], broken["id"])
    assert failed["status"] == "FAILED" and "next build said" in failed["error"]
    assert "force-dynamic" in failed["error"] or "export" in failed["error"]
    assert failed["liveFragmentId"] == second["id"] and "Counter v2" in fetch(site["url"])[2].decode()

    assert api.call("DELETE", f"/projects/{project['id']}/site")[0] == 204
    assert fetch(site["url"])[0] == 404
    assert api.call("GET", f"/projects/{project['id']}/site")[1]["status"] == "UNPUBLISHED"
