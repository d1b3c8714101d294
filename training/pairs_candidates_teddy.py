"""Draw candidate letter pairs from teddy2020/hot_issues.csv for hand-labelling duplicate detection.

The candidates are only a *sampling frame*: every pair is labelled by a person reading both letters
(see corpora/pairs/README.md). Labels are never derived from the similarity score printed here.

Buckets (character-bigram TF-IDF cosine over title + details):
  vhigh   cos >= 0.80                      near-identical / verbatim repeats
  high    0.50 <= cos < 0.80               paraphrased repeats, template letters
  mid     0.25 <= cos < 0.50               shared compound/road names, possibly different matter
  entity  share a named object (…小区/花园/路/学校/公司 …) in the titles, any cos < 0.80
  titlediv  title cos >= 0.6 but detail cos < 0.35, or detail cos >= 0.6 but title cos < 0.3 (re-worded repeats)
  user    same 留言用户, cos < 0.50
  random  uniformly random pairs
  second round (appended, so the first-round picks do not change):
  rarename  titles share a rare character 4-gram (df 2..12: mostly a proper name), cos 0.05..0.40
  samekind  titles share a common issue 4-gram (df 13..200) but no rare one, cos 0.15..0.55
  random2   more random pairs
  samekind2 third round: titles share an issue 4-gram (df 10..120) but no rare one, cos 0.10..0.45,
            the two big campaign clusters (丽发新城 mixing plant, 伊景园滨河苑 parking) left out

Usage:  python training/pairs_candidates_teddy.py [--out /tmp/cands.txt] [--seed 13]
Prints one block per pair (ids, bucket, scores, titles, truncated details) for reading. Output must stay
outside the repository (the data has no licence).
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

DATA = Path(__file__).resolve().parents[2] / "shared/datasets/teddy2020/hot_issues.csv"

ENTITY_RE = re.compile(
    r"([\u4e00-\u9fffA-Za-z0-9]{2,8}?(?:小区|花园|新城|家园|公寓|广场|大道|中学|小学|学校|幼儿园|医院|公司|集团|"
    r"市场|村|社区|街道|大厦|名城|国际|府|苑|湾|城|路|镇))"
)
GENERIC = {"A市", "小区", "A1区", "A2区", "A3区", "A4区", "A5区", "A6区", "A7县", "A8县", "A9市", "城", "路", "镇", "村"}


def load(path: Path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def entities(title: str) -> set[str]:
    t = re.sub(r"A\d+[区县市]", " ", title)
    out = set()
    for m in ENTITY_RE.finditer(t):
        e = m.group(1)
        if e not in GENERIC and len(e) >= 3:
            out.add(e)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default="-")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--maxlen", type=int, default=420)
    ap.add_argument("--per-bucket", default="vhigh=45,high=70,mid=45,entity=45,titlediv=30,user=45,random=40")
    args = ap.parse_args()
    quota = {k: int(v) for k, v in (x.split("=") for x in args.per_bucket.split(","))}

    rows = load(Path(args.data))
    rng = random.Random(args.seed)
    titles = [r["留言主题"] for r in rows]
    details = [r["留言详情"] for r in rows]
    full = [t + "。" + d for t, d in zip(titles, details)]

    def tfidf(texts):
        v = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True, min_df=1)
        X = v.fit_transform(texts)
        return X

    Xf, Xt, Xd = tfidf(full), tfidf(titles), tfidf(details)
    S = (Xf @ Xf.T).toarray()
    St = (Xt @ Xt.T).toarray()
    Sd = (Xd @ Xd.T).toarray()
    n = len(rows)
    iu = np.triu_indices(n, 1)
    sims = S[iu]

    used: set[tuple[int, int]] = set()
    uses: dict[int, int] = defaultdict(int)
    picked: list[tuple[str, int, int]] = []

    def take(bucket: str, cand: list[tuple[int, int]], k: int, max_uses: int = 2):
        cand = list(cand)
        rng.shuffle(cand)
        got = 0
        for i, j in cand:
            if got >= k:
                break
            key = (min(i, j), max(i, j))
            if i == j or key in used or uses[i] >= max_uses or uses[j] >= max_uses:
                continue
            used.add(key)
            uses[i] += 1
            uses[j] += 1
            picked.append((bucket, key[0], key[1]))
            got += 1

    def band(lo, hi):
        m = (sims >= lo) & (sims < hi)
        return list(zip(iu[0][m].tolist(), iu[1][m].tolist()))

    take("vhigh", band(0.80, 1.01), quota["vhigh"], max_uses=1)
    take("high", band(0.50, 0.80), quota["high"])
    take("mid", band(0.25, 0.50), quota["mid"])

    # shared named object in titles
    inv = defaultdict(list)
    for i, t in enumerate(titles):
        for e in sorted(entities(t)):  # sorted: set order depends on the string-hash seed
            inv[e].append(i)
    ent_pairs = []
    for e, idx in inv.items():
        if 2 <= len(idx) <= 40:
            for a in range(len(idx)):
                for b in range(a + 1, len(idx)):
                    i, j = idx[a], idx[b]
                    if S[i, j] < 0.80:
                        ent_pairs.append((i, j))
    take("entity", ent_pairs, quota["entity"])

    m1 = (St[iu] >= 0.6) & (Sd[iu] < 0.35)
    m2 = (Sd[iu] >= 0.6) & (St[iu] < 0.3)
    td = list(zip(iu[0][m1 | m2].tolist(), iu[1][m1 | m2].tolist()))
    take("titlediv", td, quota["titlediv"])

    byuser = defaultdict(list)
    for i, r in enumerate(rows):
        byuser[r["留言用户"]].append(i)
    up = []
    for u, idx in byuser.items():
        if len(idx) < 2:
            continue
        pairs = [(idx[a], idx[b]) for a in range(len(idx)) for b in range(a + 1, len(idx))]
        rng.shuffle(pairs)
        up.extend(pairs[:3])  # cap per user so one prolific account does not dominate
    up = [(i, j) for i, j in up if S[i, j] < 0.50]
    take("user", up, quota["user"])

    rp = [(rng.randrange(n), rng.randrange(n)) for _ in range(quota["random"] * 3)]
    take("random", rp, quota["random"])

    # --- second round, aimed at `related` pairs (same object / same kind, different matter) ---
    # character 4-grams of titles: rare ones (df 2..12) are mostly proper names (compound, company, road),
    # mid-frequency ones (df 13..200) are mostly issue phrases (油烟扰民, 捆绑销售, 购房补贴 ...).
    def grams(t: str) -> set[str]:
        t = re.sub(r"A\d*[区县市]|[^\u4e00-\u9fff]", "", t)
        return {t[k:k + 4] for k in range(len(t) - 3)}

    tg = [grams(t) for t in titles]
    df = defaultdict(list)
    for i, g in enumerate(tg):
        for x in g:
            df[x].append(i)
    rare = {x: idx for x, idx in df.items() if 2 <= len(idx) <= 12}
    mid = {x: idx for x, idx in df.items() if 13 <= len(idx) <= 200}

    def pairs_of(index, lo, hi, exclude_rare=False):
        out = set()
        for x, idx in index.items():
            for a in range(len(idx)):
                for b in range(a + 1, len(idx)):
                    i, j = idx[a], idx[b]
                    if not (lo <= S[i, j] < hi):
                        continue
                    if exclude_rare and any(len(df[y]) <= 12 for y in tg[i] & tg[j]):
                        continue
                    out.add((min(i, j), max(i, j)))
        return sorted(out)

    quota.setdefault("rarename", 70)
    quota.setdefault("samekind", 60)
    quota.setdefault("random2", 25)
    take("rarename", pairs_of(rare, 0.05, 0.40), quota["rarename"], max_uses=3)
    take("samekind", pairs_of(mid, 0.15, 0.55, exclude_rare=True), quota["samekind"], max_uses=3)
    rp = [(rng.randrange(n), rng.randrange(n)) for _ in range(quota["random2"] * 3)]
    take("random2", rp, quota["random2"], max_uses=3)

    # --- third round: same kind of issue at different places (the `related` class was still short).
    # The two largest campaign clusters (dozens of letters each) are left out here so they do not
    # swamp the bucket; within them nearly every pair is a duplicate.
    big = re.compile(r"丽发|伊景园|滨河苑")
    in_big = [bool(big.search(titles[i] + details[i][:200])) for i in range(n)]
    sk2 = set()
    for x, idx in df.items():
        if not (10 <= len(idx) <= 120):
            continue
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                i, j = idx[a], idx[b]
                if in_big[i] or in_big[j] or not (0.10 <= S[i, j] < 0.45):
                    continue
                if any(len(df[y]) <= 12 for y in tg[i] & tg[j]):
                    continue
                sk2.add((min(i, j), max(i, j)))
    quota.setdefault("samekind2", 75)
    take("samekind2", sorted(sk2), quota["samekind2"], max_uses=1)

    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    ml = args.maxlen
    for k, (bucket, i, j) in enumerate(picked):
        a, b = rows[i], rows[j]
        print(f"#{k} [{bucket}] cos={S[i, j]:.2f} t={St[i, j]:.2f} d={Sd[i, j]:.2f}", file=out)
        for tag, r in (("A", a), ("B", b)):
            d = re.sub(r"\s+", "", r["留言详情"])
            d = d if len(d) <= ml else d[:ml] + "…(+" + str(len(d) - ml) + ")"
            print(f"{tag} {r['留言编号']} u={r['留言用户']} {r['留言时间'][:10]} | {r['留言主题']}", file=out)
            print(f"   {d}", file=out)
        print(file=out)
    print(f"# total {len(picked)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
