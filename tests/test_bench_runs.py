"""The benchmark keeps working (its figures are read from `make bench`, not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_agent_overhead_benchmark_runs() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}/layers/shared/python:{ROOT}/functions/agent:{ROOT}"}
    out = subprocess.run(
        [sys.executable, "bench/agent_overhead.py", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "platform overhead  median" in out.stdout
