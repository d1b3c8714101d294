"""Step 3b: a deployment's own typed history adapts the petition-type suggestion.

The shipped type model is trained on one city's appeals; what an office files as 咨询, 建议, 投诉 or 举报 differs
from city to city (a model trained on one source and applied to another measured 0.18 macro-F1 in
``training/eval_type_history.py``). When the store holds enough imported letters that carry a ``type``,
:class:`TypeHistory` learns from them:

* a **history head**: character 1–3-gram TF-IDF, the cue block of :mod:`triage.type_cues` (the phrases that
  say a question, a proposal, a complaint, a report) and, when the caller passes them, the letters' sentence
  vectors (``embedding_weight``: what a letter means beside the words it uses) under a class-balanced linear SVM
  on the deployment's letters;
* a **stacker**: a class-balanced multinomial logistic regression over the shipped model's log-probabilities and
  the head's scores, fitted on *out-of-fold* head scores (k folds over the history), so it learns how far each
  can be trusted here.

What answers is chosen on the history itself, out of fold (``answer``; the figures go in the manifest): the
shipped model, unless the head alone or the stack beats its macro-F1 there in 95% of bootstrap resamples of the
history (a gain measured on a few hundred letters may be noise), and then the better of those two (``active``).
A shipped model that already fits the deployment is kept. The head's margins become probabilities by a softmax
at a temperature fitted to its out-of-fold margins.

With too little typed history (``min_letters``, ``min_per_type``) nothing is fitted and the shipped model answers
alone. Labels are the union of the shipped model's and the history's (types the history has too few of keep the
shipped model's column only).
"""

from __future__ import annotations

import pickle
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .artefact import read_manifest, write_manifest

__all__ = ["TypeHistory", "TypeHistoryConfig", "NotEnoughHistory"]

_FLOOR = 1e-6   # probability given to a type the shipped model does not know


def macro_f1(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, labels=list(labels), average="macro", zero_division=0))


def _bootstrap_wins(truth: Sequence[str], candidate: Sequence[str], shipped: Sequence[str], labels: Sequence[str],
                    seed: int, resamples: int = 400) -> float:
    """The share of bootstrap resamples of the letters (drawn with replacement, the same draw for both) on which
    ``candidate``'s macro-F1 over ``labels`` beats ``shipped``'s: how sure an out-of-fold gain is, not only how big."""
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    code = lambda values: np.array([index.get(v, k) for v in values])   # noqa: E731  (k: a type outside labels)
    y, a, b = code(truth), code(candidate), code(shipped)
    draws = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    return float(np.mean(_resampled_macro_f1(y, a, draws, k) > _resampled_macro_f1(y, b, draws, k)))


def _resampled_macro_f1(y: np.ndarray, pred: np.ndarray, draws: np.ndarray, k: int) -> np.ndarray:
    """Macro-F1 over classes ``0..k-1`` of each resample (a row of ``draws``: indices into ``y`` and ``pred``), as
    sklearn's ``f1_score(average="macro", labels=…, zero_division=0)`` gives it; code ``k`` is outside the labels."""
    yd, pd = y[draws], pred[draws]
    out = np.zeros(len(draws))
    for c in range(k):
        tp = ((yd == c) & (pd == c)).sum(axis=1)
        denom = (yd == c).sum(axis=1) + (pd == c).sum(axis=1)
        out += np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return out / k


def _temperature(margins: np.ndarray, truth: Sequence[int]) -> float:
    """The temperature T that makes softmax(margins / T) fit the true types best (log-loss), on out-of-fold
    margins: SVM margins are no probabilities, and one scale puts them on the shipped model's footing."""
    from scipy.optimize import minimize_scalar

    truth = np.asarray(truth)

    def nll(log_t: float) -> float:
        z = margins / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), truth]))

    return float(np.exp(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x))


def _rows(vectors: np.ndarray | None, index) -> np.ndarray | None:
    return None if vectors is None else vectors[index]


class NotEnoughHistory(ValueError):
    """The typed history is too small (or too one-sided) to learn from."""


@dataclass(frozen=True)
class TypeHistoryConfig:
    min_letters: int = 200          # typed letters needed before the history is used
    max_letters: int = 5000         # the newest typed letters learnt from (a large store's refit stays ~1 min)
    min_per_type: int = 10          # a type needs this many letters to get a head score
    folds: int = 5                  # out-of-fold head scores for the stacker
    C: float = 0.5                  # head SVM regularisation
    stack_C: float = 1.0            # stacker regularisation
    ngram_range: tuple[int, int] = (1, 3)
    min_df: int = 2
    max_features: int = 200_000
    max_chars: int = 1000           # text read per letter
    seed: int = 0
    cues: str | None = "petition-type"   # a cue set of triage.type_cues beside the head's n-grams (None: n-grams only)
    confidence: float = 0.95        # share of bootstrap resamples of the history the history's answer must win
    bootstrap: int = 400            # resamples
    cue_weight: float = 1.0
    embedding_weight: float = 1.0   # the sentence-vector block's scale (0: none), when fit() is given vectors


class TypeHistory:
    """``fit(texts, types, base_proba, base_labels)``; ``proba(texts, base_proba)`` → (n, len(labels))."""

    def __init__(self, config: TypeHistoryConfig | None = None) -> None:
        self.config = config or TypeHistoryConfig()
        self.labels: list[str] = []
        self.base_labels: list[str] = []
        self.head_labels: list[str] = []
        self._vec = self._head = self._stack = None
        self.metrics: dict = {}
        self.answer = "shipped"     # what answers: "shipped", "head" or "stack", the best out of fold on the history
        self.temperature = 1.0      # the head's margins → probabilities (softmax of margin / temperature)
        self.uses_vectors = False   # the head was fitted with sentence vectors: proba() needs them too

    # -- features -------------------------------------------------------------------------------
    def _base_block(self, base_proba: np.ndarray) -> np.ndarray:
        """The shipped model's probabilities as log-probabilities over ``labels`` (floor for unknown types)."""
        base_proba = np.atleast_2d(np.asarray(base_proba, dtype=np.float64))
        out = np.full((base_proba.shape[0], len(self.labels)), np.log(_FLOOR))
        for j, label in enumerate(self.base_labels):
            if label in self.labels:
                out[:, self.labels.index(label)] = np.log(np.maximum(base_proba[:, j], _FLOOR))
        return out

    @property
    def active(self) -> bool:
        """The history answers (its head or the stack beat the shipped model out of fold on the history)."""
        return self.answer != "shipped"

    def _fit_head(self, texts: Sequence[str], labels: Sequence[str], vectors: np.ndarray | None):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        cfg = self.config
        vec = TfidfVectorizer(analyzer="char", ngram_range=tuple(cfg.ngram_range), sublinear_tf=True,
                              min_df=cfg.min_df, max_features=cfg.max_features, dtype=np.float32)
        texts = [t[: cfg.max_chars] for t in texts]
        X = self._with_dense(vec.fit_transform(texts), texts, vectors)
        return vec, LinearSVC(C=cfg.C, class_weight="balanced").fit(X, list(labels))

    def _with_dense(self, X, texts: Sequence[str], vectors: np.ndarray | None):
        """The n-gram block, then the cue block when the config names a cue set (cues read the whole text: the
        history's letters come as one text each), then the sentence vectors when the head uses them."""
        dense = []
        if self.config.cues:
            from .type_cues import cue_features

            dense.append(cue_features(self.config.cues).transform([("", t) for t in texts]) * self.config.cue_weight)
        if self.uses_vectors:
            if vectors is None:
                raise ValueError("this type history's head reads sentence vectors: pass the letters' vectors")
            dense.append(np.atleast_2d(np.asarray(vectors, dtype=np.float32)) * self.config.embedding_weight)
        if not dense:
            return X
        from scipy import sparse

        from .classify import _Row

        block = np.hstack(dense)
        if isinstance(X, _Row):   # one letter on the request path
            return _Row.hstack([X, _Row.dense(block)])
        return sparse.hstack([X, sparse.csr_matrix(block)]).tocsr()

    def head_scores(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        """The fitted history SVM's scores alone, over :attr:`head_labels` (for comparison with the stack)."""
        return self._head_block(self._vec, self._head, texts, vectors)

    def _head_block(self, vec, head, texts: Sequence[str], vectors: np.ndarray | None) -> np.ndarray:
        """Head scores over ``head_labels`` (one column per type the head learnt)."""
        texts = [t[: self.config.max_chars] for t in texts]
        if len(texts) == 1:   # one letter on the request path: TF-IDF and margins without sklearn's validation
            from .classify import _linear_decision, _one_text_row

            d = _linear_decision(head, self._with_dense(_one_text_row(vec, texts[0]), texts, vectors))
        else:
            d = head.decision_function(self._with_dense(vec.transform(texts), texts, vectors))
        if d.ndim == 1:   # two types: sklearn gives the second one's margin
            d = np.vstack([-d, d]).T
        out = np.zeros((len(texts), len(self.head_labels)))
        for j, label in enumerate(head.classes_):
            out[:, self.head_labels.index(str(label))] = d[:, j]
        return out

    # -- training and prediction ----------------------------------------------------------------
    def fit(self, texts: Sequence[str], types: Sequence[str], base_proba: np.ndarray,
            base_labels: Sequence[str], vectors: np.ndarray | None = None) -> "TypeHistory":
        """``base_proba``: the shipped model's probabilities for these texts, columns in ``base_labels`` order;
        ``vectors``: the letters' sentence vectors, read by the head when given (then :meth:`proba` needs them)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        cfg = self.config
        if len(texts) != len(types) or len(texts) != len(base_proba):
            raise ValueError(f"{len(texts)} texts, {len(types)} types and {len(base_proba)} base rows")
        counts = Counter(types)
        learnt = sorted(t for t, n in counts.items() if n >= cfg.min_per_type)
        if len(texts) < cfg.min_letters or len(learnt) < 2:
            raise NotEnoughHistory(f"{len(texts)} typed letters, {len(learnt)} types with ≥ {cfg.min_per_type} "
                                   f"(need {cfg.min_letters} letters and 2 types)")
        keep = [i for i, t in enumerate(types) if t in learnt]
        texts = [texts[i] for i in keep]
        types = [types[i] for i in keep]
        base_proba = np.asarray(base_proba)[keep]
        self.uses_vectors = vectors is not None and cfg.embedding_weight > 0
        vectors = np.asarray(vectors)[keep] if self.uses_vectors else None
        self.base_labels = [str(label) for label in base_labels]
        self.head_labels = learnt
        self.labels = sorted(set(self.base_labels) | set(learnt))
        folds = min(cfg.folds, min(counts[t] for t in learnt))
        oof = np.zeros((len(texts), len(learnt)))
        for tr, va in StratifiedKFold(folds, shuffle=True, random_state=cfg.seed).split(texts, types):
            vec, head = self._fit_head([texts[i] for i in tr], [types[i] for i in tr], _rows(vectors, tr))
            oof[va] = self._head_block(vec, head, [texts[i] for i in va], _rows(vectors, va))
        from sklearn.model_selection import cross_val_predict

        base = self._base_block(base_proba)
        features = np.hstack([base, oof])
        stacker = LogisticRegression(C=cfg.stack_C, class_weight="balanced", max_iter=5000)
        stack_oof = cross_val_predict(stacker, features, types,
                                      cv=StratifiedKFold(folds, shuffle=True, random_state=cfg.seed + 1))
        self._stack = stacker.fit(features, types)
        self._vec, self._head = self._fit_head(texts, types, vectors)
        self.temperature = _temperature(oof, [learnt.index(t) for t in types])
        f_base = macro_f1(types, [self.labels[i] for i in base.argmax(1)], learnt)
        head_oof = [learnt[i] for i in oof.argmax(1)]
        f_head = macro_f1(types, head_oof, learnt)
        f_stack = macro_f1(types, stack_oof, learnt)
        # the history answers only where it beats the shipped model on this deployment's own letters, out of fold,
        # and surely so (in cfg.confidence of bootstrap resamples of those letters: a few hundred letters give
        # noisy figures); then whichever of the head alone and the stack did better there (a tie: the stack)
        shipped_pred = [self.labels[i] for i in base.argmax(1)]
        wins = {"head": _bootstrap_wins(types, head_oof, shipped_pred, learnt, cfg.seed, cfg.bootstrap),
                "stack": _bootstrap_wins(types, list(stack_oof), shipped_pred, learnt, cfg.seed, cfg.bootstrap)}
        sure = [name for name in ("stack", "head") if wins[name] >= cfg.confidence]
        stack_over_head = _bootstrap_wins(types, list(stack_oof), head_oof, learnt, cfg.seed, cfg.bootstrap)
        if len(sure) == 2:   # the head alone, unless the stack surely beats it too
            self.answer = "stack" if stack_over_head >= cfg.confidence else "head"
        else:
            self.answer = sure[0] if sure else "shipped"
        self.metrics = {"letters": len(texts), "per_type": dict(sorted(Counter(types).items())),
                        "history_macro_f1_shipped_model": round(f_base, 4),
                        "history_macro_f1_head_out_of_fold": round(f_head, 4),
                        "history_macro_f1_stack_out_of_fold": round(f_stack, 4), "active": self.active,
                        "bootstrap_wins_over_shipped": {k: round(v, 3) for k, v in wins.items()},
                        "bootstrap_wins_stack_over_head": round(stack_over_head, 3),
                        "answer": self.answer, "head_temperature": round(self.temperature, 4)}
        return self

    def proba(self, texts: Sequence[str], base_proba: np.ndarray, answer: str | None = None,
              vectors: np.ndarray | None = None) -> np.ndarray:
        """Probabilities over :attr:`labels` (a type only the shipped model knows keeps its share of the
        shipped probability mass the stacker does not claim); ``answer``: "head" or "stack" instead of the one
        chosen at fit time (for comparing them); ``vectors``: the texts' sentence vectors (needed when
        :attr:`uses_vectors`)."""
        if self._stack is None:
            raise RuntimeError("the type history is not fitted; call fit() or load()")
        from .classify import _logistic_proba

        base = self._base_block(base_proba)
        head = self._head_block(self._vec, self._head, texts, vectors)
        out = np.zeros((len(texts), len(self.labels)))
        if (answer or self.answer) == "head":
            z = head / self.temperature
            z = np.exp(z - z.max(axis=1, keepdims=True))
            for j, label in enumerate(self.head_labels):
                out[:, self.labels.index(label)] = z[:, j] / z.sum(axis=1)
        else:
            stacked = _logistic_proba(self._stack, np.hstack([base, head]))
            for j, label in enumerate(self._stack.classes_):
                out[:, self.labels.index(str(label))] = stacked[:, j]
        others = [j for j, label in enumerate(self.labels) if label not in self.head_labels]
        if others:   # types the history cannot score: the shipped model's probability, taken out of the rest
            share = np.exp(base[:, others])
            out *= (1.0 - share.sum(axis=1, keepdims=True)).clip(0.0, 1.0)
            out[:, others] = share
        return out

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: Path, **manifest_fields) -> dict:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "model.pkl", "wb") as fh:
            pickle.dump({"vec": self._vec, "head": self._head, "stack": self._stack,
                         "temperature": self.temperature, "uses_vectors": self.uses_vectors}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return write_manifest(folder, "type-history", config=asdict(self.config), labels=self.labels,
                              base_labels=self.base_labels, head_labels=self.head_labels, metrics=self.metrics,
                              **manifest_fields)

    @classmethod
    def load(cls, folder: Path) -> "TypeHistory":
        folder = Path(folder)
        manifest = read_manifest(folder, "type-history")
        config = dict(manifest["config"])
        config["ngram_range"] = tuple(config["ngram_range"])
        config.setdefault("cues", None)   # a history saved before the head could read cues read n-grams only
        self = cls(TypeHistoryConfig(**config))
        self.labels, self.base_labels = list(manifest["labels"]), list(manifest["base_labels"])
        self.head_labels, self.metrics = list(manifest["head_labels"]), dict(manifest.get("metrics") or {})
        # a history saved before the head could answer alone: the stack where it was active
        self.answer = self.metrics.get("answer") or ("stack" if self.metrics.get("active") else "shipped")
        with open(folder / "model.pkl", "rb") as fh:  # our own artefact, written by save()
            parts = pickle.load(fh)
        self._vec, self._head, self._stack = parts["vec"], parts["head"], parts["stack"]
        self.temperature = float(parts.get("temperature", 1.0))
        self.uses_vectors = bool(parts.get("uses_vectors", False))   # a history saved before the head read vectors
        self.manifest = manifest
        return self
