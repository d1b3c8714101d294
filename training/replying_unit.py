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
from pathlib import Path

from training.datasets import PROJECT_DIR, read_csv
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
    (r"公安局交通警察支队|交通警察支队|交警支队|交警大队|交通警察大队|公安交警大队|交警队", "交警"),
    (r"公安分局|公安局|派出所", "公安局"),
    (r"交通运输局|交通局|交通运输管理所|运管处|运管所|道路运输管理处", "交通运输局"),
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

# A unit: an optional place prefix, then a bureau name, or a street/town/township, or a county/district.
_PLACE_PREFIX = rf"(?:(?:{CODE}[市区县])+|[{_H}]{{2,3}}(?:市|区|县)(?=[{_H}]{{2}})|(?<![{_H}])[市区县](?=[{_H}]))"
UNIT_RE = re.compile(
    rf"(?P<prefix>{_PLACE_PREFIX})?"
    rf"(?:(?P<street>[{_H}]{{2,4}}?)(?P<st>街道办事处|街道办|街道|镇人民政府|镇政府|乡人民政府|乡政府|镇|乡)(?![{_H}]{{0,1}}(?:路|村|小区|社区))"
    rf"|(?P<bureau>{_BUREAU_ALT})"
    rf"|(?P<company>[{_H}]{{2,14}}?(?:有限责任公司|有限公司|集团|公司)))"
)
_CODE_AREA_RE = re.compile(rf"(?<![A-Za-z0-9])({CODE})(市|区|县)")

# Context patterns, most reliable first. Each captures a stretch of text that starts with the unit.
_CONTEXTS: list[tuple[str, re.Pattern]] = [
    ("forwarded", re.compile(rf"(?:已转|已转交|已转由|转由|交由|已交|已移交|转至|转交至|转交给|已转到|转给)(?:至|给|到)?([^，,。；;！!]{{2,40}}?)(?:调查|办理|处理|核实|研究|答复|回复|进行|负责|解决|。|，|$)")),
    ("attended", re.compile(rf"(?:^|[，,。；;：:！!\s]|问题)([^，,。；;：:！!\s]{{2,40}}?)(?:高度重视|非常重视|十分重视|迅速|立即|及时|认真|对此|接到|收到|进行了调查|经调查|组织)")),
    ("investigated", re.compile(rf"经([^，,。；;：:！!\s]{{2,40}}?)(?:进行)?(?:调查|核实|核查|了解|研究|现场|查实|协调)")),
    ("signed", re.compile(rf"([^，,。；;：:！!\s\d]{{2,30}})[\s\u3000]*(?:\d{{4}}\s*年\s*\d{{1,2}}\s*月\s*\d{{1,2}}\s*日?|\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{4}}年\S{{1,6}})?[\s\u3000。.]*$")),
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
    areas = [a for a, _ in _areas(context).most_common() if a.endswith(prefix)]
    if areas:
        return areas[0]
    return default_city if prefix == "市" else None


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
        prefix = _resolve_prefix(prefix, context, default_city) or prefix
    if m.group("street"):
        kind = "镇" if m.group("st").startswith("镇") else "乡" if m.group("st").startswith("乡") else "街道"
        if m.group("st") in ("镇", "乡") and len(m.group("street")) < 2:
            return None
        street = m.group("street") + kind
        return f"{prefix}{street}" if prefix and prefix.endswith(("区", "县", "市")) else street
    if m.group("bureau"):
        bureau = m.group("bureau")
        for rx, canon in _BUREAU_RES:
            if rx.search(bureau):
                bureau = canon
                break
        if not prefix:
            return None   # "教育局" alone: whose?
        return prefix + bureau
    company = m.group("company")
    if company and prefix:
        return prefix + company
    return company if company and len(company) >= 6 else None


def _units_in(stretch: str, context: str, default_city: str | None) -> list[tuple[str, str]]:
    out = []
    for m in UNIT_RE.finditer(stretch):
        name = canonical_unit(m.group(0), context=context, default_city=default_city)
        if name:
            out.append((name, m.group(0)))
    return out


_SELF_RE = re.compile(r"我(局|委|中心|大队|支队|队|办|街道|镇|乡|区|县|市|司|公司)")


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
            if units:
                name, raw = units[0]
                return Found(name, raw, pattern)
    # "我局…" with exactly one named unit of that kind in the reply
    selfs = {m.group(1) for m in _SELF_RE.finditer(reply)}
    if selfs:
        units = _units_in(reply, context, default_city)
        kinds = {"局": "局", "委": "委", "中心": "中心", "大队": "大队", "队": "队", "街道": "街道", "镇": "镇", "乡": "乡",
                 "司": "公司", "公司": "公司"}
        for s in selfs:
            suffix = kinds.get(s)
            if suffix is None:
                continue
            cands = {n for n, raw in units if raw.endswith(suffix)}
            if len(cands) == 1:
                name = cands.pop()
                raw = next(r for n, r in units if n == name)
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
    """teddy2020/replies.csv as letters with ``department`` = the extracted unit (None when not found)."""
    out = []
    for r in read_csv("teddy2020/replies.csv"):
        title, content = r["留言主题"].strip(), r["留言详情"].strip()
        found = extract_unit(r["答复意见"], letter_text=title + "\n" + content, default_city=default_city)
        out.append({"id": f"teddy-reply-{r['留言编号']}", "title": title, "content": content,
                    "received_at": _date(r["留言时间"]), "replied_at": _date(r["答复时间"]),
                    "department": found.name if found else None, "department_raw": found.raw if found else None,
                    "department_pattern": found.pattern if found else None})
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
    explicit = re.search(rf"((?:福州市)?[{_H}]{{2}}区)(建设局|城管局|市容局|城乡建设局|住建局)", reply)
    for rx, unit, local in _FUZHOU_KINDS:
        if rx.search(reply):
            if not local:
                return unit
            if district:
                return district + unit
            if explicit:
                return explicit.group(1).replace("福州市", "") + unit
            return None
    return None


def fuzhou_routed() -> list[dict]:
    """fuzhou_water/appeals.csv as letters with ``department`` = district + unit kind (None when unclear)."""
    out = []
    for r in read_csv("fuzhou_water/appeals.csv"):
        district = r.get("区", "").strip() or None
        unit = fuzhou_unit(r.get("回复1", ""), district)
        out.append({"id": f"fuzhou-{r['id']}", "title": r["标题"].strip(), "content": r["投诉件内容"].strip(),
                    "received_at": _date(r["时间"]), "region": district, "type": r["性质"].strip() or None,
                    "department": unit})
    return out


def _date(value: str) -> str | None:
    try:
        return parse_date(value)
    except Exception:
        return None


# ------------------------------------------------------------------------------------------------

CHECK_FILES = {"teddy": PROJECT_DIR / "corpora/profiles/teddy_a/replying_unit_check.csv",
               "fuzhou": PROJECT_DIR / "corpora/profiles/fuzhou/replying_unit_check.csv"}


def precision_on_check(source: str, letters: list[dict]) -> tuple[int, int, int] | None:
    """(correct, found, checked) against the hand-checked file, or None when there is none.

    The file's ``correct_unit`` is what a reader of the reply names as its unit ("" if the reply does
    not say); an extraction is correct when it equals it, a miss when the extractor found nothing.
    """
    path = CHECK_FILES[source]
    if not path.exists():
        return None
    by_id = {l["id"]: l for l in letters}
    correct = found = checked = 0
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            letter = by_id.get(row["id"])
            if letter is None:
                continue
            checked += 1
            if letter["department"]:
                found += 1
                if letter["department"] == row["correct_unit"].strip():
                    correct += 1
    return correct, found, checked


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
    result = precision_on_check(args.source, letters)
    if result:
        correct, found, checked = result
        print(f"hand-checked sample: {checked} letters; unit found for {found}; precision {correct}/{found} = "
              f"{correct / max(found, 1):.1%}; recall on the sample {found}/{checked}")
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
