"""Benchmark: the read path against its floor, measured side by side.

A warm `GET /projects/{id}/messages` (50 messages, 25 fragments of 20 files) through the messages
handler, against the floor: one raw psycopg query for the same rows plus json.dumps. Target: the
handler within 1.5 times the floor. Then the same request with a million other messages in the table
(other projects'), against a thousand: its index keeps the ratio near 1.

Usage: make bench  (or python bench/read_path.py [other messages, default 1000000])
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable

from harness import bench_stack
from results import record

from qai_local.stack.functions import LocalLambdaContext, load_function
from qai_local.stack.lambda_events import http_event

TARGET_RATIO = 1.5
FLOOR_QUERY = """SELECT m.id, m."projectId", m.content, m.role, m.type, m."createdAt", m."updatedAt",
    f.id AS fragment_id, f."sandboxUrl", f.title, f.summary, f."checkError", f."createdAt" AS fragment_created,
    ARRAY(SELECT jsonb_object_keys(f.files) ORDER BY 1) AS paths
  FROM "Message" m LEFT JOIN "Fragment" f ON f."messageId" = m.id
  WHERE m."projectId" = %s ORDER BY m."createdAt", m.id"""


def _medians_ms(*works: Callable[[], object], repeats: int = 300) -> list[float]:
    """Each work's median time, timed in turns (one of each a round): whatever else the machine
    does meanwhile falls on each alike, not on whichever was timed then."""
    for _ in range(20):
        for work in works:
            work()
    times: list[list[float]] = [[] for _ in works]
    for _ in range(repeats):
        for work, taken in zip(works, times, strict=True):
            started = time.perf_counter()
            work()
            taken.append((time.perf_counter() - started) * 1000)
    return [statistics.median(taken) for taken in times]


def _seed(conn: object, project_id: str) -> None:
    from qai import messages, projects

    projects.insert_project(conn, project_id=project_id, name="bench", user_id="user-1")  # type: ignore[arg-type]
    files = {f"components/part{i}.tsx": "export const x = 1;\n" * 20 for i in range(20)}
    for i in range(50):
        message_id = str(uuid.uuid4())
        messages.insert_message(
            conn,  # type: ignore[arg-type]
            message_id=message_id,
            project_id=project_id,
            content=f"message {i}",
            role="ASSISTANT" if i % 2 else "USER",
            type_="RESULT",
        )
        if i % 2:
            content = messages.FragmentContent(sandbox_url="http://127.0.0.1:1/", title="T", files=files, summary="S")
            messages.insert_fragment(conn, fragment_id=str(uuid.uuid4()), message_id=message_id, content=content)  # type: ignore[arg-type]


def main(other_messages: int) -> int:
    with bench_stack() as stack:
        database = stack.api.database
        project_id = str(uuid.uuid4())
        database.in_transaction(lambda conn: _seed(conn, project_id))
        # Statistics, as autovacuum keeps them for a table in use: a table just filled has none.
        database.connection().execute("ANALYZE")
        handle = load_function("messages").handle
        path = f"/projects/{project_id}/messages"
        event = http_event(
            "GET", path, route_key="GET /projects/{projectId}/messages", path_parameters={"projectId": project_id}
        )

        def through_the_handler() -> object:
            response = handle(event, LocalLambdaContext(), stack.api)
            assert response["statusCode"] == 200
            return response

        def floor() -> str:
            rows = database.connection().execute(FLOOR_QUERY, (project_id,)).fetchall()
            return json.dumps(rows, default=str)

        assert len(json.loads(through_the_handler()["body"])["items"]) == 50  # type: ignore[index]
        handler_ms, floor_ms = _medians_ms(through_the_handler, floor)
        print("GET /projects/{id}/messages, warm (50 messages, 25 fragments of 20 files), median of 300:")
        print(f"  through the handler        {handler_ms:6.2f} ms")
        print(f"  floor (query + json.dumps) {floor_ms:6.2f} ms")
        print(f"  ratio {handler_ms / floor_ms:.2f}   target {TARGET_RATIO}")
        record("read_path_ratio", handler_ms / floor_ms, "x", target=TARGET_RATIO, anchor=floor_ms)

        few = min(1000, other_messages)
        database.connection().execute(
            """INSERT INTO "Project" (id, name, "userId") VALUES ('bench-other', 'other', 'someone')"""
        )
        database.connection().execute(
            """INSERT INTO "Message" (id, "projectId", content, role, type)
               SELECT 'bench-other-' || g, 'bench-other', 'x', 'USER', 'RESULT' FROM generate_series(1, %s::int) g""",
            (few,),
        )
        database.connection().execute("ANALYZE")
        (with_few,) = _medians_ms(through_the_handler)
        database.connection().execute(
            """INSERT INTO "Message" (id, "projectId", content, role, type)
               SELECT 'bench-other-' || g, 'bench-other', 'x', 'USER', 'RESULT'
               FROM generate_series(%s::int, %s::int) g""",
            (few + 1, other_messages),
        )
        database.connection().execute("ANALYZE")
        (with_many,) = _medians_ms(through_the_handler)
        print(f"the same with {other_messages:,} other messages in the table, against {few:,}:")
        print(f"  {with_many:6.2f} ms against {with_few:6.2f} ms: ratio {with_many / with_few:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
