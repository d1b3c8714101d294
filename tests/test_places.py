"""Place extraction: patterns, boundaries, generic words, gazetteer."""

from triage.places import Gazetteer, Place, extract_places, level_rank, place_of_name


def names(text, **kw):
    return [p.name for p in extract_places(text, **kw)]


def test_anonymised_codes_and_estate_do_not_swallow_each_other():
    assert names("反映A市A2区景蓉华苑小区停车难") == ["A市", "A2区", "景蓉华苑小区"]


def test_full_admin_chain_is_split_at_each_suffix():
    got = extract_places("湖南省长沙市岳麓区洋湖街道办事处")
    assert [(p.name, p.level) for p in got] == [("湖南省", "省"), ("长沙市", "市"), ("岳麓区", "区"), ("洋湖街道", "街道")]


def test_spans_point_into_the_text():
    text = "我住在北京市朝阳区望京街道花家地社区"
    for p in extract_places(text):
        assert text[p.span[0]:p.span[1]].startswith(p.name[:2])


def test_returns_name_level_span_tuples():
    (p,) = extract_places("A7县")
    name, level, span = p
    assert (name, level, span) == ("A7县", "县", (0, 3)) and isinstance(p, Place)


def test_generic_words_are_not_places():
    for text in ("我住在本区，小区物业不作为", "城市管理", "农村道路", "去超市买东西", "我们小区门口", "各区县", "马路上",
                 "节省成本", "加快市政建设", "要求设置小区门禁", "我们村的路"):
        assert names(text) == [], text


def test_function_words_are_cut_from_the_front():
    assert names("在和平区的市场") == ["和平区"]
    assert names("位于中山路与人民路交叉口") == ["中山路", "人民路"]
    assert names("请福州市政府尽快处理") == ["福州市"]
    assert names("投诉景蓉华苑小区物业") == ["景蓉华苑小区"]


def test_code_is_not_matched_inside_a_longer_code():
    assert names("K10县和K1县") == ["K10县", "K1县"]


def test_roads_can_be_switched_off():
    from triage.places import PlaceConfig

    assert names("A3区潇楚南路洋湖段") == ["A3区", "潇楚南路"]
    assert names("A3区潇楚南路洋湖段", config=PlaceConfig(roads=False)) == ["A3区"]


def test_region_field_is_added_without_span_and_kept_whole_without_suffix():
    got = extract_places("小区门口积水", region="朝阳")
    assert got == [Place("朝阳", "", None)]
    got = extract_places("积水", region="北京市朝阳区")
    assert [(p.name, p.span) for p in got] == [("北京市", None), ("朝阳区", None)]


def test_gazetteer_names_win_over_patterns_and_normalise_aliases():
    gaz = Gazetteer.from_names(["朝阳区", "望京街道"], aliases={"望京街道办事处": "望京街道", "望京": "望京街道"})
    got = extract_places("请朝阳区望京办理", gazetteer=gaz)
    assert [p.name for p in got] == ["朝阳区", "望京街道"]
    assert gaz.level("望京") == "街道"


def test_place_of_name_and_level_rank():
    assert place_of_name("望京街道办事处") == ("望京街道", "街道")
    assert place_of_name("A2区") == ("A2区", "区")
    assert place_of_name("朝阳") == ("朝阳", "")
    assert level_rank("省") < level_rank("区") < level_rank("社区")


def test_district_names_ending_in_town_area_are_places_but_generic_town_areas_are_not():
    names = lambda text: [p.name for p in extract_places(text)]  # noqa: E731
    assert "东城区" in names("我住在东城区，楼下噪音扰民")
    assert "鼎城区" in names("常德市鼎城区某村道路损坏")
    assert names("老城区改造太慢") == [] and names("主城区交通拥堵") == [] and names("新城区的路灯坏了") == []


def test_leading_places_read_real_names_the_free_text_extractor_misses():
    from triage.places import leading_places

    def chain(name):
        return [(p.name, p.level) for p in leading_places(name)]

    # 乡 inside a name, a stop character first, a one-character core, 城市 read as "city"
    for name, level in (("宁乡区", "区"), ("东乡区", "区"), ("安乡县", "县"), ("和平区", "区"), ("攸县", "县"),
                        ("鼎城市", "市")):
        assert [p.name for p in extract_places(name)] != [name], name   # why leading_places exists
        assert chain(name) == [(name, level)], name
    assert chain("浦东新区城运中心") == [("浦东新区", "区")]
    assert chain("天心市宁乡区乔口镇人民政府") == [("天心市", "市"), ("宁乡区", "区"), ("乔口镇", "镇")]
    assert chain("和平街道办事处") == [("和平街道", "街道")]
    assert chain("龙华区民治街道") == [("龙华区", "区"), ("民治街道", "街道")]
    assert chain("A7县安沙镇") == [("A7县", "县"), ("安沙镇", "镇")]
    assert chain("A市交通运输局") == [("A市", "市")]
    assert chain("海淀区12345分中心") == [("海淀区", "区")]
    # names that begin with no place
    for name in ("市住建局", "住房和城乡建设局", "城乡建设局", "乡镇企业局", "农村公路局", "市区供水公司", "城区分中心",
                 "新区管委会", "县城管局", "国网供电公司", ""):
        assert chain(name) == [], name
    assert chain("会同县人民政府") == [("会同县", "县")]            # 同 is a stop character, not in a county's name
    assert chain("长阳土家族自治县") == [("长阳土家族自治县", "县")]
    assert chain("C市建筑设计院与贵县瑶城市场服务中心") == [("C市", "市")]   # no county has a seven-character core
