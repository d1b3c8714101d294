"""涉法涉诉: does a letter concern a matter already in, or belonging to, litigation, arbitration,
administrative reconsideration or enforcement? Under 诉访分离 such matters are guided to the legal
channel instead of being handled as ordinary petitions, so the handler needs the flag *and* the words
that raised it.

Choices (documented because each could go the other way):

* **What triggers** — words naming a proceeding or its acts: 法院, 判决, 裁定, 仲裁, 诉讼, 起诉, 上诉, 再审,
  开庭, 行政复议, 强制执行, 申请执行, 被执行人, 检察院, 律师函, 打官司, 原告/被告 …
* **Negation does not cancel** — "不想打官司", "没钱起诉", "法院不予受理" still flag: the matter is a legal
  dispute the petitioner brings to the petition channel, which is exactly what 诉访分离 is about. The
  trigger is reported as written (e.g. "打官司"), so the handler sees the context.
* **False friends are dropped** — a court as a *place* (法院路, 法院街, 法院宿舍, 法院旁边, 法院对面, 法院附近,
  法院门口, 法院站), "执行" in its everyday sense (执行政策, 执行标准: only 强制执行 / 申请执行 / 执行局 /
  执行庭 / 执行款 / 被执行人 count), "申诉" (petition vocabulary: 申诉求决), "依法"/"法律规定" (law in general),
  "被告知", "被告之" (was told), "发起诉求" (起诉 inside 发起 + 诉求), "投诉至/投诉到" (not 诉至), and "复议" of a
  复查/复核 request inside the petition procedure (信访复查, 复核) — only 行政复议 counts; "上诉" inside 以上诉求
  or said of a petition (上诉到纪委, 上诉至省政府, 从三年前上诉到现在, 上访或上诉);
  a court's name in a citation of law (最高人民法院关于…, 最高人民法院发布的…) and any trigger inside the title of a
  law or regulation cited in 《》 (《民事诉讼法》, 《…的解释》) — a proceeding's own papers (《民事判决书》) still count.
* **Going to law counts** — 走/通过/诉诸法律途径 or 法律程序 (done, threatened or told to: the matter belongs to the
  legal channel) and 司法拍卖 (a court's auction: enforcement).
* Police reports (报警, 立案侦查) alone are not 涉诉: they enter litigation only when a court or procuratorate does.
"""

from __future__ import annotations

import re

__all__ = ["flag_litigation", "TRIGGERS"]

# canonical trigger → pattern (order: longer first where they overlap)
TRIGGERS: dict[str, str] = {
    "行政复议": r"行政复议",
    "强制执行": r"强制执行",
    "申请执行": r"申请(?:法院)?执行",
    "被执行人": r"被执行人",
    "执行局": r"执行局",
    "执行庭": r"执行庭",
    "执行款": r"执行款",
    "仲裁": r"仲裁",
    "判决": r"判决|判了|判处|改判",
    "裁定": r"裁定",
    "调解书": r"调解书",
    "诉讼": r"诉讼",
    "起诉": r"起诉(?!求)|(?<![投申上])诉至|(?<![投申上])诉到|提起公诉",
    "上诉": r"上诉(?!求|到现在|至今)",
    "再审": r"再审",
    "开庭": r"开庭|庭审",
    "一审/二审": r"一审|二审|终审",
    "原告/被告": r"原告|被告(?![知诉之])",
    "法官": r"(?<!执)法官(?!员)",
    "检察院": r"检察院|检察机关",
    "律师函": r"律师函",
    "司法拍卖": r"司法拍卖|法院拍卖",
    "法律途径": r"(?:走|通过|诉诸|寻求|采取)(?:了|过)?法律(?:途径|程序)",
    "打官司": r"打官司|官司",
    "法院": r"法院",
}
_TRIGGER_RE = re.compile("|".join(f"(?P<t{i}>{p})" for i, p in enumerate(TRIGGERS.values())))
_NAMES = list(TRIGGERS)

# a judicial interpretation or a court's published cases cited as law: 最高人民法院关于…, 最高人民法院发布的…
_COURT_CITED_RE = re.compile(r"法院(?:关于|发布|印发|公布|的?《|司法解释|指导案例)")

# 上诉 said of a petition, not a court appeal: 上诉到纪委, 上诉至省政府 (a higher court is what an appeal goes to)
# … or paired with 上访 (保留上访或上诉的权力: the writer's threat to petition higher, in petition vocabulary)
_APPEAL_NOT_COURT_RE = re.compile(r"上诉(?:到|至)[^，。！？,.!?\n]{0,8}?(?:纪委|监委|政府|信访|上级|领导|省委|市委|中央)"
                                  r"|(?<=上访[或和、])上诉|上诉(?=[或和、]上访)")

# a court as a place: 法院路, 法院宿舍, 法院旁边 … (the character after 法院)
_COURT_PLACE_RE = re.compile(r"(?:法院|检察院)(?:路|街|巷|大道|小区|宿舍|家属院|家属区|站|公交站|旁|对面|附近|一带|那边|门口|隔壁|后面|前面|周边|斜对面|东|西|南|北)")
# … or as a housing estate (省检察院东来苑) or a building project (法院审判庭施工建设项目): the court as a landlord or a client
_COURT_ESTATE_RE = re.compile(r"(?:法院|检察院)[^\s，。、；,;]{0,3}?(?:苑|小区|公寓|家属院|宿舍|大厦|花园|生活区)"
                              r"|(?:法院|检察院)(?:审判庭|办公楼|大楼)?(?:施工|建设|工程|项目|招标|评标)")


# a procuratorate asked to step in, investigate or pursue someone (请检察院介入调查, 检察院追责): a 检举 to it, no
# proceeding of the writer's; its own acts (检察院起诉, 检察院批捕) still count
_PROCURATORATE_ASKED_RE = re.compile(r"检察院[^，。！？,.!?\n]{0,8}?(?:介入|调查|追究|追[^，。]{0,8}责|查处|彻查)")


# a law, a regulation, a judicial interpretation cited by its title (《最高人民法院关于审理…的解释》); a
# proceeding's own papers (《民事判决书》, 《行政复议决定书》) are not citations and still count
_TITLE_RE = re.compile(r"《[^《》\n]{0,80}(?:法|条例|规定|解释|办法|意见|通知|案例|规则|细则|批复|标准|纲要)》")


# a trigger's false friends, each read where the trigger starts
_FALSE_FRIENDS: dict[str, tuple[re.Pattern, ...]] = {
    "法院": (_COURT_CITED_RE, _COURT_PLACE_RE, _COURT_ESTATE_RE),
    "检察院": (_COURT_PLACE_RE, _COURT_ESTATE_RE, _PROCURATORATE_ASKED_RE),
    "上诉": (_APPEAL_NOT_COURT_RE,),
}


def flag_litigation(text: str) -> dict:
    """``{"litigation_related": bool, "triggers": [words in order of first appearance]}``.

    >>> flag_litigation("去年法院判决后对方一直不执行，申请强制执行也没结果")
    {'litigation_related': True, 'triggers': ['法院', '判决', '强制执行']}
    >>> flag_litigation("法院路口红绿灯时间太短")
    {'litigation_related': False, 'triggers': []}
    """
    text = text or ""
    triggers: list[str] = []
    titles = [t.span() for t in _TITLE_RE.finditer(text)]
    for m in _TRIGGER_RE.finditer(text):
        name = _NAMES[int(m.lastgroup[1:])]
        if any(rx.match(text, m.start()) for rx in _FALSE_FRIENDS.get(name, ())):
            continue
        if any(a < m.start() and m.end() < b for a, b in titles):   # a law or document cited by its title
            continue
        if name not in triggers:
            triggers.append(name)
    return {"litigation_related": bool(triggers), "triggers": triggers}
