"""How well does a type classifier carry from one source of letters to another? ``python -m training.eval_type_transfer``

Two sources with types: the fuzhou water appeals (878, labelled 性质) and the Teddy messages whose title states
their type (2,721 weak labels, :func:`training.train_type.type_data`). A Teddy letter is tested on its **body
only**, since its title is where its label came from. Each model is trained on all of one source and tested on all
of the other; macro-F1 over 咨询/建议/投诉/举报. Models: a plain char 1–3-gram TF-IDF + LinearSVC (with and without
balanced class weights), a logistic regression on the cue block alone (:mod:`triage.type_cues`: 43 phrases, title
hit and log body count), and the shipped recipe (``SHIPPED_RECIPE``) fitted on fuzhou without the Teddy messages
(with them, it would have seen the test letters).

Prints a JSON object (the table in docs/quality.md, "Type: from one source to another").
"""

from __future__ import annotations

import argparse
import json
import sys

from triage.normalise import normalise
from triage.type_cues import CueFeatures

from .common import cached_e5, encode, macro_f1, say, text_of
from .train_type import MAIN_TYPES, SHIPPED_RECIPE, bodies, fit_recipe, type_data


def _f1(y_true: list[str], pred) -> float:
    return round(macro_f1(y_true, [str(p) for p in pred], labels=list(MAIN_TYPES)), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-shipped", action="store_true", help="skip the shipped recipe (it needs e5 vectors)")
    args = parser.parse_args(argv)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    train, test = type_data()
    fz = [r for r in train if not r.get("weak")] + test
    teddy = bodies([r for r in train if r.get("weak")])   # body only: the title gave the label
    sources = {"fuzhou": fz, "teddy": teddy}
    texts = {name: [normalise(r["content"]) for r in recs] for name, recs in sources.items()}
    labels = {name: [r["type"] for r in recs] for name, recs in sources.items()}
    out: dict = {"fuzhou_letters": len(fz), "teddy_letters": len(teddy)}
    cues = CueFeatures()
    for a, b in (("fuzhou", "teddy"), ("teddy", "fuzhou")):
        row = {}
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
        X = vec.fit_transform(texts[a])
        for weights in (None, "balanced"):
            svm = LinearSVC(C=0.5, class_weight=weights).fit(X, labels[a])
            row[f"tfidf_svm{'_balanced' if weights else ''}"] = _f1(labels[b], svm.predict(vec.transform(texts[b])))
        ca, cb = (cues.transform([("", t) for t in texts[s]]) for s in (a, b))
        for C in (0.1, 1.0):
            lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(ca, labels[a])
            row[f"cues_logistic_C{C}"] = _f1(labels[b], lr.predict(cb))
        out[f"{a}_to_{b}"] = row
        say(f"{a} → {b}: {row}")
    if not args.no_shipped:
        from triage.segment import Segmenter

        emb = cached_e5()
        seg = Segmenter().load()
        clf = fit_recipe(SHIPPED_RECIPE, seg, fz, encode(emb, [text_of(r) for r in fz]), [], None)
        P = clf.predict_proba([text_of(r) for r in teddy], encode(emb, [text_of(r) for r in teddy]),
                              fields=[("", normalise(r["content"])) for r in teddy])
        out["fuzhou_to_teddy"]["shipped_recipe_without_teddy"] = _f1(labels["teddy"],
                                                                     [clf.labels[i] for i in P.argmax(1)])
        say(f"shipped recipe without Teddy, fuzhou → teddy: {out['fuzhou_to_teddy']['shipped_recipe_without_teddy']}")
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
