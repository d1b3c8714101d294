import pytest

from triage.normalise import (canonical_identity, compact, content_hash, identity_hash, intake_type_word,
                              mask_identity, mask_pii, normalise)
from triage.segment import Segmenter


def test_normalise_width_whitespace_and_boilerplate():
    assert normalise("市民来电反映：ＡＢＣ小区　停车难！") == "ABC小区 停车难!"
    assert normalise("尊敬的领导：您好！小区路灯坏了") == "小区路灯坏了"
    assert content_hash("来电反映：小区路灯坏了。") == content_hash("小区 路灯坏了")


@pytest.mark.parametrize("content, word", [
    ("市民来电咨询：公积金怎么提取？", "咨询"), ("来电人投诉，小区物业乱收费", "投诉"), ("网友举报：工地夜间施工", "举报"),
    ("市民反映，来电咨询：医保报销", "咨询"), ("来电人反映：小区噪音扰民", ""),   # an opening that states no type
    ("\ufeff尊敬的领导：您好！市民来电咨询：医保报销", "咨询"),   # taken off after a greeting, as normalise does
    ("我想咨询一下公积金", ""), ("小区物业乱收费，特此投诉", ""), ("", ""),     # no clerk's opening
])
def test_the_type_a_clerks_opening_states(content, word):
    assert intake_type_word(content) == word


def test_mask_pii_hides_ids_and_phones():
    masked = mask_pii("身份证110101199003071234，电话13812345678，座机0731-84561234")
    assert "110101199003071234" not in masked and "13812345678" not in masked and "84561234" not in masked
    assert "5678" in masked  # the tail stays for the clerk to recognise


@pytest.mark.parametrize("text, hidden, shown", [
    ("领导您好！我叫周建平，男，今年56岁，家住A3区。周建平的房子漏水。", ["周建平"], "我叫周**，男，今年56岁，家住A3区。周**的房子"),
    ("本人唐秀英，身份证号码见附件，反映拆迁补偿问题", ["唐秀英"], "本人唐**，身份证"),
    ("此致敬礼 举报人：郑晓东 2019年3月", ["郑晓东"], "举报人：郑** 2019"),
    ("联系人：钱工，联系电话13812345678", ["钱工", "13812345678"], "联系人：钱*，联系电话138****5678"),
    ("我叫欧阳明华，系B2县退休教师", ["欧阳明华"], "我叫欧***，系B2县"),
    ("申请人:黄丽2018年4月", ["黄丽"], "申请人:黄*2018"),
    # a letter's roles, names listed after one, a name signed after the closing courtesy (session 20)
    ("请依法处理。控告人：李生正、张义家  2016年5月", ["李生正", "张义家"], "控告人：李**、张**  2016"),
    ("被申诉人：唐成义，男，汉族", ["唐成义"], "被申诉人：唐**，男"),
    ("举报人：余中华、王才茂、张庆国  联系电话：无", ["余中华", "王才茂", "张庆国"], "举报人：余**、王**、张**  联系"),
    ("望早日解决。此致  敬礼！      吴美铃   2019年5月", ["吴美铃"], "敬礼！      吴**   2019"),
    # a name after 我是, before a comma (session 21)
    ("还没结果。我是吴君辉，是遭解雇的。吴君辉恳请领导过问", ["吴君辉"], "我是吴**，是遭解雇的。吴**恳请"),
    ("您好！我是 张伟，男，48岁", ["张伟"], "我是 张*，男"),
])
def test_mask_pii_hides_names_a_letter_gives(text, hidden, shown):
    masked = mask_pii(text)
    assert not any(h in masked for h in hidden) and shown in masked, masked


def test_a_short_name_is_masked_elsewhere_only_where_a_name_can_stand():
    assert mask_pii("联系人：钱工，公司拖欠钱工资，钱工说会处理") == "联系人：钱*，公司拖欠钱工资，钱*说会处理"


@pytest.mark.parametrize("text", [
    "本人相邻的住户私自搭建，现已毁坏我的围墙",   # 本人 before no name
    "本人于去年3月购房，至今未交房",
    "还需提交本人连续24个月以上的缴费记录",
    "姓名：不详，住址：不详",
    "我是业主，小区物业不作为",
    "王先生反映小区停水",   # a surname and a title is no name to hide
    "此致敬礼!四化建南区477户业主",   # signed by no person
    "此致 敬礼! 全体业主 2019年5月",
    "举报人：小区业主、周边居民",
    "我是农民工，在A市做工",   # 我是 before a word of the dictionary, no name
    "我是党员，也是业主，我是初婚，我是管理员，",
    "我是幸福的。",
])
def test_mask_pii_leaves_words_that_are_no_names(text):
    assert mask_pii(text) == text


def test_identity_hash_is_keyed_and_canonical():
    k1, k2 = b"key-one", b"key-two"
    assert identity_hash("phone", "138-1234-5678", k1) == identity_hash("phone", "+86 13812345678", k1)
    assert identity_hash("phone", "13812345678", k1) != identity_hash("phone", "13812345678", k2)
    assert canonical_identity("id_number", "11010119900307123x") == "11010119900307123X"
    # a number cell a CSV export wrote with ".0", full-width digits: the same phone
    assert canonical_identity("phone", "13812345678.0") == canonical_identity("phone", "１３８１２３４５６７８") == "13812345678"
    assert mask_identity("name", "张三丰") == "张**"


def test_segmenter_uses_project_dictionary_and_keeps_places():
    seg = Segmenter().load()
    words = seg.cut(normalise("A市A2区景蓉华苑小区物业乱收停车费，业委会不作为"))
    assert "A2区" in words and "停车费" in words and "业委会" in words
    assert "的" not in seg.cut("小区的停车费")
    # the shape follows the input
    assert isinstance(seg.cut(["停车费", "物业费"])[0], list)


def test_segmenters_are_independent_of_jieba_global_state():
    import jieba

    before = len(jieba.dt.FREQ) if jieba.dt.initialized else 0
    Segmenter().load().cut("业委会")
    after = len(jieba.dt.FREQ) if jieba.dt.initialized else 0
    assert before == after


def test_compact_drops_punctuation():
    assert compact("小区，停车 难！") == "小区停车难"


def test_recent_cuts_are_reused_but_never_shared_or_pickled():
    import pickle

    seg = Segmenter()
    text = "朝阳区望京街道小区物业乱收停车费"
    first = seg.cut(text)
    first.append("被调用方改动")
    assert seg.cut(text) == first[:-1]                     # a caller's change does not leak into the cache
    assert seg.cut(text, drop_stopwords=False) != [] and len(seg._recent) == 2
    for i in range(Segmenter.RECENT + 10):
        seg.cut(f"第{i}封来信")
    assert len(seg._recent) == Segmenter.RECENT
    again = pickle.loads(pickle.dumps(seg))
    assert "_recent" not in again.__dict__ and again.cut(text) == first[:-1]


def test_a_text_is_cut_as_its_lines_on_real_letters(shared_datasets):
    """cut() joins the cuts of a text's whitespace-separated parts (cached, so title and body cuts serve the whole
    letter); on real letters, with spaces and line breaks, that equals cutting the whole text at once."""
    import csv

    seg = Segmenter().load()
    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))[:400]
    texts = [normalise((r.get("标题") or "") + "\n" + (r.get("投诉件内容") or "")) for r in rows]
    texts += [t.replace("。", "。\n", 2) for t in texts[:100]]
    texts += ["朝阳区\n望京街道小区", "\n\n停车难\n", "A市\nA2区\n", "建设\n路", "建设 路", "  ", "", "3.5 万元\t罚款"]
    assert sum(len(t.split()) > 1 for t in texts) >= 400
    for text in texts:
        for drop in (True, False):
            assert seg.cut(text, drop_stopwords=drop) == seg._cut_one(text, drop), text


def test_normalise_is_idempotent_so_views_skip_a_second_pass(shared_datasets):
    """Stacked openings come off until none is left; so normalising twice changes nothing, and compact() of a
    normalised text may skip normalise (make_view does, for every candidate)."""
    import csv

    assert normalise("您好您好您好！尊敬的领导：小区停车难") == "小区停车难"
    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))[:500]
    texts = [(r.get("标题") or "") + "\n" + (r.get("投诉件内容") or "") for r in rows]
    texts += ["您好！" * 5 + "路灯坏了谢谢领导！", "　来电反映：市民反映：群众反映：停水", "", "  "]
    for raw in texts:
        once = normalise(raw)
        assert normalise(once) == once
        assert compact(once, normalised=True) == compact(raw)


def test_compact_removes_exactly_whitespace_and_punctuation_of_every_plane():
    """compact() drops a code point iff it is whitespace or punctuation (Unicode category P*), outside the BMP too."""
    import unicodedata

    text = "".join(chr(i) for i in range(0x20, 0x110000, 97) if not 0xD800 <= i < 0xE000)
    text += "𠀀，𝒜、\U0001F600！\u3000\t（）【】…" + "".join(chr(i) for i in (0x1091F, 0x16FE2, 0x1E95E, 0x10100))
    want = "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch).startswith("P")))
    assert compact(text, normalised=True) == want
    assert compact("") == "" and compact("，。！ ") == ""


def test_nfkc_shortcut_equals_unicodedata():
    """normalise()'s NFKC (full-width forms mapped first, then normalised only if still needed) is NFKC."""
    import unicodedata

    from triage.normalise import _nfkc

    samples = ["ＡＢＣ１２３，。！？（）", "①②㎡ｶﾞﾞ", "Ａ\u0301 e\u0301 \uff21\u0300", "\u3000\u3000两个全角空格",
               "＂＇＼～", "ﬁ ﬀ Ⅻ ㈱", "𝒜𝔅", "", "普通中文，没有全角字母", "\uff5f\uff60\uff61\uff65\uffe0",
               "不间断\xa0空格\xa0\u0301，省略号……\u0301结束…", "…", "\xa0", "ＡＢ\xa0…①"]
    samples.append("".join(chr(i) for i in range(0x20, 0x30000, 7) if not 0xD800 <= i < 0xE000))
    samples.append("".join(chr(i) + "\u0301" for i in range(0xFF01, 0xFF5F)) + "\u3000\xa0\u2026\u0301")
    for text in samples:
        assert _nfkc(text) == unicodedata.normalize("NFKC", text), text


def test_normalise_collapses_exactly_the_whitespace_a_regex_would():
    """normalise() collapses whitespace with str.split (one C pass) where it used re.sub(r"\\s+", " ").strip():
    both know the same whitespace, on every code point (the \\x1c–\\x1f separators and U+2028 included)."""
    import re

    every = "".join(chr(i) for i in range(1, 0x110000) if not 0xD800 <= i < 0xE000)
    spaces = "".join(ch for ch in every if re.fullmatch(r"\s", ch))
    assert spaces == "".join(ch for ch in every if ch.isspace()) and "\x1c" in spaces and "\u2028" in spaces
    for i in range(0, len(every), 4096):
        text = every[i:i + 4096]
        assert " ".join(text.split()) == re.sub(r"\s+", " ", text).strip()
    mixed = "\u3000 路灯\t\t坏了\x1c\u2028三天\ufeff \xa0 \n"
    assert normalise(mixed) == "路灯 坏了 三天"
