"""Step 5b, for the router: a small ensemble of boosted trees over a candidate department's clues.

The router weighs its clues (:data:`triage.route.FEATURES`) with one linear weight each. Some clues say more in
company than alone: a district named in the letter counts for its office unless the words read like a bureau's;
the text model's second choice is worth more when the neighbours agree. The trees learn such combinations from
the deployment's own held-out history (:meth:`triage.route.Router.fit_history`), and their log-odds that a
candidate is the right one becomes one more clue (``rerank``) whose weight the router fits with the others.

Fitted with scikit-learn's ``HistGradientBoostingClassifier``; kept and evaluated as plain arrays (node features,
thresholds, children, leaf values), so a saved router holds no pickle and reads the same under another
scikit-learn. Every clue that raises a department's score in the linear model is constrained to never lower the
trees' score either (monotone), so the evidence a handler reads and the trees do not contradict each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class TreesConfig:
    max_iter: int = 60
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    folds: int = 3              # out-of-fold scores for the rows the router's weights are fitted on
    min_rows: int = 200         # fewer candidate rows (or one class only): no trees
    seed: int = 0


class Trees:
    """A fitted ensemble: ``decision(X)`` → log-odds per row. Nodes of all trees are concatenated; ``roots``
    holds each tree's first node."""

    ARRAYS = ("feature", "threshold", "left", "right", "leaf", "value", "roots", "baseline")

    def __init__(self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
                 leaf: np.ndarray, value: np.ndarray, roots: np.ndarray, baseline: float) -> None:
        self.feature, self.threshold = feature.astype(np.int64), threshold.astype(np.float64)
        self.left, self.right = left.astype(np.int64), right.astype(np.int64)
        self.leaf, self.value = leaf.astype(bool), value.astype(np.float64)
        self.roots, self.baseline = roots.astype(np.int64), float(baseline)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, monotone: Sequence[int], config: TreesConfig | None = None
            ) -> "Trees | None":
        """Trees for rows ``X`` (candidates' clues) and ``y`` (1: the department the letter went to); None when
        there are too few rows or one class only."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        cfg = config or TreesConfig()
        y = np.asarray(y, dtype=int)
        if len(y) < cfg.min_rows or len(set(y.tolist())) < 2:
            return None
        model = HistGradientBoostingClassifier(
            max_iter=cfg.max_iter, learning_rate=cfg.learning_rate, max_leaf_nodes=cfg.max_leaf_nodes,
            min_samples_leaf=cfg.min_samples_leaf, l2_regularization=cfg.l2_regularization,
            monotonic_cst=list(monotone), early_stopping=False, random_state=cfg.seed).fit(X, y)
        parts, roots, offset = [], [], 0
        for (predictor,) in model._predictors:   # binary: one tree per iteration
            nodes = predictor.nodes
            roots.append(offset)
            parts.append((nodes["feature_idx"], nodes["num_threshold"], nodes["left"] + offset,
                          nodes["right"] + offset, nodes["is_leaf"], nodes["value"]))
            offset += len(nodes)
        columns = [np.concatenate([p[i] for p in parts]) for i in range(6)]
        return cls(*columns, np.array(roots), float(np.ravel(model._baseline_prediction)[0]))

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that each row is the right department (the sum of the trees' leaves plus the baseline)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        rows = np.arange(len(X))[:, None]
        while True:
            inner = ~self.leaf[node]
            if not inner.any():
                break
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        return self.baseline + self.value[node].sum(axis=1)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{name}": np.asarray(getattr(self, name)) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "Trees | None":
        if f"{prefix}feature" not in arrays:
            return None
        return cls(*(arrays[f"{prefix}{name}"] for name in cls.ARRAYS[:-1]), float(arrays[f"{prefix}baseline"]))


def out_of_fold(groups: Sequence[np.ndarray], labels: Sequence[np.ndarray], monotone: Sequence[int],
                config: TreesConfig | None = None) -> tuple[list[np.ndarray], "Trees | None"]:
    """Trees' log-odds for every group's rows (a group: one held-out letter's candidates), each from trees fitted
    on the other folds of groups, and the trees fitted on all of them (for letters to come). All zeros and None
    when there is too little to fit."""
    cfg = config or TreesConfig()
    zeros = [np.zeros(len(g)) for g in groups]
    usable = [i for i, g in enumerate(groups) if len(g)]
    if not usable:
        return zeros, None
    X = np.vstack([groups[i] for i in usable])
    y = np.concatenate([labels[i] for i in usable])
    whole = Trees.fit(X, y, monotone, cfg)
    if whole is None:
        return zeros, None
    fold = np.random.default_rng(cfg.seed).permutation(len(usable)) % cfg.folds
    out = zeros
    for k in range(cfg.folds):
        train = [usable[j] for j in np.flatnonzero(fold != k)]
        test = [usable[j] for j in np.flatnonzero(fold == k)]
        if not test:
            continue
        trees = Trees.fit(np.vstack([groups[i] for i in train]), np.concatenate([labels[i] for i in train]),
                          monotone, cfg) if train else None
        if trees is None:   # a fold too small to fit on its own: the whole fit stands in
            trees = whole
        scores = trees.decision(np.vstack([groups[i] for i in test]))
        for i, part in zip(test, np.split(scores, np.cumsum([len(groups[i]) for i in test])[:-1])):
            out[i] = part
    return out, whole
