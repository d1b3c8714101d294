"""Intake over HTTP: submit, idempotency, dry run, compare, batch pre-sorting with progress; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from apitest import fixture_letters, headers, wait_job


def test_submit_returns_the_suggestion_and_stores_the_case(client):
    letter = fixture_letters()[0]
    r = client.post("/v1/letters", json=letter, headers=headers("intake"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "fx-1" and body["created"] is True and body["suggestion_id"] >= 1
    assert body["model_version"] and body["domain"] and 0 <= body["domain"][0]["score"] <= 1
    assert body["duplicates"] == {"verdict": "new", "matches": []} and body["similar"] == []
    assert all(isinstance(t["evidence"], list) for t in body["type"])   # each type says why (may be empty)
    assert [t["evidence"] for t in body["type"] if t["label"] == "举报"] in ([], [["says 查处"]]), body["type"]
    assert r.headers["location"] == "/v1/cases/fx-1"
    case = client.get("/v1/cases/fx-1", headers=headers("handler")).json()
    assert case["case"]["content"] == letter["content"]
    assert case["suggestion"]["suggestion_id"] == body["suggestion_id"]
    assert case["suggestion"]["model_version"] == body["model_version"]


def test_an_id_is_assigned_when_absent(client):
    r = client.post("/v1/letters", json={"content": "小区路灯坏了三个月没人修，晚上出行很不方便。"}, headers=headers("intake"))
    assert r.status_code == 201
    assert r.json()["id"]
    assert client.get(f"/v1/cases/{r.json()['id']}", headers=headers("intake")).status_code == 200


def test_submitting_again_is_idempotent_and_a_different_text_conflicts(client):
    letter = fixture_letters()[0]
    first = client.post("/v1/letters", json=letter, headers=headers("intake")).json()
    again = client.post("/v1/letters", json=letter, headers=headers("intake"))
    assert again.status_code == 200
    assert again.json()["created"] is False and again.json()["suggestion_id"] == first["suggestion_id"]
    # the same letter under the same id is never its own duplicate or similar case
    assert all(m["case_id"] != "fx-1" for m in again.json()["duplicates"]["matches"])
    other = client.post("/v1/letters", json={**letter, "content": "完全不同的一封信"}, headers=headers("intake"))
    assert other.status_code == 409 and other.json()["error"]["field"] == "id"
    assert client.get("/v1/cases", headers=headers("admin")).json()["total"] == 1


def test_a_repeat_is_flagged_with_evidence_and_never_matches_itself(client):
    letters = fixture_letters()
    for letter in letters:
        assert client.post("/v1/letters", json=letter, headers=headers("intake")).status_code == 201
    repeat = {**letters[0], "id": "fx-1-again", "received_at": "2024-06-01"}
    body = client.post("/v1/letters", json=repeat, headers=headers("intake")).json()
    assert body["duplicates"]["verdict"] == "duplicate"
    top = body["duplicates"]["matches"][0]
    assert top["case_id"] == "fx-1" and top["same_petitioner"] is True and top["reasons"]
    assert all(s["case_id"] != "fx-1-again" for s in body["similar"])


def test_dry_run_stores_no_case(client):
    letter = {**fixture_letters()[0], "id": "dry-1"}
    r = client.post("/v1/triage?k=3", json=letter, headers=headers("handler"))
    assert r.status_code == 200, r.text
    assert r.json()["created"] is False and r.json()["domain"]
    assert client.get("/v1/cases/dry-1", headers=headers("admin")).status_code == 404
    audit = client.get("/v1/admin/audit?action=suggestion.served", headers=headers("admin")).json()["events"]
    assert audit[0]["target"] == "dry-1" and audit[0]["detail"]["dry_run"] is True
    assert audit[0]["detail"]["suggestion_id"] == r.json()["suggestion_id"]   # written with the suggestion


def test_compare_same_verdict_rules_as_the_cli(client, api_triage):
    from triage.records import parse_letter

    a, b, _, d, _ = fixture_letters()
    r = client.post("/v1/compare", json={"a": a, "b": b}, headers=headers("reception"))
    assert r.status_code == 200
    assert r.json() == api_triage.compare(parse_letter(a), parse_letter(b))
    far = client.post("/v1/compare", json={"a": a, "b": d}, headers=headers("handler")).json()
    assert far["verdict"] != "duplicate" and far["score"] < r.json()["score"]


def test_batch_presorting_reports_progress_and_results(client):
    letters = fixture_letters() + [{"id": f"b-{i}", "content": f"A{i % 3 + 1}区第{i}小区电梯停运一个月，老人上下楼困难，请督促物业维修。"}
                                   for i in range(20)]
    r = client.post("/v1/batches", json={"letters": letters, "k": 3}, headers=headers("intake"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "presort" and job["total"] == 25 and r.headers["location"] == f"/v1/jobs/{job['id']}"
    done = wait_job(client, job["id"], "intake")
    assert done["status"] == "done" and done["done"] == 25 and done["progress"] == 1.0
    results = client.get(f"/v1/jobs/{job['id']}/results?limit=500", headers=headers("intake")).json()
    assert [i["id"] for i in results["items"]] == [x["id"] for x in letters]
    assert all(i["status"] == "done" and i["suggestion"]["domain"] for i in results["items"])
    assert client.get("/v1/cases?limit=1", headers=headers("admin")).json()["total"] == 25
    # a repeat inside the same batch is seen by the letters after it
    second = client.post("/v1/batches", json={"letters": [{**letters[0], "id": "fx-1-copy"}]},
                         headers=headers("intake")).json()
    wait_job(client, second["id"], "intake")
    item = client.get(f"/v1/jobs/{second['id']}/results", headers=headers("intake")).json()["items"][0]
    assert item["suggestion"]["duplicates"]["verdict"] == "duplicate"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_batch_limits_and_bad_letters_refuse_the_whole_batch(client, make_client, sqlite_url):
    too_many = {"letters": [{"content": "x"}] * 501}
    r = client.post("/v1/batches", json=too_many, headers=headers("intake"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "letters"
    bad = {"letters": [{"content": "好的一封信"}, {"content": "   "}]}
    r = client.post("/v1/batches", json=bad, headers=headers("intake"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "letters[1].content"
    assert client.get("/v1/cases", headers=headers("admin")).json()["total"] == 0
    small = make_client(sqlite_url.replace("store.db", "small.db"), max_batch=2)
    r = small.post("/v1/batches", json={"letters": [{"content": "一"}, {"content": "二"}, {"content": "三"}]},
                   headers=headers("intake"))
    assert r.status_code == 422 and "limit is 2" in r.json()["error"]["message"]


def test_unknown_fields_are_kept(client):
    letter = {"id": "x-1", "content": "小区垃圾清运不及时。", "source_system": "12345", "ticket": {"no": 88, "tags": ["环境"]},
              "callback_note": "回电13812345678"}
    assert client.post("/v1/letters", json=letter, headers=headers("intake")).status_code == 201
    case = client.get("/v1/cases/x-1", headers=headers("handler")).json()["case"]
    assert case["extra"] == {"source_system": "12345", "ticket": {"no": 88, "tags": ["环境"]},
                             "callback_note": "回电138****5678"}



def test_where_the_matter_is_is_kept_and_held_to_its_limit(client):
    letter = {"id": "loc-1", "content": "路灯不亮一周了。", "location": "鼓楼区五四路12号"}
    assert client.post("/v1/letters", json=letter, headers=headers("intake")).status_code == 201
    case = client.get("/v1/cases/loc-1", headers=headers("handler")).json()["case"]
    assert case["extra"] == {"location": "鼓楼区五四路12号"}
    r = client.post("/v1/letters", json={"content": "路灯不亮。", "location": "路" * 501}, headers=headers("intake"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "location"
