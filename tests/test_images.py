"""Images with a prompt: checked, stored, listed on the message, served to their owner only, and
shown to the model with the text."""

from __future__ import annotations

import base64
import json
import struct
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

import pytest

from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG of that size (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"
GIF = b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF" + struct.pack("<I", 12) + b"WEBPVP8 " + b"\x00" * 8


def image(media_type: str, data: bytes) -> dict[str, str]:
    return {"mediaType": media_type, "data": base64.b64encode(data).decode()}


def test_images_are_stored_listed_and_served_to_their_owner_only(api: Api) -> None:
    picture = png()
    status, project = api.call(
        "POST", "/projects", json_body={"value": "make it look like this", "images": [image("image/png", picture)]}
    )
    assert status == 201
    first = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]
    (listed,) = first["images"]
    assert listed["mediaType"] == "image/png"
    assert listed["url"] == f"/projects/{project['id']}/messages/{first['id']}/images/{listed['id']}"
    response = api.invoke("GET", listed["url"])
    assert response["statusCode"] == 200 and base64.b64decode(response["body"]) == picture
    assert response["headers"]["Content-Type"] == "image/png"
    assert response["headers"]["Cache-Control"] == "private, max-age=3600"
    assert api.call("GET", listed["url"], user="user-2")[0] == 404
    assert api.call("GET", listed["url"].replace(listed["id"], first["id"]))[0] == 404

    queued_messages(api.deps.settings.agent_queue_url)
    api.deps.database.in_transaction(
        lambda conn: conn.execute(
            """UPDATE "AgentRun" SET status = 'SUCCEEDED' WHERE "projectId" = %s""", (project["id"],)
        )
    )
    sent = [image("image/jpeg", JPEG), image("image/gif", GIF), image("image/webp", WEBP)]
    status, message = api.call(
        "POST", f"/projects/{project['id']}/messages", json_body={"value": "and these", "images": sent}
    )
    assert status == 201 and [i["mediaType"] for i in message["images"]] == ["image/jpeg", "image/gif", "image/webp"]
    assert base64.b64decode(api.invoke("GET", message["images"][2]["url"])["body"]) == WEBP
    listed_later = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][-1]["images"]
    assert listed_later == message["images"]


@pytest.mark.parametrize(
    ("images", "says"),
    [
        ([image("image/png", JPEG)], "images[0]: the bytes are not a image/png image"),
        ([image("image/webp", b"RIFF\x00\x00\x00\x00WAVE")], "images[0]: the bytes are not a image/webp image"),
        ([{"mediaType": "image/svg+xml", "data": "PHN2Zy8+"}], "images.mediaType"),
        ([{"mediaType": "image/png", "data": "not base64!"}], "images[0].data: not base64"),
        ([{"mediaType": "image/png", "data": ""}], "images.data"),
        ([image("image/png", png())] * 5, "images"),
        ([image("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 2**20))], "images[0]: larger than 2097152 bytes"),
        (
            [image("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (2**20 + 2**18 + 2**17))] * 3,
            "images: larger than 4194304 bytes together",
        ),
        ([{"mediaType": "image/png"}], "images.data"),
        ("a picture", "images"),
    ],
)
def test_bad_images_are_400_and_nothing_is_kept(api: Api, images: Any, says: str) -> None:
    status, body = api.call("POST", "/projects", json_body={"value": "an app", "images": images})
    assert status == 400 and body["error"]["code"] == "BAD_REQUEST", body
    assert says in body["error"]["message"]
    assert api.call("GET", "/projects")[1]["items"] == []
    assert not list(Path(api.deps.settings.local_uploads_dir).rglob("*"))


def test_a_refused_request_keeps_no_image_and_a_deleted_project_takes_its_images(api: Api) -> None:
    uploads = Path(api.deps.settings.local_uploads_dir)
    with_image = {"value": "like this", "images": [image("image/png", png())]}
    project = api.call("POST", "/projects", json_body=with_image)[1]
    kept = sorted(p for p in uploads.rglob("*") if p.is_file())
    assert len(kept) == 1
    # Another user's project: 404, and nothing of that request is left in the store.
    status, _ = api.call("POST", f"/projects/{project['id']}/messages", json_body=with_image, user="user-2")
    assert status == 404
    # The caller's own project while its first run is under way: 409, nothing kept either.
    status, _ = api.call("POST", f"/projects/{project['id']}/messages", json_body=with_image)
    assert status == 409
    assert sorted(p for p in uploads.rglob("*") if p.is_file()) == kept
    assert api.call("DELETE", f"/projects/{project['id']}")[0] == 204
    assert not [p for p in uploads.rglob("*") if p.is_file()]


def test_deployed_an_image_is_a_short_lived_link_and_without_a_store_images_are_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    boto3.client("s3").create_bucket(Bucket="qai-uploads")
    monkeypatch.setenv("UPLOADS_BUCKET", "qai-uploads")
    api.reload()
    picture = png()
    project = api.call("POST", "/projects", json_body={"value": "this", "images": [image("image/png", picture)]})[1]
    (listed,) = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]["images"]
    response = api.invoke("GET", listed["url"])
    assert response["statusCode"] == 302
    link = urllib.parse.urlsplit(response["headers"]["Location"])
    assert "qai-uploads" in link.netloc + link.path and "X-Amz-Expires=900" in link.query
    key = urllib.parse.unquote(link.path.split("qai-uploads/")[-1].lstrip("/"))
    assert boto3.client("s3").get_object(Bucket="qai-uploads", Key=key)["Body"].read() == picture
    assert api.call("DELETE", f"/projects/{project['id']}")[0] == 204
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="qai-uploads")

    monkeypatch.delenv("UPLOADS_BUCKET")
    monkeypatch.delenv("LOCAL_UPLOADS_DIR")
    api.reload()
    status, body = api.call("POST", "/projects", json_body={"value": "this", "images": [image("image/png", picture)]})
    assert status == 503 and "UPLOADS_BUCKET" in body["error"]["message"]
    assert api.call("POST", "/projects", json_body={"value": "no picture"})[0] == 201


def test_the_model_sees_the_images_with_the_text(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    picture = png(3, 1)
    model_server.script(
        sm.write_files({"app/page.tsx": "export default function P() { return null }\n"}), sm.summary("Done.")
    )
    api.call(
        "POST",
        "/projects",
        json_body={"value": "copy this layout", "images": [image("image/png", picture), image("image/gif", GIF)]},
    )
    worker.drain()
    content = model_server.agent_requests()[0]["messages"][0]["content"]
    assert [block["type"] for block in content] == ["image", "image", "text"]
    assert content[0]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(picture).decode(),
    }
    assert content[1]["source"]["media_type"] == "image/gif" and "copy this layout" in content[2]["text"]
    assert json.dumps(content).count('"type": "image"') == 2


def test_later_runs_see_earlier_images_while_they_fit_the_budget(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # png(300, 300) costs 120 tokens, png(600, 600) 480: the budget holds the small ones, not the large.
    monkeypatch.setenv("AGENT_HISTORY_IMAGE_TOKENS", "300")
    worker.reload()
    sketch, large, screenshot = png(300, 300), png(600, 600), png(300, 300)
    page = sm.write_files({"app/page.tsx": "export default function P() { return null }\n"})
    model_server.script(page, sm.summary("Done."), page, sm.summary("Done."), page, sm.summary("Done."))
    project = api.call(
        "POST", "/projects", json_body={"value": "like my sketch", "images": [image("image/png", sketch)]}
    )[1]
    worker.drain()
    path = f"/projects/{project['id']}/messages"
    assert api.call("POST", path, json_body={"value": "bigger", "images": [image("image/png", large)]})[0] == 201
    worker.drain()
    assert api.call("POST", path, json_body={"value": "fix this", "images": [image("image/png", screenshot)]})[0] == 201
    worker.drain()

    first_messages = [r["messages"][0]["content"] for r in model_server.agent_requests() if len(r["messages"]) == 1]
    assert len(first_messages) == 3
    # The second run: the sketch again (120 tokens fit), said to be earlier, then its own image.
    second = first_messages[1]
    assert [b["type"] for b in second] == ["text", "image", "image", "text"]
    assert "earlier message" in second[0]["text"] and "'like my sketch'" in second[0]["text"]
    assert second[1]["source"]["data"] == base64.b64encode(sketch).decode()
    assert second[2]["source"]["data"] == base64.b64encode(large).decode()
    # The third: the large image (480) does not fit, and nothing older is shown past it.
    third = first_messages[2]
    assert [b["type"] for b in third] == ["image", "text"]
    assert third[0]["source"]["data"] == base64.b64encode(screenshot).decode()
    assert "fix this" in third[1]["text"]


def test_no_budget_no_earlier_images(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_HISTORY_IMAGE_TOKENS", "0")
    worker.reload()
    page = sm.write_files({"app/page.tsx": "export default function P() { return null }\n"})
    model_server.script(page, sm.summary("Done."), page, sm.summary("Done."))
    project = api.call("POST", "/projects", json_body={"value": "this", "images": [image("image/png", png(2, 2))]})[1]
    worker.drain()
    assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "again"})[0] == 201
    worker.drain()
    follow_up = [r for r in model_server.agent_requests() if len(r["messages"]) == 1][1]["messages"][0]["content"]
    assert [b["type"] for b in follow_up] == ["text"]
