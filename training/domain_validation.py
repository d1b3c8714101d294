"""Choose the domain classifier's configuration on validation carvings of the training data, never on the test.

    python -m training.domain_validation            # seeds 5 6 7, every variant below

Each carving takes 400 full messages out of the training part of :func:`teddy_domain_split` as validation and,
like the test split, removes their titles and details from what remains. Variants are
:class:`~triage.classify.ClassifierConfig` settings; the printed macro-F1 is on the validation messages only.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import replace

import numpy as np

from triage.classify import ClassifierConfig, TextClassifier
from triage.segment import Segmenter

from .datasets import squash, teddy_domain_split
from .train import DOMAIN_CONFIG, fields_of, macro_f1, text_of

VARIANTS = {
    "whole text (char+word TF-IDF, C=1), sigmoid calibration": ClassifierConfig(embedding_weight=0.0, C=1.0),
    "+ title and body fields (C=0.5), sigmoid calibration": replace(DOMAIN_CONFIG, calibration="sigmoid"),
    "+ title and body fields (C=0.5), temperature calibration (default)": DOMAIN_CONFIG,
}


def carve(train: list[dict], seed: int, n_val: int = 400) -> tuple[list[dict], list[dict]]:
    full = [r for r in train if not r.get("part")]
    random.Random(seed).shuffle(full)
    val = full[:n_val]
    ids = {r["id"] for r in val}
    titles = {squash(r["title"]) for r in val}
    details = {squash(r["content"]) for r in val}
    rest = [r for r in train if r["id"] not in ids and squash(r["content"]) not in details
            and squash(r["content"]) not in titles and squash(r.get("title", "")) not in titles]
    return rest, val


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7])
    args = parser.parse_args(argv)
    split = teddy_domain_split()
    segmenter = Segmenter()
    scores: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for seed in args.seeds:
        train, val = carve(split.train, seed)
        y_val = [r["domain"] for r in val]
        for name, config in VARIANTS.items():
            clf = TextClassifier(config, segmenter).fit([text_of(r) for r in train], [r["domain"] for r in train],
                                                        fields=[fields_of(r) for r in train])
            proba = clf.predict_proba([text_of(r) for r in val], fields=[fields_of(r) for r in val])
            f1 = macro_f1(y_val, [clf.labels[i] for i in proba.argmax(1)])
            scores[name].append(f1)
            print(f"seed {seed}  {name}: {f1:.4f}", file=sys.stderr, flush=True)
    print("| variant | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean |")
    print("|---|" + "---|" * (len(args.seeds) + 1))
    for name, vals in scores.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {np.mean(vals):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
