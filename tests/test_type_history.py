"""A deployment's typed history adapts the type suggestion only where it beats the shipped model out of fold."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from triage.normalise import normalise
from triage.type_history import NotEnoughHistory, TypeHistory, TypeHistoryConfig

LABELS = ["举报", "咨询", "建议", "投诉"]


@pytest.fixture(scope="module")
def appeals(shared_datasets):
    with open(shared_datasets / "fuzhou_water" / "appeals.csv", encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["性质"] in LABELS and r["投诉件内容"].strip()]
    return [(normalise(f"{r['标题']}\n{r['投诉件内容']}"), r["性质"], r) for r in rows]


def _uniform(n: int) -> np.ndarray:
    return np.full((n, len(LABELS)), 1 / len(LABELS))


def test_too_little_history_is_refused(appeals):
    texts, types = [t for t, _, _ in appeals[:50]], [y for _, y, _ in appeals[:50]]
    with pytest.raises(NotEnoughHistory):
        TypeHistory().fit(texts, types, _uniform(50), LABELS)
    with pytest.raises(NotEnoughHistory):   # enough letters, one type only
        TypeHistory().fit(["投诉内容"] * 300, ["投诉"] * 300, _uniform(300), LABELS)


def test_a_useless_shipped_model_is_replaced_and_held_out_letters_gain(appeals, tmp_path):
    """Base = uniform (a model that knows nothing of this deployment): the stack is active, and on letters it
    never saw it beats the base's macro-F1 (which is that of always answering one type)."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    order = rng.permutation(len(appeals))
    hist = [appeals[i] for i in order[:500]]
    test = [appeals[i] for i in order[500:]]
    th = TypeHistory().fit([t for t, _, _ in hist], [y for _, y, _ in hist], _uniform(len(hist)), LABELS)
    assert th.active and th.metrics["history_macro_f1_stack_out_of_fold"] > th.metrics["history_macro_f1_shipped_model"]
    P = th.proba([t for t, _, _ in test], _uniform(len(test)))
    assert P.shape == (len(test), len(th.labels)) and np.allclose(P.sum(axis=1), 1.0)
    truth = [y for _, y, _ in test]
    stacked = f1_score(truth, [th.labels[i] for i in P.argmax(1)], labels=LABELS, average="macro", zero_division=0)
    constant = f1_score(truth, ["举报"] * len(test), labels=LABELS, average="macro", zero_division=0)
    assert stacked > constant + 0.15
    th.save(tmp_path / "th")
    again = TypeHistory.load(tmp_path / "th")
    assert again.active and again.labels == th.labels
    np.testing.assert_array_equal(again.proba([t for t, _, _ in test[:20]], _uniform(20)), P[:20])
    for i in range(20):   # one letter (the request path's own TF-IDF) as in a batch (sklearn's transform)
        np.testing.assert_allclose(th.proba([test[i][0]], _uniform(1))[0], P[i], rtol=1e-5, atol=1e-6)


def test_the_head_reads_sentence_vectors_when_given(appeals, tmp_path):
    """Vectors that carry the type (a stand-in for what a letter means) lift the head far above n-grams alone;
    such a history then needs the letters' vectors to answer, before and after a reload."""
    rng = np.random.default_rng(1)
    hist = appeals[:500]
    texts, types = [t for t, _, _ in hist], [y for _, y, _ in hist]
    vectors = np.eye(len(LABELS))[[LABELS.index(y) for y in types]] + rng.normal(0, 0.3, (len(hist), len(LABELS)))
    plain = TypeHistory().fit(texts, types, _uniform(len(hist)), LABELS)
    read = TypeHistory().fit(texts, types, _uniform(len(hist)), LABELS, vectors=vectors)
    assert read.uses_vectors and not plain.uses_vectors
    assert read.metrics["history_macro_f1_head_out_of_fold"] > plain.metrics["history_macro_f1_head_out_of_fold"] + 0.2
    with pytest.raises(ValueError, match="vectors"):
        read.proba(texts[:2], _uniform(2))
    P = read.proba(texts[:20], _uniform(20), vectors=vectors[:20])
    read.save(tmp_path / "v")
    again = TypeHistory.load(tmp_path / "v")
    assert again.uses_vectors
    np.testing.assert_allclose(again.proba(texts[:20], _uniform(20), vectors=vectors[:20]), P)
    np.testing.assert_allclose(read.proba([texts[3]], _uniform(1), vectors=vectors[3])[0], P[3], rtol=1e-5, atol=1e-6)
    assert TypeHistory(TypeHistoryConfig(embedding_weight=0)).fit(texts, types, _uniform(len(hist)), LABELS,
                                                                  vectors=vectors).uses_vectors is False


def test_a_shipped_model_that_already_fits_is_kept(appeals):
    """Base = the truth, slightly smoothed: the stack cannot beat it out of fold, so it stays inactive."""
    hist = appeals[:400]
    base = np.full((len(hist), len(LABELS)), 0.02)
    for i, (_, y, _) in enumerate(hist):
        base[i, LABELS.index(y)] = 0.94
    th = TypeHistory().fit([t for t, _, _ in hist], [y for _, y, _ in hist], base, LABELS)
    assert not th.active and th.metrics["history_macro_f1_shipped_model"] == 1.0


def test_types_only_the_shipped_model_knows_keep_its_probability(appeals):
    hist = appeals[:300]
    base_labels = LABELS + ["求助"]
    base = np.full((len(hist), 5), 0.2)
    th = TypeHistory(TypeHistoryConfig(min_letters=100)).fit([t for t, _, _ in hist], [y for _, y, _ in hist],
                                                            base, base_labels)
    assert "求助" in th.labels and "求助" not in th.head_labels
    P = th.proba(["请求帮助解决停水问题"], np.array([[0.1, 0.1, 0.1, 0.1, 0.6]]))
    assert P[0, th.labels.index("求助")] == pytest.approx(0.6) and P.sum() == pytest.approx(1.0)


def test_cli_import_of_typed_history_fits_the_type_history(small_models, appeals, tmp_path):
    """`triage import` of letters with a type fits the store's type history; `run` reads it back. Every other
    letter carries its type as offices also write it (投诉类, 意见建议, 检举控告, 咨询件): one type each."""
    from triage.store import index_dir_for

    written = {"投诉": "投诉类", "建议": "意见建议", "举报": "检举控告", "咨询": "咨询件"}
    path = tmp_path / "typed.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, (_, y, r) in enumerate(appeals[:260]):
            f.write(json.dumps({"id": f"t{i}", "title": r["标题"], "content": r["投诉件内容"],
                                "type": written[y] if i % 2 else y}, ensure_ascii=False) + "\n")
    store = f"sqlite:///{tmp_path / 's.db'}"
    env_models = {"TRIAGE_MODELS_DIR": str(small_models)}
    import os

    def cli(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "triage.cli", *args], input=stdin, capture_output=True,
                              text=True, env={**os.environ, **env_models}, timeout=600)

    r = cli("import", "--store", store, "--quiet", str(path))
    assert r.returncode == 0, r.stderr
    folder = index_dir_for(store) / "type-history"
    manifest = json.loads((folder / "manifest.json").read_text())
    from collections import Counter

    counts = Counter(y for _, y, _ in appeals[:260])   # types with fewer than 10 letters get no head score
    assert manifest["metrics"]["letters"] == sum(n for n in counts.values() if n >= 10)
    assert manifest["head_labels"] == sorted(t for t, n in counts.items() if n >= 10)
    marker = (folder / "history.signature").read_text()
    r = cli("run", "--store", store, stdin=json.dumps({"id": "q", "content": appeals[300][2]["投诉件内容"]},
                                                       ensure_ascii=False) + "\n")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[0])
    assert out["type"] and out["type"][0]["label"] in manifest["labels"]
    # the first type says when it comes from this office's own typed letters (only when the history answers)
    learnt = f"learnt from this office's {manifest['metrics']['letters']} typed letters"
    assert (learnt in out["type"][0]["evidence"]) == manifest["metrics"]["active"], (manifest["metrics"], out["type"])
    assert all(learnt not in t["evidence"] for t in out["type"][1:])
    assert (folder / "history.signature").read_text() == marker     # reloaded, not refitted


def test_too_little_typed_history_is_remembered_until_it_changes(small_triage, appeals, tmp_path, monkeypatch):
    """Below the minimum nothing is fitted and the shipped model answers; the store is not re-read until its typed
    history changes."""
    from triage.records import parse_letter
    from triage.retrieve import CaseIndex
    from triage.store import Store

    store = Store(f"sqlite:///{tmp_path / 's.db'}").open()
    index = CaseIndex.open(store, small_triage.embedder_key, small_triage.embedder.dim)
    letters = [parse_letter({"id": f"few-{i}", "content": r["投诉件内容"], "type": y})
               for i, (_, y, r) in enumerate(appeals[:30])]
    small_triage.ingest(small_triage.prepare(letters), store, index)
    small_triage.refresh_history(store)
    folder = store.index_dir / "type-history"
    assert small_triage.type_history is None and (folder / "history.signature").exists()
    assert not (folder / "manifest.json").exists()

    def no_reading(*args, **kwargs):
        raise AssertionError("the typed history was read again although it did not change")

    monkeypatch.setattr(store, "labelled_history", no_reading)
    small_triage._refresh_type_history(store)
    assert small_triage.type_history is None


def test_resampled_macro_f1_is_sklearns_and_a_sure_gain_is_told_from_noise():
    """The bootstrap behind the choice: each resample's macro-F1 is sklearn's; a candidate that is better on most
    letters wins (nearly) every resample, an equal or worse one (nearly) none."""
    from sklearn.metrics import f1_score

    from triage.type_history import _bootstrap_wins, _resampled_macro_f1

    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 300)                       # 4 = a type outside the labels
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, 5, 300))
    draws = rng.integers(0, 300, size=(25, 300))
    got = _resampled_macro_f1(y, pred, draws, 4)
    for row, value in zip(draws, got):
        assert value == pytest.approx(f1_score(y[row], pred[row], labels=[0, 1, 2, 3], average="macro",
                                               zero_division=0))
    truth = [LABELS[i % 4] for i in range(400)]
    good = [t if i % 10 else "投诉" for i, t in enumerate(truth)]          # 90% right
    poor = [t if i % 2 else "投诉" for i, t in enumerate(truth)]           # 50% right
    assert _bootstrap_wins(truth, good, poor, LABELS, 0) == 1.0
    assert _bootstrap_wins(truth, poor, good, LABELS, 0) == 0.0 and _bootstrap_wins(truth, good, good, LABELS, 0) == 0.0
    four_wrong = [t if i % 10 or i >= 40 else "投诉" for i, t in enumerate(truth)]
    eight_wrong = [t if i >= 8 else "投诉" for i, t in enumerate(truth)]    # a few letters apart: not sure either way
    assert 0.0 < _bootstrap_wins(truth, eight_wrong, four_wrong, LABELS, 0) < 0.5 < _bootstrap_wins(
        truth, four_wrong, eight_wrong, LABELS, 0) < 1.0


def test_the_head_answers_alone_where_it_does_best_and_a_history_saved_before_still_loads(appeals, tmp_path):
    """Base = uniform: the history answers (both surely better than the base): the head alone, unless the stack
    surely beats the head too (session 21; before, whichever did better out of fold). The head's answer is a distribution whose order is the head's margins'. A history saved before the
    head could answer alone (no `answer`, no `cues`, no temperature) loads as the stack it was."""
    hist = appeals[:500]
    texts, types = [t for t, _, _ in hist], [y for _, y, _ in hist]
    th = TypeHistory().fit(texts, types, _uniform(len(hist)), LABELS)
    m = th.metrics
    assert th.answer in ("head", "stack") and th.config.cues == "petition-type"
    assert m["bootstrap_wins_over_shipped"][th.answer] >= th.config.confidence
    sure = {k for k, v in m["bootstrap_wins_over_shipped"].items() if v >= th.config.confidence}
    assert sure == {"head", "stack"}
    best = "stack" if m["bootstrap_wins_stack_over_head"] >= th.config.confidence else "head"
    assert m["answer"] == th.answer == best
    test = [t for t, _, _ in appeals[500:560]]
    th.answer = "head"
    P = th.proba(test, _uniform(len(test)))
    assert np.allclose(P.sum(axis=1), 1.0) and 0.05 < th.temperature < 20
    head = th.head_scores(test)
    assert [th.labels[i] for i in P.argmax(1)] == [th.head_labels[i] for i in head.argmax(1)]
    th.save(tmp_path / "new")
    assert TypeHistory.load(tmp_path / "new").answer == "head"

    old = TypeHistory(TypeHistoryConfig(cues=None)).fit(texts, types, _uniform(len(hist)), LABELS)
    old.save(tmp_path / "old")
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    del manifest["config"]["cues"], manifest["config"]["confidence"], manifest["config"]["bootstrap"]
    del manifest["metrics"]["answer"]
    manifest["metrics"]["active"] = True
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    import pickle

    parts = pickle.loads((tmp_path / "old" / "model.pkl").read_bytes())
    del parts["temperature"]
    (tmp_path / "old" / "model.pkl").write_bytes(pickle.dumps(parts))
    again = TypeHistory.load(tmp_path / "old")
    assert again.answer == "stack" and again.config.cues is None and again.temperature == 1.0
    old.answer = "stack"
    np.testing.assert_array_equal(again.proba(test, _uniform(len(test))), old.proba(test, _uniform(len(test))))
