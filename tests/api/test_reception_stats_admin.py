"""Reception identity check and duplicate-visit alert; stats; admin import, audit and background retraining."""

from __future__ import annotations

import time

import pytest
from apitest import fixture_letters, headers, wait_job


@pytest.fixture
def loaded(client):
    for letter in fixture_letters():
        assert client.post("/v1/letters", json=letter, headers=headers("intake")).status_code == 201
    return client


def check(client, **body):
    r = client.post("/v1/reception/check", json=body, headers=headers("reception"))
    assert r.status_code == 200, r.text
    return r.json()


def test_person_found_by_phone_id_number_or_account(loaded):
    by_phone = check(loaded, phone="138 1234 5678")  # another spelling of the same phone
    assert {c["case_id"] for c in by_phone["person"]["cases"]} == {"fx-1", "fx-2"}
    case = by_phone["person"]["cases"][0]
    assert case["case_id"] == "fx-2" and case["matched_on"] == ["phone"] and case["open"] is True
    assert case["received_at"].startswith("2024-04-10") and case["status"] == "open"
    assert case["petitioner"]["phone"] == "138****5678"
    assert by_phone["alert"]["level"] == "person_has_open_cases"
    by_id = check(loaded, id_number="110101199003071234")
    assert [c["case_id"] for c in by_id["person"]["cases"]] == ["fx-5"]
    assert by_id["person"]["cases"][0]["department"] == "A3区人社局"
    nobody = check(loaded, phone="13900009999")
    assert nobody["person"]["cases"] == [] and nobody["alert"]["level"] == "none"


def test_a_name_alone_is_weak_evidence(loaded):
    by_name = check(loaded, name="张三")
    assert by_name["person"]["matched_on_name_only"] is True and by_name["person"]["total"] == 2
    # with a stronger identity that does not match, a shared name is not this person
    other = check(loaded, name="张三", phone="13700000000")
    assert other["person"]["cases"] == [] and other["person"]["matched_on_name_only"] is False


def test_duplicate_visit_alert_for_an_open_matter(loaded):
    out = check(loaded, phone="13812345678",
                matter="锦绣花园小区物业公司未经业主大会同意，从三月起对地面停车位每月收取300元停车费，请查处。")
    assert out["matter"]["verdict"] == "duplicate"
    assert out["matter"]["cases"][0]["case_id"] in ("fx-1", "fx-2") and out["matter"]["cases"][0]["same_petitioner"]
    assert out["alert"]["level"] == "duplicate_visit" and out["alert"]["label"] == "重复访"
    assert "fx-" in out["alert"]["message"]
    # once concluded, the same matter is a repeat after conclusion, not an open duplicate
    for case_id in ("fx-1", "fx-2"):
        loaded.put(f"/v1/cases/{case_id}/status", json={"status": "concluded"}, headers=headers("handler"))
    out = check(loaded, matter="锦绣花园小区物业公司未经业主大会同意，从三月起对地面停车位每月收取300元停车费，请查处。")
    assert out["alert"]["level"] == "repeat_after_conclusion"
    # an unrelated matter raises no alert
    out = check(loaded, matter="请问公积金贷款额度怎么计算？")
    assert out["alert"]["level"] == "none"


def test_reception_checks_are_audited_without_the_identity(loaded):
    check(loaded, id_number="110101199003071234", phone="13812345678")
    events = loaded.get("/v1/admin/audit?action=reception.check", headers=headers("admin")).json()["events"]
    assert events[0]["actor"] == "reception-tester"
    assert events[0]["detail"]["identity_kinds"] == ["id_number", "phone"]
    assert "110101199003071234" not in str(events) and "13812345678" not in str(events)


@pytest.mark.parametrize("body,field", [({}, "body"), ({"matter": "  "}, "body"), ({"phone": 138}, "phone"),
                                        ({"phone": "1", "limit": 0}, "limit"), ({"ssn": "1"}, "ssn")])
def test_bad_reception_checks(sqlite_client, body, field):
    r = sqlite_client.post("/v1/reception/check", json=body, headers=headers("reception"))
    assert r.status_code == 422 and r.json()["error"]["field"] == field


def test_stats_volumes_and_acceptance_rates(loaded):
    for case_id, accepted in (("fx-1", True), ("fx-2", True), ("fx-3", False)):
        body = {"type": {"accepted": True}, "domain": {"accepted": True} if accepted else
                {"accepted": False, "value": loaded.get("/v1/model", headers=headers("admin")).json()["labels"]["domain"][0]}}
        if not accepted:
            top = loaded.get(f"/v1/cases/{case_id}", headers=headers("handler")).json()["suggestion"]["domain"][0]["label"]
            labels = loaded.get("/v1/model", headers=headers("admin")).json()["labels"]["domain"]
            body["domain"]["value"] = next(label for label in labels if label != top)
        assert loaded.post(f"/v1/cases/{case_id}/decisions", json=body, headers=headers("handler")).status_code == 201
    stats = loaded.get("/v1/stats", headers=headers("handler")).json()
    assert stats["cases"] == 5 and stats["open"] == 5 and stats["suggestions"] == 5
    assert stats["by_month"] == {"2024-03": 1, "2024-04": 2, "2024-05": 2}
    assert stats["decisions"]["domain"] == {"decisions": 3, "accepted": 2, "acceptance_rate": round(2 / 3, 4)}
    assert stats["decisions"]["type"]["acceptance_rate"] == 1.0
    window = loaded.get("/v1/stats?since=2024-04-01&until=2024-04-30", headers=headers("admin")).json()
    assert window["cases"] == 2 and window["since"] == "2024-04-01T00:00:00"


def test_every_suggestion_and_decision_is_audited(loaded):
    loaded.post("/v1/cases/fx-1/decisions", json={"type": {"accepted": True}}, headers=headers("handler"))
    events = loaded.get("/v1/admin/audit?limit=1000", headers=headers("admin")).json()["events"]
    served = [e for e in events if e["action"] == "suggestion.served"]
    assert sorted(e["target"] for e in served) == ["fx-1", "fx-2", "fx-3", "fx-4", "fx-5"]
    assert all(e["model_version"] and e["detail"]["suggestion_id"] and e["actor"] == "intake-tester" for e in served)
    decided = [e for e in events if e["action"] == "decision.recorded"]
    assert len(decided) == 1 and decided[0]["target"] == "fx-1" and decided[0]["detail"]["decision_ids"]
    # paging
    first = loaded.get("/v1/admin/audit?limit=2", headers=headers("admin")).json()
    second = loaded.get(f"/v1/admin/audit?limit=2&before_id={first['next_before_id']}", headers=headers("admin")).json()
    assert second["events"][0]["id"] < first["events"][-1]["id"]


def test_admin_imports_history_that_later_letters_match(client):
    history = [{**letter, "id": f"h-{letter['id']}", "status": "已办结"} for letter in fixture_letters()]
    r = client.post("/v1/admin/imports", json={"letters": history}, headers=headers("admin"))
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "done" and job["done"] == 5
    # imported history has no suggestion; the cases are searchable at once
    assert client.get("/v1/cases/h-fx-1", headers=headers("admin")).json()["suggestion"] is None
    out = client.post("/v1/letters", json={**fixture_letters()[0], "id": "new-1"}, headers=headers("intake")).json()
    assert out["duplicates"]["matches"][0]["case_id"] == "h-fx-1"
    assert client.get("/v1/health").json()["index"]["vectors"] == 6
    # submitting a history letter's id returns a fresh suggestion for it, never matching itself
    again = client.post("/v1/letters", json=history[2], headers=headers("intake"))
    assert again.status_code == 200 and again.json()["created"] is False
    assert "h-fx-3" not in [m["case_id"] for m in again.json()["duplicates"]["matches"]]


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_admin_uploads_an_offices_excel_export(client, tmp_path, suffix):
    """An Excel export (.xlsx, or Excel 97-2003 .xls) under a 12345 system's own headers: its letters queued as
    one import job, the row that cannot be imported listed with its number and reason; the caller's phone is for
    matching, never shown."""
    rows = [["工单编号", "诉求内容", "联系电话", "承办单位"]]
    rows += [[f"x-{letter['id']}", letter["content"], 13812345678, "A1区"] for letter in fixture_letters()]
    rows.append(["x-empty", None, None, None])
    path = tmp_path / f"export{suffix}"
    if suffix == ".xls":
        from workbooks import write_xls

        write_xls(path, [rows])
    else:
        from openpyxl import Workbook

        book = Workbook()
        for row in rows:
            book.active.append(row)
        book.save(path)
    with open(path, "rb") as fh:
        r = client.post("/v1/admin/imports/file", files={"file": (path.name, fh)}, headers=headers("admin"))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["letters"] == 5 and body["skipped"] == 1
    assert body["columns"] == [{"column": "工单编号", "field": "id"}, {"column": "诉求内容", "field": "content"},
                               {"column": "联系电话", "field": "petitioner.phone"},
                               {"column": "承办单位", "field": "department"}]
    assert body["errors"][0]["line"] == 7 and "content" in body["errors"][0]["error"]
    assert r.headers["location"] == f"/v1/jobs/{body['job']['id']}"
    assert wait_job(client, body["job"]["id"])["status"] == "done"
    case = client.get("/v1/cases/x-fx-1", headers=headers("admin")).json()["case"]
    assert case["department"] == "A1区" and case["petitioner"]["phone"] == "138****5678"
    assert "13812345678" not in str(case)
    assert check(client, phone="13812345678")["person"]["cases"]          # matched on the hashed phone


def test_an_uploaded_export_with_control_characters_imports_without_them(client):
    """Old systems' exports carry NULs inside fields; PostgreSQL refuses them in text, which used to fail the whole
    import job. The letters are stored without their control characters (line breaks and tabs kept)."""
    export = "工单编号,诉求内容,所属区县\nnul-1,\"银杏路路灯\x00不亮\n已一周\x07\",鼓楼\x00区\n".encode("utf-8")
    r = client.post("/v1/admin/imports/file", files={"file": ("export.csv", export)}, headers=headers("admin"))
    assert r.status_code == 202, r.text
    assert wait_job(client, r.json()["job"]["id"])["status"] == "done"
    case = client.get("/v1/cases/nul-1", headers=headers("handler")).json()["case"]
    assert (case["content"], case["region"]) == ("银杏路路灯不亮\n已一周", "鼓楼区")


@pytest.mark.parametrize("name, content, status, message", [
    ("export.txt", b"id,content\n1,x\n", 422, "must end in"),
    ("export.csv", "工单编号,诉求内容\nGD-1,\n".encode("gb18030"), 422, "no letter in the file"),
    ("export.csv", b"id,content\n1,\x80\xff\xfe\n", 400, "not UTF-8"),
    ("export.xlsx", b"not a workbook", 400, "not a readable .xlsx"),
    ("export.xls", b"\xd0\xcf\x11\xe0 not a workbook", 400, "not a readable .xls "),
])
def test_an_upload_that_cannot_be_imported_says_why(client, name, content, status, message):
    r = client.post("/v1/admin/imports/file", files={"file": (name, content)}, headers=headers("admin"))
    assert r.status_code == status and message in r.json()["error"]["message"], r.text
    assert client.post("/v1/admin/imports/file", files={"file": (name, content)},
                       headers=headers("intake")).status_code == 403


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_an_import_with_types_fits_the_store_type_history(client, shared_datasets):
    """An import job of letters that carry a type fits the store's type history; /v1/model says whether it answers."""
    import csv
    import json

    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["性质"] in ("咨询", "建议", "投诉", "举报") and r["投诉件内容"].strip()]
    letters = [{"id": f"ty-{i}", "title": r["标题"], "content": r["投诉件内容"], "type": r["性质"]}
               for i, r in enumerate(rows[:240])]
    r = client.post("/v1/admin/imports", json={"letters": letters}, headers=headers("admin"))
    assert r.status_code == 202, r.text
    assert wait_job(client, r.json()["id"], timeout=600)["status"] == "done"
    folder = client.app.state.service.store.index_dir / "type-history"
    metrics = json.loads((folder / "manifest.json").read_text())["metrics"]
    assert metrics["letters"] >= 200 and set(metrics["per_type"]) <= {"咨询", "建议", "投诉", "举报"}
    shown = client.get("/v1/model", headers=headers("admin")).json()["type_history"]
    assert shown == (metrics if metrics["active"] else None)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_retraining_runs_in_a_child_process_and_can_be_cancelled(client, tmp_path):
    import os

    service = client.app.state.service
    service.settings.retrain_dir = tmp_path / "candidates"
    t = time.time()
    r = client.post("/v1/admin/retrain", headers=headers("admin"))
    assert r.status_code == 202 and time.time() - t < 2, r.text  # answered at once
    job = r.json()
    assert job["kind"] == "retrain" and job["status"] in ("queued", "running")
    deadline = time.time() + 30
    while service.jobs._retrain_proc is None and time.time() < deadline:
        time.sleep(0.05)
    child = service.jobs._retrain_proc
    assert child is not None and child.pid != os.getpid() and child.poll() is None  # another process trains
    assert client.post("/v1/admin/retrain", json={}, headers=headers("admin")).status_code == 409  # one at a time
    # the service keeps serving while it trains
    assert client.get("/v1/health").status_code == 200
    assert client.post("/v1/letters", json=fixture_letters()[0], headers=headers("intake")).status_code == 201
    assert client.delete(f"/v1/jobs/{job['id']}", headers=headers("handler")).status_code == 403
    r = client.delete(f"/v1/jobs/{job['id']}", headers=headers("admin"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert child.poll() is not None
    assert client.delete(f"/v1/jobs/{job['id']}", headers=headers("admin")).status_code == 409


@pytest.mark.slow
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_retraining_completes_and_learns_from_decisions(client, tmp_path):
    """A whole (small) training run in the background: new models in their own folder, decisions included."""
    client.app.state.settings.retrain_dir = tmp_path / "candidates"
    for letter in fixture_letters():
        client.post("/v1/letters", json=letter, headers=headers("intake"))
    client.post("/v1/cases/fx-3/decisions", json={"type": {"accepted": False, "value": "投诉"}}, headers=headers("handler"))
    r = client.post("/v1/admin/retrain", json={"small": True}, headers=headers("admin"))
    assert r.status_code == 202, r.text
    assert client.post("/v1/triage", json={"content": "噪音扰民"}, headers=headers("intake")).status_code == 200
    done = wait_job(client, r.json()["id"], timeout=900)
    assert done["status"] == "done", done
    assert done["result"]["version"] and done["result"]["metrics"]["domain"]
    assert done["result"]["decisions_used"] == 1
    assert (tmp_path / "candidates" / done["id"] / "manifest.json").exists()
