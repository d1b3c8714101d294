"""The router's boosted trees (triage/rerank.py): kept as arrays, they score as scikit-learn's model does, respect
their monotone clues, survive a save, and give each held-out group scores from trees that did not see it."""

import numpy as np
import pytest

from triage.rerank import Trees, TreesConfig, out_of_fold

MONOTONE = [1, 1, 0, -1]


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 4))
    logit = 3 * X[:, 0] + 2 * X[:, 0] * X[:, 1] - 2 * X[:, 3] - 2.5 + rng.normal(0, 0.5, n)
    return X, (logit > 0).astype(int)


def test_the_arrays_score_as_scikit_learns_model_does():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _rows(2000)
    cfg = TreesConfig()
    trees = Trees.fit(X, y, MONOTONE, cfg)
    model = HistGradientBoostingClassifier(
        max_iter=cfg.max_iter, learning_rate=cfg.learning_rate, max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=cfg.min_samples_leaf, l2_regularization=cfg.l2_regularization, monotonic_cst=MONOTONE,
        early_stopping=False, random_state=cfg.seed).fit(X, y)
    probe = np.random.default_rng(1).random((300, 4))
    np.testing.assert_allclose(trees.decision(probe), model.decision_function(probe), atol=1e-9)
    again = Trees.from_arrays(trees.to_arrays("r_"), "r_")
    np.testing.assert_array_equal(again.decision(probe), trees.decision(probe))
    assert Trees.from_arrays({}, "r_") is None


def test_more_of_a_clue_never_lowers_the_score_it_raises():
    X, y = _rows(2000)
    trees = Trees.fit(X, y, MONOTONE)
    probe = np.random.default_rng(2).random((200, 4))
    for j, sign in enumerate(MONOTONE):
        if sign:
            more = probe.copy()
            more[:, j] = np.minimum(more[:, j] + 0.3, 1.0)
            assert np.all(sign * (trees.decision(more) - trees.decision(probe)) >= -1e-12)


def test_out_of_fold_scores_come_from_trees_that_did_not_see_the_group():
    X, y = _rows(3000, seed=4)
    groups, labels = np.split(X, 300), np.split(y, 300)
    scores, whole = out_of_fold(groups, labels, MONOTONE, TreesConfig(folds=3))
    assert whole is not None and [len(s) for s in scores] == [len(g) for g in groups]
    in_sample = [whole.decision(g) for g in groups]
    assert not np.allclose(np.concatenate(scores), np.concatenate(in_sample))
    # out of fold, the scores still rank the right rows first far better than chance
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, np.concatenate(scores)) > 0.8


@pytest.mark.parametrize("n, positives", [(50, 10), (1000, 0)])
def test_too_little_to_learn_gives_no_trees(n, positives):
    X = np.random.default_rng(0).random((n, 4))
    y = np.zeros(n, dtype=int)
    y[:positives] = 1
    scores, trees = out_of_fold(np.split(X, n // 10), np.split(y, n // 10), MONOTONE)
    assert trees is None and all(not s.any() for s in scores)
