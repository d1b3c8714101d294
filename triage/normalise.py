"""Step 1: normalise text, and mask personal identifiers in anything that is logged or shown.

``normalise`` is what every later step reads: NFKC (full-width → half-width), unified punctuation
and whitespace, and common boilerplate removed (来电反映 / 市民反映 / 尊敬的领导 …), so that two copies
of a letter taken down by different clerks hash alike.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata

import numpy as np

# Openings and closings that carry no matter: intake formulae of 12345 clerks and letter courtesies.
_BOILERPLATE = [
    r"^(?:[\s,，:：]*(?:来电人|来电|市民|群众|网友|信访人|来信人|来访人|诉求人|反映人)(?:来电)?(?:反映|反应|称|诉求|表示|咨询|投诉|举报|询问)[:：,，]?)+",
    r"^(?:尊敬的|敬爱的)?(?:各位|相关|有关)?(?:领导|书记|市长|县长|区长|局长|主任|同志|工作人员)(?:们)?(?:您好|你们好|你好)?[!！:：,，.。]*",
    r"^(?:您好|你好|你们好)[!！:：,，.。]*",
    r"(?:此致\s*敬礼|谢谢(?:领导|您|你们)?[!！.。]*|望(?:领导)?(?:给予)?(?:回复|答复|解决)[!！.。]*|盼复[!！.。]*)\s*$",
]
_BOILERPLATE_RE = [re.compile(p) for p in _BOILERPLATE]

ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")


# A name the writer gives in the text ("我叫罗某某，男，…", "举报人：张某某", "本人李某，身份证…"): a common surname
# and one or two characters, after a phrase that introduces a name and before what follows a name (a comma, 男/女,
# an age, 身份证, 电话, 系 …). Bare 本人 introduces a name only when a comma and one of those follow it, or 身份证, 系,
# 男/女 right after it (本人相邻，现已… and 本人相邻的住户 are no names). Masked as a petitioner's name is (罗**),
# wherever it occurs in the text; a two-character name elsewhere only before what may follow a name (联系人：钱工 is
# no reason to mask 钱工资). Since session 20 also: the names of a letter's roles (控告人：, 申诉人：, 求助人：, 诉求人：,
# 署名：…), more names listed after one with 、 (举报人：余某某、王某某), and a name signed after 此致敬礼 / 敬礼.
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
              "姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
              "向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕"
              "单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚"
              "娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查"
              "麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖"
              "练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬扈晁芮都普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况宿鲜印"
              "逯隆茹诸战慕危玉银亢嵇湛宾戎勾茅利於居揭干尉冶斯元束檀衣展阴昝智幸奉植衡富尧闭由")
_COMPOUND_SURNAMES = "欧阳|司马|诸葛|上官|东方|皇甫|尉迟|公孙|慕容|令狐|长孙|宇文|司徒|夏侯|端木|西门|南宫|独孤|呼延|钟离|澹台|万俟|闻人|轩辕"
_NAME = rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])[\u4e00-\u9fff]{{1,2}}?"
_NAME_INTRO = (r"(?:我叫|我名叫|我的名字(?:叫|是)|本人(?:名叫|叫|姓名(?:是|为|[:：]))|名叫"
               r"|(?:姓名|联系人|反映人|来电人|来信人|投诉人|举报人|申请人|当事人|户主|业主|控告人|申诉人|检举人|信访人"
               r"|诉求人|上访人|求助人|委托人|代理人|留言人|写信人|签名|署名|落款)\s*[:：])\s*")
_AFTER_NAME = r"[\s,，。.、;；:：!！?？()（）男女\d]|今年|现年|家住|住在|住|是|系|电话|手机|身份证|联系|出生|生于|性别|$"
_AFTER_BARE = (r"\s*[，,、(（]\s*(?:[男女]|身份证|系|生于|出生|现年|今年|现住|家住|住|电话|手机|联系电话|汉族|\d{1,3}岁)"
               r"|\s*(?:[(（]?身份证|系|[男女][，,、\s])")
_AFTER_SHORT_NAME = r"(?=[^\u4e00-\u9fff]|$|说|讲|称|表示|反映|的|是|在|和|与|等|家|本人)"
# a letter signed after its closing courtesy: "此致 敬礼！     吴美铃   2019年…" (spaces before, and nothing but
# spaces, a date or a bracket after)
_SIGNED = rf"(?:此致\s*敬礼|敬礼)\s*[!！。.,，]?\s+(?P<signed>{_NAME})(?=\s|$|\d|[(（])"
# "我是吴君辉，是遭解雇的" (session 21): a name after 我是 and before a comma, when the word is no common word of
# the dictionary (我是农民工，我是初婚，我是管理员， are no names) or one the dictionary tags as a person's name
_SELF = rf"我是\s*(?P<self>{_NAME})(?=\s*[，,])"
NAME_IN_TEXT_RE = re.compile(rf"{_NAME_INTRO}(?P<name>{_NAME})(?={_AFTER_NAME})|本人\s*(?P<bare>{_NAME})(?={_AFTER_BARE})"
                             rf"|{_SIGNED}|{_SELF}")
# more names listed after one ("举报人：余中华、王才茂、张庆国…")
_LISTED_NAME_RE = re.compile(rf"\s*、\s*(?P<name>{_NAME})(?={_AFTER_NAME})")


def mask_names(text: str) -> str:
    """Names a text gives (:data:`NAME_IN_TEXT_RE`) masked wherever they occur in it: 我叫罗树生 → 我叫罗**."""
    if not text:
        return text
    spans = []
    for m in NAME_IN_TEXT_RE.finditer(text):
        group = next(g for g in ("name", "bare", "signed", "self") if m.group(g))
        if group == "self" and not _may_be_a_name(m.group(group)):
            continue
        spans.append(m.span(group))
        end = m.end()
        while listed := _LISTED_NAME_RE.match(text, end):
            spans.append(listed.span("name"))
            end = listed.end()
    if not spans:
        return text
    names = {text[start:end] for start, end in spans}
    for start, end in sorted(spans, reverse=True):   # where they are introduced
        text = text[:start] + mask_identity("name", text[start:end]) + text[end:]
    for name in sorted(names, key=len, reverse=True):   # and wherever else
        after = "" if len(name) > 2 else _AFTER_SHORT_NAME
        text = re.sub(re.escape(name) + after, mask_identity("name", name), text)
    return text


def load_word_dictionary() -> None:
    """Loads jieba's dictionary and its parts of speech (~1.4 s, once): what tells a name after 我是
    (:func:`_may_be_a_name`) and a topic word (:func:`triage.segment.names_a_topic`). A service calls it at
    start, so that no request pays for it."""
    import jieba
    import jieba.posseg  # noqa: F401  (its import reads the parts of speech)

    if not jieba.dt.initialized:
        jieba.setLogLevel(60)
        jieba.initialize()


@functools.lru_cache(maxsize=4096)
def _may_be_a_name(word: str) -> bool:
    """A word jieba's dictionary does not hold, or tags as a person's name (nr…): 吴君辉, 张伟 yes; 农民工, 党员 no."""
    import jieba
    import jieba.posseg

    load_word_dictionary()
    if not jieba.dt.FREQ.get(word):
        return True
    return all(p.flag.startswith("nr") for p in jieba.posseg.cut(word, HMM=False))


def normalise(text: str) -> str:
    """Canonical form of a letter's text for hashing, shingling, segmenting and embedding."""
    if not text:
        return ""
    return _strip_boilerplate(_flatten(text))


def _flatten(text: str) -> str:
    """NFKC, no byte-order mark, whitespace runs as one space: what :func:`normalise` does before boilerplate."""
    text = _nfkc(text)
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    # ``_WS_RE.sub(" ", text).strip()`` in one C pass: str.split() and the regex's \s are both Py_UNICODE_ISSPACE
    # (tested on every code point), and _nfkc already made every ideographic space a plain one
    return " ".join(text.split())


def _strip_boilerplate(text: str, openings: list[str] | None = None) -> str:
    """Boilerplate off a flattened text, until nothing more comes off (stacked openings: 您好您好…), so that
    normalise(normalise(x)) == normalise(x); the clerks' intake openings taken off are appended to ``openings``."""
    intake = _BOILERPLATE_RE[0]
    while True:
        before = text
        for pattern in _BOILERPLATE_RE:
            if openings is not None and pattern is intake and (m := intake.match(text)) and m.group(0):
                openings.append(m.group(0))
            text = pattern.sub("", text).strip()
        if text == before:
            return text


_INTAKE_TYPE_WORD_RE = re.compile(r"咨询|投诉|举报|询问")


def intake_type_word(content: str) -> str:
    """The type a clerk's intake opening states, which :func:`normalise` removes with the opening ("市民来电咨询：…"
    → "咨询"; "来电人投诉，…" → "投诉"), or "" (no such opening, or one that states none: 来电人反映). What the
    hotline's clerk wrote is its reading of the call: the type model must see it, where hashing must not."""
    if not content:
        return ""
    openings: list[str] = []
    _strip_boilerplate(_flatten(content), openings)   # as normalise takes them off (after a greeting too)
    words = _INTAKE_TYPE_WORD_RE.findall(" ".join(openings))
    return words[-1] if words else ""


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster for Chinese letters: the full-width ASCII forms (U+FF01–FF5E),
    the ideographic space, the no-break space and the ellipsis … are first replaced by what NFKC makes of them
    (their compatibility decompositions, so the normal form is unchanged); what is then already normal (the usual
    case) is not normalised again. Before the last two were mapped, one letter in six went through the full
    normalisation (~60 µs) for them alone. A text with none of these characters (found by one regex scan) goes
    straight to the check; in one with some, each distinct one is replaced (before: numpy over its code points)."""
    for ch in set(_WIDE_RE.findall(text)):   # a handful of distinct ones a letter (，：（）！？): replace each
        text = text.replace(ch, _WIDE_MAP[ch])
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


# what _nfkc maps before its check: each full-width ASCII form to its ASCII letter, the ideographic and the no-break
# space to a space, the ellipsis to three dots (all NFKC's own compatibility mappings)
_WIDE_MAP = {**{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}, "\u3000": " ", "\xa0": " ", "\u2026": "..."}
_WIDE_RE = re.compile("[\uff01-\uff5e\u3000\xa0\u2026]")


@functools.cache
def _drop_mask() -> np.ndarray:
    """One bool per code point: whitespace or punctuation, what compact() removes (built on first use)."""
    mask = np.zeros(0x110000, dtype=bool)
    category = unicodedata.category
    mask[[i for i in range(0x110000) if category(chr(i))[0] == "P" or chr(i).isspace()]] = True
    return mask


def compact_codes(text: str, *, normalised: bool = False) -> np.ndarray:
    """The code points (uint32 array) of :func:`compact`'s result: shingles are hashed from these directly."""
    if not normalised:
        text = normalise(text)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return codes[~_drop_mask()[codes]]


def compact(text: str, *, normalised: bool = False) -> str:
    """Normalised text with all whitespace and punctuation removed (for hashing and shingles); ``normalised``:
    the text already went through :func:`normalise` (which is idempotent), so it is not normalised again."""
    return compact_codes(text, normalised=normalised).tobytes().decode("utf-32-le")


def content_hash(text: str) -> str:
    """Exact-duplicate key: sha1 of the compact normalised text."""
    return compact_hash(compact(text))


def compact_hash(compacted: str) -> str:
    """:func:`content_hash` of a text already passed through :func:`compact`."""
    return hashlib.sha1(compacted.encode("utf-8")).hexdigest()


def mask_pii(text: str) -> str:
    """Replace ID numbers, phones and the names a text gives (:func:`mask_names`) by masked forms; safe to log or
    show."""
    if not text:
        return text
    text = ID_NUMBER_RE.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 5) + m.group(0)[-2:], text)
    return mask_names(PHONE_RE.sub(lambda m: m.group(0)[:3] + "****" + m.group(0)[-4:], text))


def _phone_digits(value: str) -> str:
    """A phone's digits; a number cell a CSV export wrote as 13800138000.0 loses its ".0" first."""
    return re.sub(r"\D", "", re.sub(r"\.0+$", "", value))


def mask_identity(kind: str, value: str | None) -> str | None:
    """Display form of one identity field: ``name`` → 张*, ``phone`` → 138****5678, ``id_number`` → 110***********1234."""
    if not value:
        return None
    value = value.strip()
    if kind == "name":
        return value[0] + "*" * max(1, len(value) - 1)
    if kind == "phone":
        digits = _phone_digits(value)
        return (digits[:3] + "****" + digits[-4:]) if len(digits) >= 7 else "****"
    if kind == "id_number":
        return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "****"
    if kind == "account":
        return value[:2] + "***" + value[-2:] if len(value) > 4 else "***"
    return "***"


def canonical_identity(kind: str, value: str) -> str:
    """The form two spellings of the same identity share (digits only for phones, upper-case X for IDs)."""
    value = unicodedata.normalize("NFKC", value).strip()
    if kind == "phone":
        digits = _phone_digits(value)
        return digits[-11:] if len(digits) >= 11 else digits
    if kind == "id_number":
        return value.upper().replace(" ", "")
    if kind == "name":
        return re.sub(r"\s+", "", value)
    return value.lower()


def identity_hash(kind: str, value: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA256) of an identity field: stored for matching, never reversible without the key."""
    canon = canonical_identity(kind, value)
    return hmac.new(key, f"{kind}:{canon}".encode("utf-8"), hashlib.sha256).hexdigest()
