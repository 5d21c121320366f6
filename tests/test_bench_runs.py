"""The benchmark keeps working (its figures are read from `make bench`, not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}/layers/shared/python:{ROOT}/functions/agent:{ROOT}"}


def run_bench(*args: str) -> str:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_agent_overhead_benchmark_runs() -> None:
    assert "platform overhead  median" in run_bench("bench/agent_overhead.py", "2")


def test_living_apps_benchmark_runs() -> None:
    out = run_bench("bench/living_apps.py", "1")
    assert "on the live sandbox" in out and "POST …/preview to READY" in out and "stored size" in out


def test_load_benchmark_runs() -> None:
    out = run_bench("bench/load.py", "10", "5")
    assert "median/target" in out and "nothing left QUEUED or RUNNING: yes" in out


def test_read_path_benchmark_runs() -> None:
    out = run_bench("bench/read_path.py", "5000")
    assert "through the handler" in out and "floor (query + json.dumps)" in out
