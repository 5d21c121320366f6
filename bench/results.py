"""The benchmark's figures, gathered in ``bench/results.json`` across the scripts ``make bench`` runs.

Each figure is measured side by side with its anchor in the same run where it has one (plain
``next dev`` for a preview, the database's own floor for the read path) and compared with its
target: ``ratio`` is value / target, so under 1 is met.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


def results_path() -> Path:
    """bench/results.json, or QAI_BENCH_RESULTS (the tests' own file)."""
    return Path(os.environ.get("QAI_BENCH_RESULTS") or Path(__file__).resolve().parent / "results.json")


def record(name: str, value: float, unit: str, *, target: float | None = None, anchor: float | None = None) -> None:
    """Add (or replace) one figure in results.json."""
    value = round(value, 3)  # the ratio from the value as written, so that the file agrees with itself
    entry = {
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "anchor": round(anchor, 3) if anchor is not None else None,
        "ratio": round(value / target, 3) if target else None,
    }
    results = results_path()
    with open(results.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        figures = json.loads(results.read_text()) if results.is_file() else []
        figures = [figure for figure in figures if figure["name"] != name] + [entry]
        results.write_text(json.dumps(figures, indent=1) + "\n")


def summary() -> int:
    """Print every figure with its target and ratio (a figure over its target says MISSED)."""
    results = results_path()
    figures = json.loads(results.read_text()) if results.is_file() else []
    print(f"benchmark figures ({results}):")
    missed = 0
    for figure in figures:
        target = f"target {figure['target']:g}, ratio {figure['ratio']:.2f}" if figure["target"] else ""
        anchor = f"anchor {figure['anchor']:g}" if figure["anchor"] is not None else ""
        verdict = "MISSED" if figure["ratio"] is not None and figure["ratio"] > 1 else ""
        missed += bool(verdict)
        print(f"  {figure['name']:<24} {figure['value']:>10g} {figure['unit']:<3} {target:<28} {anchor:<18} {verdict}")
    if missed:
        print(f"  {missed} figure(s) over target")
    return 0


if __name__ == "__main__":
    raise SystemExit(summary())
