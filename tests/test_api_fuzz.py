"""No input, however malformed, gets a 5xx: random methods, paths, queries, headers and bodies."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

IDS = st.one_of(st.uuids().map(str), st.text(max_size=40).filter(lambda s: "/" not in s and "?" not in s))
PATHS = st.one_of(
    st.just("/projects"),
    IDS.map(lambda i: f"/projects/{i}"),
    IDS.map(lambda i: f"/projects/{i}/messages"),
    st.tuples(IDS, IDS).map(lambda t: f"/projects/{t[0]}/fragments/{t[1]}"),
    st.just("/usage"),
    st.text(max_size=30).map(lambda s: "/" + s.replace("?", "")),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=1200),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text(max_size=200),
    JSON_VALUES.map(json.dumps),
    st.dictionaries(st.sampled_from(["value", "Value", "extra"]), JSON_VALUES, max_size=3).map(json.dumps),
)
QUERIES = st.one_of(
    st.just(""),
    st.from_regex(r"(limit=[^&]{0,6})?(&cursor=[A-Za-z0-9_=%-]{0,40})?", fullmatch=True),
    st.text(max_size=40).map(lambda s: s.replace("#", "")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]),
    path=PATHS,
    query=QUERIES,
    body=BODIES,
    content_type=st.sampled_from(["application/json", "", "text/plain", "application/x-www-form-urlencoded"]),
    user=st.one_of(st.none(), st.sampled_from(["user-1", "user-2"])),
)
def test_no_input_gets_a_5xx(
    api: Api, method: str, path: str, query: str, body: str | bytes | None, content_type: str, user: str | None
) -> None:
    status, payload = api.call(method, path, body=body, query=query, user=user, headers={"content-type": content_type})
    assert status < 500, (method, path, query, body, payload)
    if status >= 400:
        assert set(payload["error"]) == {"code", "message"}
