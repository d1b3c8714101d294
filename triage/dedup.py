"""Step 4b: is this a matter we already have? Pair evidence → a calibrated verdict.

For two letters we measure: the exact normalised hash, character-shingle Jaccard and containment
(near-duplicates), title overlap, the embedding cosine (re-worded repeats), the matter — named
objects and demands compared (:mod:`triage.matter`) — the petitioner (same account / ID / phone,
compared as keyed hashes) and the time gap. A :class:`PairModel` trained on hand-labelled pairs turns
those features into probabilities of ``duplicate`` (same specific matter: an office would merge
them), ``related`` (same kind of issue or same object, a different matter) and ``unrelated``.
Thresholds come from calibration on labelled pairs (``training/train_pairs.py``), never guessed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artefact import read_manifest, write_manifest
from .matter import Matter, compare_matters, extract_matter
from .minhash import shared_counts, shingles_of_many
from .normalise import compact_codes, compact_hash

VERDICTS = ("duplicate", "related", "unrelated")


@dataclass
class LetterView:
    """What pair comparison needs of one letter, computed once (normalised text, shingles, matter, vector)."""

    id: str | None
    text: str                      # normalised title + content
    title: str
    hash: str
    shingles: np.ndarray
    title_shingles: np.ndarray
    matter: Matter
    vector: np.ndarray | None
    identities: set[str] = field(default_factory=set)   # hashed identity keys, e.g. "phone:…"
    received_at: dt.datetime | None = None


def make_view(letter_id, text: str, title: str, vector, identities: set[str], received_at: str | None,
              segmenter=None, matter: Matter | None = None) -> LetterView:
    """``text`` and ``title`` are normalised (:func:`~triage.normalise.normalise`); ``matter``: the letter's stored
    matter, when it was extracted before (else extracted here)."""
    return make_views([(letter_id, text, title, vector, identities, received_at, matter)], segmenter)[0]


def make_views(items: list[tuple], segmenter=None) -> list[LetterView]:
    """:func:`make_view` of many letters, each given as ``(letter_id, text, title, vector, identities, received_at,
    matter)``: their text and title shingles are hashed in one pass each (a letter's candidates, a batch)."""
    codes, title_codes = [], []
    for _, text, title, *_ in items:
        codes.append(compact_codes(text, normalised=True))   # once, for the hash and the shingles
        title_codes.append(compact_codes(title, normalised=True) if title else np.zeros(0, np.uint32))
    text_shingles = shingles_of_many(codes, 3)
    title_shingles = shingles_of_many(title_codes, 2)
    out = []
    for (letter_id, text, title, vector, identities, received_at, matter), c, sh, tsh in zip(
            items, codes, text_shingles, title_shingles):
        when = None
        if received_at:
            try:
                when = dt.datetime.fromisoformat(received_at)
            except ValueError:
                when = None
        out.append(LetterView(id=letter_id, text=text, title=title, hash=compact_hash(c.tobytes().decode("utf-32-le")),
                              shingles=sh, title_shingles=tsh if title else np.zeros(0, np.uint64),
                              matter=matter if matter is not None else extract_matter(text, segmenter),
                              vector=vector, identities=identities, received_at=when))
    return out


def pack_view(view: LetterView) -> tuple:
    """A view as one tuple of strings, arrays, times and tuples of strings: what the view cache keeps. CPython's
    cyclic collector stops tracking such a tuple after a pass or two over it (none of its items can refer back),
    while a LetterView keeps ~6 tracked objects alive (its dict, sets, the matter's); a full collection walks every
    tracked object (~1 µs each here), so 10,000 cached views as objects cost 40–80 ms a full collection, in the
    middle of whichever suggestion triggered it. :func:`unpack_view` gives the view back."""
    m = view.matter
    objects = tuple(f"{kind}\x1f{name}" for kind, names in m.objects.items() for name in (names or ("",)))
    return (view.id, view.text, view.title, view.hash, view.shingles, view.title_shingles, objects, tuple(m.demands),
            tuple(m.places), view.vector, tuple(view.identities), view.received_at)


def unpack_view(packed: tuple) -> LetterView:
    """The :class:`LetterView` that :func:`pack_view` packed (its own sets, so a caller may change them)."""
    (letter_id, text, title, h, shingles, title_shingles, objects, demands, places, vector, identities,
     received_at) = packed
    by_kind: dict[str, set[str]] = {}
    for entry in objects:   # "kind\x1fname" (one flat tuple of strings: nested tuples may stay tracked a pass longer)
        kind, _, name = entry.partition("\x1f")
        names = by_kind.setdefault(kind, set())
        if name:
            names.add(name)
    return LetterView(id=letter_id, text=text, title=title, hash=h, shingles=shingles, title_shingles=title_shingles,
                      matter=Matter(objects=by_kind, demands=set(demands), places=set(places)),
                      vector=vector, identities=set(identities), received_at=received_at)


FEATURES = ("exact", "jaccard3", "containment3", "title_jaccard", "has_titles", "cosine", "specific_overlap",
            "both_have_objects", "object_overlap", "demand_jaccard", "place_overlap", "place_conflict",
            "same_petitioner", "petitioners_known", "log_gap_days", "gap_known", "length_ratio",
            "cos_x_specific", "jac_x_demand")


def pair_features(a: LetterView, b: LetterView) -> tuple[np.ndarray, dict]:
    """Feature vector (in :data:`FEATURES` order) and the evidence needed to explain a verdict."""
    return pair_features_many(a, [b])[0]


def pair_features_many(a: LetterView, others: list[LetterView]) -> list[tuple[np.ndarray, dict]]:
    """:func:`pair_features` of ``a`` with each of ``others`` (a letter's candidates): the shingle overlaps of all
    of them are counted in one numpy pass (:func:`~triage.minhash.shared_counts`)."""
    text_shared = shared_counts(a.shingles, [b.shingles for b in others])
    title_shared = shared_counts(a.title_shingles, [b.title_shingles for b in others])
    n_a, n_ta = len(a.shingles), len(a.title_shingles)
    out = []
    for b, inter, t_inter in zip(others, text_shared.tolist(), title_shared.tolist()):
        m = compare_matters(a.matter, b.matter)
        n_b, n_tb = len(b.shingles), len(b.title_shingles)
        jac, cont = (inter / (n_a + n_b - inter), inter / min(n_a, n_b)) if n_a and n_b else (0.0, 0.0)
        has_titles = float(n_ta > 0 and n_tb > 0)
        tjac = t_inter / (n_ta + n_tb - t_inter) if has_titles else 0.0
        cos = float(np.dot(a.vector, b.vector)) if a.vector is not None and b.vector is not None else 0.0
        same_pet = float(bool(a.identities & b.identities))
        known = float(bool(a.identities) and bool(b.identities))
        if a.received_at and b.received_at:
            gap = abs((a.received_at - b.received_at).total_seconds()) / 86400.0
            log_gap, gap_known = math.log1p(gap), 1.0
        else:
            gap, log_gap, gap_known = None, 0.0, 0.0
        la, lb = len(a.text), len(b.text)
        exact = a.hash == b.hash
        # in FEATURES order
        x = np.array((float(exact), jac, cont, tjac, has_titles, cos, m["specific_overlap"], m["both_have_objects"],
                      m["object_overlap"], m["demand_jaccard"], m["place_overlap"], m["place_conflict"], same_pet,
                      known, log_gap, gap_known, min(la, lb) / max(la, lb, 1), cos * m["specific_overlap"],
                      jac * m["demand_jaccard"]), dtype=np.float32)
        evidence = {"shared_objects": m["shared_objects"], "shared_demands": m["shared_demands"], "gap_days": gap,
                    "jaccard": jac, "cosine": cos, "exact": exact, "same_petitioner": bool(same_pet)}
        out.append((x, evidence))
    return out


def reasons(evidence: dict, verdict: str) -> list[str]:
    """Human-readable reasons for a verdict (Chinese terms kept, no personal data)."""
    out = []
    if evidence["exact"]:
        out.append("identical text after normalisation")
    elif evidence["jaccard"] >= 0.3:
        out.append(f"near-identical wording (shingle Jaccard {evidence['jaccard']:.2f})")
    if evidence["cosine"]:
        out.append(f"semantic similarity {evidence['cosine']:.2f}")
    if evidence["shared_objects"]:
        out.append("same object: " + "、".join(evidence["shared_objects"][:3]))
    if evidence["shared_demands"]:
        out.append("same demand: " + "、".join(evidence["shared_demands"][:3]))
    elif verdict != "duplicate":
        out.append("different or unclear demands")
    if evidence["same_petitioner"]:
        out.append("same petitioner (matched on hashed identity)")
    if evidence["gap_days"] is not None:
        out.append(f"{evidence['gap_days']:.0f} days apart")
    return out


@dataclass
class PairModelConfig:
    kind: str = "hgb"               # hgb (gradient-boosted trees: gates similarity by object/demand) | logistic
    C: float = 1.0
    max_depth: int = 3
    learning_rate: float = 0.05
    max_iter: int = 200
    dup_threshold: float = 0.5      # replaced by the calibrated value at training time
    related_threshold: float = 0.5


class PairModel:
    """A classifier over :data:`FEATURES` → P(duplicate), P(related), P(unrelated), plus calibrated thresholds.

    Gradient-boosted trees by default: out-of-fold on the labelled pairs they beat a logistic model
    (duplicate F1 0.925 vs 0.893), because similarity only means "same matter" when the objects agree.
    """

    def __init__(self, config: PairModelConfig | None = None) -> None:
        self.config = config or PairModelConfig()
        self._model = None

    def fit(self, X: np.ndarray, y: list[str]) -> "PairModel":
        cfg = self.config
        if cfg.kind == "hgb":
            from sklearn.ensemble import HistGradientBoostingClassifier

            self._model = HistGradientBoostingClassifier(max_depth=cfg.max_depth, learning_rate=cfg.learning_rate,
                                                         max_iter=cfg.max_iter, l2_regularization=1.0, random_state=0)
        elif cfg.kind == "logistic":
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            self._model = make_pipeline(StandardScaler(), LogisticRegression(C=cfg.C, max_iter=2000))
        else:
            raise ValueError(f"unknown pair model kind '{cfg.kind}': use hgb or logistic")
        self._model.fit(X, y)
        return self

    def proba(self, X: np.ndarray) -> np.ndarray:
        """Columns in :data:`VERDICTS` order."""
        from threadpoolctl import threadpool_limits

        X = np.atleast_2d(X)
        forest = self._forest()
        if forest is not None:
            raw = self._model._loss.predict_proba(forest.raw(X))
        else:   # another estimator, or sklearn changed its private API
            with threadpool_limits(1, user_api="openmp"):
                raw = self._model.predict_proba(X)
        classes = list(self._model.classes_)
        out = np.zeros((X.shape[0], 3), dtype=np.float64)
        for j, name in enumerate(VERDICTS):
            if name in classes:
                out[:, j] = raw[:, classes.index(name)]
        return out

    def _forest(self) -> "_Forest | None":
        forest = self.__dict__.get("_forest_table", False)
        if forest is False:
            try:
                forest = _Forest(self._model)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError):
                forest = None
            self._forest_table = forest
        return forest

    def verdicts(self, P: np.ndarray) -> list[str]:
        out = []
        for p_dup, p_rel, _ in np.atleast_2d(P):
            if p_dup >= self.config.dup_threshold:
                out.append("duplicate")
            elif p_dup + p_rel >= self.config.related_threshold:
                out.append("related")
            else:
                out.append("unrelated")
        return out

    def save(self, folder: Path, **manifest_fields) -> dict:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "model.pkl", "wb") as fh:
            pickle.dump(self._model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        (folder / "config.json").write_text(json.dumps(self.config.__dict__, indent=2))
        return write_manifest(folder, "pair-model", features=list(FEATURES), labels=list(VERDICTS), **manifest_fields)

    @classmethod
    def load(cls, folder: Path) -> "PairModel":
        folder = Path(folder)
        manifest = read_manifest(folder, "pair-model")
        if manifest.get("features") != list(FEATURES):
            from .errors import ModelMissing
            raise ModelMissing(f"{folder}: pair model was trained on other features; run `triage train`")
        self = cls(PairModelConfig(**json.loads((folder / "config.json").read_text())))
        with open(folder / "model.pkl", "rb") as fh:  # our own artefact
            self._model = pickle.load(fh)
        self.manifest = manifest
        return self


class _Forest:
    """The boosted trees of a fitted ``HistGradientBoostingClassifier``, walked all at once with numpy.

    sklearn predicts tree by tree from Python (600 calls for 200 iterations × 3 classes, ~5 ms for the few
    dozen candidates of one letter). Here every tree's nodes sit in one table and all (candidate, tree) pairs
    step down together, one numpy step per level (the trees are 3 deep): the same leaves, summed in sklearn's
    order (baseline, then iteration by iteration), so the same raw scores (tested against sklearn).
    Categorical splits are not supported (the pair features are numeric): such a model raises ValueError.
    """

    def __init__(self, model) -> None:
        predictors = model._predictors
        self.k = len(predictors[0])
        self.iterations = len(predictors)
        tables = [p.nodes for iteration in predictors for p in iteration]
        if any(t["is_categorical"].any() for t in tables):
            raise ValueError("categorical splits")
        sizes = np.array([len(t) for t in tables])
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        nodes = np.concatenate(tables)
        start = np.repeat(self.roots, sizes)
        leaf = nodes["is_leaf"].astype(bool)
        here = np.arange(len(nodes), dtype=np.intp)
        # a leaf points to itself, so trees shallower than the deepest one simply stay put
        self.left = np.where(leaf, here, nodes["left"].astype(np.intp) + start)
        self.right = np.where(leaf, here, nodes["right"].astype(np.intp) + start)
        self.feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.value = nodes["value"].astype(np.float64)
        self.depth = int(nodes["depth"].max())
        self.baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(1, 1, self.k)
        self.n_features = int(model.n_features_in_)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (n, k), as ``model._raw_predict(X)``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected (n, {self.n_features}) pair features, got {X.shape}")
        n = X.shape[0]
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = self.value[node].reshape(n, self.iterations, self.k)
        summed = np.concatenate([np.broadcast_to(self.baseline, (n, 1, self.k)), leaves], axis=1)
        return np.cumsum(summed, axis=1)[:, -1, :]
