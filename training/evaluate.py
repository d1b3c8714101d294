"""Held-out evaluation of the trained bundle: ``python -m training.evaluate [--models DIR] [--out docs/quality.json]``.

- domain / type: the held-out figures measured at training time (in the manifests), re-checked here.
- duplicates: pair-model F1 out-of-fold (from the manifest) and broken down by source and difficulty.
- similar cases: recall of same-matter partners in the top 10 after import. Every letter of the labelled
  pairs plus distractors from the same files is imported into a fresh store; each letter of a duplicate
  pair is triaged (it is stored, so it must not find itself) and we check its partner is in the top 10.
  The pair model used to rank is cross-fitted: for the queries of fold f it is trained on the other folds,
  so no query's own label helps rank it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from triage.dedup import PairModel, PairModelConfig
from triage.pipeline import Triage, TriageConfig, default_models_dir
from triage.records import parse_letter
from triage.retrieve import CaseIndex
from triage.store import Store

from .datasets import PROJECT_DIR
from .pairs import load_letters, load_pairs
from .train import evaluate_pairs, pair_folds, pair_matrix


def _say(msg: str) -> None:
    print(f"[evaluate] {msg}", file=sys.stderr, flush=True)


def retrieval_recall(triage: Triage, distractors: int = 1500, k: int = 10, seed: int = 5) -> dict:
    pairs = load_pairs()
    y = [p["label"] for p in pairs]
    folds = pair_folds(pairs)
    X = pair_matrix(pairs, triage.embedder, triage.segmenter)
    letters: dict[str, dict] = {}
    for p in pairs:
        letters[p["a"]["id"]] = p["a"]
        letters[p["b"]["id"]] = p["b"]
    rng = random.Random(seed)
    for source in sorted({p["source"] for p in pairs}):
        pool = [l for l in load_letters(source).values() if l["id"] not in letters and l["content"]]
        rng.shuffle(pool)
        for l in pool[: distractors // 2]:
            letters[l["id"]] = l
    _say(f"retrieval: importing {len(letters)} letters (pair letters + distractors)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/eval.db").open()
        index = CaseIndex.open(store, triage.embedder_key, triage.embedder.dim)
        parsed = []
        for rec in letters.values():
            try:
                parsed.append(parse_letter({k: v for k, v in rec.items() if k != "type"}))
            except Exception:
                continue
        for i in range(0, len(parsed), 64):
            triage.ingest(triage.prepare(parsed[i : i + 64]), store, index)
        by_id = {l.id: l for l in parsed}
        saved = triage.pairs
        hits = total = 0
        by_source: dict[str, list[int]] = {}
        started = time.time()
        for f in sorted(set(folds)):
            tr = [i for i, g in enumerate(folds) if g != f]
            triage.pairs = PairModel(saved.config).fit(X[tr], [y[i] for i in tr])
            for i, p in enumerate(pairs):
                if folds[i] != f or p["label"] != "duplicate":
                    continue
                for q, target in ((p["a"]["id"], p["b"]["id"]), (p["b"]["id"], p["a"]["id"])):
                    if q not in by_id or target not in by_id:
                        continue
                    s = triage.suggest(by_id[q], store, index, k=k)
                    found = target in [x["case_id"] for x in s["similar"][:k]]
                    hits += found
                    total += 1
                    by_source.setdefault(p["source"], []).append(int(found))
        triage.pairs = saved
    return {"recall_at_10": round(hits / max(total, 1), 4), "queries": total, "stored": len(parsed),
            "by_source": {s: round(float(np.mean(v)), 4) for s, v in by_source.items()},
            "seconds_per_query": round((time.time() - started) / max(total, 1), 3)}


def pair_breakdown(triage: Triage) -> dict:
    pairs = load_pairs()
    y = [p["label"] for p in pairs]
    folds = pair_folds(pairs)
    X = pair_matrix(pairs, triage.embedder, triage.segmenter)
    P, overall = evaluate_pairs(X, y, folds, PairModelConfig())
    from sklearn.metrics import f1_score

    out = {"overall": overall}
    t = triage.pairs.config.dup_threshold
    for key in ("source", "difficulty"):
        for value in sorted({p[key] for p in pairs}):
            idx = [i for i, p in enumerate(pairs) if p[key] == value]
            truth = [y[i] == "duplicate" for i in idx]
            out[f"{key}={value}"] = {"n": len(idx), "duplicate_f1": round(float(f1_score(truth, P[idx, 0] >= t)), 4)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=None)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("--distractors", type=int, default=1500)
    args = parser.parse_args(argv)
    triage = Triage(TriageConfig(models_dir=Path(args.models) if args.models else default_models_dir(),
                                 vector_cache=PROJECT_DIR / ".cache" / "vectors")).load()
    report = {"model_version": triage.model_version, "embedder": triage.embedder.name,
              "training_metrics": triage.manifest.get("metrics", {}),
              "pairs": pair_breakdown(triage), "similar_cases": retrieval_recall(triage, args.distractors)}
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
