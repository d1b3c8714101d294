"""The service's readers–writer lock: suggestions that only read run side by side; a write runs alone."""

import threading
import time

import pytest

from api.service import ReadWriteLock


def test_readers_share_and_a_writer_waits_for_them():
    lock = ReadWriteLock()
    inside, both = [], threading.Barrier(2, timeout=5)

    def reader():
        with lock.read():
            inside.append(1)
            both.wait()          # both readers are inside at once, or this times out
            time.sleep(0.05)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    with lock:                   # the write waits for the readers to leave
        assert len(inside) == 2
    assert time.perf_counter() - t0 > 0.02
    for t in readers:
        t.join()


def test_a_waiting_writer_holds_new_readers_back():
    lock = ReadWriteLock()
    order = []
    lock.acquire_read()
    writer = threading.Thread(target=lambda: (lock.acquire(), order.append("write"), lock.release()))
    writer.start()
    time.sleep(0.05)
    late = threading.Thread(target=lambda: (lock.acquire_read(), order.append("read"), lock.release_read()))
    late.start()
    time.sleep(0.05)
    assert order == []           # the late reader queues behind the waiting writer
    lock.release_read()
    writer.join(5)
    late.join(5)
    assert order == ["write", "read"]


def test_a_writer_that_may_not_wait_takes_nothing_while_the_lock_is_held():
    lock = ReadWriteLock()
    lock.acquire_read()
    assert not lock.acquire(blocking=False)
    lock.release_read()
    assert lock.acquire(blocking=False) and lock.acquire(blocking=False)   # re-entrant for its holder
    box: list = []
    t = threading.Thread(target=lambda: box.append(lock.acquire(blocking=False)))
    t.start()
    t.join(5)
    assert box == [False]
    lock.release()
    lock.release()
    assert lock.acquire(blocking=False)
    lock.release()


def test_a_reader_that_may_not_wait_takes_nothing_while_a_writer_holds_or_waits():
    lock = ReadWriteLock()
    assert lock.acquire_read(blocking=False)
    waiting = threading.Thread(target=lambda: (lock.acquire(), lock.release()))
    waiting.start()
    time.sleep(0.05)
    assert not lock.acquire_read(blocking=False)   # a writer waits: no new reader
    lock.release_read()
    waiting.join(5)
    with lock:
        assert lock.acquire_read(blocking=False)   # the writer may read what it holds
        lock.release_read()
        box: list = []
        t = threading.Thread(target=lambda: box.append(lock.acquire_read(blocking=False)))
        t.start()
        t.join(5)
        assert box == [False]
    assert lock.acquire_read(blocking=False)
    lock.release_read()


def test_the_writer_may_reenter_and_read():
    lock = ReadWriteLock()
    with lock:
        with lock.write():
            with lock.read():
                pass
    with lock.read():            # released completely
        pass
    with pytest.raises(RuntimeError):
        lock.release()


def _counting(triage, monkeypatch, seconds=0.05):
    """Wrap ``triage.suggest_prepared``: the most suggestions seen at once, and the threads they ran on."""
    original, active, peak, threads, guard = triage.suggest_prepared, [0], [0], [], threading.Lock()

    def counting(*args, **kwargs):
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            threads.append(threading.get_ident())
        time.sleep(seconds)
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(triage, "suggest_prepared", counting)
    return peak, threads


@pytest.mark.parametrize("slots", [1, 2])
def test_no_more_suggestions_at_once_than_the_process_has_slots_for(make_client, sqlite_url, monkeypatch, slots):
    """TRIAGE_SUGGEST_THREADS: request threads beyond it wait their turn (GIL-bound work does not interleave)."""
    from apitest import fixture_letters

    from api.service import letter_from_body, seal
    from api.settings import Principal

    client = make_client(sqlite_url, suggest_threads=slots)
    service = client.app.state.service
    peak, _ = _counting(service.triage, monkeypatch)
    letter = fixture_letters()[0]
    answers = []

    def dry_run(i):
        sealed = seal(letter_from_body({**letter, "id": f"slot-{i}"}))
        answers.append(service.dry_run(sealed, Principal("clerk", "intake"), 10, None)["id"])

    threads = [threading.Thread(target=dry_run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [f"slot-{i}" for i in range(6)] and peak[0] == slots


def test_a_dry_run_runs_on_the_event_loop_when_nothing_holds_it_up(make_client, sqlite_url, monkeypatch):
    """POST /v1/triage computes on the event loop's thread when the lane and the index are free: no GIL traded
    with a request thread. The same letter answered through the request thread path gives the same suggestion."""
    from apitest import fixture_letters, headers

    client = make_client(sqlite_url, suggest_threads=1)
    service = client.app.state.service
    _, threads = _counting(service.triage, monkeypatch, seconds=0)
    loop_thread = client.portal.call(lambda: threading.get_ident())   # the thread running the app's event loop
    letter = fixture_letters()[0]
    inline = client.post("/v1/triage", json=letter, headers=headers("intake"))
    assert inline.status_code == 200 and threads == [loop_thread]

    service.cpu.acquire()          # the lane is taken (a job's letter): the request waits on a request thread
    try:
        box = {}
        waiting = threading.Thread(target=lambda: box.update(r=client.post("/v1/triage", json=letter,
                                                                           headers=headers("intake"))))
        waiting.start()
        time.sleep(0.3)
        assert "r" not in box
        assert client.get("/v1/health").status_code == 200   # the event loop is not held up meanwhile
    finally:
        service.cpu.release()
    waiting.join(30)
    threaded = box["r"]
    assert threaded.status_code == 200 and len(threads) == 2 and threads[1] != loop_thread
    drop = ("suggestion_id",)
    assert {k: v for k, v in threaded.json().items() if k not in drop} == \
        {k: v for k, v in inline.json().items() if k not in drop}
    assert threaded.json()["suggestion_id"] != inline.json()["suggestion_id"]   # each one logged


def test_a_dry_run_waits_for_a_writer_off_the_event_loop(make_client, sqlite_url):
    """While the index's exclusive side is held (taking in a large import, storing a letter), a dry run waits
    on a request thread, and the event loop keeps answering other requests."""
    from apitest import fixture_letters, headers

    client = make_client(sqlite_url)
    service = client.app.state.service
    letter = fixture_letters()[1]
    box = {}
    with service.lock:
        waiting = threading.Thread(target=lambda: box.update(r=client.post("/v1/triage", json=letter,
                                                                           headers=headers("intake"))))
        waiting.start()
        time.sleep(0.3)
        assert "r" not in box
        t0 = time.perf_counter()
        assert client.get("/v1/health").status_code == 200
        assert time.perf_counter() - t0 < 5
    waiting.join(30)
    assert box["r"].status_code == 200 and box["r"].json()["id"] == letter["id"]


def test_a_submitted_letter_is_stored_on_the_event_loop_or_waits_off_it(make_client, sqlite_url, monkeypatch):
    """POST /v1/letters stores on the event loop's thread when the lane and the index's exclusive side are free;
    while a reader holds the index it waits on a request thread (the loop answers meanwhile), and is stored."""
    from apitest import fixture_letters, headers

    client = make_client(sqlite_url, suggest_threads=1)
    service = client.app.state.service
    _, threads = _counting(service.triage, monkeypatch, seconds=0)
    loop_thread = client.portal.call(lambda: threading.get_ident())
    first, second = fixture_letters()[:2]
    r = client.post("/v1/letters", json=first, headers=headers("intake"))
    assert r.status_code == 201 and threads == [loop_thread]
    box = {}
    with service.lock.read():
        waiting = threading.Thread(target=lambda: box.update(r=client.post("/v1/letters", json=second,
                                                                           headers=headers("intake"))))
        waiting.start()
        time.sleep(0.3)
        assert "r" not in box
        assert client.get("/v1/health").status_code == 200
    waiting.join(30)
    assert box["r"].status_code == 201 and len(threads) == 2 and threads[1] != loop_thread
    assert client.get(f"/v1/cases/{second['id']}", headers=headers("handler")).status_code == 200
    again = client.post("/v1/letters", json=second, headers=headers("intake"))   # idempotent, on the loop
    assert again.status_code == 200 and again.json()["suggestion_id"] == box["r"].json()["suggestion_id"]


def test_a_few_cases_another_worker_stored_are_taken_in_on_the_loop(make_client, sqlite_url, monkeypatch):
    """Another process stores a letter: the next dry run still runs on the event loop, takes the case into this
    worker's index first, and finds it; more cases than SYNC_ON_LOOP_AT_MOST go to a request thread instead."""
    from apitest import fixture_letters, headers

    import api.service as service_module
    from triage.records import parse_letter
    from triage.retrieve import CaseIndex
    from triage.store import Store

    client = make_client(sqlite_url, suggest_threads=1)
    service = client.app.state.service
    triage = service.triage
    _, threads = _counting(triage, monkeypatch, seconds=0)
    loop_thread = client.portal.call(lambda: threading.get_ident())
    other_store = Store(sqlite_url).open()                  # the other worker: its own store engine and index
    other = CaseIndex.open(other_store, triage.embedder_key, triage.embedder.dim)
    letter = fixture_letters()[2]
    triage.ingest(triage.prepare([parse_letter(letter)]), other_store, other)
    assert service.index.missing(service.store) == 1
    copy = {**letter, "id": "copy-of-2"}
    r = client.post("/v1/triage", json=copy, headers=headers("intake"))
    assert r.status_code == 200 and threads == [loop_thread] and service.index.missing(service.store) == 0
    assert letter["id"] in [m["case_id"] for m in r.json()["duplicates"]["matches"]]

    monkeypatch.setattr(service_module, "SYNC_ON_LOOP_AT_MOST", 1)
    triage.ingest(triage.prepare([parse_letter(x) for x in fixture_letters()[3:5]]), other_store, other)
    assert service.index.missing(service.store) == 2
    r = client.post("/v1/triage", json=copy, headers=headers("intake"))
    assert r.status_code == 200 and threads[-1] != loop_thread and service.index.missing(service.store) == 0
