"""Bad input is a 4xx naming the field, never a 500 or a traceback; keys and roles are enforced."""

from __future__ import annotations

import pytest
from apitest import KEYS, fixture_letters, headers

from triage.records import MAX_CONTENT_CHARS

BAD_LETTERS = [
    # (body, status, field)
    ({}, 422, "content"),
    ({"content": None}, 422, "content"),
    ({"content": ""}, 422, "content"),
    ({"content": "  \n "}, 422, "content"),
    ({"content": 12}, 422, "content"),
    ({"content": ["a"]}, 422, "content"),
    ({"content": "x" * (MAX_CONTENT_CHARS + 1)}, 422, "content"),
    ({"content": "ok", "title": {"a": 1}}, 422, "title"),
    ({"content": "ok", "id": 5}, 422, "id"),
    ({"content": "ok", "id": "x" * 201}, 422, "id"),
    ({"content": "ok", "received_at": "yesterday"}, 422, "received_at"),
    ({"content": "ok", "received_at": "0001-01-01"}, 422, "received_at"),
    ({"content": "ok", "petitioner": "张三"}, 422, "petitioner"),
    ({"content": "ok", "petitioner": {"phone": 13812345678}}, 422, "petitioner.phone"),
    ({"content": "ok", "region": "区" * 201}, 422, "region"),
    ({"content": "ok\x00"}, 422, "content"),
    ({"content": "ok", "note": "a\x00b"}, 422, "body"),
    ([{"content": "a list, not an object"}], 422, "body"),
    ("just a string", 422, "body"),
]


@pytest.mark.parametrize("body,status,field", BAD_LETTERS)
def test_bad_letters_name_the_field(sqlite_client, body, status, field):
    r = sqlite_client.post("/v1/letters", json=body, headers=headers("intake"))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field, error
    assert error["message"] and error["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text and "input" not in error  # the input is never echoed


def test_malformed_json_is_400(sqlite_client):
    for raw in (b"{", b'{"content": "x",}', b"\xff\xfe", b"NaN"):
        r = sqlite_client.post("/v1/letters", content=raw,
                               headers={**headers("intake"), "content-type": "application/json"})
        assert r.status_code in (400, 422), (raw, r.text)
        assert r.json()["error"]["field"] in ("body", "content")
        assert "Traceback" not in r.text


def test_over_size_body_is_413(make_client, sqlite_url):
    client = make_client(sqlite_url, max_body_bytes=4096)
    r = client.post("/v1/letters", json={"content": "长" * 5000}, headers=headers("intake"))
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"

    def chunks():  # no Content-Length: counted while reading
        yield b'{"content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    r = client.post("/v1/letters", content=chunks(), headers={**headers("intake"), "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_unknown_ids_and_wrong_types_in_queries(sqlite_client):
    h = headers("admin")
    assert sqlite_client.get("/v1/cases/nope", headers=h).json()["error"]["field"] == "case_id"
    assert sqlite_client.get("/v1/cases/nope/similar", headers=h).status_code == 404
    assert sqlite_client.get("/v1/cases/nope/duplicates", headers=h).status_code == 404
    assert sqlite_client.get("/v1/jobs/nope", headers=h).json()["error"]["field"] == "job_id"
    assert sqlite_client.post("/v1/cases/nope/decisions", json={"domain": {"accepted": True}},
                              headers=h).status_code == 404
    r = sqlite_client.get("/v1/cases?limit=abc", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
    r = sqlite_client.get("/v1/cases?limit=100000", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
    r = sqlite_client.get("/v1/stats?since=not-a-date", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "since"
    r = sqlite_client.get("/v1/nowhere", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = sqlite_client.delete("/v1/cases/x/decisions", headers=h)
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"


def test_no_key_is_401_and_a_wrong_role_is_403(sqlite_client):
    letter = fixture_letters()[0]
    r = sqlite_client.post("/v1/letters", json=letter)
    assert r.status_code == 401 and r.json()["error"]["field"] == "X-API-Key"
    assert sqlite_client.post("/v1/letters", json=letter, headers={"X-API-Key": "guess"}).status_code == 401
    assert sqlite_client.post("/v1/letters", json=letter, headers=headers("handler")).status_code == 403
    assert sqlite_client.post("/v1/letters", json=letter, headers=headers("intake")).status_code == 201
    # the role matrix of the other resources
    expect = {
        ("post", "/v1/reception/check", "intake"): 403, ("post", "/v1/reception/check", "handler"): 403,
        ("post", "/v1/reception/check", "reception"): 200,
        ("get", "/v1/admin/audit", "handler"): 403, ("get", "/v1/admin/audit", "admin"): 200,
        ("post", "/v1/admin/imports", "intake"): 403, ("post", "/v1/batches", "handler"): 403,
        ("post", "/v1/cases/fx-1/decisions", "reception"): 403,
        ("put", "/v1/cases/fx-1/status", "intake"): 403, ("put", "/v1/cases/fx-1/status", "handler"): 200,
        ("get", "/v1/stats", None): 401, ("get", "/v1/model", None): 401, ("get", "/v1/health", None): 200,
    }
    bodies = {"/v1/reception/check": {"phone": "13812345678"}, "/v1/admin/imports": {"letters": [letter]},
              "/v1/batches": {"letters": [letter]}, "/v1/cases/fx-1/decisions": {"domain": {"accepted": True}},
              "/v1/cases/fx-1/status": {"status": "processing"}}
    for (method, path, role), status in expect.items():
        kwargs = {"json": bodies[path]} if path in bodies else {}
        r = sqlite_client.request(method.upper(), path, headers=headers(role), **kwargs)
        assert r.status_code == status, (method, path, role, r.text)


def test_keys_never_reach_the_audit_trail(sqlite_client):
    sqlite_client.post("/v1/letters", json=fixture_letters()[0], headers=headers("intake"))
    events = sqlite_client.get("/v1/admin/audit", headers=headers("admin")).json()["events"]
    assert events and {e["actor"] for e in events} <= {"intake-tester", "admin-tester"}
    text = str(events)
    assert not any(key in text for key in KEYS.values())


def test_nul_characters_in_urls_are_refused(sqlite_client):
    h = headers("admin")
    r = sqlite_client.get("/v1/cases?status=a%00b", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "status"
    r = sqlite_client.get("/v1/cases/a%00b", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "case_id"
