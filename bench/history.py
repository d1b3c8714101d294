"""A reproducible history of N stored cases built from the real letters in ``../shared/datasets``.

Every case is a real letter (Teddy 2020 messages, hot issues, replies and unlabeled messages; Fuzhou water
appeals — about 12k distinct letters) with realistic variation, chosen deterministically from the case
number and ``seed``; no random characters are ever generated:

- **places**: each distinct place mention (compound 小区/花园/苑…, road 路/街/大道, 街道/社区, 镇/乡/村, and
  the publishers' anonymised codes such as A市 / A2区 / E5县) is, with probability 0.8, replaced — consistently
  in title and content — by another real name of the same kind drawn from the corpus;
- **dates**: the received date moves by up to ±3 years (2013–2025) and years written in the text
  (``2019年``) move with it;
- **petitioners**: 30% of the cases come from a pool of repeat petitioners (Zipf-distributed, as real
  petition offices see), the rest from a new account each;
- **wording**: with probability 0.5 one of: a synonym swap from a small table of petition phrasing
  (反映/投诉, 希望/恳请, 尽快/早日, 相关部门/有关部门 …), dropping a non-opening sentence, swapping two adjacent
  middle sentences, a different opening / closing courtesy, or a follow-up marker (再次反映, 至今未解决);
- **labels** (domain, type, reply) and the channel stay with the base letter; cases older than 60 days
  are ``已办结``.

Copy 0 of each base letter is the letter unchanged, so the first ~12k cases are exactly the real data.
:func:`near_duplicate` makes the lightly re-worded repeat of a stored case used as a planted
near-duplicate query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from training.datasets import read_csv

PLACE_KINDS = {
    "compound": re.compile(r"[\u4e00-\u9fff]{2,6}(?:小区|花园|花苑|家园|公寓|新村|雅苑|华苑)"),
    "road": re.compile(r"[\u4e00-\u9fff]{2,4}(?:大道|路|街)(?![道区])"),
    "street": re.compile(r"[\u4e00-\u9fff]{2,4}(?:街道|社区)"),
    "village": re.compile(r"[\u4e00-\u9fff]{2,3}(?:镇|乡|村)"),
}
CODE_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z])(\d{0,2})(市|区|县)")
YEAR_RE = re.compile(r"(20[01]\d|202[0-5])年")
_NOISE = ("我们", "你们", "他们", "这个", "那个", "所在", "附近", "周边", "其他", "整个", "一个", "本", "该", "在", "于",
          "到", "和", "与", "及", "的", "了", "是", "从", "向", "对")
_FUNCTION_CHARS = set("的了是在一对要我们这那有个和与及从向到被把将就都也还又很该其此您你他她它为以已不没能会可让给")
SYNONYMS = [("反映", "投诉"), ("希望", "恳请"), ("尽快", "早日"), ("相关部门", "有关部门"), ("解决", "处理"),
            ("严重影响", "极大影响"), ("居民", "业主"), ("问题", "情况"), ("请求", "要求"), ("领导", "政府")]
OPENINGS = ["", "尊敬的领导：", "您好！", "领导好，", "尊敬的市长：", "各位领导好："]
CLOSINGS = ["", "谢谢！", "望尽快答复。", "盼复。", "恳请领导重视！", "此致敬礼"]
FOLLOW_UPS = ["再次反映：", "之前反映过，至今未解决。", "第二次反映，", "多次反映无果，"]
SENT_RE = re.compile(r"(?<=[。！？!?；;])")


@dataclass
class Base:
    title: str
    content: str
    received_at: str | None
    source: str
    domain: str | None = None
    type: str | None = None
    reply: str | None = None
    region: str | None = None
    channel: str | None = None


def _iso(value: str) -> str | None:
    value = (value or "").strip()
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return dt.datetime.strptime(value, fmt).isoformat()
        except ValueError:
            continue
    return None


@lru_cache(maxsize=1)
def base_letters() -> tuple[Base, ...]:
    """The distinct real letters (title + content), in a fixed order."""
    out: list[Base] = []
    seen: set[str] = set()

    def add(b: Base) -> None:
        key = re.sub(r"\s+", "", b.title + "\x00" + b.content)
        if b.content.strip() and key not in seen:
            seen.add(key)
            out.append(b)

    for r in read_csv("teddy2020/messages_labeled.csv"):
        add(Base(r["留言主题"].strip(), r["留言详情"].strip(), _iso(r["留言时间"]), "teddy/messages",
                 domain=r["一级标签"].strip().split("|")[0], channel="web"))
    for r in read_csv("teddy2020/replies.csv"):
        add(Base(r["留言主题"].strip(), r["留言详情"].strip(), _iso(r["留言时间"]), "teddy/replies",
                 reply=r["答复意见"].strip() or None, channel="web"))
    for name in ("hot_issues", "unlabeled"):
        for r in read_csv(f"teddy2020/{name}.csv"):
            add(Base(r["留言主题"].strip(), r["留言详情"].strip(), _iso(r["留言时间"]), f"teddy/{name}", channel="web"))
    for r in read_csv("fuzhou_water/appeals.csv"):
        add(Base(r["标题"].strip(), r["投诉件内容"].strip(), _iso(r["时间"]), "fuzhou/appeals", type=r["性质"] or None,
                 reply=r["回复1"].strip() or None, region=r["区"] or None, channel="phone"))
    return tuple(out)


@lru_cache(maxsize=1)
def place_pools() -> dict[str, tuple[str, ...]]:
    """Real place names of each kind found in the corpus (the replacement vocabulary)."""
    df: dict[tuple[str, str], int] = {}
    for b in base_letters():
        text = b.title + "\n" + b.content
        found = {(kind, m.group(0)) for kind, rx in PLACE_KINDS.items() for m in rx.finditer(text)}
        for key in found:
            df[key] = df.get(key, 0) + 1
    pools: dict[str, set[str]] = {k: set() for k in PLACE_KINDS}
    for (kind, name), n in df.items():
        if n >= 3 and _is_name(name):  # a name several letters spell the same way, without function words
            pools[kind].add(name)
    return {k: tuple(sorted(v)) for k, v in pools.items()}


_BAD_START = tuple("区县市省整全各") + ("请问", "购买", "擅自", "必须", "广告", "左转", "右转", "位于", "住在", "前往", "通往")
_BAD_VILLAGE = ("城乡", "城镇", "乡镇", "农村", "城中村", "全体村", "新农村")


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Frequent general words of jieba's dictionary (目前, 生活, 入住 …): a name is not one of them + a suffix."""
    import jieba

    path = jieba.get_dict_file()
    out = set()
    for line in path.read().decode("utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and int(parts[1]) >= 2000:
            out.add(parts[0])
    path.close()
    return frozenset(out)


def _is_name(name: str) -> bool:
    if name.startswith(_NOISE) or name.startswith(_BAD_START) or set(name[:-1]) & _FUNCTION_CHARS:
        return False
    stem = name.rstrip("小区花园苑家园公寓新村大道路街道社区镇乡村")
    common = _common_words()
    if stem in common or stem[-2:] in common and len(stem) <= 3 or stem[:2] in common and len(stem) >= 4:
        return False
    return not name.endswith(_BAD_VILLAGE) and not name[-2:] in ("护乡", "维护乡", "体村")


def _rng(seed: int, i: int, salt: str = "") -> random.Random:
    h = hashlib.blake2b(f"{seed}:{i}:{salt}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(h, "little"))


def _sub_places(title: str, content: str, rng: random.Random) -> tuple[str, str]:
    pools = place_pools()
    mapping: dict[str, str] = {}
    text = title + "\x00" + content
    for kind, rx in PLACE_KINDS.items():
        for m in rx.finditer(text):
            name = m.group(0)
            if name in mapping or not _is_name(name) or rng.random() >= 0.8:
                continue
            mapping[name] = rng.choice(pools[kind])
    codes: dict[str, str] = {}
    for m in CODE_RE.finditer(text):
        code = m.group(0)
        if code not in codes and rng.random() < 0.8:
            letter = rng.choice("ABCDEFGHJK")
            digits = str(rng.randint(1, 9)) if m.group(2) else ""
            codes[code] = f"{letter}{digits}{m.group(3)}"
    if mapping:
        rx = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
        text = rx.sub(lambda m: mapping[m.group(0)], text)
    if codes:
        text = CODE_RE.sub(lambda m: codes.get(m.group(0), m.group(0)), text)
    title, _, content = text.partition("\x00")
    return title, content


def _reword(title: str, content: str, rng: random.Random) -> tuple[str, str]:
    choice = rng.randrange(5)
    if choice == 0:
        a, b = rng.choice(SYNONYMS)
        if rng.random() < 0.5:
            a, b = b, a
        return title.replace(a, b), content.replace(a, b)
    sents = [s for s in SENT_RE.split(content) if s]
    if choice == 1 and len(sents) > 2:
        del sents[rng.randrange(1, len(sents))]
        return title, "".join(sents)
    if choice == 2 and len(sents) > 3:
        j = rng.randrange(1, len(sents) - 2)
        sents[j], sents[j + 1] = sents[j + 1], sents[j]
        return title, "".join(sents)
    if choice == 3:
        return title, rng.choice(OPENINGS) + content + rng.choice(CLOSINGS)
    return (("再次反映：" + title) if rng.random() < 0.5 else title), rng.choice(FOLLOW_UPS) + content


def _shift_dates(received_at: str | None, content: str, rng: random.Random) -> tuple[str, str]:
    base = dt.datetime.fromisoformat(received_at) if received_at else dt.datetime(2019, 6, 1, 9, 0)
    days = rng.randint(-3 * 365, 3 * 365)
    when = base + dt.timedelta(days=days, minutes=rng.randint(0, 600))
    when = min(max(when, dt.datetime(2013, 1, 1)), dt.datetime(2025, 12, 31))
    dy = when.year - base.year
    if dy:
        content = YEAR_RE.sub(lambda m: f"{min(max(int(m.group(1)) + dy, 2010), 2025)}年", content)
    return when.isoformat(timespec="seconds"), content


def petitioner_of(i: int, n: int, seed: int, rng: random.Random) -> dict:
    if rng.random() < 0.3:  # a repeat petitioner: Zipf over a pool of 2% of the cases
        pool = max(10, n // 50)
        k = min(int(rng.paretovariate(1.1)) - 1, pool - 1)
        return {"account": f"P{seed:02d}{k:08d}"}
    return {"account": f"U{seed:02d}{i:09d}"}


def case(i: int, n: int, seed: int = 7, now: dt.datetime = dt.datetime(2026, 1, 1)) -> dict:
    """Stored case number ``i`` (0-based) of a history of ``n`` (a letter dict in the contract's fields)."""
    bases = base_letters()
    b = bases[i % len(bases)]
    copy = i // len(bases)
    title, content, received = b.title, b.content, b.received_at
    rng = _rng(seed, i)
    if copy > 0:
        title, content = _sub_places(title, content, rng)
        received, content = _shift_dates(received, content, rng)
        if rng.random() < 0.5:
            title, content = _reword(title, content, rng)
    when = dt.datetime.fromisoformat(received) if received else None
    rec = {"id": f"bench-{i:07d}", "title": title, "content": content, "received_at": received,
           "petitioner": petitioner_of(i, n, seed, rng), "channel": b.channel,
           "status": "已办结" if when and (now - when).days > 60 else "open"}
    for name in ("domain", "type", "reply", "region"):
        if getattr(b, name):
            rec[name] = getattr(b, name)
    return rec


def history(n: int, seed: int = 7):
    """Yield the ``n`` cases in order (deterministic for a given ``seed``)."""
    for i in range(n):
        yield case(i, n, seed)


def near_duplicate(rec: dict, j: int, seed: int = 7) -> dict:
    """A lightly re-worded repeat of a stored case (a planted near-duplicate query)."""
    rng = _rng(seed, j, "query")
    title, content = _reword(rec["title"], rec["content"], rng)
    return {"id": f"query-{j}", "title": title, "content": content, "received_at": rec.get("received_at"),
            "petitioner": {"account": f"Q{j:08d}"}}
