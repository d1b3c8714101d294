"""The duty lexicon: a unit's kind read from its name, and what letters about its matters say."""

import pytest

from triage.duties import DutyLexicon
from triage.errors import ConfigError


@pytest.fixture(scope="module")
def lexicon():
    return DutyLexicon.load()


@pytest.mark.parametrize("name, word", [
    ("长沙市住建局", "住建"),
    ("市住房和城乡建设局", "建设局"),            # 住建's row under another of its names
    ("长沙市公安局交通警察支队", "交通警察"),      # the word ending last: the traffic police, not the police
    ("国网长沙供电公司", "供电"),
    ("雨花区", None), ("洞井街道", None), ("长沙市楚江综合枢纽开发有限公司", None),
])
def test_a_units_kind_is_read_from_its_name(lexicon, name, word):
    duty = lexicon.of(name)
    assert (duty.word if duty else None) == word


def test_what_a_letter_says_of_a_duty(lexicon):
    housing = lexicon.of("长沙市住建局")
    assert DutyLexicon.hits(housing, "小区物业乱收费，开发商延期交房") == ["物业", "开发商", "交房"]
    assert DutyLexicon.hits(housing, "孩子入学的问题") == []
    transport = lexicon.of("长沙市交通运输局")
    assert DutyLexicon.hits(transport, "希望延长140路公交线路") == ["公交线路"]   # 公交 inside it counts once


def test_a_deployments_own_lexicon_and_its_errors(tmp_path, monkeypatch):
    path = tmp_path / "duties.tsv"
    path.write_text("# ours\nname_words\tkeywords\n热线办|12345\t热线|工单\n", encoding="utf-8")
    monkeypatch.setenv("TRIAGE_DUTIES", str(path))
    ours = DutyLexicon.load()
    assert len(ours) == 2 and DutyLexicon.hits(ours.of("市12345热线办"), "工单超时未回复") == ["工单"]
    path.write_text("name_words\tkeywords\n水务\t水\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2.*two characters"):
        DutyLexicon.load()
    path.write_text("水务 供水 停水\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1.*one tab"):
        DutyLexicon.load()
    with pytest.raises(ConfigError, match="not found"):
        DutyLexicon.load(tmp_path / "missing.tsv")
