"""A real ``triage serve`` (uvicorn) over HTTP: the whole flow, concurrent clients, and SIGKILL mid-import."""

from __future__ import annotations

import json
import random
import threading
import time

import httpx
import pytest
from apitest import fixture_letters

SECRETS = ("13812345678", "110101199003071234", "13900001111")


def generated(prefix: str, n: int) -> list[dict]:
    places = ["A1区锦绣花园", "A2区阳光小区", "A3区和平里", "A4区新村", "A5区东湖苑"]
    issues = ["电梯停运", "夜间施工噪音", "物业乱收费", "路灯损坏", "垃圾清运不及时", "停车位被占"]
    rng = random.Random(prefix)
    return [{"id": f"{prefix}-{i}", "title": f"{places[i % 5]}{issues[i % 6]}",
             "content": f"{places[i % 5]}{rng.randint(1, 30)}号楼{issues[i % 6]}已经{rng.randint(2, 60)}天，"
                        f"居民反映多次未解决，请有关部门处理。（第{i}封）",
             "received_at": f"2024-{i % 12 + 1:02d}-{i % 27 + 1:02d}",
             "petitioner": {"phone": f"139{i:08d}"}} for i in range(n)]


def flow(server) -> dict:
    """submit → reception check → decision → stats, over HTTP; returns what was seen."""
    intake, reception, handler, admin = (server.client(r) for r in ("intake", "reception", "handler", "admin"))
    seen = {}
    for letter in fixture_letters():
        r = intake.post("/v1/letters", json=letter)
        assert r.status_code == 201, r.text
    repeat = {**fixture_letters()[0], "id": "visit-1", "channel": "visit", "received_at": "2024-06-03",
              "content": "锦绣花园小区物业从三月起每月收地面停车费300元，没有业主大会决议，我已经反映过，至今没有处理。"}
    r = intake.post("/v1/letters", json=repeat)
    assert r.status_code == 201
    seen["submit"] = r.json()
    assert seen["submit"]["duplicates"]["verdict"] in ("duplicate", "related")
    assert "fx-1" in [m["case_id"] for m in seen["submit"]["duplicates"]["matches"]]
    r = reception.post("/v1/reception/check", json={"phone": "13812345678", "matter": repeat["content"]})
    assert r.status_code == 200, r.text
    seen["reception"] = r.json()
    assert {"fx-1", "fx-2", "visit-1"} <= {c["case_id"] for c in seen["reception"]["person"]["cases"]}
    assert seen["reception"]["alert"]["level"] == "duplicate_visit"
    dup = seen["submit"]["duplicates"]
    top = dup["matches"][0]["case_id"] if dup["verdict"] == "duplicate" else None
    merge = {"accepted": True, "merge": True} if top == "fx-1" else \
        {"accepted": False, "duplicate_of": "fx-1", "merge": True}
    r = handler.post("/v1/cases/visit-1/decisions", json={"domain": {"accepted": True}, "duplicate": merge})
    assert r.status_code == 201, r.text
    seen["decision"] = r.json()
    r = admin.get("/v1/stats")
    assert r.status_code == 200
    seen["stats"] = r.json()
    assert seen["stats"]["cases"] == 6 and seen["stats"]["decisions"]["domain"]["acceptance_rate"] == 1.0
    case = handler.get("/v1/cases/visit-1").json()["case"]
    assert case["status"] == "merged" and case["merged_into"] == "fx-1" and case["petitioner"] is None
    return seen


def test_real_server_flow(make_server, store_url):
    server = make_server(store_url).start()
    flow(server)
    server.stop()
    log = server.log_text()
    assert "Application startup complete" in log and '"POST /v1/reception/check HTTP/1.1" 200' in log
    for secret in SECRETS:
        assert secret not in log


@pytest.mark.integration
def test_real_server_flow_with_the_real_models(make_server, tmp_path, real_models):
    server = make_server(f"sqlite:///{tmp_path}/real.db", models=real_models).start(timeout=600)
    seen = flow(server)
    assert seen["submit"]["model_version"] == json.loads((real_models / "manifest.json").read_text())["version"]
    assert seen["submit"]["domain"][0]["label"] == "城乡建设"


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_concurrent_clients_store_every_letter_once(make_server, store_url):
    """8 clients send 4 letters each, every letter by two clients at once: 16 letters, each stored once."""
    server = make_server(store_url).start()
    letters = generated("cc", 16)
    results: dict[str, list[int]] = {}
    lock = threading.Lock()

    def client_loop(n: int) -> None:
        mine = letters[(n // 2) * 4:(n // 2 + 1) * 4]  # clients 2k and 2k+1 share the same letters
        random.Random(n).shuffle(mine)
        with server.client("intake") as c:
            for letter in mine:
                r = c.post("/v1/letters", json=letter)
                with lock:
                    results.setdefault(letter["id"], []).append(r.status_code)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16
    for letter_id, codes in results.items():
        assert sorted(codes) == [200, 201], (letter_id, codes)  # created once, acknowledged twice
    with server.client("admin") as admin:
        assert admin.get("/v1/cases?limit=1").json()["total"] == 16
        assert admin.get("/v1/stats").json()["suggestions"] == 16
        health = admin.get("/v1/health").json()
        assert health["cases"] == 16 and health["index"]["vectors"] == 16


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_sigkill_during_a_batch_loses_no_acknowledged_letter(make_server, store_url):
    server = make_server(store_url, TRIAGE_JOB_CHUNK=1).start()
    batch = generated("kb", 80)
    singles = generated("ks", 3)
    with server.client("intake") as c:
        for letter in singles:
            assert c.post("/v1/letters", json=letter).status_code == 201  # acknowledged one by one
        r = c.post("/v1/batches", json={"letters": batch, "k": 3})
        assert r.status_code == 202  # acknowledged: the whole batch is on disk
        job_id = r.json()["id"]
        deadline = time.time() + 120
        while time.time() < deadline:
            progress = c.get(f"/v1/jobs/{job_id}").json()
            if progress["done"] >= 5:
                break
            time.sleep(0.01)
    assert 5 <= progress["done"] < 80, f"the batch was not caught mid-way: {progress}"
    server.kill()  # SIGKILL mid-batch: no shutdown, the index is never saved

    server.start()
    with server.client("intake") as c:
        deadline = time.time() + 180
        while time.time() < deadline:
            job = c.get(f"/v1/jobs/{job_id}").json()
            if job["status"] == "done":
                break
            time.sleep(0.2)
        assert job["status"] == "done" and job["done"] == 80 and job["failed"] == 0, job
        items = c.get(f"/v1/jobs/{job_id}/results?limit=500").json()["items"]
        assert [i["id"] for i in items] == [b["id"] for b in batch]
    with server.client("admin") as admin:
        for letter in singles + batch[::7]:
            assert admin.get(f"/v1/cases/{letter['id']}").status_code == 200
        health = admin.get("/v1/health").json()
        assert health["cases"] == 83, health  # every letter once
        assert health["index"]["vectors"] == 83  # the indexes caught up with the store
        # and search finds what was stored just before the kill
        probe = {**batch[progress["done"] - 1], "id": "probe-1"}
        out = admin.post("/v1/triage", json=probe).json()
        assert out["duplicates"]["verdict"] == "duplicate"
        assert out["duplicates"]["matches"][0]["case_id"] == batch[progress["done"] - 1]["id"]


def test_sigkill_during_concurrent_submissions(make_server, sqlite_url):
    server = make_server(sqlite_url).start()
    letters = generated("kc", 200)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop(n: int) -> None:
        with server.client("intake", timeout=10) as c:
            for letter in letters[n::4]:
                if stop.is_set():
                    return
                try:
                    r = c.post("/v1/letters", json=letter)
                except httpx.HTTPError:
                    return
                if r.status_code in (200, 201):
                    with lock:
                        acked.append(letter["id"])

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 120
    while len(acked) < 16 and time.time() < deadline:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert 16 <= len(acked) < 200

    server.start()
    with server.client("admin") as admin:
        for letter_id in acked:
            assert admin.get(f"/v1/cases/{letter_id}").status_code == 200, letter_id
        health = admin.get("/v1/health").json()
        total = admin.get("/v1/cases?limit=1").json()["total"]
        assert len(acked) <= total <= len(acked) + 4  # at most the in-flight ones on top
        assert health["cases"] == total and health["index"]["vectors"] == total
