"""Place mentions: which provinces, cities, districts, streets, towns, villages, communities and estates a
letter names — the "属地" half of routing.

Two sources are combined:

* **patterns** — a name followed by a suffix (X省, X市, X区, X县, X街道, X镇, X乡, X村, X社区, X小区, and
  roads X路/X大道/X街). The start of the name is found by walking back from the suffix to the nearest
  hard boundary (punctuation, the end of the previous place, a length limit) and then cutting after
  the right-most function word (在, 的, 反映, 位于 …) that still leaves a name of at least two
  characters. Anonymised codes of the public data (A市, A2区, K7县) are recognised as they are.
  Generic words that merely end in a suffix (小区, 本区, 城市, 农村, 马路, 市场 …) are not places.
* **a gazetteer** — names a deployment knows (from its department directory, or learned from its
  history), matched verbatim and preferred over a pattern match that overlaps them.

Everything here is pure functions and small immutable objects; the compiled patterns are constants.

>>> [p.name for p in extract_places("反映A市A2区景蓉华苑小区停车难")]
['A市', 'A2区', '景蓉华苑小区']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple

__all__ = ["Place", "Gazetteer", "PlaceConfig", "extract_places", "place_of_name", "LEVELS", "level_rank"]

LEVELS: tuple[str, ...] = ("省", "市", "区", "县", "旗", "街道", "镇", "乡", "村", "社区", "小区", "路", "")
"""Levels a place can have, coarse to fine; "" is "a place of unknown level" (e.g. a free-text region)."""

_RANK = {"省": 0.2, "自治区": 0.2, "市": 0.4, "区": 0.7, "县": 0.7, "旗": 0.7, "街道": 0.85, "镇": 0.85,
         "乡": 0.85, "村": 0.95, "社区": 0.95, "小区": 1.0, "路": 0.9, "": 0.6}


def level_rank(level: str) -> float:
    """How specific a level is, in (0, 1]: a province says little about who handles a matter, a community a lot."""
    return _RANK.get(level, 0.6)


class Place(NamedTuple):
    """One place mention: its name (normalised: 街道办事处 → 街道), level, and span in the text.

    ``span`` is ``None`` for places taken from the letter's ``region`` field rather than its text.
    """

    name: str
    level: str
    span: tuple[int, int] | None


@dataclass(frozen=True)
class PlaceConfig:
    """What counts as a place.

    ``roads`` adds X路 / X大道 / X街 (useful as learned evidence: a road usually lies in one district).
    ``max_core`` bounds the length of the name before each suffix.
    """

    roads: bool = True
    min_core: int = 2
    max_core: Mapping[str, int] = field(default_factory=lambda: {
        "省": 3, "自治区": 4, "市": 4, "区": 6, "县": 4, "旗": 4, "街道": 4, "镇": 4, "乡": 4, "村": 4,
        "社区": 5, "小区": 8, "路": 5, "大道": 4, "街": 4})


# ------------------------------------------------------------------------------------------------
# patterns (immutable module constants)

_CJK = "\u4e00-\u9fff"
# Suffix alternatives, longest first where one is a prefix of another. The group name is the level.
_SUFFIX_RE = re.compile(
    r"(?:(?P<sub>街道办事处|街道办|街道)"
    r"|(?P<com>社区居委会|社区居民委员会|社区)"
    r"|(?P<est>小区)"
    r"|(?P<auto>自治区)"
    r"|(?P<prov>省)(?![钱事心略得去力时掉下油电份])"
    r"|(?P<city>市)(?![场值价面容井貌民]|政(?!府))"
    r"|(?P<dist>区)(?![域别间块])"
    r"|(?P<cnty>县)"
    r"|(?P<town>镇)(?![压定静守])"
    r"|(?P<vill>乡)(?![亲愁音土下])"
    r"|(?P<cun>村)(?![民委组级])"
    r"|(?P<ave>大道)(?!理)"
    r"|(?<![道马公铁线网水电思出门岔歧])(?P<road>路)(?![过线径费程人演子数况上面口边段灯])"
    r"|(?P<st>街)(?![坊头上边巷面道]))"
)
_GROUP_LEVEL = {"sub": "街道", "com": "社区", "est": "小区", "auto": "自治区", "prov": "省", "city": "市",
                "dist": "区", "cnty": "县", "town": "镇", "vill": "乡", "cun": "村", "ave": "路", "road": "路",
                "st": "路"}
_GROUP_CANON_SUFFIX = {"sub": "街道", "com": "社区", "ave": "大道", "road": "路", "st": "街"}
_ROAD_GROUPS = {"ave", "road", "st"}

# Anonymised codes: A市, A2区, K10县 (an upper-case letter, up to two digits, then 市/区/县).
_CODE_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z][0-9]{0,2})(市|区|县)")
_NAME_CHAR_RE = re.compile(rf"[{_CJK}A-Za-z0-9]")

# Words after which a name starts (cut points), longest first so that 位于 wins over 于.
_STOP_WORDS = sorted({
    "反映", "反应", "投诉", "举报", "咨询", "请问", "询问", "建议", "希望", "要求", "请求", "强烈", "位于", "地处", "处于",
    "关于", "对于", "居住", "住在", "家住", "我是", "我们", "你们", "他们", "本人", "市民", "来电", "来电人", "网友",
    "业主", "村民", "居民", "群众", "目前", "现在", "以前", "原来", "已经", "一直", "还是", "就是", "但是", "而且", "因为",
    "所以", "如果", "同时", "另外", "以及", "还有", "这个", "那个", "一个", "这些", "那些", "每个", "整个", "各个", "多个",
    "该", "本", "此", "其", "这", "那", "在", "于", "的", "是", "了", "和", "与", "及", "跟", "同", "对", "向", "从", "到",
    "至", "由", "把", "被", "给", "让", "将", "为", "我", "你", "他", "她", "您", "它", "个", "条", "座", "所", "有", "每",
    "各", "某", "等", "即", "也", "都", "就", "还", "又", "并", "但", "而", "或", "说", "称", "去", "来", "过", "着", "里",
    "内", "外", "旁", "边", "附近", "周边", "旁边", "对面", "隔壁", "门口", "沿线", "一带", "辖区", "管辖", "属于",
    "所属", "隶属", "包括", "其中", "经过", "前往", "进入", "回到", "来到", "搬到", "途经", "毗邻", "紧邻", "靠近",
    "造成", "导致", "设置", "安排", "知道", "感谢", "深感", "恳请", "请", "要以", "什么", "好像", "后续", "办理",
    "开展", "进行", "实施", "成立", "解决", "处理", "整治", "组织", "协调", "落实", "调查", "核实", "联系", "通知",
    "告知", "发现", "看到", "听说", "认为", "觉得", "表示", "应该", "可以", "能否", "是否", "为何", "为什么", "怎么",
    "如何", "何时", "多少", "几个", "问题", "情况", "事情", "全部", "所有", "一些", "有些", "很多", "许多", "大量",
    "不少", "以上", "以下", "左右", "期间", "之间", "之后", "之前", "以来", "同意", "批准", "申请", "宣传", "致使",
    "使得", "影响", "占用", "占据", "阻止", "制止", "禁止", "停止", "防止", "以至", "以致", "直到", "直至", "截止",
    "只有", "没有", "不是", "也是", "都是", "离", "靠", "修完", "市委", "政府", "领导", "部门", "单位", "公司",
}, key=len, reverse=True)
_STOP_RE = re.compile("|".join(map(re.escape, _STOP_WORDS)))

# Whole names (core without suffix) that are generic words, not places.
_GENERIC_CORES = frozenset({
    "周边", "附近", "旁边", "所在", "整个", "各个", "这个", "那个", "一个", "多个", "老旧", "居住", "住宅", "商业",
    "工业", "生活", "安置", "示范", "功能", "保护", "服务", "停车", "办公", "风景", "旅游", "主城", "城乡", "乡镇",
    "农村", "村镇", "全省", "全市", "全区", "全县", "全镇", "外省", "外地", "本地", "当地", "其他", "其它", "偏远",
    "贫困", "城中", "新建", "高档", "开放", "封闭", "开放式", "封闭式", "整体", "部分", "相关", "所属", "管辖",
    "隔壁", "对面", "高速", "一条", "这条", "那条", "道路", "城市", "县城", "市区", "城区", "景区", "园区", "校区",
    "社区", "小区", "片区", "辖区", "老城", "新城", "中心城", "商品房", "保障房", "拆迁", "回迁", "物业", "同一",
    "不同", "少数", "大多数", "大部分", "所有", "每一个", "某个", "邻近", "周围", "国内", "省内", "市内", "区内",
    "县内", "境内", "城镇", "山区", "郊区", "农业", "特区", "直辖", "地级", "县级", "省级", "市级", "区级", "乡级",
    "村级", "一级", "二级", "三级", "上级", "下级", "同级", "各级", "出城", "进城", "下乡", "返乡", "老家", "家乡",
    "城里", "乡下", "文明", "卫生", "平安", "和谐", "美丽", "智慧", "数字", "信用", "海绵", "宜居", "示范性",
    "马", "公", "铁", "水", "山", "走", "上", "新", "老", "大", "小", "不", "没", "一", "二", "三", "几", "两",
})
# A name ending in one of these words is no place of that level (城北超市 is a shop, 修路 a verb).
_GENERIC_TAILS = frozenset({
    "超市", "夜市", "门市", "上市", "股市", "菜市", "花市", "集市", "闹市", "都市", "街市", "楼市", "车市", "黑市",
    "城市", "节省", "反省", "走路", "修路", "让路", "过路", "上路", "迷路", "带路", "绕路", "退路", "活路",
    "小路", "土路", "沿路", "半路", "后路", "弯路", "陆路", "上街", "逛街", "沿街", "临街", "满街",
    "农村", "乡村", "城镇", "乡镇", "村镇", "集镇", "城乡", "家乡", "故乡", "老乡", "下乡", "返乡", "回乡",
    "景区", "城区", "市区", "园区", "校区", "片区", "辖区", "郊区", "灾区", "禁区", "误区", "厂区", "矿区",
    "街区", "营区", "盲区", "分区", "展区", "专区", "县区", "省市", "县市", "区县", "市县", "全市", "全区", "全县",
})
# X城区 is a real district name (东城区, 西城区, 鼎城区, 宛城区) unless X makes it "the old/new/main town area".
_GENERIC_TOWN_PREFIX = frozenset("老新旧主全本该此各市县中南北大小城内外")
_BAD_CORE_RE = re.compile(r"^[0-9一二三四五六七八九十百千几两多第]+$|的$|^[A-Za-z]+$")


def _core_start(text: str, lo: int, hi: int, min_core: int) -> int | None:
    """Start of the name that ends at ``hi`` (exclusive), searching no further left than ``lo``.

    Cuts after the right-most stop word that leaves at least ``min_core`` characters. Without any stop
    word the name starts at ``lo``; when a stop word stands right before the suffix (本区, 我们村, 的小区),
    or stop words are there but none leaves a long enough name (去超市), there is no name. A name at the
    very start of a clause that begins with a
    stop character (和平区 after a comma) is lost that way unless a gazetteer knows it: a deliberate
    trade of recall for precision.
    """
    if hi - lo < min_core:
        return None
    window = text[lo:hi]
    best = None
    for m in _STOP_RE.finditer(window):
        cut = lo + m.end()
        if cut == hi:            # a stop word right before the suffix: 本区, 该县, 我们村, 的小区
            return None
        if hi - cut >= min_core:
            best = cut if best is None else max(best, cut)
        else:
            best = best if best is not None else -1
    if best is None:
        return lo
    return None if best < 0 else best


@dataclass
class Gazetteer:
    """Known place names (and aliases → canonical name) with their levels.

    Build it from a directory (:meth:`triage.directory.Directory.gazetteer`) or from names learned from
    history; it compiles its matcher lazily and keeps it (per instance, never module-wide).
    """

    levels: dict[str, str] = field(default_factory=dict)      # canonical name → level
    aliases: dict[str, str] = field(default_factory=dict)     # alias → canonical name
    _matcher: dict[str, list[int]] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_names(cls, names: Iterable[str], aliases: Mapping[str, str] | None = None) -> "Gazetteer":
        """Names with levels inferred from their suffixes (see :func:`place_of_name`)."""
        gaz = cls()
        for name in names:
            gaz.add(name)
        for alias, canonical in (aliases or {}).items():
            gaz.add(canonical)
            gaz.add_alias(alias, canonical)
        return gaz

    def add(self, name: str, level: str | None = None) -> None:
        name = (name or "").strip()
        if len(name) < 2:
            return
        if level is None:
            level = place_of_name(name)[1]
        self.levels.setdefault(name, level)
        self._matcher = None

    def add_alias(self, alias: str, canonical: str) -> None:
        alias = (alias or "").strip()
        if len(alias) >= 2 and alias != canonical:
            self.aliases[alias] = canonical
            self._matcher = None

    def __contains__(self, name: str) -> bool:
        return name in self.levels or name in self.aliases

    def __len__(self) -> int:
        return len(self.levels)

    def canonical(self, name: str) -> str:
        return self.aliases.get(name, name)

    def level(self, name: str) -> str:
        return self.levels.get(self.canonical(name), "")

    def merged(self, other: "Gazetteer | None") -> "Gazetteer":
        out = Gazetteer(dict(self.levels), dict(self.aliases))
        if other is not None:
            for k, v in other.levels.items():
                out.levels.setdefault(k, v)
            for k, v in other.aliases.items():
                out.aliases.setdefault(k, v)
        return out

    def finditer(self, text: str) -> Iterable[Place]:
        """Verbatim matches, longest name first at each position, non-overlapping, left to right.

        Names are indexed by their last character, so a scan costs one set look-up per character plus a
        few slice look-ups where a name could end (fast enough for thousands of learned names).
        """
        if not self.levels and not self.aliases:
            return []
        if self._matcher is None:
            index: dict[str, set[int]] = {}
            for name in set(self.levels) | set(self.aliases):
                index.setdefault(name[-1], set()).add(len(name))
            self._matcher = {ch: sorted(lengths, reverse=True) for ch, lengths in index.items()}
        by_last = self._matcher
        hits: list[tuple[int, int]] = []
        for end, ch in enumerate(text, start=1):
            lengths = by_last.get(ch)
            if not lengths:
                continue
            for n in lengths:
                start = end - n
                if start < 0:
                    continue
                name = text[start:end]
                if name in self.levels or name in self.aliases:
                    # a code such as A2区 must not match inside A12区
                    if start > 0 and name[0].isascii() and text[start - 1].isascii() and text[start - 1].isalnum():
                        continue
                    hits.append((start, end))
                    break
        # keep the longest at each start, then non-overlapping left to right
        hits.sort(key=lambda se: (se[0], -(se[1] - se[0])))
        out, last_end = [], -1
        for start, end in hits:
            if start < last_end:
                continue
            name = self.canonical(text[start:end])
            out.append(Place(name, self.levels.get(name, ""), (start, end)))
            last_end = end
        return out


def place_of_name(name: str) -> tuple[str, str]:
    """(name, level) of a bare place name such as "朝阳区" or "望京街道办事处" → ("望京街道", "街道").

    Names without a known suffix get level "".
    """
    name = (name or "").strip()
    m = _CODE_RE.fullmatch(name)
    if m:
        return name, m.group(2)
    for suffix, level, canon in (("街道办事处", "街道", "街道"), ("街道办", "街道", "街道"), ("街道", "街道", "街道"),
                                 ("社区居委会", "社区", "社区"), ("社区", "社区", "社区"), ("小区", "小区", "小区"),
                                 ("自治区", "省", "自治区"), ("省", "省", "省"), ("市", "市", "市"), ("区", "区", "区"),
                                 ("县", "县", "县"), ("旗", "旗", "旗"), ("镇", "镇", "镇"), ("乡", "乡", "乡"),
                                 ("村", "村", "村"), ("大道", "路", "大道"), ("路", "路", "路"), ("街", "路", "街")):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + canon, level
    return name, ""


_ADMIN_LEVELS = frozenset({"省", "市", "区", "县", "旗"})
_TOWN_LEVELS = frozenset({"街道", "镇", "乡"})


def leading_places(name: str, max_len: int = 10) -> list[Place]:
    """The chain of places an official name begins with: "宁乡区住建局" → [宁乡区], "天心市宁乡区乔口镇" → [天心市,
    宁乡区, 乔口镇], "市住建局" → [].

    For names of departments and units, which begin with where they are. The free-text extractor cannot read
    many real names: it cuts at stop characters (和平区, 安乡县), takes 乡 inside a name for a suffix (宁乡区, 东乡区),
    refuses a one-character core (攸县, 澧县) and reads 城市 as "city" (鼎城市). At each position the shortest name
    ending in an administrative suffix (省/市/区/县/旗) wins; failing that, the shortest ending in 街道/镇/乡 (a town
    name, which must not hold a stop word after its first character: 住房和城乡 is no town). A name's core is no
    longer than the extractor's ``max_core`` for its level, so 建筑设计院与贵县 is no county.
    """
    name = (name or "").strip()
    max_core = PlaceConfig().max_core
    out: list[Place] = []
    pos = 0
    while pos < len(name):
        admin = town = None
        for end in range(pos + 2, min(len(name), pos + max_len) + 1):
            cand = name[pos:end]
            canon, level = place_of_name(cand)
            if not level or not _NAME_CHAR_RE.match(cand[0]):
                continue
            code = _CODE_RE.fullmatch(cand) is not None
            core = canon[:-2] if level == "街道" else canon[:-1]
            tail = cand[-2:]
            # 超市, 城乡 are no places; X城市 / X城区 of three characters are (鼎城市, 鼎城区), as in the extractor
            district_town = len(cand) == 3 and tail in ("城市", "城区") and cand[0] not in _GENERIC_TOWN_PREFIX
            if not code and (core in _GENERIC_CORES or _BAD_CORE_RE.search(core) or
                             (tail in _GENERIC_TAILS and not district_town)):
                continue
            if level in _ADMIN_LEVELS:
                if (code or 3 <= len(cand) <= 1 + max_core.get(level, 4) or (len(cand) == 2 and level == "县")
                        or cand.endswith(("自治县", "自治旗"))):
                    admin = Place(canon, level, (pos, end))
                    break
            elif (level in _TOWN_LEVELS and town is None and len(cand) >= 3 and cand[0] not in "省市区县" and
                  not _STOP_RE.search(cand, 1)):
                town = Place(canon, level, (pos, end))
        found = admin or town
        if found is None:
            break
        out.append(found)
        pos = found.span[1]
        # a town's long suffix (街道办事处) is part of its name
        for suffix in ("办事处", "办"):
            if found.level == "街道" and name.startswith(suffix, pos):
                pos += len(suffix)
                break
    return out


def _pattern_places(text: str, config: PlaceConfig, taken: list[tuple[int, int]]) -> list[Place]:
    """Suffix-pattern matches, left to right; ``taken`` spans (gazetteer hits) act as boundaries."""
    out: list[Place] = []
    taken_sorted = sorted(taken)
    prev_end = 0
    # code matches first: they are unambiguous and bound the names around them
    codes = [(m.start(), m.end(), m.group(0), m.group(2)) for m in _CODE_RE.finditer(text)]
    code_starts = {c[0]: c for c in codes}
    code_ends = {c[1] for c in codes}
    boundaries = sorted({e for _, e in taken_sorted} | code_ends)
    pos = 0
    n = len(text)
    while pos < n:
        if pos in code_starts:
            s, e, name, level = code_starts[pos]
            if not _overlaps(s, e, taken_sorted):
                out.append(Place(name, level, (s, e)))
            prev_end = e
            pos = e
            continue
        m = _SUFFIX_RE.search(text, pos)
        if m is None:
            break
        # a code that starts before this suffix is handled first
        nxt_code = next((c for c in codes if pos <= c[0] < m.start()), None)
        if nxt_code is not None:
            pos = nxt_code[0]
            continue
        group = m.lastgroup
        s, e = m.start(), m.end()
        if group in _ROAD_GROUPS and not config.roads:
            pos = e
            continue
        if _overlaps(s, e, taken_sorted) or s < prev_end:
            pos = max(e, pos + 1)
            continue
        level = _GROUP_LEVEL[group]
        max_core = config.max_core.get(_GROUP_CANON_SUFFIX.get(group, level), 4)
        lo = max(prev_end, s - max_core, max((b for b in boundaries if b <= s), default=0))
        # hard boundary: anything that is not a name character
        j = s
        while j > lo and _NAME_CHAR_RE.match(text[j - 1]):
            j -= 1
        lo = j
        start = _core_start(text, lo, s, config.min_core)
        if start is not None:
            core = text[start:s]
            tail = core[-1] + m.group(0)[0]
            numeric_road = group in _ROAD_GROUPS and len(core) >= 2 and not core.endswith("的")   # 五一路
            bad = _BAD_CORE_RE.search(core) and not numeric_road
            district_town = tail == "城区" and len(core) >= 2 and core[-2] not in _GENERIC_TOWN_PREFIX
            if core not in _GENERIC_CORES and not bad and (tail not in _GENERIC_TAILS or district_town):
                suffix = _GROUP_CANON_SUFFIX.get(group, m.group(0))
                name = core + suffix
                if level == "自治区":
                    level = "省"
                out.append(Place(name, level, (start, e)))
        prev_end = e   # a rejected suffix word (小区 alone, 城市) still ends whatever came before it
        pos = e
    return out


def _overlaps(s: int, e: int, spans: list[tuple[int, int]]) -> bool:
    return any(a < e and s < b for a, b in spans)


def extract_places(text: str, *, region: str | None = None, gazetteer: Gazetteer | None = None,
                   config: PlaceConfig | None = None) -> list[Place]:
    """Places named in ``text`` (in order of appearance), then those of the ``region`` field.

    Each is a :class:`Place` ``(name, level, span)``; the same name may appear more than once in the
    text (each mention is kept). Region places carry ``span=None``; a region with no recognisable
    suffix (e.g. "朝阳") is kept whole with level "".
    """
    config = config or PlaceConfig()
    text = text or ""
    found: list[Place] = []
    if gazetteer is not None and len(gazetteer):
        found.extend(gazetteer.finditer(text))
    taken = [p.span for p in found if p.span]
    found.extend(_pattern_places(text, config, taken))
    found.sort(key=lambda p: p.span[0] if p.span else 1 << 30)
    if region and region.strip():
        reg = region.strip()
        sub: list[Place] = []
        if gazetteer is not None and len(gazetteer):
            sub.extend(gazetteer.finditer(reg))
        sub.extend(_pattern_places(reg, config, [p.span for p in sub if p.span]))
        if not sub and len(reg) <= 12:
            name, level = place_of_name(reg)
            sub = [Place(name, level, None)]
        found.extend(Place(p.name, p.level, None) for p in sub)
    return found
