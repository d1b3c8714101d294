"""Measure department routing on the public data, with baselines, and print a table.

    python -m training.eval_routing                # every dataset below
    python -m training.eval_routing --only fuzhou  # or teddy-offices-real, teddy-bureaus, bench, … (--help)

Datasets (labels are the replying units extracted by :mod:`training.replying_unit`):

* ``teddy-units`` — teddy2020 replies, one label per replying unit (hundreds of units, long tail);
* ``teddy-offices`` — the same letters, each unit folded into its office: a district or county (A7县安沙镇,
  A7县教育局 → A7县) or, above that level, the unit itself (A市教育局). This is the shape of the
  maintainers' hidden test: district centres chosen by place plus municipal bureaus chosen by duty;
* ``teddy-a-city`` — ``teddy-offices`` restricted to one city (A市's districts/counties and its bureaus):
  the closest stand-in for one city's 12345 tickets;
* ``teddy-offices-named`` — ``teddy-offices`` with every anonymised code replaced by a real place name of the same
  level (A6区 → 宁乡区), in letters and departments: the hidden test's city has real names, which are harder to
  read than codes (see :func:`with_real_names`); no directory (the teddy_a profile speaks in codes);
* ``fuzhou`` — fuzhou_water appeals, label = district + the kind of unit that wrote 回复1;
* ``fuzhou-located`` — the same letters carrying the river the office filed each under (河流) as where the matter
  is (``location``, as an export's 事发地址 column is read). Not in the default run;
* ``teddy-mixed`` — one city in real names, its district offices (the letters A市's districts and counties
  answered) and seven municipal bureaus (30% of the letters: Teddy messages sent to the bureau their domain label
  stands for; :func:`mixed_city`): the hidden test's "mix of district centres and municipal bureaus", whose
  baselines land near the hidden ones (district-name rule ≈ 0.6, TF-IDF ≈ 0.55). Not in the default run;
* ``teddy-bureaus`` — a city routed by duty alone: the 1,541 Teddy messages with one domain label, each sent
  to the bureau its domain stands for (城乡建设 → 市住建局, …; :data:`BUREAU_OF_DOMAIN`): does the router keep up
  with a text classifier where every department is a bureau with hundreds of letters? Not in the default run.

Splits: **by time** (train on the earliest 70%, test on the rest) and the hidden-test simulation
**half/half** (import a random half of the routed history, route the other half, no directory).

Systems: a district-name rule (a department whose name holds a named district/county; else the most
frequent), a plain TF-IDF classifier (char 1–3-grams + LinearSVC), and the :class:`~triage.route.Router`
with directory only, history only, both, and history + neighbours (the 10 most similar training letters
by TF-IDF cosine, standing in for the retrieval step).

``--seeds 1,2,3,7`` runs the half/half split with each seed and adds a table of the means (one split moves top-1
by ±0.03 on teddy-offices). ``--only bench`` times :meth:`Router.fit_history` on 10,000 letters.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import random
import re
import time

import numpy as np

from training.common import as_ticket
from training.datasets import PROJECT_DIR
from training.replying_unit import fuzhou_routed, teddy_routed
from triage.directory import Directory
from triage.places import extract_places
from triage.route import Router, RouterConfig, department_places

PROFILES = PROJECT_DIR / "corpora" / "profiles"
CODE_UNIT = re.compile(r"([A-Z]\d{1,2}[区县市])(?=.)")


def office(unit: str) -> str:
    """A unit folded into its district/county office (A7县安沙镇 → A7县); city-level units stay as they are."""
    m = CODE_UNIT.match(unit)
    return m.group(1) if m else unit


# teddy-bureaus: the bureau a Teddy domain label stands for (the messages labelled with one domain)
BUREAU_OF_DOMAIN = {"城乡建设": "市住建局", "劳动和社会保障": "市人社局", "教育文体": "市教育局", "商贸旅游": "市商务局",
                    "卫生计生": "市卫健委", "环境保护": "市生态环境局", "交通运输": "市交通运输局"}


def datasets(name: str) -> tuple[list[dict], str | None]:
    if name == "teddy-units":
        return [l for l in teddy_routed() if l["department"]], "teddy_a"
    if name == "teddy-offices":
        out = []
        for l in teddy_routed():
            if l["department"]:
                l = dict(l)
                l["department"] = office(l["department"])
                out.append(l)
        return out, "teddy_a"
    if name == "teddy-a-city":
        letters, _ = datasets("teddy-offices")
        return [l for l in letters if l["department"].startswith("A") and l["department"][1:2] in "市123456789"], "teddy_a"
    if name == "fuzhou":
        return [l for l in fuzhou_routed() if l["department"]], "fuzhou"
    if name == "fuzhou-located":   # the same letters with the river the office filed each under as its location
        return [l for l in fuzhou_routed(location=True) if l["department"]], "fuzhou"
    if name == "teddy-offices-named":
        letters, _ = datasets("teddy-offices")
        return with_real_names(letters), None   # the teddy_a directory speaks in codes
    if name == "teddy-bureaus":   # a city routed by duty alone: one bureau per Teddy domain label
        from training.datasets import teddy_messages

        return [dict(m, department=BUREAU_OF_DOMAIN[m["domain"]]) for m in teddy_messages()
                if m["domain"] in BUREAU_OF_DOMAIN], None
    if name == "teddy-offices-real":
        letters, _ = datasets("teddy-offices")
        known, counties = with_inferred_names(letters)
        return with_real_names(letters, known, avoid=counties), None
    if name == "teddy-mixed":
        return mixed_city(), None
    raise SystemExit(f"unknown dataset {name}")


def mixed_city(bureau_share: float = 0.3, seed: int = 0) -> list[dict]:
    """One city's district offices and municipal bureaus, in real names: the letters A市's districts and counties
    answered (teddy-offices; A3区, A7县 …) and, for 30% of the whole, Teddy messages of the seven domains that
    :data:`BUREAU_OF_DOMAIN` gives a bureau (A市住建局, A市人社局 …; none of the office letters again, none naming
    another city of the province's board: 483 of 1,541 name A市's places or none), every code then
    renamed as in teddy-offices-real (A市 → 长沙市). Whether a matter went to a district or a bureau is decided by
    which file the letter comes from, not by a rule on its text; a bureau letter may well name a district."""
    from training.datasets import teddy_messages

    offices = [l for l in datasets("teddy-offices")[0] if re.fullmatch(r"A\d+[区县市]", l["department"])]
    seen = {l["id"] for l in offices} | {(l.get("content") or "")[:50] for l in offices}
    other_city = re.compile(r"(?<![A-Za-z0-9])[B-Z][0-9]{0,2}[市区县]")   # the board is a province's: keep this city's
    bureaus = [dict(m, department="A" + BUREAU_OF_DOMAIN[m["domain"]]) for m in teddy_messages()
               if m["domain"] in BUREAU_OF_DOMAIN and m["id"] not in seen and m["content"][:50] not in seen
               and not other_city.search(m["title"] + m["content"])]
    random.Random(seed).shuffle(bureaus)
    letters = offices + bureaus[: int(len(offices) * bureau_share / (1 - bureau_share))]
    known, counties = with_inferred_names(letters)
    return with_real_names(letters, known, avoid=counties)


# Cores of real county-level names (Hunan's, then a few from elsewhere), in no order that favours anything.
# Real names are harder to read than codes: 乡 inside a name (宁乡, 安乡), a stop character first (和平),
# a one-character core (攸县, 澧县), 城 before 市 (鼎城市).
REAL_CORES = tuple(
    "芙蓉 天心 岳麓 开福 雨花 望城 浏阳 宁乡 荷塘 芦淞 石峰 天元 渌口 醴陵 攸 茶陵 炎陵 雨湖 岳塘 湘乡 韶山 珠晖 雁峰 "
    "石鼓 蒸湘 南岳 衡阳 衡南 衡山 衡东 祁东 耒阳 常宁 双清 大祥 北塔 邵东 新邵 隆回 洞口 绥宁 新宁 城步 武冈 岳阳 "
    "云溪 君山 华容 湘阴 平江 汨罗 临湘 武陵 鼎城 安乡 汉寿 澧 临澧 桃源 石门 津市 永定 武陵源 慈利 桑植 资阳 赫山 "
    "南 桃江 安化 沅江 北湖 苏仙 桂阳 宜章 永兴 嘉禾 临武 汝城 桂东 安仁 资兴 零陵 冷水滩 祁阳 东安 双牌 道 江永 "
    "宁远 蓝山 新田 江华 鹤城 中方 沅陵 辰溪 溆浦 会同 麻阳 新晃 芷江 靖州 通道 洪江 娄星 双峰 新化 冷水江 涟源 "
    "吉首 泸溪 凤凰 花垣 保靖 古丈 永顺 龙山 朝阳 海淀 丰台 和平 新华 城关 长安".split())
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Z][0-9]{0,2})(?=[市区县])")


def with_inferred_names(letters: list[dict], min_letters: int = 5,
                        share: float = 0.5) -> tuple[dict[str, str], list[str]]:
    """Code → the real county (A7县 → 长沙县) or prefecture (A市 → 长沙市) it stands for, read from the streets and
    towns the letters name beside it (or that a letter routed to it names): one to one, a code only where at least
    ``min_letters`` letters and ``share`` of its evidence agree. A de-anonymisation guess to build an evaluation
    set with the real geography (streets and their districts agreeing), not a model: it reads all the letters.
    Also returns the counties of the prefectures found (no other code may be given one of their names)."""
    from triage.admin_areas import NationalAreas

    national = NationalAreas.load()
    texts = [(l.get("title") or "") + "\n" + (l.get("content") or "") for l in letters]
    mentions: collections.Counter = collections.Counter()
    for t in texts:
        mentions.update({p.name for p in extract_places(t)})
    local = national.local(national.prefectures_of(mentions))
    co: dict[str, dict[str, collections.Counter]] = collections.defaultdict(
        lambda: {"county": collections.Counter(), "prefecture": collections.Counter()})
    for l, t in zip(letters, texts):
        codes = {m.group(0) + t[m.end()] for m in _CODE.finditer(t)}
        if re.fullmatch(r"[A-Z][0-9]{0,2}[区县市]", l["department"]):
            codes.add(l["department"])
        counties = {h.county for h in local.find(t)}
        prefectures = {p for c in counties for p in national.names.get(c, ()) if p in local.prefectures}
        for code in codes:
            co[code]["county"].update(counties)
            co[code]["prefecture"].update(prefectures)
    out: dict[str, str] = {}
    for level in ("county", "prefecture"):
        pairs = sorted(((n, code, place) for code, c in co.items() for place, n in c[level].items()
                        if (level == "county") != code.endswith("市") or level == "county"),
                       key=lambda x: (-x[0], x[1], x[2]))
        for n, code, place in pairs:
            total = sum(co[code][level].values())
            if code in out or place in out.values() or n < min_letters or n < share * total:
                continue
            out[code] = place
    return out, local.counties


def with_real_names(letters: list[dict], known: dict[str, str] | None = None,
                    avoid: list[str] = ()) -> list[dict]:
    """The letters with every anonymised code (A7县, B市) replaced by a real place name of the same level, the
    most frequent code first, in letters and departments alike: the hidden test's city has real names.
    ``known`` names some codes already (A7县 → 长沙县, from :func:`with_inferred_names`)."""
    counts: collections.Counter = collections.Counter()
    level: dict[str, str] = {}
    for l in letters:
        for f in ("title", "content", "department", "region"):
            for m in _CODE.finditer(l.get(f) or ""):
                counts[m.group(1)] += 1
                level.setdefault(m.group(1), l[f][m.end()])
    ranked = sorted(counts, key=lambda code: (-counts[code], code))
    known = known or {}
    taken = {name[:k] for name in [*known.values(), *avoid] for k in (-1, -2)}
    free = [c for c in REAL_CORES if c not in taken]
    core = {}
    for code in ranked:
        if code + level[code] in known:
            continue   # a one-character core only before 县 (攸县, not 攸区)
        pick = next((c for c in free if len(c) > 1 or level[code] == "县"), None)
        if pick is None:
            raise ValueError(f"{len(ranked)} codes, {len(REAL_CORES)} real names")
        free.remove(pick)
        core[code] = pick
    whole = re.compile(r"(?<![A-Za-z0-9])([A-Z][0-9]{0,2})([市区县])")

    def name(m: re.Match) -> str:
        return known.get(m.group(0)) or core.get(m.group(1), m.group(1)) + m.group(2)

    out = []
    for l in letters:
        l = dict(l)
        for f in ("title", "content", "department", "region"):
            if l.get(f):
                l[f] = whole.sub(name, l[f])
        out.append(l)
    return out


def split_by_time(letters: list[dict], train_fraction: float = 0.7) -> tuple[list[dict], list[dict]]:
    ordered = sorted(letters, key=lambda l: (l.get("received_at") or "", l["id"]))
    cut = int(len(ordered) * train_fraction)
    return ordered[:cut], ordered[cut:]


def split_half(letters: list[dict], seed: int = 7) -> tuple[list[dict], list[dict]]:
    idx = list(range(len(letters)))
    random.Random(seed).shuffle(idx)
    half = len(idx) // 2
    return [letters[i] for i in idx[:half]], [letters[i] for i in idx[half:]]


def _text(l: dict) -> str:
    return (l.get("title") or "") + "\n" + (l.get("content") or "")


# -- baselines -------------------------------------------------------------------------------------

def place_rule(train: list[dict], test: list[dict]) -> list[list[str]]:
    """A department whose own name holds a district/county the letter names; else the most frequent."""
    freq = collections.Counter(l["department"] for l in train)
    by_place: dict[str, list[str]] = collections.defaultdict(list)
    for d, _ in freq.most_common():
        for p in department_places(d):
            if p.level in ("区", "县"):
                by_place[p.name].append(d)
    fallback = [d for d, _ in freq.most_common(3)]
    out = []
    for l in test:
        found: list[str] = []
        for p in extract_places(_text(l), region=l.get("region")):
            for d in by_place.get(p.name, []):
                if d not in found:
                    found.append(d)
        out.append((found + [d for d in fallback if d not in found])[:3])
    return out


def tfidf_classifier(train: list[dict], test: list[dict]) -> list[list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=200_000)
    X = vec.fit_transform([_text(l)[:1000] for l in train])
    y = [l["department"] for l in train]
    clf = LinearSVC(C=0.5).fit(X, y)
    dec = clf.decision_function(vec.transform([_text(l)[:1000] for l in test]))
    if dec.ndim == 1:
        dec = np.vstack([-dec, dec]).T
    return [[str(clf.classes_[j]) for j in np.argsort(-row)[:3]] for row in dec]


def tfidf_neighbours(train: list[dict], test: list[dict], k: int = 10) -> list[list[dict]]:
    """The k most similar training letters (char TF-IDF cosine): a stand-in for the retrieval step."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    Xtr = vec.fit_transform([_text(l)[:1000] for l in train])
    Xte = vec.transform([_text(l)[:1000] for l in test])
    out = []
    for start in range(0, Xte.shape[0], 500):
        sims = (Xte[start:start + 500] @ Xtr.T).toarray()
        top = np.argsort(-sims, axis=1)[:, :k]
        for r, row in enumerate(top):
            out.append([{"case_id": train[j]["id"], "score": float(sims[r, j]), "department": train[j]["department"]}
                        for j in row])
    return out


# -- scoring ---------------------------------------------------------------------------------------

def topk(preds: list[list[str]], test: list[dict]) -> tuple[float, float]:
    n = len(test)
    top1 = sum(bool(p) and p[0] == l["department"] for p, l in zip(preds, test)) / n
    top3 = sum(l["department"] in p[:3] for p, l in zip(preds, test)) / n
    return top1, top3


def calibration(results: list[list[dict]], test: list[dict]) -> tuple[float, float]:
    """(mean top-1 score, top-1 accuracy) — close together means the scores are honest."""
    scores = [r[0]["score"] for r in results if r]
    hits = [r[0]["name"] == l["department"] for r, l in zip(results, test) if r]
    return (float(np.mean(scores)) if scores else 0.0, float(np.mean(hits)) if hits else 0.0)


def sentence_vectors(letters: list[dict]) -> np.ndarray:
    """The letters' e5 vectors as the service stores them (normalised title + content, as passages), cached on
    disk: what the router's text heads read beside the n-grams when the history is imported into a store."""
    from training.common import cached_e5, encode, text_of

    return np.atleast_2d(encode(cached_e5(), [text_of(l) for l in letters]))


def run(name: str, split: str, seed: int = 7, config: RouterConfig | None = None,
        tickets: str | None = None) -> list[tuple]:
    letters, profile = datasets(name)
    if tickets:
        letters = [as_ticket(l, located=tickets == "located") for l in letters]
    train, test = split_by_time(letters) if split == "time" else split_half(letters, seed)
    use_vectors = (config or RouterConfig()).embedding_weight > 0
    train_vec = sentence_vectors(train) if use_vectors else None
    test_vec = sentence_vectors(test) if use_vectors else None
    seen = {l["department"] for l in train}
    directory = Directory.load(PROFILES / profile) if profile and (PROFILES / profile).exists() else None
    known = [i for i, l in enumerate(test) if l["department"] in seen]

    def on_known(preds: list[list[str]]) -> str:
        """top-1 on the letters whose department the history has (the rest no system can get right)."""
        top1 = topk([preds[i] for i in known], [test[i] for i in known])[0] if known else 0.0
        return f"top-1 {top1:.3f} on the {len(known)} letters whose department is in the history"

    if name == "teddy-offices-real":   # a day-one directory: the real district centres, each covering its district only
        from triage.admin_areas import NationalAreas

        national = NationalAreas.load()
        offices = sorted(d for d in seen if d in national.counties)
        directory = Directory.from_records([{"name": d, "level": d[-1], "places": d} for d in offices],
                                           name="day-one")
    rows = []
    for label, preds in (("district-name rule", place_rule(train, test)),
                         ("plain TF-IDF + LinearSVC", tfidf_classifier(train, test))):
        rows.append((label, *topk(preds, test), on_known(preds)))
    neigh = tfidf_neighbours(train, test)
    systems = []
    if directory is not None:
        systems.append(("router: directory only", Router(directory, config), False))
        if directory.name == "day-one":
            off = dataclasses.replace(config or RouterConfig(), admin_areas=False)
            systems.append(("router: directory only, no areas", Router(directory, off), False))
    t0 = time.time()
    hist = Router(config=config).fit_history(train, train_vec)
    fit_s = time.time() - t0
    systems.append(("router: history only", hist, False))
    systems.append(("router: history + neighbours", hist, True))
    if directory is not None:
        both = Router(directory, config).fit_history(train, train_vec)
        systems.append(("router: directory + history", both, False))
        systems.append(("router: directory + history + neighbours", both, True))
    for label, router, use_nb in systems:
        res = [router.route(l, neighbours=(neigh[i] if use_nb else None), type=l.get("type"),
                            vector=test_vec[i] if test_vec is not None else None)
               for i, l in enumerate(test)]
        preds = [[r["name"] for r in rs] for rs in res]
        mean_score, acc = calibration(res, test)
        rows.append((label, *topk(preds, test), f"mean top-1 score {mean_score:.2f}; {on_known(preds)}"))
    print(f"\n### {name}, split {'by time (70/30)' if split == 'time' else f'random half / half (seed {seed})'}: "
          f"{len(train)} train, {len(test)} test letters, {len(seen)} departments in train, "
          f"{sum(l['department'] not in seen for l in test) / len(test):.1%} of test letters go to a department "
          f"unseen in train; history fit {fit_s:.1f} s\n")
    print("| system | top-1 | top-3 | note |\n|---|---|---|---|")
    for label, t1, t3, note in rows:
        print(f"| {label} | {t1:.3f} | {t3:.3f} | {note} |")
    return rows


def bench(n: int = 10_000) -> None:
    """Time fit_history on n letters built from the Teddy message files (labels: district or bureau)."""
    from training.datasets import read_csv

    rows = read_csv("teddy2020/details_labeled.csv") + read_csv("teddy2020/hot_issues.csv")
    rng = random.Random(1)
    letters = []
    for i, r in enumerate(rows[:n]):
        text = r.get("留言详情") or ""
        m = re.search(r"A\d[区县]", text)
        dom = r.get("一级标签") or "其他"
        dept = f"{m.group(0)}分中心" if m and rng.random() < 0.7 else f"市{dom[:2]}局{rng.randint(0, 5)}"
        letters.append({"id": str(i), "title": r.get("留言主题", ""), "content": text, "department": dept,
                        "received_at": f"2019-{1 + i % 12:02d}-{1 + i % 28:02d}"})
    t0 = time.time()
    router = Router().fit_history(letters)
    print(f"fit_history on {len(letters)} letters ({len(router.departments)} departments): {time.time() - t0:.1f} s")
    t0 = time.time()
    for l in letters[:500]:
        router.route(l)
    print(f"route: {(time.time() - t0) / 500 * 1000:.1f} ms per letter")


def router_settings(pairs: list[str]) -> dict:
    """``--set FIELD=VALUE`` pairs (each value JSON: false, 3, "x") → RouterConfig fields."""
    out = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq:
            raise SystemExit(f"--set {pair}: expected FIELD=VALUE")
        try:
            out[name] = json.loads(value)
        except ValueError:
            raise SystemExit(f"--set {pair}: the value is not JSON (false, 3, \"text\")") from None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=("teddy-units", "teddy-offices", "teddy-offices-named", "teddy-offices-real",
                                       "teddy-a-city", "fuzhou", "fuzhou-located", "teddy-bureaus", "teddy-mixed",
                                       "bench"))
    ap.add_argument("--split", choices=("time", "half", "both"), default="both")
    ap.add_argument("--seeds", default="7", help="half/half splits to run, comma-separated; with several, a table of "
                                                 "the mean over them follows (default 7)")
    ap.add_argument("--tickets", choices=("untitled", "located"),
                    help="route the letters as tickets: without their titles (untitled), or with the places the "
                         "title named in an address column of their own (located)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a RouterConfig field for this run (JSON value), e.g. --set admin_areas=false")
    args = ap.parse_args(argv)
    config = RouterConfig.from_dict(router_settings(args.set))
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    if args.only == "bench":
        bench()
        return 0
    names = ([args.only] if args.only else
             ["teddy-offices", "teddy-offices-named", "teddy-a-city", "fuzhou", "teddy-units"])
    splits = ["time", "half"] if args.split == "both" else [args.split]
    for name in names:
        for split in splits:
            if split == "time":
                run(name, split, config=config, tickets=args.tickets)
                continue
            per_seed = [run(name, split, seed, config, args.tickets) for seed in seeds]
            if len(per_seed) > 1:
                print(f"\n### {name}, random half / half, mean over seeds {', '.join(map(str, seeds))}\n")
                print("| system | top-1 | top-3 | top-1 per seed |\n|---|---|---|---|")
                for i, (label, *_rest) in enumerate(per_seed[0]):
                    t1 = [rows[i][1] for rows in per_seed]
                    t3 = [rows[i][2] for rows in per_seed]
                    print(f"| {label} | {np.mean(t1):.3f} | {np.mean(t3):.3f} | {' '.join(f'{x:.3f}' for x in t1)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
