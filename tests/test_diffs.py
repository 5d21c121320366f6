"""GET …/fragments/{fragmentId}/diff: what a version changed, as patches git takes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qai.app_files import BINARY_PREFIX, TEMPLATE_DIR
from qai.diffs import DiffLimits, version_diff
from tests.conftest import Api
from tests.test_api_messages import finish_run_with_reply

PAGE = "export default function Home() {\n  return <h1>One</h1>\n}\n"
LAYOUT = (TEMPLATE_DIR / "app" / "layout.tsx").read_text()


def diff_path(project_id: str, fragment_id: str) -> str:
    return f"/projects/{project_id}/fragments/{fragment_id}/diff"


def two_versions(api: Api) -> tuple[str, str, str]:
    project = api.call("POST", "/projects", json_body={"value": "an app"})[1]
    _, first = finish_run_with_reply(api.deps.database, project["id"], {"app/page.tsx": PAGE, "lib/gone.ts": "x\n"})
    assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "more"})[0] == 201
    second_files = {
        "app/page.tsx": PAGE.replace("One", "Two"),
        "app/layout.tsx": LAYOUT + "// changed\n",
        "public/logo.png": BINARY_PREFIX + "AAEC",
    }
    _, second = finish_run_with_reply(api.deps.database, project["id"], second_files)
    return project["id"], first, second


def test_a_version_against_the_one_before_it_and_the_first_against_the_template(api: Api) -> None:
    project_id, first, second = two_versions(api)
    status, diff = api.call("GET", diff_path(project_id, second))
    assert status == 200 and diff["baseId"] == first
    files = {f["path"]: f for f in diff["files"]}
    assert {path: f["status"] for path, f in files.items()} == {
        "app/layout.tsx": "modified",
        "app/page.tsx": "modified",
        "lib/gone.ts": "deleted",
        "public/logo.png": "added",
    }
    page = files["app/page.tsx"]
    assert (page["additions"], page["deletions"]) == (1, 1)
    assert page["patch"].startswith("--- a/app/page.tsx\n+++ b/app/page.tsx\n@@ ")
    assert "-  return <h1>One</h1>\n+  return <h1>Two</h1>\n" in page["patch"]
    assert files["lib/gone.ts"]["patch"].startswith("--- a/lib/gone.ts\n+++ /dev/null\n")
    assert files["public/logo.png"] == {
        "path": "public/logo.png",
        "status": "added",
        "additions": 0,
        "deletions": 0,
        "patch": None,
        "binary": True,
        "truncated": False,
    }
    assert (diff["additions"], diff["deletions"]) == (2, 2)

    status, against_template = api.call("GET", diff_path(project_id, first))
    assert status == 200 and against_template["baseId"] is None
    assert [(f["path"], f["status"]) for f in against_template["files"]] == [
        ("app/page.tsx", "modified"),  # the template has its own page
        ("lib/gone.ts", "added"),
    ]
    status, backwards = api.call("GET", diff_path(project_id, first), query=f"base={second}")
    assert status == 200 and backwards["baseId"] == second
    assert {f["path"]: f["status"] for f in backwards["files"]}["lib/gone.ts"] == "added"


def test_the_patches_apply_with_git(api: Api, tmp_path: Path) -> None:
    project_id, _, second = two_versions(api)
    repo = tmp_path / "app"
    (repo / "app").mkdir(parents=True)
    (repo / "lib").mkdir()
    (repo / "app" / "page.tsx").write_text(PAGE)
    (repo / "app" / "layout.tsx").write_text(LAYOUT)
    (repo / "lib" / "gone.ts").write_text("x\n")
    diff = api.call("GET", diff_path(project_id, second))[1]
    patch = "".join(f["patch"] for f in diff["files"] if f["patch"])
    (tmp_path / "change.patch").write_text(patch)
    subprocess.run(["git", "apply", "--unsafe-paths", str(tmp_path / "change.patch")], cwd=repo, check=True)
    assert (repo / "app" / "page.tsx").read_text() == PAGE.replace("One", "Two")
    assert not (repo / "lib" / "gone.ts").exists()


def test_patches_too_large_are_left_out_and_said_so() -> None:
    big = "".join(f"line {n}\n" for n in range(5000))
    diff = version_diff({"a.txt": "a\n"}, {"a.txt": "b\n", "big.txt": big}, DiffLimits(1000, 10_000), base_id="x")
    files = {f.path: f for f in diff.files}
    assert files["big.txt"].truncated and files["big.txt"].patch is None and files["big.txt"].additions == 5000
    assert files["a.txt"].patch is not None and not files["a.txt"].truncated


@pytest.mark.parametrize("base", ["not-a-uuid", "00000000-0000-4000-8000-000000000000"])
def test_a_base_that_is_not_a_version_of_the_project_is_404(api: Api, base: str) -> None:
    project_id, _, second = two_versions(api)
    status, body = api.call("GET", diff_path(project_id, second), query=f"base={base}")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"


def test_another_users_version_or_base_is_404(api: Api) -> None:
    project_id, _, second = two_versions(api)
    assert api.call("GET", diff_path(project_id, second), user="someone-else")[0] == 404
    theirs = api.call("POST", "/projects", json_body={"value": "their app"}, user="someone-else")[1]
    _, their_fragment = finish_run_with_reply(api.deps.database, theirs["id"], {"app/page.tsx": PAGE})
    assert api.call("GET", diff_path(project_id, second), query=f"base={their_fragment}")[0] == 404


@pytest.mark.parametrize(
    ("before", "after"),
    [("x\ny", "x\nz"), ("x\ny\n", "x\ny"), ("x\ny", "x\ny\n"), (None, "no newline"), ("gone", None)],
)
def test_a_file_without_a_last_newline_gives_a_patch_git_applies(
    tmp_path: Path, before: str | None, after: str | None
) -> None:
    base = {"notes.txt": before} if before is not None else {}
    head = {"notes.txt": after} if after is not None else {}
    diff = version_diff(base, head, DiffLimits(10_000, 10_000), base_id="b")
    (patch,) = [f.patch for f in diff.files if f.path == "notes.txt"]
    assert patch is not None
    if before is not None:
        (tmp_path / "notes.txt").write_text(before)
    (tmp_path / "change.patch").write_text(patch)
    subprocess.run(["git", "apply", "change.patch"], cwd=tmp_path, check=True)
    if after is None:
        assert not (tmp_path / "notes.txt").exists()
    else:
        assert (tmp_path / "notes.txt").read_text() == after
