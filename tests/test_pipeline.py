"""Plumbing of the whole line on small models (hashing embedder): store, indexes, self-exclusion, ingest."""

import numpy as np
import pytest

from triage.matter import MATTER_VERSION, Matter
from triage.records import Letter, parse_letter
from triage.retrieve import CaseIndex
from triage.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path}/t.db").open()


def test_suggestion_has_contract_shape(small_triage):
    s = small_triage.suggest(Letter(id="q1", title="小区停车收费", content="物业乱收停车费，请查处。"))
    assert s["id"] == "q1" and s["model_version"] == small_triage.model_version
    assert len(s["domain"]) == 3 and all(0 <= d["score"] <= 1 for d in s["domain"])
    assert s["domain"][0]["score"] >= s["domain"][1]["score"]
    assert s["duplicates"] == {"verdict": "new", "matches": []} and s["similar"] == []
    assert s["department"] == []  # no directory, no history: never invented
    assert s["category"] in {"咨询", "意见建议", "检举控告", "申诉求决"}


def test_domain_and_type_read_the_first_classify_chars_and_the_end_litigation_all(small_triage, monkeypatch):
    """A long letter is classified on its title and ``classify_chars`` characters of its body: its beginning and
    its last ``classify_tail_chars`` (where a letter says what it asks for; its answer is that of the letter cut so),
    while litigation cues are looked for in the whole text; the text's words are the title's and the body's, each
    cut once."""
    from triage.normalise import normalise
    from triage.records import Letter

    head = "小区门口的道路坑洼不平，雨天积水严重，居民出行困难，希望尽快修复。" * 40
    tail = "我已向法院提起诉讼。请问何时能修好？"
    long = Letter(id="long", title="道路积水", content=head + "学校食堂卫生差，孩子吃坏肚子。" * 60 + tail)
    cut = Letter(id="cut", title="道路积水", content=long.content)
    monkeypatch.setattr(small_triage.config, "classify_chars", 600)
    monkeypatch.setattr(small_triage.config, "classify_tail_chars", 100)
    seen = []
    predict = small_triage.domain.predict
    monkeypatch.setattr(small_triage.domain, "predict",
                        lambda text, *a, **k: seen.append((text, k["fields"][1])) or predict(text, *a, **k))
    cuts = []
    cut_one = small_triage.segmenter._cut_one
    monkeypatch.setattr(small_triage.segmenter, "_cut_one", lambda text, drop: cuts.append(text) or cut_one(text, drop))
    small_triage.segmenter.__dict__.pop("_recent", None)
    out = small_triage.suggest(long)
    whole = normalise(long.content)
    body = whole[:499] + " " + whole[-100:]
    assert seen == [("道路积水 " + body, body)] and body.endswith(normalise(tail))
    # the body's 600 characters (its beginning and its end: two parts for the segmenter), each cut once
    assert sorted(len(c) for c in cuts if len(c) > 90) == [100, 499]
    assert out["litigation_related"] and "法院" in out["litigation_triggers"]
    p = small_triage.prepare([cut])[0]
    p.text = "道路积水 " + body
    p.letter.content = body
    assert small_triage.classify(p)["domain"] == out["domain"] and small_triage.classify(p)["type"] == out["type"]
    # a body within the cap is read whole
    seen.clear()
    short = Letter(id="short", title="道路积水", content=head[:300])
    small_triage.suggest(short)
    assert seen == [("道路积水 " + normalise(head[:300]), normalise(head[:300]))]


def test_ingest_dedup_similar_and_self_exclusion(small_triage, store, fixture_letters):
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    prepared = small_triage.prepare(fixture_letters)
    results = small_triage.ingest(prepared, store, index)
    assert [created for _, _, created in results] == [True] * len(fixture_letters)
    # idempotent by id
    assert [created for _, _, created in small_triage.ingest(prepared[:2], store, index)] == [False, False]
    assert store.count() == len(fixture_letters)
    # a stored case triaged again never finds itself
    s = small_triage.suggest(fixture_letters[0], store, index)
    ids = [m["case_id"] for m in s["duplicates"]["matches"]] + [x["case_id"] for x in s["similar"]]
    assert "fx-1" not in ids
    # an exact copy under a new id is a duplicate of the stored case, from the same petitioner
    copy = parse_letter({**fixture_letters[0].to_dict(), "id": "new-1"})
    s = small_triage.suggest(copy, store, index)
    assert s["duplicates"]["verdict"] == "duplicate"
    top = s["duplicates"]["matches"][0]
    assert top["case_id"] == "fx-1" and top["same_petitioner"] is True and top["reasons"]
    assert s["similar"][0]["case_id"] == "fx-1" and s["similar"][0]["reply_excerpt"]
    # filters
    s = small_triage.suggest(copy, store, index, filters={"domain": "教育文体"})
    assert all(x["domain"] == "教育文体" for x in s["similar"])


def test_index_catches_up_with_store_after_restart(small_triage, store, fixture_letters):
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    small_triage.ingest(small_triage.prepare(fixture_letters[:2]), store, index)
    index.save()
    # more cases stored but the index never saved (a crash): reopening catches up from the store
    small_triage.ingest(small_triage.prepare(fixture_letters[2:]), store, index)
    reopened = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    assert len(reopened) == len(fixture_letters)
    assert reopened.lsh_high_water == store.max_pk()


def test_identities_are_stored_hashed_and_masked_only(small_triage, store, fixture_letters, tmp_path):
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    small_triage.ingest(small_triage.prepare(fixture_letters), store, index)
    raw = (tmp_path / "t.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("t.db-wal"))
    for secret in ("13812345678", "110101199003071234", "张三"):
        assert secret.encode("utf-8") not in raw
    case = store.get_case("fx-1")
    assert case["petitioner_masked"]["phone"] == "138****5678"


def test_compare_verdicts(small_triage, fixture_letters):
    a, b, c = fixture_letters[0], fixture_letters[1], fixture_letters[3]
    same = small_triage.compare(a, a)
    assert same["verdict"] == "duplicate" and same["reasons"]
    far = small_triage.compare(a, c)
    assert far["verdict"] in ("unrelated", "related") and far["score"] < same["score"]
    assert set(far["probabilities"]) == {"duplicate", "related", "unrelated"}


def test_near_duplicate_index_of_another_hash_family_is_rebuilt(small_triage, store, fixture_letters):
    from dataclasses import asdict

    from triage.artefact import write_manifest
    from triage.minhash import LSHIndex, MinHashConfig, MinHasher

    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    small_triage.ingest(small_triage.prepare(fixture_letters), store, index)
    index.save()
    # an index as an older version saved it: mersenne signatures, one sorted array per band, no hash recorded
    old_cfg = MinHashConfig(hash="mersenne")
    texts = {pk: small_triage.prepare([letter])[0].text for pk, letter in zip(range(1, store.max_pk() + 1), fixture_letters)}
    pks = np.array(sorted(texts), np.int64)
    sigs = np.stack([MinHasher(old_cfg).signature(texts[pk]) for pk in pks])
    keys = LSHIndex(old_cfg).band_keys(sigs).T                      # (bands, n)
    order = np.argsort(keys, axis=1, kind="stable")
    lsh_dir = store.index_dir / "lsh"
    for f in lsh_dir.glob("*.npy"):
        f.unlink()
    np.save(lsh_dir / "keys.npy", np.take_along_axis(keys, order, axis=1))
    np.save(lsh_dir / "ids.npy", pks[order])
    legacy = {k: v for k, v in asdict(old_cfg).items() if k != "hash"}
    write_manifest(lsh_dir, "minhash-lsh", config=legacy, count=len(pks), high_water=int(pks.max()))
    loaded = LSHIndex.load(lsh_dir)                                 # the legacy layout reads as written
    assert loaded.config.hash == "mersenne" and len(loaded) == len(pks)
    assert loaded.query(sigs[0])[0] == pks[0]
    reopened = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    assert reopened.lsh.config == MinHashConfig() and len(reopened.lsh) == len(pks)   # rebuilt from the store
    assert reopened.lsh.query(small_triage.prepare([fixture_letters[0]])[0].signature)[0] == pks[0]
    assert LSHIndex.load(lsh_dir).config.hash == "multiply-shift"   # and saved in the new layout


def test_batch_insert_keeps_ids_identities_vectors_and_matter(small_triage, store, fixture_letters, monkeypatch):
    """A batch is stored with one statement per table: first copy of an id created, repeats and stored ids not;
    each case's identities, vector and matter belong to it; matching reads the stored matter, never segments."""
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    small_triage.ingest(small_triage.prepare(fixture_letters[:1]), store, index)
    batch = small_triage.prepare(fixture_letters + fixture_letters[1:2])
    results = small_triage.ingest(batch, store, index)
    assert [c for _, _, c in results] == [False] + [True] * (len(fixture_letters) - 1) + [False]
    assert results[1][0] == results[-1][0] and len({pk for pk, _, _ in results}) == len(fixture_letters)
    for (pk, ext_id, _), p in zip(results, batch):
        case = store.get_cases([pk])[pk]
        assert case["id"] == ext_id == p.letter.id and case["content"] == p.letter.content
        record, vec, stored = store.get_candidates([pk], small_triage.embedder_key, MATTER_VERSION)[pk]
        assert record == case
        np.testing.assert_allclose(vec, p.vector, atol=1e-2)
        assert stored == p.view.matter.to_dict()
        assert store.get_candidates([pk], "another-model", "0")[pk] == (case, None, None)
    assert {i.split(":")[0] for i in store.get_case("fx-1")["identities"]} >= {"phone"}

    import triage.dedup

    def no_segmenting(*args, **kwargs):
        raise AssertionError("a stored case's matter was extracted again")

    small_triage._views.clear()
    query = small_triage.prepare([parse_letter({**fixture_letters[0].to_dict(), "id": "q-9"})])[0]
    monkeypatch.setattr(triage.dedup, "extract_matter", no_segmenting)
    duplicates, _, _ = small_triage.match(query, store, index)
    assert duplicates["verdict"] == "duplicate" and duplicates["matches"][0]["case_id"] == "fx-1"


def test_pair_model_probabilities_equal_sklearn(small_triage):
    """PairModel.proba asks the boosted trees for their raw scores on one thread; the result is sklearn's own."""
    from triage.dedup import VERDICTS

    rng = np.random.default_rng(5)
    X = rng.random((40, small_triage.pairs._model.n_features_in_)).astype(np.float32)
    X[::6, 2] = np.nan
    got = small_triage.pairs.proba(X)
    expected = small_triage.pairs._model.predict_proba(X)
    classes = list(small_triage.pairs._model.classes_)
    for j, name in enumerate(VERDICTS):
        np.testing.assert_allclose(got[:, j], expected[:, classes.index(name)] if name in classes else 0.0, rtol=1e-12)


def test_pair_forest_walk_gives_sklearn_raw_scores(small_triage):
    """The all-trees-at-once walk reaches sklearn's leaves: raw scores identical, on features in their real ranges."""
    from triage.dedup import FEATURES, _Forest

    model = small_triage.pairs._model
    forest = _Forest(model)
    rng = np.random.default_rng(11)
    X = rng.random((300, len(FEATURES)))
    X[:, FEATURES.index("log_gap_days")] *= 9
    for j in (FEATURES.index("exact"), FEATURES.index("same_petitioner"), FEATURES.index("gap_known")):
        X[:, j] = X[:, j] > 0.5
    X[::7, 4] = np.nan
    # thresholds themselves: a value equal to a split goes left, as in sklearn
    nodes = np.concatenate([p.nodes for it in model._predictors for p in it])
    inner = nodes[nodes["is_leaf"] == 0][:len(X)]
    X[np.arange(len(inner)), inner["feature_idx"]] = inner["num_threshold"]
    np.testing.assert_array_equal(forest.raw(X), model._raw_predict(X, n_threads=1))
    with pytest.raises(ValueError):
        forest.raw(X[:, :3])


def test_candidate_pages_read_ahead_in_parallel_change_nothing(small_triage, store, fixture_letters, monkeypatch):
    """A SQLite file store reads a letter's candidates' pages ahead, one table per thread (every table's rows of
    the live and deleted candidates are counted); the answer is the same as without."""
    import triage.store as store_module

    assert store.parallel_reads == "auto" and not Store("sqlite:///:memory:").parallel_reads
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    results = small_triage.ingest(small_triage.prepare(fixture_letters), store, index)
    pks = [pk for pk, _, _ in results]
    store.delete_case(results[1][1])
    counted = []
    touch = store_module._touch
    monkeypatch.setattr(store_module, "_touch", lambda *a: counted.append((a[1].split()[3], touch(*a))))
    key = small_triage.embedder_key
    for model, version in ((key, MATTER_VERSION), ("another-model", MATTER_VERSION), (key, "0")):
        counted.clear()
        store.parallel_reads = True
        ahead = store.get_candidates(pks + [10_000], model, version)
        found = dict(counted)
        assert found["cases"] == len(pks) and found["identities"] > 0
        assert found["case_vectors"] == len(pks) * (model == small_triage.embedder_key)
        assert found["case_matters"] == len(pks) * (version == MATTER_VERSION)
        store.parallel_reads = False
        plain = store.get_candidates(pks + [10_000], model, version)
        assert ahead.keys() == plain.keys() == set(pks) - {results[1][0]}
        for pk in plain:
            (ra, va, ma), (rp, vp, mp) = ahead[pk], plain[pk]
            assert ra == rp and ma == mp and (va is None) == (vp is None)
            if vp is not None:
                np.testing.assert_array_equal(va, vp)
        assert any(rec["identities"] for rec, _, _ in plain.values())
        assert all((v is None) == (model != small_triage.embedder_key) for _, v, _ in plain.values())
        assert all((m is None) == (version != MATTER_VERSION) for _, _, m in plain.values())


def test_read_ahead_follows_whichever_way_reads_faster(small_triage, store, fixture_letters):
    """"auto": both ways are timed first, then the faster is used, and now and then the other (every 10th read while
    reading ahead wins, every 100th while plain reads do), so that a change (the page cache warming up, the file
    outgrowing it) turns the choice within a few reads: a cache going cold shows in the plain reads' own times."""
    from triage.store import ReadAhead

    ra = ReadAhead(explore=10, explore_cached=100)
    assert [ra.choose() for _ in range(2)] == [True, True]       # nothing timed: read ahead first
    ra.record(True, 3e-4)
    assert ra.choose() is False                                 # then the other way
    ra.record(False, 1e-4)                                      # which is faster (a cached file)
    picks = [ra.choose() for _ in range(250)]
    assert picks.count(True) == 2 and all(picks[i] == ((ra.reads - 249 + i) % 100 == 0) for i in range(250))
    for n in range(30):                                         # the file no longer fits: plain reads slow down …
        ra.record(False, 6e-4)
        if ra.average[False] > 3e-4:
            break
    assert n < 10 and ra.choose() is True                       # … past reading ahead's last average: it wins
    picks = [ra.choose() for _ in range(20)]
    assert picks.count(False) == 2 and all(picks[i] == ((ra.reads - 19 + i) % 10 != 0) for i in range(20))
    for _ in range(30):                                         # the cache warms: the plain reads tried win again
        ra.record(False, 1e-4)
    assert ra.choose() is False

    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    pks = [pk for pk, _, _ in small_triage.ingest(small_triage.prepare(fixture_letters), store, index)]
    answers = [store.get_candidates(pks, small_triage.embedder_key, MATTER_VERSION) for _ in range(12)]
    for a in answers[1:]:
        assert a.keys() == answers[0].keys() and all(a[pk][0] == answers[0][pk][0] for pk in a)
    assert store.read_ahead.reads == 12 and None not in store.read_ahead.average.values()


def test_cached_views_belong_to_their_store(small_triage, tmp_path, fixture_letters):
    """One Triage serving two stores: the same pk is another case in each, and a view cached from the first store
    is never used for the second (it once was: a repeat was then judged against another letter's text)."""
    a = Store(f"sqlite:///{tmp_path}/a.db").open()
    b = Store(f"sqlite:///{tmp_path}/b.db").open()
    first, second = fixture_letters[0], fixture_letters[4]
    ia = CaseIndex.open(a, small_triage.embedder_key, small_triage.embedder.dim)
    ib = CaseIndex.open(b, small_triage.embedder_key, small_triage.embedder.dim)
    small_triage.ingest(small_triage.prepare([first, second]), a, ia)
    small_triage.ingest(small_triage.prepare([second, first]), b, ib)
    assert a.pk_for(first.id) == b.pk_for(second.id)
    query = small_triage.prepare([parse_letter({**first.to_dict(), "id": "again"})])[0]
    for store, index in ((a, ia), (b, ib), (a, ia)):
        duplicates, similar, _ = small_triage.match(query, store, index)
        assert duplicates["matches"][0]["case_id"] == first.id and duplicates["matches"][0]["score"] > 0.9
        assert second.id not in [m["case_id"] for m in duplicates["matches"] if m["verdict"] == "duplicate"]


def test_a_campaigns_identical_copies_give_the_newest_few_as_evidence(small_triage, store, fixture_letters):
    """A text sent by many people (a campaign: here 45 identical copies) brings only its newest
    ``config.candidates`` copies along as candidates, not all of them, and the letter is still their duplicate."""
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    base = fixture_letters[0]
    copies = [parse_letter({**base.to_dict(), "id": f"copy-{i}", "petitioner": None}) for i in range(45)]
    results = small_triage.ingest(small_triage.prepare(copies), store, index)
    newest = max(pk for pk, _, _ in results)
    asked = []
    read = store.get_candidates

    def spy(pks, *args):
        pks = list(pks)
        asked.append(pks)
        return read(pks, *args)

    store.get_candidates = spy
    query = small_triage.prepare([parse_letter({**base.to_dict(), "id": "q-new", "petitioner": None})])[0]
    duplicates, _, _ = small_triage.match(query, store, index)
    cfg = small_triage.config
    assert len(asked[0]) <= cfg.neighbours + 2 * cfg.candidates and newest in asked[0]
    assert duplicates["verdict"] == "duplicate" and len(duplicates["matches"]) == cfg.max_matches
    assert store.pks_by_hash(query.view.hash, limit=cfg.candidates) == sorted(
        (pk for pk, _, _ in results), reverse=True)[: cfg.candidates]


@pytest.mark.integration
def test_an_exact_copy_by_the_same_petitioner_is_the_first_match(real_triage, store):
    """Near-twins (same estate, same issue, other numbers, other petitioners) and the exact copy all saturate the
    pair model (0.997–0.999); the exact copy by the same petitioner must still come first, for every letter."""
    places = ["A1区锦绣花园", "A2区阳光小区", "A3区和平里", "A4区新村", "A5区东湖苑"]
    issues = ["电梯停运", "夜间施工噪音", "物业乱收费", "路灯损坏", "垃圾清运不及时", "停车位被占"]
    letters = [Letter(id=f"t-{i}", title=f"{places[i % 5]}{issues[i % 6]}",
                      content=f"{places[i % 5]}{(7 * i) % 30 + 1}号楼{issues[i % 6]}已经{(11 * i) % 59 + 2}天，"
                              f"居民反映多次未解决，请有关部门处理。（第{i}封）",
                      received_at=f"2024-{i % 12 + 1:02d}-{i % 27 + 1:02d}",
                      petitioner={"phone": f"139{i:08d}"}) for i in range(80)]
    index = CaseIndex.open(store, real_triage.embedder_key, real_triage.embedder.dim)
    real_triage.ingest(real_triage.prepare(letters), store, index)
    for i in (6, 16, 36, 66, 79):
        probe = Letter(**{**letters[i].to_dict(), "id": f"probe-{i}"})
        first = real_triage.suggest(probe, store, index)["duplicates"]["matches"][0]
        assert first["case_id"] == f"t-{i}" and first["same_petitioner"], (i, first)


def test_a_placeholder_phone_makes_no_two_letters_one_persons(small_triage, store, fixture_letters):
    """Exports write 无 or 不详 where a caller gave no number: such letters share no identity, so a stored case is
    not "from the same petitioner" because both phones read 无."""
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    stored = parse_letter({**fixture_letters[0].to_dict(), "id": "ph-1", "petitioner": {"phone": "无"}})
    small_triage.ingest(small_triage.prepare([stored]), store, index)
    for phone, same in (("不详", False), ("无", False), ("13800138000", False)):
        copy = parse_letter({**fixture_letters[0].to_dict(), "id": f"ph-q-{phone}", "petitioner": {"phone": phone}})
        top = [m for m in small_triage.suggest(copy, store, index)["duplicates"]["matches"] if m["case_id"] == "ph-1"]
        assert top and top[0]["same_petitioner"] is same


def test_the_region_filter_of_similar_cases_reads_where_the_matter_is():
    from triage.pipeline import _passes

    case = {"region": None, "title": "路灯不亮", "content": "门口路灯坏了一周。", "extra": {"location": "鼓楼区五四路12号"}}
    assert _passes(case, {"region": "鼓楼区"})
    assert not _passes(case, {"region": "台江区"})
    assert not _passes({**case, "extra": None}, {"region": "鼓楼区"})
    assert _passes({**case, "extra": None, "region": "鼓楼区"}, {"region": "鼓楼区"})


def test_where_the_matter_is_is_part_of_the_matter(small_triage):
    """Two tickets whose system keeps the address apart (location): the place is compared as if the text named it,
    and stored with the case's matter."""
    text = "来电人反映门口道路井盖破损，存在安全隐患，希望尽快修复。"
    a = parse_letter({"id": "loc-a", "content": text, "location": "白沙街道湖光小区东门"})
    b = parse_letter({"id": "loc-b", "content": text, "location": "湖光小区东门"})
    far = parse_letter({"id": "loc-c", "content": text, "location": "月亮湾街道翠湖小区"})
    pa, pb, pc = small_triage.prepare([a, b, far])
    assert any("湖光小区" in n for names in pa.view.matter.objects.values() for n in names)
    plain = small_triage.prepare([parse_letter({"id": "loc-d", "content": text})])[0]
    assert not any("湖光小区" in n for names in plain.view.matter.objects.values() for n in names)
    same = small_triage.compare(a, b)
    other = small_triage.compare(a, far)
    assert same["probabilities"]["duplicate"] > other["probabilities"]["duplicate"]
    assert any("湖光小区" in r for r in same["reasons"])
    # the stored case's matter is the one prepared, location included
    assert pa.record()["matter"] == pa.view.matter.to_dict()


def test_a_matter_stored_before_locations_were_read_is_extracted_again(small_triage, store):
    """A case imported before a ticket's address column was part of its matter (matter version "1") kept a
    matter without that place; read as a candidate, it is extracted again, the place included."""
    text = "来电人反映门口道路井盖破损，存在安全隐患，希望尽快修复。"
    old = small_triage.prepare([parse_letter({"id": "old-loc", "content": text, "事发地址": "白沙街道湖光小区东门"})])[0]
    record = old.record()
    placeless = small_triage.prepare([parse_letter({"id": "old-loc", "content": text})])[0].view.matter
    assert placeless.to_dict() != record["matter"]
    record.update(matter=placeless.to_dict(), matter_version="1")   # as such a case was stored
    (pk, _, _), = store.add_cases([record], small_triage.embedder_key)
    rows = store.get_candidates([pk], small_triage.embedder_key, MATTER_VERSION)
    assert rows[pk][2] is None   # the old matter is not read as this version's
    view = small_triage._case_views({pk: rows[pk][0]}, {pk: rows[pk][1:]})[pk]
    assert view.matter.to_dict() == old.view.matter.to_dict()
    # an import stores it again, as this version's, so that no later read extracts it
    assert store.stale_matter_pks(MATTER_VERSION) == [pk]
    assert small_triage.refresh_matters(store) == 1
    stored = store.get_candidates([pk], small_triage.embedder_key, MATTER_VERSION)[pk][2]
    assert Matter.from_dict(stored).to_dict() == old.view.matter.to_dict()
    assert store.stale_matter_pks(MATTER_VERSION) == [] and small_triage.refresh_matters(store) == 0


@pytest.mark.integration
def test_the_type_a_clerks_opening_states_reaches_the_type_model(real_triage):
    """12345 clerks open a ticket with what the call was (市民来电咨询：…, 来电人投诉：…). Normalising takes the
    opening off (two clerks' copies hash alike); the type model still reads the type it states: that type's score
    rises, while an opening that states none (来电人反映) changes nothing. Hand-written tickets: no public letter
    opens so."""
    from triage.normalise import normalise

    def scores(content):
        p = real_triage.prepare([Letter(id=None, content=content)])[0]
        return p.text, {t["label"]: t["score"] for t in real_triage.classify(p)["type"]}

    for body, stated in (("小区门口的路灯坏了一个多月，晚上出行很不方便。", "咨询"),
                         ("小区门口的路灯坏了一个多月，晚上出行很不方便。", "投诉"),
                         ("某工地每天夜里施工到凌晨两点，噪音很大。", "举报"),
                         ("公积金贷款需要什么材料，多久能批下来。", "咨询")):
        text, plain = scores(body)
        opened_text, opened = scores(f"市民来电{stated}：{body}")
        assert opened_text == text == normalise(body)   # the letter's text (hash, matching) is the same
        assert opened.get(stated, 0.0) > plain.get(stated, 0.0), (body, stated, plain, opened)
        assert scores(f"来电人反映：{body}")[1] == plain


def test_each_type_says_why(real_triage):
    """A type comes with its evidence, as a department does: the type a clerk's opening stated, and the words of
    that type the letter says (its cue phrases). A type whose words the letter does not say has none."""
    p = real_triage.prepare([Letter(id=None, content="市民来电投诉：请问小区路灯坏了怎么一直没人管？严重影响出行")])[0]
    types = {t["label"]: t["evidence"] for t in real_triage.classify(p)["type"]}
    assert types["投诉"][0] == "the clerk's opening says 投诉"
    assert types["投诉"][1] == "says 没人管、严重、影响"
    assert types.get("咨询", ["says 请问、怎么、?"]) == ["says 请问、怎么、?"]   # no opening of its type
    p = real_triage.prepare([Letter(id=None, title="关于小区绿化的建议", content="建议在小区东门增设一处休闲座椅。")])[0]
    types = real_triage.classify(p)["type"]
    assert types[0]["label"] == "建议" and types[0]["evidence"] == ["says 建议"]
    assert all(t["evidence"] == [] for t in types[1:] if t["label"] in ("举报", "投诉"))


def test_type_evidence_reads_the_title_first_and_says_each_word_once():
    from triage.pipeline import type_evidence

    assert type_evidence("咨询", "请问公积金怎么提取？", "我想了解一下，是否可以提取？请问多久到账") == [
        "says 请问、怎么、？、了解一下、是否"]   # at most five, in the order a reader meets them
    assert type_evidence("咨询", "", "公积金提取", stated="询问") == ["the clerk's opening says 询问"]
    assert type_evidence("投诉", "", "公积金提取", stated="咨询") == []
    assert type_evidence("表扬", "", "感谢环卫工人") == []   # a deployment's own label: no cues of its own


def test_the_first_domain_says_which_of_the_letters_words_point_to_it(real_triage):
    """The shipped domain model on a letter about a property company's parking fees: the first domain comes with
    the letter's own words that weigh most for it; the other domains carry none."""
    content = "锦绣花园小区物业公司未经业主大会同意，对地面停车位每月收取300元停车费，业主多次反映无果。"
    p = real_triage.prepare([Letter(id=None, content=content)])[0]
    domain = real_triage.classify(p)["domain"]
    assert domain[0]["label"] == "城乡建设"
    (said,) = domain[0]["evidence"]
    words = said.removeprefix("words for it: ").split("、")
    assert said.startswith("words for it: ") and 1 <= len(words) <= 4 and all(w in content for w in words)
    assert {"物业公司", "业主", "停车费", "停车位"} & set(words), words
    assert all(d["evidence"] == [] for d in domain[1:])


def test_a_type_from_the_offices_own_history_says_so(small_triage, monkeypatch):
    """Where the store's type history answers, the first type says it was learnt from this office's typed letters
    (how many), after the words the letter says; the other types do not. (The history here is a stand-in that
    answers fixed probabilities: what is tested is what the suggestion says, not the history's quality.)"""

    class History:
        labels = ["举报", "咨询", "建议", "投诉"]
        metrics = {"letters": 321}

        def proba(self, texts, base, vectors=None):
            return np.array([[0.1, 0.6, 0.1, 0.2]])

    p = small_triage.prepare([Letter(id=None, content="请问公积金贷款需要什么材料？")])[0]
    assert all("typed letters" not in e for t in small_triage.classify(p)["type"] for e in t["evidence"])
    monkeypatch.setattr(small_triage, "type_history", History())
    types = small_triage.classify(p)["type"]
    assert [t["label"] for t in types] == ["咨询", "投诉", "举报"]
    assert types[0]["evidence"] == ["says 请问、?", "learnt from this office's 321 typed letters"]
    assert all("typed letters" not in e for t in types[1:] for e in t["evidence"])
