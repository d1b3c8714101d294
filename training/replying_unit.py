"""Bootstrap routing history: find the unit that replied to (or was handed) each letter.

The public data has no department column, but the official replies name their author more often than
not: "针对您反映…的问题，A3区住建局高度重视…", "经A5区教育局、黎托街道核实…", "已转市人社局调查处理",
a signature "A7县教育局 2014年4月8日", or in Fuzhou "我局执法人员…" / "我司…" beside the 区 column.
:func:`extract_unit` tries those patterns from the most to the least reliable and returns the unit's
canonical name (aliases folded: 住房和城乡建设局 → 住建局, 城市管理和行政执法局 → 城管局 …).

Command line (prints coverage, the most frequent units, and precision on the hand-checked sample)::

    python -m training.replying_unit --source teddy
    python -m training.replying_unit --source fuzhou
    python -m training.replying_unit --source teddy --sample 60 --seed 7   # draw a sample to check by hand

The hand-checked verdicts live in ``corpora/profiles/<profile>/replying_unit_check.csv`` (ids, the
extracted name, the verdict and the right unit — names only, no letter text).
"""

from __future__ import annotations

import argparse
import collections
import csv
import random
import re
import sys
from dataclasses import dataclass

from training.datasets import PROJECT_DIR, read_csv
from triage.places import _STOP_RE
from triage.records import parse_date

__all__ = ["Found", "extract_unit", "canonical_unit", "teddy_routed", "fuzhou_routed", "unit_office"]

_H = "\u4e00-\u9fff"
CODE = r"[A-Z]\d{0,2}"

# Bureau name variants → canonical short name (the suffix after the place prefix).
BUREAU_ALIASES: list[tuple[str, str]] = [
    (r"住房和城乡建设局|住房和城乡建设委员会|住房和城乡建设委|住房城乡建设局|住房城乡建设委|住建局|住建委|城乡建设委员会|城乡建设局|城乡建设委|建设局|建委|规划建设局|规建局", "住建局"),
    (r"自然资源和规划局|自然资源局|国土资源局|国土局|国土资源和规划局", "自然资源局"),
    (r"规划分局|规划局|城乡规划局", "规划局"),
    (r"城市管理和行政执法局|城市管理和综合执法局|城市管理综合执法局|城市管理局|城管执法局|行政执法局|城管局|市容局|市容管理局|城市管理行政执法局", "城管局"),
    (r"城管执法大队|城管执法中队|城管大队|城管中队|执法大队", "城管执法大队"),
    (r"人力资源和社会保障局|人力资源社会保障局|人社局|劳动保障监察服务中心|劳动监察大队|社保局|社会保险事业管理局|社保中心", "人社局"),
    (r"医疗保障局|医保局|医保中心|医疗保险管理服务中心", "医保局"),
    (r"教育局|教育体育局|教体局|教育委员会|教委", "教育局"),
    (r"公安局交通警察支队|交通警察支队|交警支队|交警大队|交通警察大队|公安交警大队|交警队|公安交警支队", "交警"),
    (r"公安分局|公安局|派出所", "公安局"),
    (r"交通运输局|交通局|交通运输和旅游局|交通运输管理所|运管处|运管所|道路运输管理处", "交通运输局"),
    (r"生态环境局|环境保护局|环保局|生态环境分局|环保分局", "生态环境局"),
    (r"卫生健康委员会|卫生健康委|卫健委|卫健局|卫生和计划生育委员会|卫生计生委|卫计委|卫计局|卫生局", "卫健委"),
    (r"民政局", "民政局"),
    (r"财政局", "财政局"),
    (r"发展和改革委员会|发展和改革局|发展改革委|发改委|发改局", "发改委"),
    (r"市场监督管理局|市场监管局|市场和质量监督管理局|工商行政管理局|工商局|工商分局|质监局|质量技术监督局|食药监局|食品药品监督管理局|物价局|价格监督检查局", "市场监管局"),
    (r"国家税务局|地方税务局|税务局|国税局|地税局", "税务局"),
    (r"水务局|水利局", "水务局"),
    (r"林业局", "林业局"),
    (r"园林局|园林绿化局|林业和园林局", "园林局"),
    (r"农业农村局|农业局|农委|农业委员会|畜牧兽医水产局|农业机械化管理局", "农业农村局"),
    (r"商务局|经济和科技商务局|商务粮食局", "商务局"),
    (r"文化旅游广电局|文化广电新闻出版局|文体广新局|文广新局|文广局|旅游局|文化局|体育局|文旅局", "文旅局"),
    (r"司法局", "司法局"),
    (r"信访局", "信访局"),
    (r"应急管理局|安全生产监督管理局|安监局", "应急管理局"),
    (r"住房保障局|住保局|住房保障服务中心|房产局|房管局|房地产管理局|房屋交易管理中心|住房保障中心", "住房保障局"),
    (r"不动产登记中心|不动产登记局", "不动产登记中心"),
    (r"住房公积金管理中心|公积金中心|公积金管理中心", "公积金中心"),
    (r"行政审批服务局|行政审批局|政务服务中心|政务服务局", "行政审批局"),
    (r"市政局|市政设施管理局|工务局|市政工程管理处", "市政局"),
    (r"经开区管委会|经济技术开发区管委会|经开区管理委员会", "经开区管委会"),
    (r"高新区管委会|高新技术产业开发区管委会", "高新区管委会"),
    (r"人民政府办公室|政府办公室|政府办", "政府办"),
    (r"人民政府|政府|委员会|党委", "人民政府"),
    (r"纪委|监委|纪委监委", "纪委监委"),
    (r"消防大队|消防支队|消防救援大队|消防救援支队", "消防"),
    (r"电子政务管理办公室|网络宣传管理办公室|网宣中心|网信办|网络宣传管理中心", "网信办"),
]
_BUREAU_RES = [(re.compile(f"(?:{p})$"), c) for p, c in BUREAU_ALIASES]
_BUREAU_ALT = "|".join(sorted({alt for p, _ in BUREAU_ALIASES for alt in p.split("|")}, key=len, reverse=True))

# A unit: an optional place prefix (anonymised codes, or a bare 市/区/县 resolved from context), then a
# bureau name, or a street/town/township, or a company. Chinese place prefixes (福州市…) are handled by
# the deployment-specific helpers below: a bare "[2-3 chars]市" prefix swallows verbs (要求市…).
_PLACE_PREFIX = rf"(?:(?:{CODE}[市区县])+|(?:(?<![{_H}])|(?<=[经由转交将请和及与、至给到]))[市区县](?=[{_H}]))"
UNIT_RE = re.compile(
    rf"(?P<prefix>{_PLACE_PREFIX})?"
    rf"(?:(?P<bureau>{_BUREAU_ALT})"
    rf"|(?<=[区县市])(?P<generic>[{_H}]{{2,14}}?(?:局|委员会|服务中心|管理中心|大队|支队|中队|管理处|管理所|办公室|管委会|指挥部))"
    rf"|(?P<street>[{_H}]{{2,4}}?)(?P<st>街道办事处|街道办|街道|镇人民政府|镇政府|乡人民政府|乡政府|镇|乡)(?![{_H}]{{0,1}}(?:路|村|小区|社区))"
    rf"|(?P<company>[{_H}]{{2,14}}?(?:有限责任公司|有限公司|集团|公司))"
    rf"|(?<=[区县市])(?P<area>)(?![{_H}]))"
)
_UNIT_LEFT_OK = set("经由转交将请和及与、至给到")
_CODE_AREA_RE = re.compile(rf"(?<![A-Za-z0-9])({CODE})(市|区|县)")

# Context patterns, most reliable first. Each captures a stretch of text that starts with the unit.
_CONTEXTS: list[tuple[str, re.Pattern]] = [
    ("heading", re.compile(r"^\s*([^，,。；;：:！!\s]{2,30}?)(?:回复|答复)[:：]")),
    ("forwarded", re.compile(r"(?:已转|已转交|已转由|转由|交由|已交|已移交|转至|转交至|转交给|已转到|转给|交办给|交办|责成|已于[^，,。]{0,14}转)(?:至|给|到)?([^，,。；;！!]{2,40}?)(?:调查|办理|处理|核实|研究|答复|回复|进行|负责|解决|。|，|$)")),
    ("attended", re.compile(r"(?:^|[，,。；;：:！!\s]|问题)([^，,。；;：:！!\s]{2,40}?)(?:高度重视|非常重视|十分重视|迅速|立即|及时|认真|对此|接到|收到|进行了调查|经调查|组织|于\d)")),
    ("answered", re.compile(r"(?:^|[，,。；;：:！!\s])([^，,。；;：:！!\s]{2,30}?)已经?(?:答复|回复|作了回复|作出答复)")),
    ("investigated", re.compile(r"经([^，,。；;：:！!\s]{2,40}?)(?:进行)?(?:调查|核实|核查|了解|研究|现场|查实|协调)")),
    ("signed", re.compile(rf"((?:{CODE}[市区县])?[{_H}]{{2,30}})[\s\u3000\xa0]*(?:\d{{4}}\s*年\s*\d{{1,2}}\s*月\s*\d{{1,2}}\s*日?|\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{4}}年\S{{1,6}})?[\s\u3000\xa0。.]*$")),
]


@dataclass(frozen=True)
class Found:
    """A unit found in a reply: canonical ``name``, the ``raw`` text, the ``pattern`` that found it."""

    name: str
    raw: str
    pattern: str


def _areas(text: str) -> collections.Counter:
    return collections.Counter(m.group(0) for m in _CODE_AREA_RE.finditer(text or ""))


def _resolve_prefix(prefix: str, context: str, default_city: str | None) -> str | None:
    """Expand a bare 市/区/县 prefix using the most frequent matching code in the context."""
    if prefix not in ("市", "区", "县"):
        return prefix
    counts = _areas(context)
    areas = [a for a, _ in counts.most_common() if a.endswith(prefix)]
    if areas:
        return areas[0]
    if prefix == "市":
        # anonymised districts carry their city's letter: B2区 → B市
        local = [a for a, _ in counts.most_common() if a.endswith(("区", "县"))]
        if local:
            return local[0][0] + "市"
        return default_city
    return None


def canonical_unit(raw: str, *, context: str = "", default_city: str | None = None) -> str | None:
    """Canonical name of one unit mention (``raw`` must be a full :data:`UNIT_RE` match)."""
    m = UNIT_RE.fullmatch(raw.strip())
    if m is None:
        return None
    prefix = m.group("prefix") or ""
    codes = re.findall(rf"{CODE}[市区县]", prefix)
    if codes:
        # A市A2区住建局 → A2区住建局: the most specific code is enough
        prefix = codes[-1]
    if prefix:
        resolved = _resolve_prefix(prefix, context, default_city)
        if resolved is None:
            return None        # 县教育局 in a letter that names no county: whose?
        prefix = resolved
    if m.group("street"):
        kind = "镇" if m.group("st").startswith("镇") else "乡" if m.group("st").startswith("乡") else "街道"
        if m.group("st") in ("镇", "乡") and len(m.group("street")) < 2:
            return None
        street = m.group("street") + kind
        if not prefix:
            local = [a for a, _ in _areas(context).most_common() if a.endswith(("区", "县"))]
            prefix = local[0] if local else ""
        return f"{prefix}{street}" if prefix and prefix.endswith(("区", "县", "市")) else street
    if m.group("bureau"):
        bureau = m.group("bureau")
        for rx, canon in _BUREAU_RES:
            if rx.search(bureau):
                bureau = canon
                break
        if not prefix:
            return None   # "教育局" alone: whose?
        if bureau == "人民政府" and re.fullmatch(rf"{CODE}[市区县]", prefix):
            return prefix     # A7县人民政府 / 县委 / 县政府 → the county itself
        return prefix + bureau
    if m.group("generic"):
        if not prefix:
            return None
        generic = m.group("generic")
        for rx, canon in _BUREAU_RES:
            if rx.search(generic):
                generic = canon
                break
        return prefix + generic
    if m.group("area") is not None and m.group("company") is None:
        return prefix if re.fullmatch(rf"{CODE}[市区县]", prefix) else None
    company = m.group("company")
    if company and prefix:
        return prefix + company
    return company if company and len(company) >= 6 else None


def _units_in(stretch: str, context: str, default_city: str | None) -> list[tuple[str, str]]:
    """Unit mentions in a stretch of text, left to right, each validated at its left edge."""
    out = []
    i, n = 0, len(stretch)
    while i < n:
        m = UNIT_RE.match(stretch, i)
        if m is None or not _left_ok(stretch, m):
            i += 1
            continue
        name = canonical_unit(m.group(0), context=context, default_city=default_city)
        if name:
            out.append((name, m.group(0)))
            i = m.end()
        else:
            i += 1
    return out


def _left_ok(stretch: str, m: re.Match) -> bool:
    """A name starts at a boundary: not in the middle of a Chinese word, and its core holds no function word."""
    if m.group("prefix") and re.match(CODE, m.group("prefix")):
        return True
    start = m.start()
    if start > 0 and "\u4e00" <= stretch[start - 1] <= "\u9fff" and stretch[start - 1] not in _UNIT_LEFT_OK:
        return False
    core = m.group("street") or m.group("company") or m.group("generic") or ""
    if core[:1] in ("日", "月", "年", "号", "底", "初", "中", "后", "前"):
        return False
    return not (core and _STOP_RE.search(core))


_SELF_RE = re.compile(r"我(局|委|中心|大队|支队|队|办|街道|镇|乡|区|县|司|公司)")


def extract_unit(reply: str, *, letter_text: str = "", default_city: str | None = "A市") -> Found | None:
    """The unit that replied to (or was handed) a letter, or None when the reply does not say.

    ``letter_text`` (title + content) resolves bare prefixes: 区教育局 in a reply about A5区 → A5区教育局.
    """
    reply = (reply or "").strip()
    if not reply:
        return None
    context = reply + "\n" + (letter_text or "")
    for pattern, rx in _CONTEXTS:
        for m in rx.finditer(reply):
            stretch = m.group(1)
            units = _units_in(stretch, context, default_city)
            if pattern in ("attended", "investigated", "answered"):
                # a company "于2019年…" or "经…公司核实" is usually the subject of the matter, not its handler
                units = [u for u in units if not u[1].endswith(("公司", "集团"))]
            if units:
                name, raw = units[0]
                return Found(name, raw, pattern)
    # "我局…" with exactly one named unit of that kind in the reply
    selfs = list(dict.fromkeys(m.group(1) for m in _SELF_RE.finditer(reply)))   # first mention first: same answer every run
    for s in ("区", "县"):      # 我市 is said by every municipal bureau: not a unit
        if s in selfs:
            areas = [a for a, _ in _areas(reply).most_common() if a.endswith(s)]
            if areas:
                return Found(areas[0], "我" + s, "self")
    if selfs:
        units = _units_in(reply, context, default_city) or _units_in(letter_text, context, default_city)
        kinds = {"局": "局", "委": "委", "中心": "中心", "大队": "大队", "支队": "支队", "队": "队", "街道": "街道",
                 "镇": "镇", "乡": "乡",
                 "司": "公司", "公司": "公司"}
        for s in selfs:
            suffix = kinds.get(s)
            if suffix is None:
                continue
            cands = {n for n, raw in units if raw.endswith(suffix) or n.endswith(suffix)}
            cands = {c for c in cands if not any(o != c and o.endswith(c) for o in cands)}
            if not cands and letter_text:
                units = _units_in(letter_text, context, default_city)
                cands = {n for n, raw in units if raw.endswith(suffix) or n.endswith(suffix)}
                cands = {c for c in cands if not any(o != c and o.endswith(c) for o in cands)}
            if len(cands) == 1:
                name = cands.pop()
                raw = next((r for n, r in units if n == name), name)
                return Found(name, raw, "self")
    return None


def unit_office(name: str) -> str:
    """The district/county/city-level office a unit belongs to, for coarse routing: A3区洋湖街道 → A3区;
    A7县教育局 → A7县教育局 (a bureau is its own office); 洋湖街道 → 洋湖街道."""
    m = re.match(rf"({CODE}[区县市])([{_H}]{{2,4}}(?:街道|镇|乡))$", name)
    return m.group(1) if m else name


# ------------------------------------------------------------------------------------------------
# routed letters (history records) built from the public data

def teddy_routed(*, default_city: str | None = "A市") -> list[dict]:
    """teddy2020/replies.csv as letters with ``department`` = the extracted unit (None when not found).

    A street or town named without its district (泉塘街道) takes the district it has most often
    elsewhere in the same data (A7县泉塘街道).
    """
    out = []
    for r in read_csv("teddy2020/replies.csv"):
        title, content = r["留言主题"].strip(), r["留言详情"].strip()
        found = extract_unit(r["答复意见"], letter_text=title + "\n" + content, default_city=default_city)
        out.append({"id": f"teddy-reply-{r['留言编号']}", "title": title, "content": content,
                    "received_at": _date(r["留言时间"]), "replied_at": _date(r["答复时间"]),
                    "department": found.name if found else None, "department_raw": found.raw if found else None,
                    "department_pattern": found.pattern if found else None})
    prefixed: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for l in out:
        m = re.fullmatch(rf"({CODE}[区县])([{_H}]{{2,6}}(?:街道|镇|乡))", l["department"] or "")
        if m:
            prefixed[m.group(2)][l["department"]] += 1
    for l in out:
        if l["department"] in prefixed:
            l["department"] = prefixed[l["department"]].most_common(1)[0][0]
    return out


# Fuzhou: replies speak of themselves ("我局执法人员", "我司", "我街道"); the district column says where.
_FUZHOU_KINDS: list[tuple[re.Pattern, str, bool]] = [
    # (pattern in the reply, unit, district-level?)
    (re.compile(r"我司|水务公司|水务集团|水环境公司|水系综合治理|PPP项目"), "福州市水务投资发展有限公司", False),
    (re.compile(r"我局执法人员|执法人员|城管|夜间施工|施工扰民|噪音扰民|违章搭盖|违法建设"), "城管局", True),
    (re.compile(r"我街道|街道|我街|社区"), "街道办事处", True),
    (re.compile(r"内河指挥部|指挥部"), "内河指挥部", False),
    (re.compile(r"我局|建设局|内河所|内河站|河道"), "建设局", True),
    (re.compile(r"我区|区政府|属地"), "人民政府", True),
]


def fuzhou_unit(reply: str, district: str | None) -> str | None:
    """The Fuzhou unit of a reply: the district (区 column) + the kind of unit that speaks in 回复1."""
    reply = reply or ""
    explicit = re.search(r"(?:福州市)?(仓山区|晋安区|台江区|鼓楼区|马尾区|长乐区)(建设局|城管局|市容局|城乡建设局|住建局)", reply)
    for rx, unit, local in _FUZHOU_KINDS:
        if rx.search(reply):
            if not local:
                return unit
            if district:
                return district + unit
            if explicit:
                return explicit.group(1) + unit
            return None
    return None


def fuzhou_routed(location: bool = False) -> list[dict]:
    """fuzhou_water/appeals.csv as letters with ``department`` = district + unit kind (None when unclear).
    ``location``: the river the office filed the letter under (河流) as where the matter is."""
    out = []
    for r in read_csv("fuzhou_water/appeals.csv"):
        district = r.get("区", "").strip() or None
        unit = fuzhou_unit(r.get("回复1", ""), district)
        letter = {"id": f"fuzhou-{r['id']}", "title": r["标题"].strip(), "content": r["投诉件内容"].strip(),
                  "received_at": _date(r["时间"]), "region": district, "type": r["性质"].strip() or None,
                  "department": unit}
        if location and r.get("河流", "").strip():
            letter["location"] = r["河流"].strip()
        out.append(letter)
    return out


def _date(value: str) -> str | None:
    try:
        return parse_date(value)
    except Exception:
        return None


# ------------------------------------------------------------------------------------------------

CHECK_FILES = {"teddy": PROJECT_DIR / "corpora/profiles/teddy_a/replying_unit_check.csv",
               "fuzhou": PROJECT_DIR / "corpora/profiles/fuzhou/replying_unit_check.csv"}


def precision_on_check(source: str, letters: list[dict]) -> dict[str, tuple[int, int, int]] | None:
    """Per batch of the hand-checked file: (correct, found, checked); None when there is no file.

    The file's ``correct_unit`` is what a reader of the reply names as its unit ("" if the reply does
    not say). An extraction is correct when it equals it; extracting a unit where the reply names none
    counts as wrong. Batch "tuning" was read while the patterns were written; batch "fresh" was drawn
    and judged afterwards, without changing the patterns: its precision is the honest figure.
    """
    path = CHECK_FILES[source]
    if not path.exists():
        return None
    by_id = {l["id"]: l for l in letters}
    out: dict[str, list[int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            letter = by_id.get(row["id"])
            if letter is None:
                continue
            c = out.setdefault(row.get("batch") or "all", [0, 0, 0])
            c[2] += 1
            if letter["department"]:
                c[1] += 1
                truth = row["correct_unit"].strip()
                if letter["department"] == truth or (truth and letter["department"].endswith(truth)):
                    c[0] += 1
    return {k: tuple(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", choices=("teddy", "fuzhou"), default="teddy")
    ap.add_argument("--sample", type=int, default=0, help="print N random extractions to check by hand")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args(argv)
    letters = teddy_routed() if args.source == "teddy" else fuzhou_routed()
    n = len(letters)
    hit = [l for l in letters if l["department"]]
    print(f"{args.source}: {len(hit)}/{n} replies name a unit ({len(hit) / n:.1%} coverage), "
          f"{len({l['department'] for l in hit})} distinct units")
    if args.source == "teddy":
        pats = collections.Counter(l["department_pattern"] for l in hit)
        print("by pattern: " + ", ".join(f"{k} {v}" for k, v in pats.most_common()))
    for name, count in collections.Counter(l["department"] for l in hit).most_common(args.top):
        print(f"  {count:5d}  {name}")
    result = precision_on_check(args.source, letters) or {}
    for batch, (correct, found, checked) in result.items():
        print(f"hand-checked sample ({batch}): {checked} replies; unit found for {found}; precision "
              f"{correct}/{found} = {correct / max(found, 1):.1%}")
    if args.sample:
        rng = random.Random(args.seed)
        replies = {}
        if args.source == "teddy":
            replies = {f"teddy-reply-{r['留言编号']}": r["答复意见"] for r in read_csv("teddy2020/replies.csv")}
        else:
            replies = {f"fuzhou-{r['id']}": r["回复1"] for r in read_csv("fuzhou_water/appeals.csv")}
        w = csv.writer(sys.stdout)
        w.writerow(["id", "extracted", "pattern", "reply_head", "reply_tail"])
        for l in rng.sample(letters, args.sample):
            rep = " ".join(replies[l["id"]].split())
            w.writerow([l["id"], l["department"] or "", l.get("department_pattern") or "", rep[:160], rep[-50:]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
