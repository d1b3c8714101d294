"""Cases, similar cases, duplicates and decisions (a separate record, never overwriting the suggestion)."""

from __future__ import annotations

import pytest
from apitest import fixture_letters, headers


@pytest.fixture
def loaded(client):
    for letter in fixture_letters():
        assert client.post("/v1/letters", json=letter, headers=headers("intake")).status_code == 201
    return client


def test_case_view_by_role(loaded):
    for role in ("intake", "handler"):
        case = loaded.get("/v1/cases/fx-1", headers=headers(role)).json()["case"]
        assert case["petitioner"] is None  # intake and handlers never see identity fields
    for role in ("reception", "admin"):
        pet = loaded.get("/v1/cases/fx-1", headers=headers(role)).json()["case"]["petitioner"]
        assert pet["phone"] == "138****5678" and pet["name"] == "张*"
    page = loaded.get("/v1/cases?limit=2&offset=1", headers=headers("handler")).json()
    assert page["total"] == 5 and [c["id"] for c in page["cases"]] == ["fx-4", "fx-3"]
    assert loaded.get("/v1/cases?domain=教育文体", headers=headers("handler")).json()["total"] == 1


def test_similar_cases_never_include_the_case_or_identities(loaded):
    r = loaded.get("/v1/cases/fx-2/similar?k=3", headers=headers("handler"))
    assert r.status_code == 200
    similar = r.json()["similar"]
    assert similar and all(s["case_id"] != "fx-2" for s in similar)
    assert similar[0]["case_id"] == "fx-1" and similar[0]["reply_excerpt"]
    text = r.text
    for secret in ("13812345678", "138-1234-5678", "张三", "110101199003071234", "u001"):
        assert secret not in text
    filtered = loaded.get("/v1/cases/fx-2/similar?domain=教育文体", headers=headers("handler")).json()["similar"]
    assert all(s["domain"] == "教育文体" for s in filtered)


def test_duplicates_of_a_case_include_later_repeats(loaded):
    dup = loaded.get("/v1/cases/fx-1/duplicates", headers=headers("handler")).json()["duplicates"]
    assert "fx-1" not in [m["case_id"] for m in dup["matches"]]
    repeat = {**fixture_letters()[0], "id": "fx-1-later", "received_at": "2024-07-01"}
    loaded.post("/v1/letters", json=repeat, headers=headers("intake"))
    dup = loaded.get("/v1/cases/fx-1/duplicates", headers=headers("handler")).json()["duplicates"]
    assert dup["verdict"] == "duplicate" and dup["matches"][0]["case_id"] == "fx-1-later"


def test_decisions_are_records_beside_the_suggestion(loaded):
    before = loaded.get("/v1/cases/fx-3", headers=headers("handler")).json()
    suggestion = before["suggestion"]
    other_domain = next(label for label in loaded.get("/v1/model", headers=headers("handler")).json()["labels"]["domain"]
                        if label != suggestion["domain"][0]["label"])
    r = loaded.post("/v1/cases/fx-3/decisions", headers=headers("handler"), json={
        "domain": {"accepted": False, "value": other_domain}, "type": {"accepted": True},
        "department": {"accepted": False, "value": "A1区城管局"}, "duplicate": {"accepted": True}})
    assert r.status_code == 201, r.text
    decisions = r.json()["decisions"]
    assert [d["part"] for d in decisions] == ["domain", "type", "department", "duplicate"]
    d = decisions[0]
    assert d["accepted"] is False and d["value"] == other_domain and d["suggested"] == suggestion["domain"][0]["label"]
    assert d["handler"] == "handler-tester" and d["model_version"] == suggestion["model_version"] and d["created_at"]
    assert decisions[1]["value"] == suggestion["type"][0]["label"]
    after = loaded.get("/v1/cases/fx-3", headers=headers("handler")).json()
    assert after["suggestion"] == suggestion  # never overwritten
    assert after["case"]["domain"] == other_domain and after["case"]["department"] == "A1区城管局"
    assert len(after["decisions"]) == 4
    # a later decision is another record; the earlier one stays
    loaded.post("/v1/cases/fx-3/decisions", headers=headers("intake"), json={"domain": {"accepted": True}})
    assert len(loaded.get("/v1/cases/fx-3/decisions", headers=headers("reception")).json()["decisions"]) == 5


def test_duplicate_decisions_and_merge(loaded):
    repeat = {**fixture_letters()[0], "id": "fx-1-again"}
    suggestion = loaded.post("/v1/letters", json=repeat, headers=headers("intake")).json()
    assert suggestion["duplicates"]["matches"][0]["case_id"] == "fx-1"
    r = loaded.post("/v1/cases/fx-1-again/decisions", headers=headers("handler"),
                    json={"suggestion_id": suggestion["suggestion_id"], "duplicate": {"accepted": True, "merge": True}})
    assert r.status_code == 201, r.text
    assert r.json()["decisions"][0]["value"] == "fx-1"
    case = loaded.get("/v1/cases/fx-1-again", headers=headers("handler")).json()["case"]
    assert case["status"] == "merged" and case["merged_into"] == "fx-1"
    # correcting: not a duplicate at all
    r = loaded.post("/v1/cases/fx-2/decisions", headers=headers("handler"),
                    json={"duplicate": {"accepted": False, "duplicate_of": None}})
    assert r.status_code == 201 and r.json()["decisions"][0]["value"] is None


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("body,status,field", [
    ({}, 422, "body"),
    ({"domain": {"accepted": False}}, 422, "domain.value"),
    ({"domain": {"accepted": False, "value": "不存在的领域"}}, 422, "domain.value"),
    ({"type": {"accepted": "yes"}}, 422, "type.accepted"),
    ({"domain": {"accepted": True, "value": "另一个"}}, 422, "domain.value"),
    ({"duplicate": {"accepted": False, "duplicate_of": "fx-5"}}, 422, "duplicate.duplicate_of"),
    ({"duplicate": {"accepted": False, "duplicate_of": "nope"}}, 404, "duplicate.duplicate_of"),
    ({"duplicate": {"accepted": False, "duplicate_of": None, "merge": True}}, 422, "duplicate.merge"),
    ({"suggestion_id": 999999, "domain": {"accepted": True}}, 404, "suggestion_id"),
    ({"colour": "red"}, 422, "colour"),
])
def test_bad_decisions_name_the_field(loaded, body, status, field):
    r = loaded.post("/v1/cases/fx-5/decisions", json=body, headers=headers("handler"))
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_status_updates_are_audited(loaded):
    r = loaded.put("/v1/cases/fx-1/status", json={"status": "concluded"}, headers=headers("handler"))
    assert r.status_code == 200 and r.json()["status"] == "concluded"
    event = loaded.get("/v1/admin/audit?action=case.status", headers=headers("admin")).json()["events"][0]
    assert event["target"] == "fx-1" and event["detail"] == {"from": "open", "to": "concluded"}


def test_a_similar_case_without_a_title_is_told_by_its_opening_words(loaded):
    ticket = {"id": "t-untitled", "content": "锦绣花园小区物业未经业主大会同意收取地面停车费，来电人电话13912345678，"
                                                   "请有关部门尽快查处并督促物业退还已经收取的费用。"}
    assert loaded.post("/v1/letters", json=ticket, headers=headers("intake")).status_code == 201
    similar = loaded.get("/v1/cases/fx-1/similar?k=10", headers=headers("handler")).json()["similar"]
    [found] = [s for s in similar if s["case_id"] == "t-untitled"]
    assert found["title"] == "" and found["opening"].startswith("锦绣花园小区物业未经业主大会同意")
    assert "13912345678" not in found["opening"] and found["opening"].endswith("…")
