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


@pytest.mark.parametrize("slots", [1, 2])
def test_no_more_suggestions_at_once_than_the_process_has_slots_for(make_client, sqlite_url, monkeypatch, slots):
    """TRIAGE_SUGGEST_THREADS: request threads beyond it wait their turn (GIL-bound work does not interleave)."""
    from apitest import fixture_letters, headers

    client = make_client(sqlite_url, suggest_threads=slots)
    triage = client.app.state.service.triage
    original, active, peak, guard = triage.suggest_prepared, [0], [0], threading.Lock()

    def counting(*args, **kwargs):
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(triage, "suggest_prepared", counting)
    letter = fixture_letters()[0]
    codes = []

    def post(i):
        codes.append(client.post("/v1/triage", json={**letter, "id": f"slot-{i}"}, headers=headers("intake")).status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 6 and peak[0] == slots
