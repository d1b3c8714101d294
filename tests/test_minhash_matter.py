import numpy as np

from triage.matter import compare_matters, extract_matter
from triage.minhash import LSHIndex, MinHashConfig, MinHasher, jaccard, shingles
from triage.segment import Segmenter

A = "本人每天路过的梅峰河（左海西门到博物院段）治理前很恶臭，经过三年多的治理，建了污水处理设施，但河水依旧发臭。"
B = "每天路过梅峰河（左海西门到博物院段），治理了三年还是恶臭，污水处理设施没有用，河水依旧很臭。"
C = "请问今年A2区小学入学需要准备哪些材料？非本市户籍随迁子女如何办理入学登记？"


def test_minhash_estimates_jaccard():
    mh = MinHasher(MinHashConfig(num_perm=256, bands=64))
    sa, sb = shingles(A), shingles(B)
    exact = jaccard(sa, sb)
    est = float(np.mean(mh.signature_of_shingles(sa) == mh.signature_of_shingles(sb)))
    assert abs(est - exact) < 0.1


def test_lsh_insert_query_remove_save_load(tmp_path):
    mh = MinHasher()
    lsh = LSHIndex()
    lsh.insert(1, mh.signature(A))
    lsh.insert(2, mh.signature(C))
    lsh.insert(3, mh.signature(A + "谢谢"))
    assert set(lsh.query(mh.signature(A))) == {1, 3}
    lsh.remove(3)
    assert lsh.query(mh.signature(A)) == [1]
    lsh.save(tmp_path / "lsh")
    again = LSHIndex.load(tmp_path / "lsh")
    assert again.query(mh.signature(A)) == [1] and len(again) == 2


def test_config_is_validated():
    import pytest

    with pytest.raises(ValueError, match="multiple of bands"):
        MinHashConfig(num_perm=64, bands=10)


def test_matter_objects_and_demands():
    seg = Segmenter().load()
    a, b, c = (extract_matter(t, seg) for t in (A, B, C))
    assert "梅峰河" in a.objects.get("river", set())
    assert "路" not in "".join(a.objects.get("road", set()))  # 路过 is no road
    assert "水体污染" in a.demands or "异味污染" in a.demands
    same = compare_matters(a, b)
    other = compare_matters(a, c)
    assert same["specific_overlap"] > 0.5 and "梅峰河" in " ".join(same["shared_objects"])
    assert other["specific_overlap"] == 0 and other["demand_jaccard"] == 0


def test_object_finder_equals_the_pattern_on_real_letters(shared_datasets):
    """find_objects replaces the object pattern's finditer for speed; on real letters both give the same spans."""
    import csv

    from triage.matter import _CLAUSE, _object_re, find_objects
    from triage.normalise import normalise

    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        texts = [normalise((r.get("标题") or "") + "\n" + (r.get("投诉件内容") or "")) for r in csv.DictReader(f)][:2000]
    texts += ["", "路", "A市A3区联丰路", "住在金色家园小区3栋的居民反映幸福路段积水", "沿江大道江湖湖", "一" * 40 + "路"]
    pattern = _object_re()
    clauses = [c for t in texts for c in _CLAUSE.split(t) if len(c) >= 2]
    assert len(clauses) > 5_000
    for clause in clauses:
        expected = [(m.start(), m.end(), int(m.lastgroup[1:])) for m in pattern.finditer(clause)]
        assert find_objects(clause) == expected, clause


def test_lsh_buffer_and_merges_answer_like_one_build():
    """Inserts wait in a buffer (queried directly) and merge every MERGE_AT ids; removals filter at query time.
    Whatever the interleaving, answers equal those of an index built in one go from the surviving ids."""
    rng = np.random.default_rng(3)
    hasher = MinHasher(MinHashConfig(num_perm=64, bands=16))
    base = ["小区物业乱收停车费请查处", "学校食堂饭菜质量差家长意见大", "道路积水严重影响出行", "医院挂号难排队久"]
    texts = [base[i % 4] + "".join(rng.choice(list("甲乙丙丁戊己庚辛"), 3)) for i in range(60)]
    sigs = [hasher.signature(t) for t in texts]
    live = LSHIndex(MinHashConfig(num_perm=64, bands=16))
    live.MERGE_AT = 7
    removed = set()
    for i, sig in enumerate(sigs):
        live.insert(i, sig)
        if i % 5 == 4:
            live.remove(i - 2)
            removed.add(i - 2)
        if i % 3 == 0:
            live.query(sigs[i // 2])   # queries between writes must not disturb anything
    assert live._pending_ids and live._removed   # the last writes are still buffered
    fresh = LSHIndex(MinHashConfig(num_perm=64, bands=16))
    for i, sig in enumerate(sigs):
        if i not in removed:
            fresh.insert(i, sig)
    assert len(live) == len(fresh) == 60 - len(removed)
    for sig in sigs:
        assert live.query(sig, limit=100) == fresh.query(sig, limit=100)
        assert not set(live.query(sig, limit=100)) & removed
    live._merge()
    assert not live._pending_ids and all(live.query(s, limit=100) == fresh.query(s, limit=100) for s in sigs)


def test_matter_overlap_equals_the_pairwise_rule_on_real_letters(shared_datasets):
    """compare_matters counts names with a written-out loop; it must agree with same_name pair by pair."""
    import csv
    import random

    from triage.matter import _named_in, same_name
    from triage.normalise import normalise

    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        matters = [extract_matter(normalise(r.get("投诉件内容") or "")) for r, _ in zip(csv.DictReader(f), range(300))]
    rng, overlapping = random.Random(0), 0
    for _ in range(3000):
        a, b = rng.choice(matters), rng.choice(matters)
        for x, y in ((a.all_objects(), b.all_objects()), (a.places, b.places)):
            expected = sorted(n for n in x if any(same_name(n, m) for m in y))
            assert sorted(_named_in(x, y)) == expected
            overlapping += bool(expected)
    assert overlapping > 300   # the comparison saw many real overlaps, not only empty sets


def test_shared_count_and_overlap_equal_set_arithmetic():
    """Jaccard and containment come from one searchsorted intersection; the figures are set arithmetic's."""
    from triage.minhash import jaccard, overlap, shared_count, shared_counts, shingles

    rng = np.random.default_rng(3)
    arrays = [np.zeros(0, np.uint64), np.array([5], np.uint64), shingles("小区停车难问题反映"),
              shingles("小区停车难,希望尽快解决"), np.array([0, 2**64 - 1], np.uint64)]
    arrays += [np.unique(rng.integers(0, 60, size=rng.integers(1, 40)).astype(np.uint64)) for _ in range(60)]
    for a in arrays:
        for b in arrays:
            inter = len(set(a.tolist()) & set(b.tolist()))
            assert shared_count(a, b) == inter
            if len(a) and len(b):
                assert overlap(a, b) == (inter / (len(a) + len(b) - inter), inter / min(len(a), len(b)))
                assert jaccard(a, b) == overlap(a, b)[0]
            else:
                assert overlap(a, b) == (0.0, 0.0) and jaccard(a, b) == 0.0
    # all of a letter's candidates at once: the same counts, whatever the mix of empty and full arrays
    for a in arrays:
        assert shared_counts(a, arrays).tolist() == [len(set(a.tolist()) & set(b.tolist())) for b in arrays]
        assert shared_counts(a, []).tolist() == [] and shared_counts(a, arrays[:1]).tolist() == [0]


def test_shingles_are_the_sorted_unique_hashes_of_every_window():
    from triage.minhash import shingles_of_codes

    for text in ("", "a", "ab", "abc", "小区停车难小区停车难", "重复重复重复重复", "𠀀𠀁x" * 5):
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        got = shingles_of_codes(codes, 3)
        assert np.all(got[1:] > got[:-1])           # sorted, unique
        padded = np.concatenate([codes.astype(np.uint64), np.zeros(max(0, 3 - len(codes)), np.uint64)])
        windows = {tuple(padded[i:i + 3]) for i in range(len(padded) - 2)} if len(codes) else set()
        assert len(got) == len(windows)            # one hash per distinct window (no collisions at this size)
        assert np.array_equal(got, shingles(text, 3, normalised=True))


def test_shingles_of_many_texts_are_each_texts_own():
    """Hashed in one pass over the texts joined, the shingles of each text are those of the text alone: the same
    multiply-xorshift hash of each of its own windows (written out here per window, in plain integers), sorted and
    unique; windows across two texts never leak into either."""
    from triage.minhash import shingles_of_codes, shingles_of_many

    def reference(codes, k):
        codes = [int(c) for c in codes] + [0] * (max(0, k - len(codes)) if len(codes) else 0)
        out = set()
        for s in range(len(codes) - k + 1):
            h = 0
            for c in codes[s:s + k]:
                h = ((h ^ c) * 0x9E3779B97F4A7C15) % 2**64
                h ^= h >> 29
            out.add(h)
        return np.array(sorted(out), dtype=np.uint64)

    rng = np.random.default_rng(0)
    texts = ["", "a", "小区", "小区停车难小区停车难", "重复重复重复重复"]
    lists = [[np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32) for t in texts]]
    lists += [[rng.integers(0x4E00, 0x4E20, size=rng.integers(0, 15)).astype(np.uint32) for _ in range(rng.integers(0, 7))]
              for _ in range(60)]
    for codes_list in lists:
        for k in (1, 2, 3):
            got = shingles_of_many(codes_list, k)
            assert len(got) == len(codes_list)
            for codes, g in zip(codes_list, got):
                assert g.dtype == np.uint64 and np.array_equal(g, reference(codes, k)), (codes, k)
                assert np.array_equal(g, shingles_of_codes(codes, k))
    assert shingles_of_many([], 3) == []


def test_pair_features_of_many_candidates_are_each_pairs_own(shared_datasets):
    """A letter's candidates get their pair features in one pass (shingle overlaps counted together, each matter's
    name tables built once); every figure equals the pair's own, written out here with the per-pair functions."""
    import csv
    import math

    from triage.dedup import FEATURES, make_views, pair_features_many
    from triage.matter import compare_matters
    from triage.minhash import jaccard, overlap
    from triage.normalise import normalise

    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        rows = [r for r, _ in zip(csv.DictReader(f), range(60))]
    rng = np.random.default_rng(5)
    items = []
    for i, r in enumerate(rows):
        title = normalise(r.get("标题") or "") if i % 7 else ""          # some letters have no title
        text = normalise(((r.get("标题") or "") + "\n" if title else "") + (r.get("投诉件内容") or ""))
        vec = rng.normal(size=8).astype(np.float32)
        idents = {"phone:x"} if i % 5 == 0 else set()
        when = None if i % 4 == 0 else f"2020-0{1 + i % 9}-1{i % 10}T10:00:00"
        items.append((f"L{i}", text, title, vec if i % 11 else None, idents, when, None))
    items.append(("dup", items[3][1], items[3][2], items[3][3], {"phone:x"}, "2021-01-01T00:00:00", None))
    views = make_views(items)
    for a in (views[0], views[3], views[7]):
        got = pair_features_many(a, views)
        assert len(got) == len(views)
        for b, (x, evidence) in zip(views, got):
            m = compare_matters(a.matter, b.matter)
            jac, cont = overlap(a.shingles, b.shingles)
            has_titles = float(len(a.title_shingles) > 0 and len(b.title_shingles) > 0)
            tjac = jaccard(a.title_shingles, b.title_shingles) if has_titles else 0.0
            cos = float(np.dot(a.vector, b.vector)) if a.vector is not None and b.vector is not None else 0.0
            gap = (abs((a.received_at - b.received_at).total_seconds()) / 86400.0
                   if a.received_at and b.received_at else None)
            want = {"exact": float(a.hash == b.hash), "jaccard3": jac, "containment3": cont, "title_jaccard": tjac,
                    "has_titles": has_titles, "cosine": cos,
                    "same_petitioner": float(bool(a.identities & b.identities)),
                    "petitioners_known": float(bool(a.identities) and bool(b.identities)),
                    "log_gap_days": math.log1p(gap) if gap is not None else 0.0, "gap_known": float(gap is not None),
                    "length_ratio": min(len(a.text), len(b.text)) / max(len(a.text), len(b.text), 1),
                    "cos_x_specific": cos * m["specific_overlap"], "jac_x_demand": jac * m["demand_jaccard"],
                    **{k: m[k] for k in ("specific_overlap", "both_have_objects", "object_overlap", "demand_jaccard",
                                         "place_overlap", "place_conflict")}}
            assert x.tolist() == np.array([want[f] for f in FEATURES], dtype=np.float32).tolist(), (a.id, b.id)
            assert evidence == {"shared_objects": m["shared_objects"], "shared_demands": m["shared_demands"],
                                "gap_days": gap, "jaccard": jac, "cosine": cos, "exact": a.hash == b.hash,
                                "same_petitioner": bool(a.identities & b.identities)}
            assert isinstance(evidence["jaccard"], float) and not isinstance(evidence["jaccard"], np.floating)
    assert views[3].hash == views[-1].hash and pair_features_many(views[3], [views[-1]])[0][0][0] == 1.0
    assert pair_features_many(views[0], []) == []


def test_packed_views_are_the_views_and_leave_the_collector_alone(shared_datasets):
    """The view cache keeps views packed: unpacked, each is the view it was (text, shingles, matter, vector,
    identities, time); packed, the cyclic collector stops tracking it after a pass or two (an item's own tuples
    first), so the cache adds nothing to a full collection however large it grows."""
    import csv
    import gc

    from triage.dedup import make_views, pack_view, unpack_view
    from triage.normalise import normalise

    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        rows = [r for r, _ in zip(csv.DictReader(f), range(40))]
    items = [(f"L{i}", normalise((r.get("标题") or "") + "\n" + (r.get("投诉件内容") or "")),
              normalise(r.get("标题") or ""),
              np.full(4, i, np.float32) if i % 3 else None, {"phone:a", f"id:{i}"} if i % 2 else set(),
              None if i % 4 == 0 else f"2021-03-0{1 + i % 9}T08:30:00", None) for i, r in enumerate(rows)]
    views = make_views(items)
    assert sum(bool(v.matter.all_objects()) for v in views) >= 10 and sum(bool(v.matter.demands) for v in views) >= 10
    packed = [pack_view(v) for v in views]
    assert all(gc.is_tracked(p) for p in packed)
    gc.collect()
    gc.collect()
    assert not any(gc.is_tracked(p) for p in packed)
    for view, p in zip(views, packed):
        back = unpack_view(p)
        assert back == view or (back.vector is None and view.vector is None) or np.array_equal(back.vector, view.vector)
        for name in ("id", "text", "title", "hash", "matter", "identities", "received_at"):
            assert getattr(back, name) == getattr(view, name), name
        assert np.array_equal(back.shingles, view.shingles) and np.array_equal(back.title_shingles, view.title_shingles)
        back.identities.add("phone:changed")
        back.matter.demands.add("changed")
        assert "changed" not in unpack_view(p).matter.demands and "phone:changed" not in unpack_view(p).identities


def test_signature_is_the_per_permutation_minimum_of_the_top_bits(shared_datasets):
    """The multiply-shift signature takes the minimum before the shift (the shift keeps order): every value equals
    the textbook definition, min over shingles of ((a·x + b) mod 2^64) >> 32, on real letters."""
    import numpy as np

    from training.datasets import read_csv
    from triage.minhash import MinHasher, shingles

    mh = MinHasher()
    rows = read_csv("teddy2020/details_labeled.csv")[:200]
    for r in rows:
        sh = shingles(r.get("留言详情") or "", mh.config.shingle)
        if not len(sh):
            continue
        with np.errstate(over="ignore"):
            expected = ((sh[:, None] * mh._a[None, :] + mh._b[None, :]) >> np.uint64(32)).min(axis=0)
        np.testing.assert_array_equal(mh.signature_of_shingles(sh), expected.astype(np.uint32))
