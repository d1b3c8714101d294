"""The request path's reads (driver-level SQL in triage/store.py) give what the SQLAlchemy reads give, on SQLite and
on PostgreSQL: records, vectors, matters, identities; deleted cases left out where they must be."""

from __future__ import annotations

import numpy as np

from triage.store import Store


def _cases() -> list[dict]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(1, 8):
        case = {"id": f"r{i}", "title": "" if i == 2 else f"标题{i}", "content": f"第{i}封信，反映小区停车问题。",
                "norm_hash": "same" if i in (3, 4) else f"h{i}", "vector": rng.standard_normal(8).astype(np.float32),
                "matter": {"objects": {"estate": [f"小区{i}"]}, "demands": ["停车"], "places": []},
                "matter_version": "v1"}
        if i % 2:
            case.update(received_at=f"2020-0{i}-0{i}T08:30:1{i}", channel="网站", region="A2区", domain="城乡建设",
                        type="投诉", department="A2区住建局", reply=f"答复{i}", status="closed",
                        petitioner={"name": "张三", "phone": f"1380000000{i % 3}", "account": f"acc{i % 2}"},
                        extra={"河流": "洋里溪", "n": i})
        out.append(case)
    return out


def test_driver_reads_match_the_orm_reads(store_url):
    store = Store(store_url).open()
    try:
        results = store.add_cases(_cases(), "m")
        pks = {ext_id: pk for pk, ext_id, _ in results}
        store.delete_case("r5")
        live = [pks[f"r{i}"] for i in (1, 2, 3, 4, 6, 7)]
        everyone = live + [pks["r5"], 10_000]
        orm = store.get_cases(everyone)
        read = store.get_candidates(everyone, "m", "v1")
        assert set(read) == set(orm) == set(live)   # the deleted case and an unknown pk are not read
        for i, case in enumerate(_cases(), start=1):
            if i == 5:
                continue
            pk = pks[case["id"]]
            record, vector, matter = read[pk]
            assert record == orm[pk]
            assert record["received_at"] == (case["received_at"] if "received_at" in case else None)
            assert record["extra"] == case.get("extra") and matter == case["matter"]
            np.testing.assert_allclose(vector, case["vector"], atol=1e-2)
            if "petitioner" in case:
                assert record["petitioner_masked"]["phone"].startswith("138****")
                assert {k.split(":")[0] for k in record["identities"]} == {"name", "phone", "account"}
            else:
                assert record["identities"] == set() and record["petitioner_masked"] is None
        other = store.get_candidates(live, "another-model", "v0")   # no vector or matter of that model / version
        assert all(v is None and m is None and r == orm[pk] for pk, (r, v, m) in other.items())
        assert store.get_candidates([], "m", "v1") == {}
        # matters of another version: listed (live cases only), and replaced in place
        assert store.stale_matter_pks("v1") == [] and store.stale_matter_pks("v2") == live
        fresh = {"objects": {"estate": ["小区1"]}, "demands": ["停车"], "places": ["A2区"]}
        store.put_matters("v2", {live[0]: fresh})
        assert store.stale_matter_pks("v2") == live[1:] and store.stale_matter_pks("v1") == [live[0]]
        assert store.get_candidates([live[0]], "m", "v2")[live[0]][2] == fresh
        assert store.get_candidates([live[0]], "m", "v1")[live[0]][2] is None

        assert store.pk_for("r1") == pks["r1"] and store.pk_for("r5") is None and store.pk_for("nobody") is None
        assert sorted(store.pks_by_hash("same")) == sorted([pks["r3"], pks["r4"]]) and store.pks_by_hash("h5") == []
        newest = max(pks["r3"], pks["r4"])
        assert store.pks_by_hash("same", limit=1) == [newest] and store.pks_by_hash("same", limit=5) == sorted(
            [pks["r3"], pks["r4"]], reverse=True)
        assert store.count_after(0) == 7 and store.count_after(pks["r6"]) == 1   # deleted cases are counted
        phone = next(k for k in read[pks["r1"]][0]["identities"] if k.startswith("phone:")).split(":", 1)[1]
        assert store.pks_by_identity([("phone", phone)]) == sorted(
            [pks[f"r{i}"] for i in (1, 7)], reverse=True)   # r1 and r7 share a phone (r4 has none)
        assert store.pks_by_identity([("phone", phone)], limit=1) == [pks["r7"]]
    finally:
        store.engine.dispose()


def test_warm_pages_reads_a_sqlite_file_whole_only_when_it_fits(tmp_path):
    """The store's file (and its write-ahead log) is read from start to end; nothing is read when the files would
    take more than the given share of the available memory, when asked to stop, or when there is no file."""
    import threading
    from pathlib import Path

    from triage.store import _available_memory

    store = Store(f"sqlite:///{tmp_path}/s.db").open()
    store.add_cases(_cases(), "m")
    files = [Path(f"{tmp_path}/s.db")] + [p for p in (Path(f"{tmp_path}/s.db-wal"),) if p.exists()]
    size = sum(p.stat().st_size for p in files)
    out = store.warm_pages(chunk=4096)
    assert out["state"] == "done" and out["bytes"] == size > 4096 and out["seconds"] >= 0
    available = _available_memory()
    assert available and available > size
    small = store.warm_pages(max_share=size / available / 2)
    assert small["state"] == "skipped" and small["bytes"] == size and "available memory" in small["reason"]
    stop = threading.Event()
    stop.set()
    stopped = store.warm_pages(stop=stop, chunk=4096)
    assert stopped["state"] == "stopped" and stopped["bytes"] == 0
    assert Store("sqlite://").open().warm_pages()["state"] == "skipped"
    store.engine.dispose()


def test_warm_pages_leaves_sqlites_locks_alone(tmp_path):
    """The file is read by a child process. Read here, closing the descriptor would drop every POSIX lock SQLite
    holds on the file in this process (a WAL store's connections keep a shared lock on it, so that no other process
    checks the log back and deletes it under them): once that happened, CI read a job row's JSON half-written."""
    import subprocess
    import sys

    store = Store(f"sqlite:///{tmp_path}/s.db").open()
    store.add_cases(_cases()[:2], "m")
    assert store.pk_for("r1")                      # a pooled connection is open, holding its shared lock
    probe = ("import fcntl, sys\nfh = open(sys.argv[1], 'r+b')\ntry:\n"
             "    fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002, 0)\n    print('free')\n"
             "except OSError:\n    print('held')")

    def shared_lock() -> str:   # can another process take SQLite's shared-lock bytes for writing?
        return subprocess.run([sys.executable, "-c", probe, f"{tmp_path}/s.db"], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert shared_lock() == "held"
    assert store.warm_pages()["state"] == "done"
    assert shared_lock() == "held"
    with open(f"{tmp_path}/s.db", "rb") as fh:   # what reading it in this process would have done
        fh.read(16)
    assert shared_lock() == "free"
    store.engine.dispose()


def test_health_says_whether_the_leader_warmed_the_store(make_client, store_url, tmp_path):
    """The leader reads a SQLite store into the page cache at start, and /v1/health says so; a second worker
    leaves it to the leader; TRIAGE_WARM_STORE=false turns it off."""
    import time

    client = make_client(store_url)
    deadline = time.time() + 30
    while (pages := client.get("/v1/health").json()["store_pages"])["state"] == "warming" and time.time() < deadline:
        time.sleep(0.05)
    if store_url.startswith("sqlite"):
        path = store_url.split("sqlite:///", 1)[1]
        assert pages["state"] == "done" and pages["bytes"] >= __import__("os").path.getsize(path)
    else:
        assert pages == {"state": "skipped", "reason": "not a SQLite file", "bytes": None, "seconds": None}
    follower = make_client(store_url).get("/v1/health").json()
    assert not follower["worker"]["leader"] and follower["store_pages"]["state"] == "skipped"
    off = make_client(f"sqlite:///{tmp_path}/other.db", warm_store=False).get("/v1/health").json()["store_pages"]
    assert off["state"] == "skipped" and "TRIAGE_WARM_STORE" in off["reason"]


def test_the_leader_warms_again_every_warm_store_seconds(make_client, sqlite_url, monkeypatch):
    """TRIAGE_WARM_STORE_SECONDS > 0: the leader reads the file again at that interval (a host that pages out idle
    cache)."""
    import time

    calls = []
    warm = Store.warm_pages
    monkeypatch.setattr(Store, "warm_pages", lambda self, **kw: calls.append(time.monotonic()) or warm(self, **kw))
    make_client(sqlite_url, warm_store_seconds=0.2)
    deadline = time.time() + 20
    while len(calls) < 3 and time.time() < deadline:
        time.sleep(0.05)
    assert len(calls) >= 3 and all(b - a >= 0.19 for a, b in zip(calls, calls[1:]))


def test_sqlite_store_reads_through_a_memory_map_that_can_be_turned_off(tmp_path, monkeypatch):
    """Each connection maps the file (PRAGMA mmap_size, capped by SQLite's build); TRIAGE_SQLITE_MMAP=0 turns it off,
    and a value that is not a number of bytes is refused with the variable's name; reads are the same either way."""
    import pytest

    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(url).open()
    pks = [pk for pk, _, _ in store.add_cases(_cases()[:3], "emb")]
    store.engine.dispose()

    def mapped_and_read(url: str) -> tuple[int, dict]:
        store = Store(url).open()
        try:
            with store._driver() as cur:
                cur.execute("PRAGMA mmap_size")
                size = cur.fetchone()[0]
            return size, store.get_cases(pks)
        finally:
            store.engine.dispose()

    monkeypatch.delenv("TRIAGE_SQLITE_MMAP", raising=False)
    on, rows_on = mapped_and_read(url)
    assert on > 0
    monkeypatch.setenv("TRIAGE_SQLITE_MMAP", "0")
    off, rows_off = mapped_and_read(url)
    assert off == 0
    assert rows_on == rows_off and len(rows_on) == 3
    monkeypatch.setenv("TRIAGE_SQLITE_MMAP", "lots")
    with pytest.raises(ValueError, match="TRIAGE_SQLITE_MMAP"):
        mapped_and_read(url)
