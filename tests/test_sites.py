"""Publishing: the site routes, the sites stores (a folder, S3 with CloudFront's KeyValueStore) and
the local sites server's rules. The publish job's real export is in test_publish.py."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from qai.services.sites import site_slug
from qai.sites_store import IMMUTABLE, REVALIDATE, LocalSiteStore, S3SiteStore, content_type
from qai_agent.publish_job import PublishError, site_files
from qai_local.sites_server import SitesServer, site_path
from tests.conftest import Api, queued_messages
from tests.test_api_messages import finish_run_with_reply


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def a_version(api: Api) -> tuple[str, str]:
    project = api.call("POST", "/projects", json_body={"value": "a site"})[1]
    _, fragment_id = finish_run_with_reply(api.deps.database, project["id"], {"app/page.tsx": "x"})
    queued_messages(api.deps.settings.agent_queue_url)
    return str(project["id"]), fragment_id


def test_publishing_queues_a_job_and_the_site_has_a_stable_url(api: Api) -> None:
    project_id, fragment_id = a_version(api)
    assert api.call("GET", f"/projects/{project_id}/site")[0] == 404  # never published
    status, site = api.call("POST", f"/projects/{project_id}/fragments/{fragment_id}/publish")
    assert status == 202 and site["status"] == "PUBLISHING" and site["fragmentId"] == fragment_id
    name = api.call("GET", f"/projects/{project_id}")[1]["name"]
    assert site["url"] == f"http://127.0.0.1:9/{site_slug(name, project_id)}/" and site["liveFragmentId"] is None
    (job,) = queued_messages(api.deps.settings.agent_queue_url)
    assert job == {"kind": "publish", "projectId": project_id, "jobId": job["jobId"]}
    status, busy = api.call("POST", f"/projects/{project_id}/fragments/{fragment_id}/publish")
    assert status == 409 and "under way" in busy["error"]["message"]
    assert api.call("GET", f"/projects/{project_id}/site")[1]["url"] == site["url"]

    assert api.call("DELETE", f"/projects/{project_id}/site")[0] == 204
    down = api.call("GET", f"/projects/{project_id}/site")[1]
    assert down["status"] == "UNPUBLISHED" and down["url"] == site["url"]
    status, again = api.call("POST", f"/projects/{project_id}/fragments/{fragment_id}/publish")
    assert status == 202 and again["url"] == site["url"]  # the same address for the project's whole life


def test_who_may_publish(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    project_id, fragment_id = a_version(api)
    other_id, other_fragment = a_version(api)
    publish = f"/projects/{project_id}/fragments/{fragment_id}/publish"
    assert api.call("POST", publish, user="user-2")[0] == 404
    assert api.call("POST", f"/projects/{project_id}/fragments/{other_fragment}/publish")[0] == 404
    assert api.call("POST", f"/projects/{project_id}/fragments/not-an-id/publish")[0] == 404
    assert api.call("GET", f"/projects/{project_id}/site", user="user-2")[0] == 404
    assert api.call("DELETE", f"/projects/{project_id}/site")[0] == 204  # never published: nothing to take down
    assert api.call("DELETE", f"/projects/{project_id}/site", user="user-2")[0] == 404
    assert api.call("POST", publish)[0] == 202
    assert api.call("DELETE", f"/projects/{project_id}/site", user="user-2")[0] == 404
    credits = api.call("GET", "/usage")[1]["remaining"]
    assert api.call("POST", f"/projects/{other_id}/fragments/{other_fragment}/publish")[0] == 202
    assert api.call("GET", "/usage")[1]["remaining"] == credits  # no credit spent

    monkeypatch.delenv("LOCAL_SITES_DIR")
    api.reload()
    status, body = api.call("POST", publish)
    assert status == 503 and "SITES_BUCKET" in body["error"]["message"]


def test_deleting_a_project_takes_its_site_down(api: Api, env: str, tmp_path: Path) -> None:
    project_id, fragment_id = a_version(api)
    assert api.call("POST", f"/projects/{project_id}/fragments/{fragment_id}/publish")[0] == 202
    with psycopg.connect(env) as conn:
        (slug,) = conn.execute('SELECT slug FROM "Site" WHERE "projectId" = %s', (project_id,)).fetchone() or ("",)
    store = LocalSiteStore(tmp_path / "sites", "http://127.0.0.1:9")
    store.upload(slug, "ab12", {"index.html": b"<h1>up</h1>"})
    store.point(slug, "ab12")
    assert api.call("DELETE", f"/projects/{project_id}")[0] == 204
    assert not (tmp_path / "sites" / slug).exists()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[tuple[LocalSiteStore, SitesServer]]:
    server = SitesServer(tmp_path / "sites", 0).start()
    try:
        yield LocalSiteStore(tmp_path / "sites", server.url), server
    finally:
        server.stop()


EXPORT = {
    "index.html": b"<h1>Home v1</h1>",
    "about/index.html": b"<h1>About</h1>",
    "404.html": b"<h1>Lost?</h1>",
    "_next/static/chunks/app-3f2a.js": b"console.log(1)",
    "_next/static/css/a1.css": b"h1{}",
    "logo.svg": b"<svg/>",
}


def test_the_local_sites_server_serves_like_cloudfront(sites: tuple[LocalSiteStore, SitesServer]) -> None:
    store, server = sites
    store.upload("shop-1a2b3c4d", "0001", EXPORT)
    assert fetch(store.site_url("shop-1a2b3c4d"))[0] == 404  # uploaded, not yet pointed at
    store.point("shop-1a2b3c4d", "0001")
    site = store.site_url("shop-1a2b3c4d")
    status, headers, body = fetch(site)
    assert (status, body) == (200, b"<h1>Home v1</h1>")
    assert headers["Content-Type"] == "text/html; charset=utf-8" and headers["Cache-Control"] == REVALIDATE
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert fetch(site + "about/")[2] == fetch(site + "about")[2] == b"<h1>About</h1>"
    status, headers, body = fetch(site + "_next/static/chunks/app-3f2a.js")
    assert (
        status == 200
        and headers["Cache-Control"] == IMMUTABLE
        and headers["Content-Type"].startswith("text/javascript")
    )
    assert fetch(site + "_next/static/css/a1.css")[1]["Content-Type"] == "text/css; charset=utf-8"
    assert fetch(site + "logo.svg")[1]["Content-Type"] == "image/svg+xml"
    status, headers, body = fetch(site + "nope/")
    assert (status, body) == (404, b"<h1>Lost?</h1>")  # the site's own 404 page
    assert fetch(f"{server.url}/shop-1a2b3c4d")[2] == b"<h1>Home v1</h1>"  # redirected to the folder
    for escape in ("../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", ".env", "current/index.html", "..%5c..%5cx"):
        assert fetch(site + escape)[0] == 404, escape
    assert fetch(f"{server.url}/")[0] == 404 and fetch(f"{server.url}/other-site/")[0] == 404

    # A republish: the new files in place first, then the pointer moves at once.
    store.upload("shop-1a2b3c4d", "0002", {**EXPORT, "index.html": b"<h1>Home v2</h1>"})
    assert fetch(site)[2] == b"<h1>Home v1</h1>"
    store.point("shop-1a2b3c4d", "0002")
    assert fetch(site)[2] == b"<h1>Home v2</h1>"
    store.remove_others("shop-1a2b3c4d", keep="0002")
    assert sorted(p.name for p in (store.directory / "shop-1a2b3c4d").iterdir()) == ["0002", "current"]
    store.take_down("shop-1a2b3c4d")
    assert fetch(site)[0] == 404


def test_a_visitor_never_sees_two_versions_mixed(sites: tuple[LocalSiteStore, SitesServer]) -> None:
    store, _ = sites
    versions = [{path: f"v{n}".encode() for path in ("index.html", "a/index.html", "b.js")} for n in range(2)]
    store.upload("mix-00000000", "0000", versions[0])
    store.point("mix-00000000", "0000")
    site = store.site_url("mix-00000000")
    stop = threading.Event()

    def republish() -> None:
        n = 1
        while not stop.is_set():
            prefix = f"{n:04x}"
            store.upload("mix-00000000", prefix, versions[n % 2])
            store.point("mix-00000000", prefix)
            n += 1

    publisher = threading.Thread(target=republish)
    publisher.start()
    try:
        seen = [fetch(site)[2] for _ in range(200)]
    finally:
        stop.set()
        publisher.join()
    assert set(seen) <= {b"v0", b"v1"} and all(status == 200 for status, _, _ in [fetch(site)])


def test_what_of_an_export_goes_up() -> None:
    exported = {"index.html": b"x", ".env": b"SECRET=1", "a/.env.local": b"S", "app.js.map": b"{}", "app.js": b"1"}
    assert sorted(site_files(exported, source_maps=False)) == ["app.js", "index.html"]
    assert sorted(site_files(exported, source_maps=True)) == ["app.js", "app.js.map", "index.html"]
    with pytest.raises(PublishError, match=r"no index\.html"):
        site_files({"about/index.html": b"x"}, source_maps=False)


@pytest.mark.parametrize(
    ("rest", "file"),
    [
        ("", "index.html"),
        ("about/", "about/index.html"),
        ("about", "about/index.html"),
        ("a.js", "a.js"),
        ("../x", None),
    ],
)
def test_site_paths(rest: str, file: str | None) -> None:
    assert site_path(rest) == file


def test_content_types() -> None:
    assert content_type("a/b.html") == "text/html; charset=utf-8"
    assert content_type("x.woff2") == "font/woff2" and content_type("x.png") == "image/png"
    assert content_type("noext") == "application/octet-stream"


def test_the_s3_store_uploads_then_points_through_the_key_value_store() -> None:
    import boto3
    from botocore.stub import Stubber
    from moto import mock_aws

    arn = "arn:aws:cloudfront::000000000000:key-value-store/qai-sites"
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="qai-sites")
        store = S3SiteStore("qai-sites", "https://d111.cloudfront.net", arn)
        kvs: Any = boto3.client("cloudfront-keyvaluestore", region_name="us-east-1")
        store.__dict__["_kvs"] = kvs  # the cached client, stubbed: moto has no KeyValueStore
        store.upload("shop-1a2b3c4d", "0001", EXPORT)
        objects = boto3.client("s3").list_objects_v2(Bucket="qai-sites")["Contents"]
        assert sorted(o["Key"] for o in objects) == sorted(f"shop-1a2b3c4d/0001/{p}" for p in EXPORT)
        head = boto3.client("s3").head_object(
            Bucket="qai-sites", Key="shop-1a2b3c4d/0001/_next/static/chunks/app-3f2a.js"
        )
        assert head["CacheControl"] == IMMUTABLE and head["ContentType"].startswith("text/javascript")
        index = boto3.client("s3").head_object(Bucket="qai-sites", Key="shop-1a2b3c4d/0001/index.html")
        assert index["CacheControl"] == REVALIDATE and index["ContentType"] == "text/html; charset=utf-8"
        with Stubber(kvs) as stub:
            described = {
                "ETag": "e1",
                "KvsARN": arn,
                "Created": "2026-01-01T00:00:00Z",
                "ItemCount": 0,
                "TotalSizeInBytes": 0,
            }
            stub.add_response("describe_key_value_store", described, {"KvsARN": arn})
            stub.add_response(
                "put_key",
                {"ETag": "e2", "ItemCount": 1, "TotalSizeInBytes": 20},
                {"KvsARN": arn, "Key": "shop-1a2b3c4d", "Value": "0001", "IfMatch": "e1"},
            )
            store.point("shop-1a2b3c4d", "0001")
            stub.assert_no_pending_responses()
        store.upload("shop-1a2b3c4d", "0002", {"index.html": b"v2"})
        store.remove_others("shop-1a2b3c4d", keep="0002")
        objects = boto3.client("s3").list_objects_v2(Bucket="qai-sites")["Contents"]
        assert [o["Key"] for o in objects] == ["shop-1a2b3c4d/0002/index.html"]
        assert store.site_url("shop-1a2b3c4d") == "https://d111.cloudfront.net/shop-1a2b3c4d/"


def test_a_publish_the_queue_refuses_fails_at_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    project_id, fragment_id = a_version(api)

    def refused(**_: str) -> None:
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(api.deps.queue, "enqueue_publish_job", refused)
    status, site = api.call("POST", f"/projects/{project_id}/fragments/{fragment_id}/publish")
    assert status == 202 and site["status"] == "FAILED" and "could not be queued" in site["error"]
    status, again = api.call("POST", f"/projects/{project_id}/fragments/{fragment_id}/publish")
    assert status == 202 and again["status"] == "FAILED"  # not stuck: asking again is not a 409
