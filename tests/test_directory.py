"""Department directory: loading, look-ups, and validation errors that name the row and field."""

import textwrap

import pytest

from training.datasets import PROJECT_DIR
from triage.directory import Directory, DirectoryError

HEADER = "name,level,places,domains,types,keywords,aliases,parent\n"


def write(tmp_path, body: str, name="directory.csv"):
    folder = tmp_path / "profile"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(body, encoding="utf-8")
    return folder


def test_loads_csv_with_lists_and_lookups(tmp_path):
    folder = write(tmp_path, HEADER + textwrap.dedent("""\
        朝阳区分中心,区,朝阳区|望京街道办事处|花家地社区,,,,朝阳分中心,
        市税务局,市,北京市,,咨询|投诉,发票|纳税|个税,税务局,
        望京街道,街道,望京街道,,,,,朝阳区分中心
        """))
    d = Directory.load(folder)
    assert d.name == "profile" and len(d) == 3
    assert [u.name for u in d.covering("望京街道")] == ["朝阳区分中心", "望京街道"]
    assert d.canonical("朝阳分中心") == "朝阳区分中心" and d.canonical("不存在") is None
    assert "望京街道" in d.gazetteer() and d.gazetteer().level("花家地社区") == "社区"
    match = d.duties("开不出发票，个税怎么办", type="咨询")["市税务局"]
    assert match.keywords == ("发票", "个税") and match.type == "咨询"


def test_loads_yaml(tmp_path):
    pytest.importorskip("yaml", reason="YAML directories need PyYAML")
    folder = write(tmp_path, textwrap.dedent("""\
        units:
          - name: 朝阳区分中心
            level: 区
            places: [朝阳区, 望京街道]
          - name: 市税务局
            level: 市
            keywords: 发票|纳税
        """), name="directory.yaml")
    d = Directory.load(folder)
    assert d.get("市税务局").keywords == ("发票", "纳税")


@pytest.mark.parametrize("body, field, line, words", [
    ("name,places\nX,朝阳区\n", None, 1, "lacks column(s) level"),
    (HEADER + ",区,朝阳区,,,,,\n", "name", 2, "'name' is required"),
    (HEADER + "朝阳区分中心,district,朝阳区,,,,,\n", "level", 2, "not one of"),
    (HEADER + "市税务局,市,,,退单,,,\n", "types", 2, "退单"),
    (HEADER + "市税务局,市,,,,税,,\n", "keywords", 2, "one character"),
    (HEADER + "市税务局,市,北京市||,,,,,\n", "places", 2, "empty entry"),
    (HEADER + "望京街道,街道,望京街道,,,,,朝阳区分中心\n", "parent", 2, "not a unit"),
    (HEADER + "A,区,,,,,,\nA,区,,,,,,\n", "name", 3, "appears twice"),
    (HEADER + "A,区,,,,,B,\nB,区,,,,,,\n", "aliases", 2, "name of another unit"),
    (HEADER + "A,区,,,,,X,\nB,区,,,,,X,\n", "aliases", 3, "given to both"),
])
def test_validation_errors_name_row_and_field(tmp_path, body, field, line, words):
    with pytest.raises(DirectoryError) as err:
        Directory.load(write(tmp_path, body))
    assert words in str(err.value)
    assert err.value.field == field
    assert err.value.line == line


def test_missing_or_ambiguous_profile(tmp_path):
    with pytest.raises(DirectoryError, match="no directory file"):
        Directory.load(tmp_path)
    write(tmp_path, HEADER + "A,区,,,,,,\n")
    write(tmp_path, "units: []\n", name="directory.yaml")
    with pytest.raises(DirectoryError, match="keep one"):
        Directory.load(tmp_path / "profile")


def test_project_profiles_load():
    for name in ("teddy_a", "fuzhou"):
        d = Directory.load(PROJECT_DIR / "corpora" / "profiles" / name)
        assert len(d) > 10
