"""The petition type (咨询/求助/建议/投诉/举报): data, recipes, cross-validation, held-out figure, artefact.

The labelled letters are the fuzhou_water appeals (878; 投诉 711, 咨询 100, 建议 37, 举报 28, 求助 2). Teddy
messages whose title states their type (咨询…, 投诉…, 举报…, …的建议, …问题的咨询, 再次举报…; 2,721; see
:func:`type_from_title`) are weak labels from a second
source, whose offices file types the way the hotline definitions say (a fuzhou 举报 is mostly an old letter about a
黑臭 river, and the word 举报 appears in 41 fuzhou 投诉 letters). Three ways of using them (``RECIPES``):

* ``pooled-bodies`` (shipped): the Teddy messages join the training rows **on their body only** (their title
  gave the label: trained with it, a model learns to read the title's first word), beside the fuzhou letters; the
  cue block of :mod:`triage.type_cues`; label offsets −0.5·log(frequency) on the calibrated probabilities;
* ``prior`` (sessions 7–12): a linear model fitted on the weak labels gives four scores that the fuzhou classifier
  weighs as features (``ClassifierConfig.prior_weight``), beside the cues and offsets;
* ``pooled`` (before): the Teddy messages, title and body, pooled as rows; no cues, no offsets.

``python -m training.train_type --cv`` measures each on both sources at once — 5-fold CV on the fuzhou training
part, and in each fold a different half of the Teddy messages held out (the other half trains) — the figures in
docs/quality.md; the fuzhou held-out 30% is measured once, by :func:`train_type`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from triage.classify import ClassifierConfig, TextClassifier

from .common import cached_e5, encode, macro_f1, say, text_of, type_inputs
from .datasets import data_hash, read_csv

TYPE_LABELS = ("咨询", "求助", "建议", "投诉", "举报")
MAIN_TYPES = ("咨询", "建议", "投诉", "举报")
_TITLE_TYPE = [("咨询", r"^(?:关于)?(?:咨询|请问|询问|问一下|想问)"), ("投诉", r"^(?:关于)?投诉"),
               ("举报", r"^(?:关于)?(?:实名)?举报"), ("建议", r"(?:^(?:关于)?建议|的建议$|^呼吁|^提议)"),
               ("求助", r"^(?:求助|求救)")]
# "希望…" is no kind's word: it opens requests and complaints as often as proposals (希望…道路能修好), and as a
# 建议 label it cost 0.01 on the fuzhou CV and on the letters typed by their reply (session 14).
# A title that ends by naming its kind ("关于…的咨询", "…问题的举报", "…的求助信") or opens with it after 再次/实名/
# 强烈 ("再次举报…", "强烈建议…"): the writer's own word for the letter, as the openings above.
_TITLE_TYPE_WIDE = [("咨询", r"(?:咨询|询问)[！!。？?]*$"), ("投诉", r"(?:^(?:再次|实名)投诉|的投诉[！!。]*$)"),
                    ("举报", r"(?:^(?:再次|实名|关于对?)?[^，,]{0,30}?的?举报(?:信)?[！!。]*$|^(?:再次|实名)举报)"),
                    ("建议", r"(?:^强烈建议|[的和及]建议[！!。]*$|意见建议[！!。]*$)"),
                    ("求助", r"(?:求助|求救)(?:信)?[！!。]*$")]
_TYPE_WORDS = {"咨询": "咨询|询问", "投诉": "投诉", "举报": "举报", "建议": "建议", "求助": "求助|求救"}
# How a reply's opening names what it answers ("您咨询的…", "您提出的建议…", "关于您投诉的…", "网友举报…"): the
# replying office's reading of the letter, independent of the letter's own wording. Of the 396 messages whose
# title and reply both name one kind, the two agree on 333 (84%).
_REPLY_TYPE = {"咨询": r"咨询", "建议": r"(?:提出|您|的)的?建议|意见建议", "举报": r"举报", "投诉": r"投诉",
               "求助": r"求助"}
REPLY_CHARS = 200

# The prior recipe, chosen by cross-validation on the fuzhou training part only (docs/quality.md, "Type"): the
# weak-label model on lexical features, cue block in (title, body) form, C 0.1 over 0.2/0.5, and label offsets of
# -PRIOR_ALPHA·log(frequency) on the calibrated probabilities (α 0.5 over 0 and 1).
TYPE_CONFIG = ClassifierConfig(class_weight="balanced", C=0.1, embedding_weight=1.0, cues="petition-type",
                               prior_weight=1.0, prior_C=0.5)
PRIOR_ALPHA = 0.5
# Weak labels pooled with the fuzhou letters, no cues, no prior block (the first model).
POOLED_CONFIG = ClassifierConfig(class_weight="balanced", C=0.5, embedding_weight=1.0)
# The shipped recipe: Teddy bodies pooled as rows, the cue block, label offsets (set at fit from the pooled labels).
# Since session 19 the letter's last 120 characters are a block of their own at half weight (docs/quality.md,
# "Type": what a letter ends on asks for something).
POOLED_BODIES_CONFIG = ClassifierConfig(class_weight="balanced", C=0.5, embedding_weight=1.0, cues="petition-type",
                                        tail_chars=120, tail_weight=0.5)
RECIPES = ("pooled-bodies", "prior", "pooled")
SHIPPED_RECIPE = "pooled-bodies"


def _macro_f1(y_true, y_pred) -> float:
    return macro_f1(y_true, y_pred, labels=list(MAIN_TYPES))


def predict_types(clf: TextClassifier, recs: list[dict], vectors: np.ndarray) -> list[str]:
    """The first type ``clf`` gives each record (read as the service reads a letter: text, vector, fields)."""
    texts, fields = type_inputs(recs)
    proba = clf.predict_proba(texts, vectors, fields=fields)
    return [clf.labels[i] for i in proba.argmax(1)]


def _scores(truth: list[str], pred: list[str], name: str) -> dict:
    """``{name}_macro_f1_4types`` and ``{name}_f1_by_type`` of one evaluation."""
    from sklearn.metrics import f1_score

    per_type = f1_score(truth, pred, labels=list(MAIN_TYPES), average=None, zero_division=0)
    return {f"{name}_macro_f1_4types": round(_macro_f1(truth, pred), 4),
            f"{name}_f1_by_type": {t: round(float(f), 4) for t, f in zip(MAIN_TYPES, per_type)}}


def type_from_title(title: str, rules: str = "head+end") -> str | None:
    """The type a title states in so many words, or None; ``rules`` "head": only a title that opens with it."""
    for label, pattern in _TITLE_TYPE:
        if re.search(pattern, title):
            return label
    if rules == "head+end":
        named = {label for label, words in _TYPE_WORDS.items() if re.search(words, title)}
        found = [label for label, pattern in _TITLE_TYPE_WIDE if re.search(pattern, title)]
        if len(named) == 1 and found == list(named):   # "…的投诉及建议" names two kinds: no label
            return found[0]
    return None


def type_from_reply(reply: str) -> str | None:
    """The one kind a reply's opening (:data:`REPLY_CHARS`) says it answers, or None (none, or several)."""
    head = reply[:REPLY_CHARS]
    named = [label for label, pattern in _REPLY_TYPE.items() if re.search(pattern, head)]
    return named[0] if len(named) == 1 else None


def reply_typed() -> list[dict]:
    """Teddy messages typed by their reply whose title does not state a type: letters as they come (the title
    gives nothing away), never among the weak training rows (:func:`type_data` labels by title only). An
    evaluation set for a city that files types by the definitions; its labels agree with the titles' 84% of the
    time where both exist, which bounds what any model can score on it."""
    out = []
    for r in read_csv("teddy2020/replies.csv"):
        label = type_from_reply(r["答复意见"])
        if label in MAIN_TYPES and not type_from_title(r["留言主题"].strip()) and r["留言详情"].strip():
            out.append({"id": f"reply-{r['留言编号']}", "title": r["留言主题"].strip(),
                        "content": r["留言详情"].strip(), "type": label})
    return out


def fuzhou_appeals() -> list[dict]:
    """The fuzhou appeals with a type and a text, as records (id, title, content, type)."""
    return [{"id": f"fz-{r['id']}", "title": r["标题"].strip(), "content": r["投诉件内容"].strip(), "type": r["性质"]}
            for r in read_csv("fuzhou_water/appeals.csv") if r["性质"] in TYPE_LABELS and r["投诉件内容"].strip()]


def strata(types: list[str]) -> list[str]:
    """Types to stratify a split by: the 2 fuzhou 求助 appeals cannot be stratified, so they count as 投诉."""
    return [t if t != "求助" else "投诉" for t in types]


def type_data(seed: int = 7, rules: str = "head+end") -> tuple[list[dict], list[dict]]:
    """(train, test): fuzhou appeals split 70/30 stratified by type; Teddy weak labels (``weak``, by ``rules``: see
    :func:`type_from_title`) added to train only."""
    from sklearn.model_selection import train_test_split

    fz = fuzhou_appeals()
    train, test = train_test_split(fz, test_size=0.3, random_state=seed, stratify=strata([r["type"] for r in fz]))
    weak = []
    seen = set()
    for source in ("teddy2020/messages_labeled.csv", "teddy2020/hot_issues.csv", "teddy2020/replies.csv",
                   "teddy2020/unlabeled.csv"):
        for r in read_csv(source):
            label = type_from_title(r["留言主题"].strip(), rules)
            key = r["留言主题"] + r["留言详情"][:50]
            if label and key not in seen:
                seen.add(key)
                weak.append({"id": f"weak-{len(weak)}", "title": r["留言主题"].strip(), "content": r["留言详情"].strip(),
                             "type": label, "weak": True})
    return train + weak, test


def _prior(weak: list[dict]) -> tuple[list[str], list[str]]:
    """Weak texts and labels, without labels too rare to learn (Teddy has one 求助 title)."""
    from collections import Counter

    counts = Counter(r["type"] for r in weak)
    keep = [r for r in weak if counts[r["type"]] >= 10]
    return type_inputs(keep)[0], [r["type"] for r in keep]


def label_offsets(labels: list[str], alpha: float = PRIOR_ALPHA) -> dict[str, float]:
    """-α·log(frequency) per label: undoes part of the skew that calibration brings back."""
    from collections import Counter

    counts = Counter(labels)
    return {label: round(-alpha * float(np.log(n / len(labels))), 4) for label, n in sorted(counts.items())}


def fit_type(config: ClassifierConfig, segmenter, strong: list[dict], vectors: np.ndarray | None,
             weak: list[dict]) -> TextClassifier:
    """Fit on the ``strong`` letters; the ``weak`` ones feed the prior block (``config.prior_weight``)."""
    if config.prior_weight > 0:
        config = replace(config, class_offsets=label_offsets([r["type"] for r in strong]))
    texts, fields = type_inputs(strong)
    return TextClassifier(config, segmenter).fit(texts, [r["type"] for r in strong], vectors, fields=fields,
                                                 prior=_prior(weak))


def bodies(weak: list[dict]) -> list[dict]:
    """Weakly labelled messages on their body only: their title is where the label was read."""
    return [{**r, "title": "", "id": f"{r['id']}-body"} for r in weak]


def fit_recipe(recipe: str, segmenter, strong: list[dict], vectors: np.ndarray, weak: list[dict],
               embed) -> TextClassifier:
    """The type model of ``recipe`` (one of :data:`RECIPES`) on the ``strong`` letters (with their ``vectors``) and
    the ``weak`` ones; ``embed(records)`` gives vectors for weak rows that join the training rows."""
    if recipe == "prior":
        return fit_type(TYPE_CONFIG, segmenter, strong, vectors, weak)
    if recipe == "pooled-bodies":
        rows = bodies(weak)
        config = replace(POOLED_BODIES_CONFIG, class_offsets=label_offsets([r["type"] for r in strong + rows]))
    elif recipe == "pooled":
        rows, config = weak, POOLED_CONFIG
    else:
        raise ValueError(f"unknown type recipe {recipe!r}; known: {', '.join(RECIPES)}")
    recs = strong + rows
    if rows:
        vectors = np.vstack([vectors, embed(rows)])
    texts, fields = type_inputs(recs)
    return TextClassifier(config, segmenter).fit(texts, [r["type"] for r in recs], vectors, fields=fields)


def record_embedder(embedder):
    """``embed(records)`` → their vectors (``text_of`` each), every record encoded once by its ``id``: the weak
    rows are embedded for the held-out fit and again for the final one, or once per fold."""
    cache: dict[str, np.ndarray] = {}

    def embed(recs: list[dict]) -> np.ndarray:
        missing = [r for r in recs if r["id"] not in cache]
        if missing:
            cache.update(zip([r["id"] for r in missing], encode(embedder, [text_of(r) for r in missing])))
        return np.stack([cache[r["id"]] for r in recs])

    return embed


def type_cv(embedder, segmenter, recipe: str = SHIPPED_RECIPE, n_splits: int = 5, n_repeats: int = 2,
            seed: int = 0) -> dict:
    """Repeated stratified k-fold on the fuzhou training part (the held-out 30% is never touched); in each fold a
    different half of the weakly labelled Teddy messages trains (as the recipe uses them) and the other half is
    tested on its body only: one figure for the source the labels come from, one for a source filed by the
    hotline definitions; and every fold's model is scored on the Teddy messages typed by their reply
    (:func:`reply_typed`: whole letters whose title names no type)."""
    from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

    train_recs, _ = type_data()
    fz = [r for r in train_recs if not r.get("weak")]
    weak = [r for r in train_recs if r.get("weak")]
    embed = record_embedder(embedder)
    vecs = embed(fz)
    strat = strata([r["type"] for r in fz])
    main_weak = [r for r in weak if r["type"] in MAIN_TYPES]
    replies = reply_typed()
    scores = {"fuzhou": [], "teddy": [], "teddy_replies": []}
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    for fold, (tr, te) in enumerate(folds.split(fz, strat)):
        weak_tr, weak_te = train_test_split(main_weak, test_size=0.5, random_state=seed + fold,
                                            stratify=[r["type"] for r in main_weak])
        weak_tr += [r for r in weak if r["type"] not in MAIN_TYPES]
        clf = fit_recipe(recipe, segmenter, [fz[i] for i in tr], vecs[tr], weak_tr, embed)
        for name, recs in (("fuzhou", [fz[i] for i in te]), ("teddy", bodies(weak_te)), ("teddy_replies", replies)):
            scores[name].append(_macro_f1([r["type"] for r in recs], predict_types(clf, recs, embed(recs))))
    out = {"recipe": recipe, "cv_folds": len(scores["fuzhou"]),
           "cv": f"{n_splits}-fold x {n_repeats} stratified on the fuzhou training part; Teddy halves per fold"}
    for name, values in scores.items():
        out[f"cv_macro_f1_4types_{name}_mean"] = round(float(np.mean(values)), 4)
        out[f"cv_macro_f1_4types_{name}_std"] = round(float(np.std(values)), 4)
        out[f"cv_macro_f1_4types_{name}_folds"] = [round(float(v), 4) for v in values]   # for paired comparisons
    out["cv_macro_f1_4types_both_mean"] = round(float(np.mean(scores["fuzhou"] + scores["teddy"])), 4)
    out["teddy_replies_n"] = len(replies)
    return out


def train_type(embedder, segmenter, out: Path, small: bool, extra: list[dict], recipe: str = SHIPPED_RECIPE) -> dict:
    train_recs, test_recs = type_data()
    fz = [r for r in train_recs if not r.get("weak")]
    weak = [r for r in train_recs if r.get("weak")]
    if small:
        random.Random(0).shuffle(weak)
        weak = weak[:600]
    say(f"type ({recipe}): {len(fz)} training appeals, {len(weak)} weakly labelled Teddy messages, "
        f"{len(test_recs)} held-out appeals")
    embed = record_embedder(embedder)
    tr_vec = embed(fz)
    te_vec = embed(test_recs)
    clf = fit_recipe(recipe, segmenter, fz, tr_vec, weak, embed)
    pred = predict_types(clf, test_recs, te_vec)
    y_te = [r["type"] for r in test_recs]
    metrics = {**_scores(y_te, pred, "heldout"),
               "heldout_accuracy": round(float(np.mean([a == b for a, b in zip(y_te, pred)])), 4),
               "heldout_n": len(y_te), "split": "fuzhou_water appeals 70/30 stratified by type (seed 7)",
               "recipe": recipe, "weak_n": len(weak)}
    replies = reply_typed()
    if replies:
        metrics |= {**_scores([r["type"] for r in replies], predict_types(clf, replies, embed(replies)), "reply_typed"),
                    "reply_typed_n": len(replies),
                    "reply_typed": "Teddy messages whose reply names their type and whose title does not"}
    say(f"type held-out macro-F1 (4 types) {metrics['heldout_macro_f1_4types']}; Teddy letters typed by their "
        f"reply {metrics.get('reply_typed_macro_f1_4types')}")
    extra_typed = [r for r in extra if r.get("type") in TYPE_LABELS]
    all_recs = fz + test_recs + extra_typed
    vecs = np.vstack([tr_vec, te_vec] + ([embedder.encode([text_of(r) for r in extra_typed])] if extra_typed else []))
    final = fit_recipe(recipe, segmenter, all_recs, vecs, weak, embed)
    final.save(out / "type", metrics=metrics, data_hash=data_hash(all_recs + weak), embedder=embedder.name,
               train_n=len(all_recs), weak_n=len(weak), recipe=recipe, decisions_used=len(extra_typed))
    return metrics


def tfidf_baseline_cv(n_splits: int = 5, n_repeats: int = 3, seed: int = 0) -> dict:
    """The issue's "plain TF-IDF classifier" on the fuzhou appeals: char 1–3-gram TF-IDF (sublinear) of title +
    text, LinearSVC at C 0.3 / 1 / 3, with and without balanced class weights; macro-F1 over the four main types,
    repeated stratified k-fold over all the appeals (mean and standard deviation per setting)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import RepeatedStratifiedKFold
    from sklearn.svm import LinearSVC

    rows = fuzhou_appeals()
    texts = np.array([f"{r['title']} {r['content']}" for r in rows])
    labels = np.array([r["type"] for r in rows])
    folds = list(RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
                 .split(texts, strata(list(labels))))
    out = {"appeals": len(rows), "folds": len(folds)}
    for weights in (None, "balanced"):
        for C in (0.3, 1.0, 3.0):
            scores = []
            for train, test in folds:
                vectoriser = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
                model = LinearSVC(C=C, class_weight=weights).fit(vectoriser.fit_transform(texts[train]), labels[train])
                scores.append(_macro_f1(list(labels[test]), list(model.predict(vectoriser.transform(texts[test])))))
            out[f"C={C},{weights or 'unweighted'}"] = f"{np.mean(scores):.3f} ± {np.std(scores):.3f}"
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="petition-type cross-validation on both sources")
    parser.add_argument("--cv", action="store_true", help="print the repeated k-fold figures of each recipe")
    parser.add_argument("--tfidf-baseline", action="store_true",
                        help="print the plain TF-IDF baseline's repeated k-fold figures over all fuzhou appeals")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--recipe", choices=RECIPES, action="append", help="only these recipes (default: all)")
    args = parser.parse_args(argv)
    if not (args.cv or args.tfidf_baseline):
        parser.error("nothing to do: pass --cv or --tfidf-baseline (training is training.train.train(steps=('type',)))")
    if args.tfidf_baseline:
        print(json.dumps(tfidf_baseline_cv(), ensure_ascii=False), flush=True)
    if not args.cv:
        return
    from triage.segment import Segmenter

    emb = cached_e5()
    seg = Segmenter().load()
    for recipe in args.recipe or RECIPES:
        t = time.time()
        print(json.dumps(type_cv(emb, seg, recipe, n_repeats=args.repeats) | {"seconds": round(time.time() - t)}),
              flush=True)


if __name__ == "__main__":
    main()
