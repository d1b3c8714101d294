"""Does a deployment's typed history help the type suggestion? ``python -m training.eval_type_history``

Two situations, each over five random half/half splits (stratified by type): one half is the imported history
that :class:`triage.type_history.TypeHistory` learns from, the other half is triaged; macro-F1 over
咨询/建议/投诉/举报 on that half, for the shipped-style model alone, the history head alone and the stack.

* ``unseen-source``: the base model never saw the deployment's letters or labels — trained on the Teddy messages
  whose title states their type (2,721 weak labels; as a model trained in another city would be), applied to all
  878 fuzhou appeals (history/test halves of 439);
* ``same-source``: the base model is the shipped type model's recipe fitted on the fuzhou training part
  (``training.train_type``, 70%) and the Teddy messages, the halves are taken from the 264 held-out appeals it never saw;
* ``unseen-source-teddy``: the other way round — the shipped recipe fitted on all 876 fuzhou appeals without the
  Teddy messages, applied to the 2,705 Teddy messages whose title states their type, read on their body only
  (the title gave the label; halves of ~1,350): a city whose offices file types the way the hotline definitions say.

The history head reads the letters' e5 vectors as the service's does (``--set embedding_weight=0``: without).

Prints a JSON object (the figures in docs/quality.md, "Type: a deployment's own history").
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from triage.classify import ClassifierConfig, TextClassifier
from triage.type_history import NotEnoughHistory, TypeHistory, TypeHistoryConfig

from .common import cached_e5, encode, fields_of, macro_f1, text_of
from .train_type import MAIN_TYPES, SHIPPED_RECIPE, bodies, fit_recipe, record_embedder, type_data


def _splits(records: list[dict], seeds: int):
    from sklearn.model_selection import train_test_split

    for seed in range(seeds):
        yield seed, *train_test_split(records, test_size=0.5, random_state=seed,
                                      stratify=[r["type"] for r in records])


def _score(base: TextClassifier, history: list[dict], test: list[dict], vectors: dict[str, np.ndarray],
           config: TypeHistoryConfig) -> dict:
    def vecs(recs):
        return np.stack([vectors[r["id"]] for r in recs])

    def proba(recs):
        return base.predict_proba([text_of(r) for r in recs], vecs(recs), fields=[fields_of(r) for r in recs])

    labels = list(MAIN_TYPES)
    truth = [r["type"] for r in test]
    base_test = proba(test)
    out = {"shipped model": macro_f1(truth, [base.labels[i] for i in base_test.argmax(1)], labels)}
    try:
        th = TypeHistory(config).fit([text_of(r) for r in history], [r["type"] for r in history], proba(history),
                                     base.labels, vectors=vecs(history))
    except NotEnoughHistory as e:
        return out | {"note": str(e)}
    texts = [text_of(r) for r in test]
    head = th.head_scores(texts, vecs(test))
    out["history head alone"] = macro_f1(truth, [th.head_labels[i] for i in head.argmax(1)], labels)
    stacked = th.proba(texts, base_test, answer="stack", vectors=vecs(test))
    out["stack (shipped + history)"] = macro_f1(truth, [th.labels[i] for i in stacked.argmax(1)], labels)
    out["service (the history's choice out of fold)"] = (
        macro_f1(truth, [th.labels[i] for i in th.proba(texts, base_test, vectors=vecs(test)).argmax(1)], labels)
        if th.active
        else out["shipped model"])
    out["active"] = float(th.active)
    out["head answers"] = float(th.answer == "head")
    return out


def _summary(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k != "note"]
    return {k: {"mean": round(float(np.mean([r[k] for r in rows])), 4), "sd": round(float(np.std([r[k] for r in rows])), 4),
                "by_split": [round(r[k], 4) for r in rows]} for k in keys}


def unseen_source(embedder, segmenter, seeds: int, config: TypeHistoryConfig) -> dict:
    train, test = type_data()
    weak = [r for r in train if r.get("weak") and r["type"] in MAIN_TYPES]
    fz = [r for r in train if not r.get("weak")] + test
    fz = [r for r in fz if r["type"] in MAIN_TYPES]
    base = TextClassifier(ClassifierConfig(class_weight="balanced", C=0.1, embedding_weight=0.0, cues="petition-type"),
                          segmenter).fit([text_of(r) for r in weak], [r["type"] for r in weak],
                                         fields=[fields_of(r) for r in weak])
    vectors = dict(zip([r["id"] for r in fz], encode(embedder, [text_of(r) for r in fz])))
    rows = [_score(base, h, t, vectors, config) for _, h, t in _splits(fz, seeds)]
    return {"base": f"lexical type model on {len(weak)} weakly labelled Teddy messages", "letters": len(fz),
            **_summary(rows)}


def unseen_source_teddy(embedder, segmenter, seeds: int, config: TypeHistoryConfig) -> dict:
    train, test = type_data()
    fz = [r for r in train + test if not r.get("weak") and r["type"] in MAIN_TYPES]
    teddy = bodies([r for r in train if r.get("weak") and r["type"] in MAIN_TYPES])   # the title gave the label
    vectors = dict(zip([r["id"] for r in fz + teddy], encode(embedder, [text_of(r) for r in fz + teddy])))
    base = fit_recipe(SHIPPED_RECIPE, segmenter, fz, np.stack([vectors[r["id"]] for r in fz]), [], None)
    rows = [_score(base, h, t, vectors, config) for _, h, t in _splits(teddy, seeds)]
    return {"base": f"the shipped recipe ({SHIPPED_RECIPE}) fitted on {len(fz)} fuzhou appeals, without Teddy",
            "letters": len(teddy), **_summary(rows)}


def same_source(embedder, segmenter, seeds: int, config: TypeHistoryConfig) -> dict:
    train, test = type_data()
    fz = [r for r in train if not r.get("weak")]
    weak = [r for r in train if r.get("weak")]
    test = [r for r in test if r["type"] in MAIN_TYPES]
    vecs = encode(embedder, [text_of(r) for r in fz + test])
    vectors = {r["id"]: v for r, v in zip(fz + test, vecs)}
    base = fit_recipe(SHIPPED_RECIPE, segmenter, fz, vecs[: len(fz)], weak, record_embedder(embedder))
    small = TypeHistoryConfig(**{**config.__dict__, "min_letters": min(config.min_letters, 100),
                                 "min_per_type": min(config.min_per_type, 4)})
    rows = [_score(base, h, t, vectors, small) for _, h, t in _splits(test, seeds)]
    return {"base": f"the shipped recipe ({SHIPPED_RECIPE}) fitted on {len(fz)} fuzhou training appeals and "
                    f"{len(weak)} Teddy messages", "letters": len(test),
            "history_config": {"min_letters": small.min_letters, "min_per_type": small.min_per_type}, **_summary(rows)}


SITUATIONS = {"unseen-source": unseen_source, "unseen-source-teddy": unseen_source_teddy, "same-source": same_source}


def _fields(pairs: list[str]) -> dict:
    """``FIELD=VALUE`` pairs → TypeHistoryConfig keyword arguments, each value typed as the field's default."""
    defaults = TypeHistoryConfig().__dict__
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in defaults:
            raise SystemExit(f"--set {pair}: TypeHistoryConfig has no field {name!r}; fields: {', '.join(defaults)}")
        default = defaults[name]
        if value.lower() == "none":
            out[name] = None
        elif isinstance(default, bool):
            out[name] = value.lower() in ("1", "true", "yes")
        elif isinstance(default, (int, float)):
            out[name] = type(default)(value)
        elif isinstance(default, tuple):
            out[name] = tuple(int(v) for v in value.split(","))
        else:
            out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", choices=tuple(SITUATIONS), default=None)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a TypeHistoryConfig field for this run, e.g. --set cues=petition-type --set C=0.1 "
                             "(cues=none: n-grams only)")
    args = parser.parse_args(argv)
    from triage.segment import Segmenter

    segmenter = Segmenter().load()
    config = TypeHistoryConfig(**_fields(args.set))
    emb = cached_e5()
    report = {}
    for name, situation in SITUATIONS.items():
        if args.only in (None, name):
            report[name] = situation(emb, segmenter, args.seeds, config)
            print(json.dumps({name: report[name]}, ensure_ascii=False), file=sys.stderr, flush=True)
    report["history_config"] = {k: v for k, v in config.__dict__.items() if v != TypeHistoryConfig().__dict__[k]}
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
