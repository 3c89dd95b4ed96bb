"""Hypothesis fuzzing of every route of the real Flask app (rule model, in-process jobs): no input makes it fail.

Each group below sends junk of one kind to every route: malformed or truncated JSON bytes, JSON of the wrong
shape, one field of a valid body replaced by junk or removed, wrong methods, junk query strings and bodies over
MAX_REQUEST_BYTES. Every answer must be < 500, and every 4xx a JSON object with an "error" string that names the
field when a field of the body is at fault, with no traceback text. The requests actually sent are counted.

The four bugs its first runs found (commit e6fdb99 fixed them) are pinned by the regression tests at the end.
"""

from __future__ import annotations

import copy
import json
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.corpus import LABEL_CONFIG
from tests.support.paths import fixture

MAX_BYTES = 1024 * 1024
GOAL = 10_000

ROUTES = {  # path -> methods the app allows
    "/": {"GET"},
    "/health": {"GET"},
    "/metrics": {"GET"},
    "/versions": {"GET"},
    "/train_status": {"GET"},
    "/setup": {"POST"},
    "/predict": {"POST"},
    "/webhook": {"POST"},
    "/select_samples": {"POST"},
    "/deploy": {"POST"},
    "/projects/1": {"DELETE"},
    "/team/api/projects": {"GET"},
    "/team/api/projects/1": {"GET"},
    "/team/api/projects/1/history": {"GET"},
}
POST_ROUTES = [p for p, m in ROUTES.items() if "POST" in m]
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

TEXT = "Angela Merkel met Sony in Tokyo."
WEBHOOK = fixture("webhook_ANNOTATION_CREATED")["body"]
WEBHOOK["project"]["label_config"] = LABEL_CONFIG
VALID = {
    "/setup": {"project": "1.1795511008", "schema": LABEL_CONFIG},
    "/predict": {
        "tasks": [{"id": 1, "data": {"text": TEXT}}, {"id": 2, "data": {"text": "Nothing here."}}],
        "project": "1.1795511008",
        "label_config": LABEL_CONFIG,
        "params": {"context": None},
    },
    "/webhook": WEBHOOK,
    "/select_samples": {
        "project_id": 1,
        "limit": 2,
        "strategy": "entropy",
        "threshold": 0.9,
        "diversity": True,
        "label_config": LABEL_CONFIG,
        "tasks": [
            {"id": i, "data": {"text": t}}
            for i, t in enumerate([TEXT, "Tim Cook of Apple.", "It rained.", "Maybe Paris."])
        ],
    },
    "/deploy": {"project_id": 1, "version": "p1-v1-n1"},
}
# Field -> the kind of value the route accepts; a 4xx caused by a value of another kind must name the field.
FIELDS = {
    "/setup": {"project": "id", "schema": "str"},
    "/predict": {"tasks": "list", "project": "id", "label_config": "str", "params": "any"},
    "/webhook": {"action": "str", "project": "project", "task": "any", "annotation": "any", "annotations": "any"},
    "/select_samples": {
        "project_id": "id",
        "limit": "int",
        "strategy": "str",
        "threshold": "num",
        "diversity": "bool",
        "tasks": "list",
        "label_config": "str",
    },
    "/deploy": {"project_id": "id", "version": "str"},
}
REQUIRED = {
    "/setup": {"project", "schema"},
    "/predict": {"tasks"},
    "/webhook": {"action", "project"},
    "/deploy": {"project_id", "version"},
}
TRACEBACK = re.compile(r"Traceback|File \"|line \d+, in ")

SENT = {"requests": 0, "4xx": 0, "2xx": 0}
SURROGATE = re.compile("[\ud800-\udfff]")


# --- strategies -----------------------------------------------------------------------------------------------

NASTY = [
    "\x00",
    "\ud800",
    "\udfff",
    "\ud83d",
    "\u202e",
    "\u200f\u05e9\u05dc\u05d5\u05dd",
    "\ufeff",
    "😀",
    "👩‍👩‍👧",
    "e\u0301\u0301\u0301",
    "𝕏",
    "北京",
    "\u2028",
    "\\",
    '"',
    "</View>",
    "<script>",
    "../../etc/passwd",
    "%00",
    "${text}",
    "NaN",
    "null",
    "1.5",
    "-1",
    "99999999999999999999",
    " ",
    "",
]
chars = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from(["\x00", "\u202e", "\u200f", "😀", "\ufeff"]),
)
small_text = st.one_of(st.sampled_from(NASTY), st.text(alphabet=chars, max_size=40))
huge_text = st.builds(lambda s, n: (s or "x") * n, small_text, st.integers(200, 20_000))
nasty_text = st.one_of(small_text, small_text, huge_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(small_text, inner, max_size=5)),
    max_leaves=20,
)
task_like = st.fixed_dictionaries({"id": junk, "data": st.one_of(junk, st.fixed_dictionaries({"text": nasty_text}))})
field_junk = st.one_of(junk, st.lists(st.one_of(task_like, junk), max_size=4), st.dictionaries(small_text, junk))


# --- sending and checking -------------------------------------------------------------------------------------


def check(response, path: str, body=None, field: str | None = None, raw: bytes | None = None):
    """Assert the answer is sane; `field` is the body field at fault, whose name a 4xx must carry."""
    SENT["requests"] += 1
    status = response.status_code
    text = response.get_data(as_text=True)
    context = (
        f"{response.request.method} {path} body={str(body if raw is None else raw)[:300]!r} -> {status} {text[:300]}"
    )
    assert status < 500, context
    assert not TRACEBACK.search(text), context
    if 400 <= status < 500:
        SENT["4xx"] += 1
        if response.request.method == "HEAD":
            assert raw_len(response) == 0, context  # HEAD answers carry no body
            return
        assert response.is_json, context
        answer = response.get_json()
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str) and answer["error"], context
        assert isinstance(answer.get("field", ""), str), context
        if field is not None and status != 413:  # a body too large is refused before any field is read
            assert answer.get("field") == field or field in answer["error"], f"error does not name {field!r}: {context}"
    elif status < 300:
        SENT["2xx"] += 1


def raw_len(response) -> int:
    return len(response.get_data())


def kind_ok(kind: str, value) -> bool:
    if value is None:
        return True  # None means "missing": required fields are checked through REQUIRED
    is_int = isinstance(value, int) and not isinstance(value, bool)
    return {
        "id": is_int or isinstance(value, str),
        "str": isinstance(value, str),
        "list": isinstance(value, list),
        "int": is_int,
        "num": is_int or isinstance(value, float),
        "bool": isinstance(value, bool),
        "project": is_int or isinstance(value, (str, dict)),
        "any": True,
    }[kind]


def still_serving(client):
    assert client.get("/health").status_code == 200
    answer = client.post("/predict", json=VALID["/predict"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert len(answer.get_json()["results"]) == 2


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def client(tmp_path_factory, rule_model_dir):
    from _wsgi import create_app
    from settings import Settings

    models = tmp_path_factory.mktemp("fuzz") / "models"
    env = {
        "MODEL_DIR": str(models),
        "BASELINE_MODEL_NAME": str(rule_model_dir),
        "MAX_REQUEST_BYTES": str(MAX_BYTES),
        "START_TRAINING_EACH_N_UPDATES": "0",
        "NUM_TRAIN_EPOCHS": "1",
        "MIN_TRAIN_STEPS": "1",
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(Settings.from_env(env))
    app.testing = False  # errors go through the app's handlers exactly as in production
    test_client = app.test_client()
    assert test_client.post("/setup", json=VALID["/setup"]).status_code == 200
    return test_client


# --- the fuzzer -----------------------------------------------------------------------------------------------


def test_fuzz_every_route_never_fails(client):
    @fuzz(900)
    @given(
        st.one_of(
            st.binary(max_size=300),
            st.builds(
                lambda path, cut: json.dumps(VALID[path]).encode()[:cut],
                st.sampled_from(POST_ROUTES),
                st.integers(0, 400),
            ),
            st.builds(lambda s: s.encode("utf-8", "surrogatepass"), small_text),
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b"[",
                    b'{"tasks": [',
                    b"\xff\xfe\x00{",
                    b"nul\x00l",
                    b'{"a":1}{"b":2}',
                    b"1e999999",
                    b"[" * 5000,
                    b'{"x":' * 3000,
                ]
            ),
        ),
        st.sampled_from(["application/json", "text/plain", None, "application/x-www-form-urlencoded"]),
    )
    def raw_bytes(data, content_type):
        for path in POST_ROUTES:
            check(client.post(path, data=data, content_type=content_type), path, raw=data)

    @fuzz(800)
    @given(junk)
    def any_json(value):
        for path in POST_ROUTES:
            check(client.post(path, json=value), path, value)

    @fuzz(900)
    @given(st.sampled_from(POST_ROUTES), st.data())
    def one_field(path, data):
        fields = FIELDS[path]
        key = data.draw(st.sampled_from(sorted(fields)), label="field")
        body = copy.deepcopy(VALID[path])
        action = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "extra"]), label="action")
        if action == "delete":
            body.pop(key, None)
            at_fault = key if key in REQUIRED.get(path, ()) else None
        elif action == "extra":
            body[data.draw(small_text, label="key")] = data.draw(junk, label="extra")
            at_fault = None
        else:
            body[key] = data.draw(field_junk, label="value")
            at_fault = None if kind_ok(fields[key], body[key]) else key
        if path == "/webhook" and key == "action" and action == "replace" and data.draw(st.booleans()):
            body["action"] = data.draw(
                st.sampled_from(["ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", "START_TRAINING", "PROJECT_UPDATED"])
            )
            at_fault = None
        check(client.post(path, json=body), path, body, field=at_fault)
        # the same body with one more field broken, and as nested junk inside the valid body
        if action == "replace" and isinstance(body.get(key), (dict, list)):
            check(client.post(path, json={**VALID[path], key: [body[key], {key: body[key]}]}), path)

    @fuzz(400)
    @given(st.sampled_from(list(ROUTES)), st.sampled_from(ALL_METHODS), st.one_of(st.none(), junk))
    def methods(path, method, value):
        response = client.open(path, method=method, json=value)
        check(response, path, value)
        if method not in ROUTES[path] | {"HEAD", "OPTIONS"}:
            assert response.status_code == 405, (method, path, response.status_code)

    @fuzz(400)
    @given(
        st.sampled_from(
            [
                "/train_status",
                "/versions",
                "/health",
                "/",
                "/metrics",
                "/nowhere",
                "/predict/x",
                "/team/api/projects/1",
                "/team/api/projects/1/history",
            ]
        ),
        st.dictionaries(
            st.sampled_from(["project", "project_id", "secret", "page", "per_page", "x"]), nasty_text, max_size=3
        ),
    )
    def queries(path, args):
        args = {k: SURROGATE.sub("?", v) for k, v in args.items()}  # a URL cannot carry a lone surrogate
        check(client.get(path, query_string=args), path)

    @fuzz(40)
    @given(st.sampled_from(POST_ROUTES), st.integers(1, 64 * 1024))
    def oversized(path, extra):
        prefix = json.dumps(VALID[path])[:-1].encode() + b', "pad": "'
        data = prefix + b"x" * (MAX_BYTES + extra - len(prefix)) + b'"}'
        response = client.post(path, data=data, content_type="application/json")
        check(response, path)
        assert response.status_code == 413, (path, response.status_code)

    for group in (raw_bytes, any_json, one_field, methods, queries, oversized):
        before, started = SENT["requests"], time.perf_counter()
        group()
        print(f"{group.__name__}: {SENT['requests'] - before} requests in {time.perf_counter() - started:.1f}s")
        still_serving(client)
    print(f"fuzzed {SENT}")
    assert SENT["requests"] >= GOAL, SENT


# --- regressions: what the fuzzer found on its first runs (each was a 500) -----------------------------------


@pytest.mark.parametrize("path", ["/predict", "/select_samples"])
def test_lone_surrogate_in_task_text_is_served(client, path):
    body = copy.deepcopy(VALID[path])
    body["tasks"][0]["data"]["text"] = "Angela \ud800 Merkel in Tokyo"
    response = client.post(path, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_webhook_delete_with_unhashable_id_is_ignored(client):
    body = {"action": "ANNOTATIONS_DELETED", "project": {"id": 1}, "annotations": [{"id": [1]}]}
    response = client.post("/webhook", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)


def test_select_samples_with_unhashable_task_id_is_a_400(client):
    body = copy.deepcopy(VALID["/select_samples"])
    body["tasks"][0]["id"] = {"a": 1}
    response = client.post("/select_samples", json=body)
    assert response.status_code == 400 and response.get_json()["field"] == "tasks[].id", response.get_data(as_text=True)


@pytest.mark.parametrize("body", [b"[" * 5000, b'{"x":' * 3000])
def test_deeply_nested_json_is_a_400(client, body):
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.get_json()["error"], response.get_data(as_text=True)
