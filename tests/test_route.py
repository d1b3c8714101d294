"""Router: neither / cold (directory only) / warm (history only) / both, evidence, save→load."""

import json
import random

import numpy as np
import pytest

from triage.directory import Directory
from triage.errors import InvalidInput, ModelMissing
from triage.route import Router, RouterConfig, department_places, department_role

DISTRICTS = {  # district centre → streets and estates in it (invented names)
    "东城区分中心": ["东城区", "青石街道", "桂园社区", "松林小区", "芙蓉路"],
    "西城区分中心": ["西城区", "白沙街道", "柳岸社区", "湖光小区", "银杏路"],
    "南湖区分中心": ["南湖区", "月亮湾街道", "渔村社区", "翠湖小区", "莲花路"],
}
BUREAUS = {  # municipal bureau → what its matters say
    "市税务局": ["发票开不出来", "个税汇算清缴退税", "纳税申报系统", "增值税专用发票"],
    "市人社局": ["社保断缴", "养老保险转移", "工伤认定", "拖欠工资仲裁"],
    "市交管局": ["驾驶证换证", "违章停车罚单", "红绿灯配时", "机动车年检"],
}
LOCAL = ["门口垃圾堆积很久无人清理", "楼下餐馆油烟扰民", "道路井盖破损存在隐患", "夜间施工噪音扰民", "路灯不亮"]


def make_history(n=240, seed=3):
    rng = random.Random(seed)
    letters = []
    for i in range(n):
        if rng.random() < 0.7:
            dept = rng.choice(list(DISTRICTS))
            place = rng.choice(DISTRICTS[dept][1:])  # streets/estates only: the district is not named
            content = f"来电人反映{place}{rng.choice(LOCAL)}，希望尽快处理。"
        else:
            dept = rng.choice(list(BUREAUS))
            district = rng.choice(list(DISTRICTS))
            content = f"市民咨询{rng.choice(BUREAUS[dept])}的问题，本人住在{DISTRICTS[district][0]}，请相关部门答复。"
        letters.append({"id": f"h{i}", "title": "", "content": content, "department": dept,
                        "received_at": f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}"})
    return letters


@pytest.fixture(scope="module")
def directory():
    records = [{"name": d, "level": "区", "places": places} for d, places in DISTRICTS.items()]
    records += [{"name": "市税务局", "level": "市", "keywords": "发票|个税|纳税|增值税"},
                {"name": "市人社局", "level": "市", "keywords": "社保|养老保险|工伤|工资"},
                {"name": "市交管局", "level": "市", "keywords": "驾驶证|违章|红绿灯|年检", "aliases": "交管局"}]
    return Directory.from_records(records, name="test")


@pytest.fixture(scope="module")
def history():
    return make_history()


@pytest.fixture(scope="module")
def warm(history):
    return Router().fit_history(history)


def check_shape(results, known):
    assert results == sorted(results, key=lambda r: -r["score"])
    for r in results:
        assert r["name"] in known
        assert 0.0 <= r["score"] <= 1.0
        assert r["evidence"] and all(isinstance(e, str) and e for e in r["evidence"])


def test_neither_directory_nor_history_gives_nothing():
    assert Router().route({"content": "东城区青石街道垃圾无人清理"}) == []
    assert Router().fit_history([]).route({"content": "东城区青石街道垃圾无人清理"}) == []
    assert Router().fit_history([{"content": "x", "department": ""}]).departments == []


def test_cold_start_routes_by_place_and_duty(directory):
    router = Router(directory)
    res = router.route({"content": "青石街道门口垃圾堆积"})
    check_shape(res, router.departments)
    assert res[0]["name"] == "东城区分中心"
    assert any("青石街道 → 东城区分中心" in e for e in res[0]["evidence"])
    res = router.route({"content": "公司开不出增值税发票怎么办"})
    assert res[0]["name"] == "市税务局" and "发票" in res[0]["evidence"][0]
    assert router.route({"content": "天气不错"}) == []   # no evidence: nothing invented


def test_region_field_counts_as_a_place(directory):
    res = Router(directory).route({"content": "门口垃圾没人管", "region": "西城区"})
    assert res[0]["name"] == "西城区分中心"


def test_warm_history_learns_streets_without_a_directory(warm, history):
    assert warm.metrics["holdout_letters"] > 0
    res = warm.route({"content": "来电人反映白沙街道路灯不亮"})
    check_shape(res, warm.departments)
    assert res[0]["name"] == "西城区分中心"
    assert any("earlier cases mentioning 白沙街道" in e for e in res[0]["evidence"])
    res = warm.route({"content": "市民咨询个税汇算清缴退税的问题，本人住在东城区"})
    assert res[0]["name"] == "市税务局"


def test_warm_accuracy_on_unseen_synthetic_letters(warm):
    test = make_history(n=120, seed=99)
    hits = sum(bool(r) and r[0]["name"] == l["department"] for l, r in
               zip(test, (warm.route(l) for l in test)))
    assert hits / len(test) >= 0.9


def test_both_directory_and_history(directory, history):
    router = Router(directory).fit_history(history)
    res = router.route({"content": "驾驶证到期换证去哪里办"}, neighbours=None)
    assert res[0]["name"] == "市交管局"
    check_shape(res, router.departments)


def test_history_names_are_folded_into_directory_aliases(directory):
    router = Router(directory).fit_history([{"content": "违章停车", "department": "交管局"}] * 3)
    assert "交管局" not in router.departments and "市交管局" in router.departments


def test_neighbours_vote_with_evidence(warm):
    neighbours = [{"case_id": f"c{i}", "score": 0.9, "department": "市人社局"} for i in range(7)]
    neighbours += [{"case_id": "c8", "score": 0.5, "department": "市税务局"}]
    letter = {"content": "咨询一个问题"}
    without = {r["name"]: r["score"] for r in warm.route(letter, k=10)}
    res = {r["name"]: r for r in warm.route(letter, neighbours=neighbours, k=10)}
    assert res["市人社局"]["score"] >= without.get("市人社局", 0.0)
    assert any("7 of 8 similar cases went to 市人社局" in e for e in res["市人社局"]["evidence"])
    # with default weights (a history too small to fit them) the neighbours carry the decision
    small = Router().fit_history(make_history(n=40))
    assert small.route(letter, neighbours=neighbours)[0]["name"] == "市人社局"
    with pytest.raises(InvalidInput):
        warm.route({"content": "x"}, neighbours=[{"department": "市人社局", "score": "high"}])


def test_k_and_unknown_neighbour_departments(warm):
    res = warm.route({"content": "来电人反映桂园社区夜间施工噪音扰民"}, k=1)
    assert len(res) == 1
    res = warm.route({"content": "咨询"}, neighbours=[{"case_id": "x", "score": 1.0, "department": "火星局"}])
    assert all(r["name"] != "火星局" for r in res)


@pytest.mark.parametrize("rerank", [False, True])
def test_save_load_round_trip_is_identical(tmp_path, directory, history, rerank):
    router = Router(directory, RouterConfig(rerank=rerank)).fit_history(history)
    out = router.save(tmp_path / "router")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["component"] == "router" and manifest["history_letters"] == len(history)
    assert set(manifest["departments"]) == set(router.departments) and manifest["data_hash"]
    assert "scikit-learn" in manifest["versions"] and "holdout_top1" in manifest["metrics"]
    assert all(router._rerank.get(key) is not None for key in ("plain", "neighbours")) == rerank   # saved too
    loaded = Router.load(out)
    probes = make_history(n=30, seed=5) + [{"content": "增值税发票"}, {"content": "门口垃圾", "region": "南湖区"}]
    for letter in probes:
        assert loaded.route(letter) == router.route(letter)


def test_load_refuses_a_folder_that_is_not_a_router(tmp_path):
    with pytest.raises(ModelMissing, match="manifest.json"):
        Router.load(tmp_path)


def test_config_is_validated():
    from triage.errors import ConfigError

    with pytest.raises(ConfigError):
        RouterConfig(holdout_fraction=1.5)
    with pytest.raises(ConfigError):
        Router(directory="not a directory")


def test_department_roles_share_across_districts():
    assert department_role("A3区住建局") == department_role("A5区住建局") == "<区>住建局"
    assert department_role("朝阳区分中心") == "<区>分中心"
    assert [p.name for p in department_places("A7县安沙镇")] == ["A7县", "安沙镇"]


def test_assigning_a_directory_after_load_takes_effect(tmp_path, directory, history):
    router = Router().fit_history(history)
    loaded = Router.load(router.save(tmp_path / "r"))
    assert loaded.directory is None
    loaded.directory = directory
    res = loaded.route({"content": "月亮湾街道门口垃圾没人管"})
    assert res[0]["name"] == "南湖区分中心"
    assert any("(directory)" in e for e in res[0]["evidence"])


def test_department_kinds_and_duties():
    from triage.route import department_duty, department_kind

    for office in ("A7县", "朝阳区分中心", "洞井街道办事处", "A市", "朝阳区人民政府"):
        assert department_kind(office) == "office", office
        assert department_duty(office) == ""
    for office in ("宁乡区", "和平街道办事处", "海淀区12345热线分中心", "经开区管委会", "攸县"):   # real names
        assert department_kind(office) == "office", office
        assert department_duty(office) == ""
    for unit, duty in (("A市交通运输局", "交通运输"), ("市公安局", "公安"), ("A市公积金中心", "公积金"),
                       ("L市公交集团", "公交"), ("A3区教育局", "教育"), ("市住建局", "住建"),
                       ("安乡县教育局", "教育"), ("鼎城市交通运输局", "交通运输"),
                       ("朝阳区市场监管局", "市场监管"), ("市市场监督管理局", "市场监督")):   # 市场 is no level prefix
        assert department_kind(unit) == "unit", unit
        assert department_duty(unit) == duty
    # real cities' companies and bodies: the city's bare name, the national company and the legal form are no duty
    for unit, duty in (("合肥供水集团", "供水"), ("国网福州供电公司", "供电"), ("中国电信合肥分公司", "电信"),
                       ("福州市水务投资发展有限公司", "水务投资发展"), ("福建省水利厅", "水利"),
                       ("市城市管理局", "城市管理"), ("厦门公交集团", "公交")):
        assert department_kind(unit) == "unit", unit
        assert department_duty(unit) == duty, unit
    assert department_kind("仓山区街道办事处") == "office"
    assert [p.name for p in department_places("国网北京市电力公司")] == ["北京市"]


def test_a_unit_is_not_reached_by_its_citys_name_or_a_common_word():
    from triage.route import duty_hit

    assert duty_hit("供水", "合肥市蜀山区停水两天了") == ""      # 合肥供水集团: 合肥 is where, not what
    assert duty_hit("供水", "小区供水管破裂") == "供水"
    assert duty_hit("交通运输", "请交通部门管一管") == "交通"
    assert duty_hit("城市管理", "城市道路上的井盖松动") == ""    # 城市 is in every other letter
    assert duty_hit("城市管理", "请城市管理部门处理") == "城市管理"


def test_kind_model_is_fitted_and_saved(tmp_path, warm):
    h = warm._history
    assert h.kind is not None and set(h.kind.classes) == {"office", "unit"}
    p = h.kind.proba(h.vectoriser.transform(["市民咨询个税汇算清缴退税的问题，本人住在东城区"]))
    assert p["unit"] > 0.5 and abs(sum(p.values()) - 1.0) < 1e-6
    loaded = Router.load(warm.save(tmp_path / "r"))
    assert loaded._history.kind is not None and loaded._history.kind.classes == h.kind.classes
    letter = {"content": "来电人反映芙蓉路夜间施工噪音扰民"}
    assert loaded.route(letter) == warm.route(letter)


def test_a_rare_unit_named_in_the_letter_is_suggested(history):
    # 市园林局 answered two letters only: too few for the text model, but a letter naming 园林 reaches it
    rare = [{"id": f"y{i}", "content": f"{t}，请尽快处理。", "department": "市园林局"}
            for i, t in enumerate(["公园里的树木倒伏无人管", "行道树枝叶遮挡了路灯"])]
    router = Router().fit_history(history + rare)
    res = router.route({"content": "请市园林部门来修剪小区外的行道树"})
    names = [r["name"] for r in res]
    assert "市园林局" in names
    ev = res[names.index("市园林局")]["evidence"]
    assert any("names 园林 → 市园林局" in e for e in ev)


def test_real_district_names_the_free_text_extractor_misses_still_route_by_name():
    # 宁乡区 (乡 inside), 和平区 (和 is a stop character), 攸县 (one-character core), 鼎城市 (城市): a history of
    # real names must route a letter naming one of them to it, as A6区 routes to A6区
    offices = ["宁乡区", "和平区", "攸县", "鼎城市"]
    rng = random.Random(5)
    history = [{"id": f"r{i}", "content": f"{d}{rng.choice(LOCAL)}，希望尽快处理。", "department": d}
               for i, d in enumerate(rng.choice(offices) for _ in range(160))]
    router = Router().fit_history(history)
    for d in offices:
        assert [p.name for p in department_places(d)] == [d]
        res = router.route({"content": f"我家在{d}，楼下的下水道堵了很久"})
        assert res[0]["name"] == d, (d, res)
        assert f"mentions {d} → {d}" in res[0]["evidence"], res[0]["evidence"]


def test_cold_start_counts_a_unit_named_after_its_place_once():
    """朝阳区分中心 covering 朝阳区 is one clue (the directory's), not a directory clue plus a name clue: with the
    documented default weights its score is that of covering a named district and being the first place named."""
    import math

    from triage.route import DEFAULT_WEIGHTS

    d = Directory.from_records([{"name": "朝阳区分中心", "level": "区", "places": "朝阳区"},
                                {"name": "海淀区分中心", "level": "区", "places": "海淀区"}])
    res = Router(d).route({"content": "朝阳区某小区门口垃圾无人清理"})
    logit = 0.7 * DEFAULT_WEIGHTS["dir_place"] + DEFAULT_WEIGHTS["place_first"]
    expected = math.exp(logit) / (math.exp(logit) + math.exp(DEFAULT_WEIGHTS["__none__"]))
    assert res[0]["name"] == "朝阳区分中心" and res[0]["score"] == pytest.approx(expected, abs=1e-3)
    assert res[0]["evidence"] == ["mentions 朝阳区 → 朝阳区分中心 (directory)"]


def test_sentence_vectors_join_the_text_heads(tmp_path):
    # every letter says the same words; only its sentence vector tells the bureaus apart
    rng = np.random.default_rng(0)
    depts = ["市税务局", "市人社局", "市交管局"]
    centres = rng.normal(size=(3, 16))

    def sample(n, start):
        letters, vecs = [], []
        for i in range(n):
            letters.append({"id": f"v{start + i}", "content": "市民来电反映有关问题，请相关部门尽快答复处理。",
                            "department": depts[i % 3]})
            vecs.append(centres[i % 3] + 0.5 * rng.normal(size=16))
        vecs = np.array(vecs, dtype=np.float32)
        return letters, vecs / np.linalg.norm(vecs, axis=1, keepdims=True)

    history, hv = sample(180, 0)
    probes, pv = sample(30, 1000)
    with_vectors = Router().fit_history(history, hv)
    without = Router(config=RouterConfig(embedding_weight=0)).fit_history(history, hv)

    def accuracy(router):
        return np.mean([router.route(l, vector=v)[0]["name"] == l["department"] for l, v in zip(probes, pv)])

    assert accuracy(with_vectors) >= 0.9
    assert accuracy(without) < 0.6          # the words alone cannot tell them apart (chance is 1/3)
    loaded = Router.load(with_vectors.save(tmp_path / "r"))
    assert all(loaded.route(l, vector=v) == with_vectors.route(l, vector=v) for l, v in zip(probes, pv))
    assert with_vectors.route(probes[0])    # no vector: the n-grams alone still answer
    with pytest.raises(InvalidInput, match="5-dimensional"):
        with_vectors.route(probes[0], vector=np.zeros(5))
    with pytest.raises(InvalidInput, match="2 vectors for 180"):
        Router().fit_history(history, hv[:2])


def test_an_address_given_late_in_a_long_ticket_still_routes(history):
    # the text heads read the first max_chars; places are searched further (place_chars)
    filler = "来电人反映" + "，".join(LOCAL * 8) + "，希望尽快处理。"
    letter = {"content": filler + "具体地址：银杏路湖光小区。"}
    assert len(filler) > RouterConfig().max_chars
    names = [r["name"] for r in Router().fit_history(history).route(letter)]
    assert names[0] == "西城区分中心"
    short = Router(config=RouterConfig(place_chars=RouterConfig().max_chars)).fit_history(history)
    assert not any("银杏路" in e or "湖光小区" in e for r in short.route(letter) for e in r["evidence"])
    with pytest.raises(Exception, match="place_chars"):
        RouterConfig(place_chars=100)


def test_only_the_newest_routed_letters_are_learnt(history):
    router = Router(config=RouterConfig(max_history=150)).fit_history(history)
    assert router._history.n == 150
    assert router.data_hash == Router(config=RouterConfig(max_history=150)).fit_history(history[-150:]).data_hash
    with pytest.raises(Exception, match="max_history"):
        RouterConfig(max_history=0)


def test_a_unit_with_few_letters_is_reached_by_what_its_kind_does(history):
    """市住建局 has three letters in the history, none about a developer; a letter about a late handover speaks
    of its duties (corpora/duties.tsv): the clue is fitted on the history, raises the unit, and says why."""
    few = [{"id": f"z{i}", "content": c, "department": "市住建局"} for i, c in enumerate(
        ["我们小区的业委会成立受阻，请主管部门指导", "楼盘质量问题多，墙体开裂", "老旧小区改造进度太慢"])]
    letter = {"content": "开发商延期交房一年多了，购房合同写的去年年底"}
    with_lexicon = Router().fit_history(history + few)
    without = Router(config=RouterConfig(duty_lexicon=False)).fit_history(history + few)
    assert with_lexicon._weights["plain"]["duty_words"] > 0
    res, plain = with_lexicon.route(letter), without.route(letter)
    assert res[0]["name"] == plain[0]["name"] == "市住建局"
    assert "the letter speaks of 开发商、交房 → 市住建局 (what 住建 units do)" in res[0]["evidence"]
    assert res[0]["score"] > plain[0]["score"]
    assert not any("speaks of" in e for r in plain for e in r["evidence"])
    # offices have no duties of their kind: a district centre never gets the clue
    assert not any("speaks of" in e for r in with_lexicon.route({"content": "东城区青石街道路灯不亮"}) for e in r["evidence"])


def test_where_the_matter_is_in_a_field_of_its_own_routes_the_letter(history):
    # a 12345 ticket gives its address in a column of its own (事发地址 → ``location``), not in the text
    def located(letters):
        out = []
        for l in letters:
            place = next((p for places in DISTRICTS.values() for p in places[1:] if p in l["content"]), None)
            if place:
                l = dict(l, content=l["content"].replace(place, "这里"), location=f"{place}附近")
            out.append(l)
        return out

    train = located(history)
    assert sum("location" in l for l in train) > 100
    router = Router().fit_history(train)
    probe = {"content": "来电人反映这里路灯不亮，希望尽快处理。", "location": "白沙街道附近"}
    res = router.route(probe)
    assert res[0]["name"] == "西城区分中心"
    assert any("白沙街道" in e for e in res[0]["evidence"])
    # the same case stored (its location in ``extra``) reads the same
    assert router.route({"content": probe["content"], "extra": {"location": "白沙街道附近"}}) == res
    # without the field the letter names no place: the history's answer for 白沙街道 is not given with evidence
    assert not any("白沙街道" in e for r in router.route({"content": probe["content"]}) for e in r["evidence"])
    # the petitioner's own address is not where the matter is
    assert not any("白沙街道" in e for r in router.route({"content": probe["content"],
                                                         "petitioner": {"address": "白沙街道"}})
                   for e in r["evidence"])
    # a letter with nothing but a location still routes
    assert router.route({"content": "", "location": "月亮湾街道"})[0]["name"] == "南湖区分中心"
    test = located(make_history(n=120, seed=99))
    hits = sum(bool(r) and r[0]["name"] == l["department"] for l, r in zip(test, (router.route(l) for l in test)))
    assert hits / len(test) >= 0.9


def test_without_trees_the_rerank_clue_weighs_nothing(history):
    """``RouterConfig(rerank=False)`` (the default, or a router saved before the trees): no trees, and the clue
    they would fill keeps its default weight of 0, so routing is the linear model's alone."""
    plain = Router().fit_history(history)
    assert plain._rerank == {} and plain._weights["plain"]["rerank"] == 0.0
    with_trees = Router(config=RouterConfig(rerank=True)).fit_history(history)
    assert with_trees._weights["plain"]["rerank"] >= 0.0   # a positive clue: never counted against a department
    letter = {"content": "来电人反映芙蓉路夜间施工噪音扰民"}
    assert plain.route(letter)[0]["name"] == with_trees.route(letter)[0]["name"] == "东城区分中心"
