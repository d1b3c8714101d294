"""Several processes on one store (workers of `triage serve`, a `triage import` beside it): each index takes in
the cases the others stored (:meth:`CaseIndex.sync`), never twice, and keeps what it knows across a restart."""

import pytest

from triage.records import parse_letter
from triage.retrieve import CaseIndex
from triage.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path}/t.db").open()


def _open(triage, store, **kw) -> CaseIndex:
    return CaseIndex.open(store, triage.embedder_key, triage.embedder.dim, **kw)


def _copy(letter, new_id):
    return parse_letter({**letter.to_dict(), "id": new_id})


def _ids(index: CaseIndex) -> list[int]:
    """Every pk the vector index holds, with repeats (a case taken in twice shows twice)."""
    import faiss

    inner = index.vectors._index
    return sorted(int(i) for i in faiss.vector_to_array(inner.id_map))


def test_a_second_index_takes_in_what_the_first_stored(small_triage, store, fixture_letters):
    a, b = _open(small_triage, store), _open(small_triage, store)
    small_triage.ingest(small_triage.prepare(fixture_letters), store, a)
    assert not a.behind(store)          # its own cases
    assert b.behind(store) and len(b) == 0
    assert b.sync(store) == len(fixture_letters)
    assert not b.behind(store) and _ids(b) == _ids(a)
    # b now finds a's case as the duplicate of a copy under a new id
    s = small_triage.suggest(_copy(fixture_letters[0], "copy-1"), store, b)
    assert s["duplicates"]["verdict"] == "duplicate" and s["duplicates"]["matches"][0]["case_id"] == "fx-1"
    assert b.sync(store) == 0           # nothing new: nothing read twice


def test_a_case_stored_below_ones_own_is_not_skipped(small_triage, store, fixture_letters):
    """b stores a case after a did, without having synced: b's own higher pk must not hide a's lower one."""
    a, b = _open(small_triage, store), _open(small_triage, store)
    small_triage.ingest(small_triage.prepare(fixture_letters[:1]), store, a)
    small_triage.ingest(small_triage.prepare(fixture_letters[1:2]), store, b)
    assert b.lsh_high_water == store.max_pk()   # b's own case is the newest ...
    assert b.behind(store)                      # ... and still b knows it misses a's
    b.sync(store)
    assert _ids(b) == sorted(store.pks_after(0))


def test_deleted_cases_are_counted_but_never_taken_in(small_triage, store, fixture_letters):
    a, b = _open(small_triage, store), _open(small_triage, store)
    small_triage.ingest(small_triage.prepare(fixture_letters[:3]), store, a)
    gone = store.delete_case("fx-2")
    b.sync(store)
    assert gone not in _ids(b) and len(b) == 2 and not b.behind(store)


def test_the_floor_settles_and_a_restart_neither_loses_nor_repeats(small_triage, store, fixture_letters):
    a = _open(small_triage, store)
    small_triage.ingest(small_triage.prepare(fixture_letters[:2]), store, a)
    a.save()                                    # saved while its cases are still above the floor
    assert a.floor == 0 and len(a.recent) == 2
    small_triage.ingest(small_triage.prepare(fixture_letters[2:]), store, _open(small_triage, store))
    reopened = _open(small_triage, store)       # takes in the other index's cases, not its own again
    assert _ids(reopened) == sorted(store.pks_after(0))
    assert reopened.lsh_high_water == store.max_pk()
    reopened.settle_seconds = 0
    reopened.sync(store)
    assert reopened.floor == store.max_pk() and reopened.recent == {}
    assert not reopened.behind(store)
    reopened.save()
    again = _open(small_triage, store)
    assert _ids(again) == sorted(store.pks_after(0)) and again.floor == store.max_pk()


def test_a_pk_that_appears_late_is_still_taken_in_before_the_floor_passes_it(small_triage, store, fixture_letters,
                                                                               monkeypatch):
    """PostgreSQL hands out pks before commit, so pk n may show after pk n+1: the unsettled window covers it."""
    small_triage.ingest(small_triage.prepare(fixture_letters[:3]), store, _open(small_triage, store))
    late = store.pk_for("fx-2")
    b = CaseIndex(store.index_dir, small_triage.embedder_key, small_triage.embedder.dim)
    count, after = store.count_after, store.pks_after
    with monkeypatch.context() as m:            # fx-2's transaction has not committed yet
        m.setattr(store, "count_after", lambda floor: count(floor) - (late > floor))
        m.setattr(store, "pks_after", lambda floor: [pk for pk in after(floor) if pk != late])
        assert b.sync(store) == 2 and late not in _ids(b)
        assert not b.behind(store)
    assert b.behind(store)                      # now it shows, above the floor
    assert b.sync(store) == 1 and _ids(b) == sorted(after(0))
    b.settle_seconds = 0
    b.sync(store)
    assert b.floor == store.max_pk()


def test_cases_listed_by_a_save_long_ago_settle_at_open(small_triage, store, fixture_letters, monkeypatch):
    """The cases an index took in during its last settle_seconds are listed above its saved floor. Reopened soon
    after the save they stay listed (a lower pk may still commit); reopened once they are older than that, the floor
    rises past them at open, so the sync check before each suggestion counts no rows (with 26,000 listed at 1M it
    cost 7.5 ms a letter until they settled) — and no case is lost or taken in twice."""
    import json
    import time

    a = _open(small_triage, store)
    small_triage.ingest(small_triage.prepare(fixture_letters), store, a)
    a.save()
    assert a.floor == 0 and len(a.recent) == len(fixture_letters)
    soon = _open(small_triage, store)
    assert soon.floor == 0 and len(soon.recent) == len(fixture_letters)
    manifest_path = store.index_dir / "lsh" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["saved_at"] <= time.time()
    manifest["saved_at"] -= soon.settle_seconds + 1            # as if saved a while ago
    manifest_path.write_text(json.dumps(manifest))
    late = _open(small_triage, store)
    assert late.floor == store.max_pk() and not late.recent
    assert not late.behind(store) and _ids(late) == sorted(store.pks_after(0))
    calls = []
    monkeypatch.setattr(store, "count_after", lambda floor: calls.append(floor) or 0)
    late.behind(store)
    assert calls == [store.max_pk()]                            # the count starts above every case


def test_a_case_that_became_visible_after_the_save_is_taken_in_when_the_listed_ones_settle(small_triage, store,
                                                                                           fixture_letters):
    """Settling the cases a save listed must not give up on a lower case the index never saw (a PostgreSQL
    transaction that committed after the save): open takes in what the store shows first, then settles."""
    import json

    import numpy as np

    a = _open(small_triage, store)
    prepared = small_triage.prepare(fixture_letters[:3])
    pks = [pk for pk, _, _ in store.add_cases([p.record() for p in prepared], small_triage.embedder_key)]
    seen = [0, 2]                                                  # the middle case is not visible to this index
    a.add([pks[i] for i in seen], np.stack([prepared[i].vector for i in seen]),
          np.stack([prepared[i].signature for i in seen]))
    a.save()
    manifest_path = store.index_dir / "lsh" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["recent"] == [pks[0], pks[2]]
    manifest["saved_at"] -= a.settle_seconds + 1                  # reopened a while after the save
    manifest_path.write_text(json.dumps(manifest))
    reopened = _open(small_triage, store)
    assert reopened.floor == store.max_pk() and not reopened.recent and not reopened.behind(store)
    assert _ids(reopened) == sorted(pks)                          # the late case taken in, none twice
    assert len(reopened.lsh) == 3
