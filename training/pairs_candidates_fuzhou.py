"""Print candidate letter pairs from fuzhou_water/appeals.csv for hand-labelling duplicate detection.

Candidates are drawn across the whole similarity range (character-bigram TF-IDF cosine on title + content) so
that the hand-labelled set (``corpora/pairs/fuzhou_water.jsonl``) contains easy and hard pairs of every class:

  vhigh    cosine >= 0.80                         (near-verbatim repeats, template letters)
  high     0.55 <= cosine < 0.80
  medium   0.35 <= cosine < 0.55
  low_same same 河流, cosine < 0.25                 (same river, probably another matter)
  mid_same same 河流, 0.25 <= cosine < 0.35
  xriver   different 河流 (both named), cosine >= 0.22 (template complaints about different rivers; at most
           10 pairs where both letters are about works noise, which otherwise fill the bucket)
  random   uniform random pairs
  second pass:
  same_place same 河流, cosine < 0.35, sharing a rare 4-character string (a place name: same spot, maybe
             another problem)
  xriver_low different 河流, 0.12 <= cosine < 0.22, not both about works noise (boilerplate overlap only)
  random2    more uniform random pairs
  third pass:
  xplace     different 河流 (or none given), cosine < 0.30, sharing a rare 4-character string (same
             neighbourhood, other water body: candidate hard negatives)
  random3    more uniform random pairs

A letter takes part in at most 3 drawn pairs, so that big repeat clusters (元峰河 joint letter, 洋里溪 project)
do not swamp the set. Draws are deterministic (--seed).

The script only PRINTS pairs (to stdout, or to --out outside the repo). Labels are given by a person reading
both letters; the similarity score is shown only for bookkeeping and must not decide the label.

    .venv/bin/python training/pairs_candidates_fuzhou.py --out /tmp/fuzhou_cands.txt
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.datasets import read_csv  # noqa: E402

_WS = re.compile(r"\s+")
BUCKETS = [  # name, how many; rarer buckets first so the per-letter cap does not starve them
    ("xriver", 35), ("vhigh", 45), ("high", 60), ("mid_same", 25), ("medium", 55), ("low_same", 35), ("random", 35),
    # second pass (appended so that the first pass draws stay the same)
    ("same_place", 30), ("xriver_low", 30), ("random2", 45),
    # third pass: hard negatives sharing a place name across different water bodies, and more random pairs
    ("xplace", 30), ("random3", 40),
]


def load() -> list[dict]:
    rows = read_csv("fuzhou_water/appeals.csv")
    for r in rows:
        r["_text"] = _WS.sub("", (r.get("标题") or "") + "。" + (r.get("投诉件内容") or ""))
    return rows


def similarity(rows: list[dict]):
    texts = [r["_text"] for r in rows]
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True, min_df=1)
        m = vec.fit_transform(texts)
        sim = (m @ m.T).toarray()
        return lambda i, j: float(sim[i, j])
    except ImportError:  # Jaccard on character bigrams
        grams = [{t[k:k + 2] for k in range(len(t) - 1)} for t in texts]
        return lambda i, j: len(grams[i] & grams[j]) / max(1, len(grams[i] | grams[j]))


NOISE_CAP_XRIVER = 10


def is_noise(r: dict) -> bool:
    return "噪音" in r["_text"] or "扰民" in r["_text"]


def river(r: dict) -> str:
    v = (r.get("河流") or "").strip()
    return "" if v in ("无", "河流") else v


def draw(rows: list[dict], seed: int = 20240601) -> list[tuple[str, int, int, float]]:
    rng = random.Random(seed)
    sim = similarity(rows)
    n = len(rows)
    pool: dict[str, list[tuple[int, int, float]]] = {b: [] for b, _ in BUCKETS}
    grams = [{r["_text"][k:k + 4] for k in range(len(r["_text"]) - 3)} for r in rows]
    df: dict[str, int] = {}
    for g in grams:
        for t in g:
            df[t] = df.get(t, 0) + 1
    rare = [{t for t in g if 2 <= df[t] <= 6 and all("\u4e00" <= c <= "\u9fff" for c in t)} for g in grams]
    for i in range(n):
        for j in range(i + 1, n):
            s = sim(i, j)
            same = river(rows[i]) and river(rows[i]) == river(rows[j])
            both = river(rows[i]) and river(rows[j])
            if s >= 0.80:
                pool["vhigh"].append((i, j, s))
            elif s >= 0.55:
                pool["high"].append((i, j, s))
            elif s >= 0.35:
                pool["medium"].append((i, j, s))
            if same and s < 0.25:
                pool["low_same"].append((i, j, s))
            elif same and s < 0.35:
                pool["mid_same"].append((i, j, s))
            if both and not same and s >= 0.22:
                pool["xriver"].append((i, j, s))
            if same and s < 0.35 and rare[i] & rare[j]:
                pool["same_place"].append((i, j, s))
            if not same and s < 0.30 and rare[i] & rare[j]:
                pool["xplace"].append((i, j, s))
            if both and not same and 0.12 <= s < 0.22 and not (is_noise(rows[i]) and is_noise(rows[j])):
                pool["xriver_low"].append((i, j, s))
    seen: set[tuple[int, int]] = set()
    used: dict[int, int] = {}
    out = []

    def take(bucket: str, cand: list[tuple[int, int, float]], k: int) -> None:
        rng.shuffle(cand)
        got = 0
        noise = 0
        for i, j, s in cand:
            if got >= k:
                break
            if bucket == "xriver" and is_noise(rows[i]) and is_noise(rows[j]):
                # night-works noise letters dominate the cross-river template pairs: keep only a few
                if noise >= NOISE_CAP_XRIVER:
                    continue
                noise += 1
            # spread over many letters: a letter takes part in at most 3 pairs
            if (i, j) in seen or used.get(i, 0) >= 3 or used.get(j, 0) >= 3:
                continue
            seen.add((i, j))
            used[i] = used.get(i, 0) + 1
            used[j] = used.get(j, 0) + 1
            out.append((bucket, i, j, s))
            got += 1

    for bucket, k in BUCKETS:
        if bucket.startswith("random"):
            cand = []
            for _ in range(k * 5):
                i, j = sorted(rng.sample(range(n), 2))
                cand.append((i, j, sim(i, j)))
            take(bucket, cand, k)
        else:
            take(bucket, pool[bucket], k)
    return out


def show(r: dict, width: int) -> str:
    content = _WS.sub(" ", r.get("投诉件内容") or "").strip()
    reply = _WS.sub(" ", r.get("回复1") or "").strip()
    return (f"  [{r['id']}] {river(r) or '-'} | {r.get('性质')} | {r.get('时间', '')[:10]} | {r.get('区') or '-'}"
            f" | 匿名={r.get('匿名')}\n    T: {_WS.sub(' ', r.get('标题') or '').strip()}\n"
            f"    C: {content[:width]}\n    R: {reply[:width // 2]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write here (outside the repo) instead of stdout")
    ap.add_argument("--width", type=int, default=400)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    rows = load()
    lines = []
    for k, (bucket, i, j, s) in enumerate(draw(rows, args.seed)):
        lines.append(f"#{k} {bucket} cos={s:.2f}  a={rows[i]['id']} b={rows[j]['id']}")
        lines.append(show(rows[i], args.width))
        lines.append(show(rows[j], args.width))
        lines.append("")
    text = "\n".join(lines)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text)


if __name__ == "__main__":
    main()
