"""Step 4a: classify a letter (domain, type) with calibrated scores.

One :class:`TextClassifier` serves every label set a deployment brings. Features are hybrid:
character 1–3-gram TF-IDF (robust to unseen words and anonymised names), jieba word 1–2-gram
TF-IDF (with the project's dictionary), and the letter's sentence embedding (semantics the words
miss), scaled and stacked; a linear SVM on top, calibrated by cross-validation into probabilities.
The embedder is not owned here: callers pass the vectors they already computed for the letter.
"""

from __future__ import annotations

import json
import pickle
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.special import expit

from .artefact import read_manifest, write_manifest
from .segment import Segmenter, names_a_topic


@dataclass
class ClassifierConfig:
    char_ngrams: tuple[int, int] = (1, 3)
    word_ngrams: tuple[int, int] = (1, 2)
    use_words: bool = True
    embedding_weight: float = 1.0  # 0 → lexical only
    C: float = 0.5
    calibration_folds: int = 3
    # "sigmoid": one-vs-rest Platt scaling of 3 SVMs each fitted on 2/3 of the data (sklearn's
    # CalibratedClassifierCV). "temperature": one SVM on all the data, its scores turned into probabilities by
    # a softmax whose single temperature is fitted on out-of-fold scores — the top label stays the SVM's own
    # choice (per-class sigmoids re-rank labels; on the domain validation carvings that cost 1.5 points).
    calibration: str = "sigmoid"
    class_weight: str | None = None  # "balanced" for skewed label sets
    max_features: int = 400_000
    min_df: int = 2
    # Title and body as fields of their own, besides the whole text: the same words in a title say more
    # (a title names the matter). Training rows may be a title alone or a body alone. Callers pass
    # ``fields=[(title, body), …]`` with the texts.
    field_blocks: bool = False
    # Opt-in extras for a small, skewed label set such as the petition type (off for the domain classifier):
    # a named set of cue phrases (triage.type_cues) as a dense block, read from (title, body) when ``fields``
    # are passed, else from the whole text as the body …
    cues: str | None = None
    cue_weight: float = 1.0
    # The letter's last ``tail_chars`` characters as a lexical block of their own (0: off): a letter ends with
    # what it asks for (请问…？ / 建议… / 请尽快处理), the words that say its type.
    tail_chars: int = 0
    tail_weight: float = 1.0   # that block's scale
    # … and the standardised scores of a linear model fitted on other, weakly labelled texts passed to
    # ``fit(…, prior=(texts, labels))``, on the whole-text lexical features: the classifier learns how much
    # each weak label says about its own labels instead of taking the weak labels at their word.
    prior_weight: float = 0.0
    prior_C: float = 0.5
    # Per-label offsets added to the log of the calibrated probabilities (then renormalised): calibration gives
    # back the training skew that class_weight="balanced" removed; e.g. -0.5·log(label frequency).
    class_offsets: dict[str, float] | None = None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


_FAST_TFIDF: dict[int, tuple] = {}
_SPACES = re.compile(r"\s\s+")   # sklearn's _white_spaces: the char analyzer makes such runs one space


class _CharNgramVocabulary:
    """The char n-gram vocabulary of a fitted ``TfidfVectorizer(analyzer="char")`` as integer keys (each n-gram's code
    points packed 21 bits apiece; one sorted key array per n), so that one letter's n-grams are counted and looked
    up with numpy instead of a Python string per n-gram. Same terms, same counts as sklearn's analyzer (tested):
    lower-cased, runs of two or more whitespace characters made one space, every n-gram for n in ``ngram_range``."""

    def __init__(self, vocabulary: dict[str, int], ngram_range: tuple[int, int]) -> None:
        self.ngram_range = ngram_range
        by_n: dict[int, tuple[list[int], list[int]]] = {}
        for term, col in vocabulary.items():
            key = 0
            for ch in term:
                key = (key << 21) | ord(ch)
            keys, cols = by_n.setdefault(len(term), ([], []))
            keys.append(key)
            cols.append(col)
        self.tables = {}
        for n, (keys, cols) in by_n.items():
            k = np.array(keys, dtype=np.uint64)
            order = np.argsort(k)
            self.tables[n] = (k[order], np.array(cols, dtype=np.int64)[order])

    @staticmethod
    def applies(vectorizer) -> bool:
        v = vectorizer
        return (v.analyzer == "char" and v.lowercase and v.strip_accents is None and v.preprocessor is None
                and v.input == "content" and v.ngram_range[1] <= 3)

    def counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, counts) of the known n-grams of ``text``."""
        cols, vals = [], []
        lo, hi = self.ngram_range
        for n, (uniq, cnt) in _char_ngram_keys(text, lo, hi).items():
            table = self.tables.get(n)
            if table is None:
                continue
            known_keys, known_cols = table
            pos = np.minimum(np.searchsorted(known_keys, uniq), len(known_keys) - 1)
            hit = known_keys[pos] == uniq
            cols.append(known_cols[pos[hit]])
            vals.append(cnt[hit])
        if not cols:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(cols), np.concatenate(vals)


_RECENT = threading.local()   # per thread: the last few texts' n-gram counts (one letter is read by several models)
_RECENT_TEXTS = 8


def _recent(key, make):
    """``make()``, remembered for the last few keys of this thread: a suggestion reads the same text with the
    domain's, the type's and the type history's vectorizers, whose vocabularies differ but whose counting does not."""
    cache = getattr(_RECENT, "items", None)
    if cache is None:
        cache = _RECENT.items = {}
    value = cache.get(key)
    if value is None:
        if len(cache) >= _RECENT_TEXTS:
            cache.clear()
        value = cache[key] = make()
    return value


def _char_ngram_keys(text: str, lo: int, hi: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """n → (distinct packed n-gram keys, their counts) of ``text`` as sklearn's char analyzer reads it (lower-cased,
    runs of whitespace made one space), for n in [lo, hi] up to the text's length. Read-only arrays: shared."""

    def make():
        codes = np.frombuffer(_SPACES.sub(" ", text.lower()).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        out = {}
        for n in range(lo, min(hi, len(codes)) + 1):
            keys = codes[: len(codes) - n + 1].copy()
            for j in range(1, n):
                keys <<= np.uint64(21)
                keys |= codes[j: len(codes) - n + 1 + j]
            uniq, cnt = np.unique(keys, return_counts=True)
            uniq.flags.writeable = cnt.flags.writeable = False
            out[n] = (uniq, cnt)
        return out

    return _recent(("char", lo, hi, text), make)


class _Row:
    """One text's features as one sparse row — columns and values, no scipy object — for the request path: a
    linear model's margins are ``coef_[:, cols] @ vals`` (:func:`_linear_decision`). Built and joined like
    ``scipy.sparse`` rows (:meth:`hstack`); :meth:`csr` gives the matrix for anything else."""

    __slots__ = ("cols", "vals", "width")

    def __init__(self, cols: np.ndarray, vals: np.ndarray, width: int) -> None:
        self.cols, self.vals, self.width = cols, vals, width

    @property
    def shape(self) -> tuple[int, int]:
        return (1, self.width)

    @classmethod
    def dense(cls, values: np.ndarray) -> "_Row":
        values = np.asarray(values).ravel()
        return cls(np.arange(len(values), dtype=np.int64), values, len(values))

    @classmethod
    def hstack(cls, rows: Sequence["_Row"]) -> "_Row":
        offsets = np.cumsum([0] + [r.width for r in rows[:-1]])
        return cls(np.concatenate([r.cols + off for r, off in zip(rows, offsets)]),
                   np.concatenate([r.vals for r in rows]), int(sum(r.width for r in rows)))

    def __mul__(self, scale: float) -> "_Row":
        return _Row(self.cols, self.vals * scale, self.width)

    def csr(self) -> sparse.csr_matrix:
        keep = self.vals != 0   # as scipy keeps them: no explicit zeros
        return sparse.csr_matrix((self.vals[keep], self.cols[keep].astype(np.int32),
                                  np.array([0, int(keep.sum())], dtype=np.int32)), shape=(1, self.width))


def _one_text_row(vectorizer, text: str) -> _Row:
    """``vectorizer.transform([text])`` of a fitted TfidfVectorizer as a :class:`_Row`, computed directly: the
    analyzer's terms counted, sublinear tf, idf, l2 norm — the same values (tested) without the validation sklearn
    runs on every call. A word analyzer's terms are counted once per text for every vectorizer that shares it."""
    key = id(vectorizer)
    entry = _FAST_TFIDF.get(key)
    if entry is None or entry[0] is not vectorizer:
        if vectorizer.norm not in ("l2", None) or not vectorizer.use_idf:
            entry = (vectorizer, None)
        else:
            chars = (_CharNgramVocabulary(vectorizer.vocabulary_, tuple(vectorizer.ngram_range))
                     if _CharNgramVocabulary.applies(vectorizer) else None)
            words = vectorizer.analyzer if isinstance(vectorizer.analyzer, _WordAnalyzer) else None
            entry = (vectorizer, (vectorizer.build_analyzer(), vectorizer.vocabulary_,
                                  np.asarray(vectorizer.idf_, dtype=vectorizer.dtype), vectorizer.sublinear_tf,
                                  vectorizer.norm, len(vectorizer.vocabulary_), chars, words))
        _FAST_TFIDF[key] = entry
    if entry[1] is None:
        X = vectorizer.transform([text]).tocsr()
        return _Row(X.indices.astype(np.int64), X.data, X.shape[1])
    analyze, vocab, idf, sublinear, norm, width, chars, words = entry[1]
    if chars is not None:   # char n-grams: counted and looked up in numpy
        cols, vals = chars.counts(text)
        vals = vals.astype(idf.dtype)
    else:
        if words is not None:   # the same segmenter and n-grams give the same terms: counted once per text
            counted = _recent(("words", words.segmenter, words.ngrams, text), lambda: Counter(analyze(text)))
        else:
            counted = Counter(analyze(text))
        # vocabulary look-ups in C (map over dict.get), then numpy: a letter has thousands of distinct n-grams
        cols = np.fromiter(map(vocab.get, counted, repeat(-1)), dtype=np.int64, count=len(counted))
        vals = np.fromiter(counted.values(), dtype=idf.dtype, count=len(counted))
        known = cols >= 0
        cols, vals = cols[known], vals[known]
    order = np.argsort(cols, kind="stable")
    cols, vals = cols[order], vals[order]
    if sublinear and len(vals):
        vals = np.log(vals) + 1
    vals = vals * idf[cols]
    if norm == "l2" and len(vals):
        total = np.sqrt(np.dot(vals, vals))
        if total > 0:
            vals = vals / total
    return _Row(cols, vals, width)


def _one_text_tfidf(vectorizer, text: str) -> sparse.csr_matrix:
    """:func:`_one_text_row` as a 1-row CSR matrix (what ``vectorizer.transform([text])`` gives)."""
    return _one_text_row(vectorizer, text).csr()


def _linear_decision(model, X) -> np.ndarray:
    """``model.decision_function(X)`` of a fitted linear model, without sklearn's per-call validation; ``X`` may be
    a :class:`_Row` (one text: only its non-zero columns of the coefficients are read)."""
    if isinstance(X, _Row):
        d = (model.coef_[:, X.cols] @ X.vals)[None, :] + model.intercept_
    else:
        d = np.asarray(X @ model.coef_.T) + model.intercept_
    return d.ravel() if d.shape[1] == 1 else d


def _logistic_proba(model, X) -> np.ndarray:
    """``predict_proba`` of a fitted LogisticRegression (scikit-learn ≥ 1.8: the softmax of its margins, or the
    logistic of the one margin for two classes), without its per-call validation (tested against it)."""
    d = _linear_decision(model, np.asarray(X, dtype=np.float64) if not isinstance(X, _Row) else X)
    if len(model.classes_) <= 2:
        p = expit(d.ravel())
        return np.column_stack([1.0 - p, p])
    return _softmax(np.atleast_2d(d))


def _calibrated_proba(model, X) -> np.ndarray:
    """``predict_proba`` of a sigmoid-calibrated CalibratedClassifierCV over linear models, computed as sklearn
    does (each fold's per-class sigmoids, normalised, then averaged) without its validation; else the model's own."""
    if isinstance(model, _TemperatureSVM):   # its margins come from _linear_decision, which reads a _Row as it is
        return model.predict_proba(X)
    folds = getattr(model, "calibrated_classifiers_", None)
    if not folds or any(f.method != "sigmoid" or not hasattr(f.estimator, "coef_")
                        or not all(hasattr(c, "a_") for c in f.calibrators) for f in folds):
        return model.predict_proba(X.csr() if isinstance(X, _Row) else X)
    classes = model.classes_
    n = len(classes)
    total = np.zeros((X.shape[0], n))
    for fold in folds:
        d = _linear_decision(fold.estimator, X)
        d = d.reshape(-1, 1) if d.ndim == 1 else d
        cols = np.searchsorted(classes, fold.estimator.classes_)
        proba = np.zeros((X.shape[0], n))
        for j, (col, cal) in enumerate(zip(cols, fold.calibrators)):
            proba[:, col + 1 if n == 2 else col] = expit(-(cal.a_ * d[:, j] + cal.b_))
        if n == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            den = proba.sum(axis=1, keepdims=True)
            proba = np.divide(proba, den, out=np.full_like(proba, 1 / n), where=den != 0)
        total += proba
    return total / len(folds)


class _TemperatureSVM:
    """LinearSVC + softmax(scores / T), T fitted on out-of-fold scores by log-loss. Picklable."""

    def __init__(self, C: float, class_weight: str | None, folds: int) -> None:
        self.C, self.class_weight, self.folds = C, class_weight, folds
        self.svm = None
        self.temperature = 1.0

    @staticmethod
    def _scores(svm, X) -> np.ndarray:
        d = _linear_decision(svm, X)
        return np.column_stack([-d / 2, d / 2]) if d.ndim == 1 else d

    def fit(self, X, y) -> _TemperatureSVM:
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import LinearSVC

        y = np.asarray(y)
        self.svm = LinearSVC(C=self.C, class_weight=self.class_weight).fit(X, y)
        self.classes_ = self.svm.classes_
        oof = np.zeros((X.shape[0], len(self.classes_)))
        for tr, te in StratifiedKFold(self.folds, shuffle=True, random_state=0).split(X, y):
            fold = LinearSVC(C=self.C, class_weight=self.class_weight).fit(X[tr], y[tr])
            cols = np.searchsorted(self.classes_, fold.classes_)
            oof[np.ix_(te, cols)] = self._scores(fold, X[te])
        target = np.searchsorted(self.classes_, y)

        def nll(log_t: float) -> float:
            p = _softmax(oof / np.exp(log_t))
            return -float(np.mean(np.log(np.maximum(p[np.arange(len(y)), target], 1e-12))))

        self.temperature = float(np.exp(minimize_scalar(nll, bounds=(-5, 3), method="bounded").x))
        return self

    def predict_proba(self, X) -> np.ndarray:
        return _softmax(self._scores(self.svm, X) / self.temperature)


class _WordAnalyzer:
    """Picklable analyzer: normalised text → jieba words (stopwords dropped). The tokenizer is rebuilt on load."""

    def __init__(self, segmenter: Segmenter, ngrams: tuple[int, int] = (1, 1)) -> None:
        self.segmenter = segmenter
        self.ngrams = tuple(ngrams)

    def __call__(self, text: str) -> list[str]:
        words = self.segmenter.cut(text)
        out: list[str] = []
        for n in range(self.ngrams[0], self.ngrams[1] + 1):
            out.extend(words if n == 1 else ("_".join(words[i:i + n]) for i in range(len(words) - n + 1)))
        return out


def _text_tail(text: str, n: int) -> str:
    """The last ``n`` characters of ``text`` without trailing blanks."""
    return (text or "").rstrip()[-n:]


class TextClassifier:
    """``fit(texts, labels, vectors)``; ``predict(text or texts, vectors, k)`` → top-k ``{"label", "score"}``."""

    def __init__(self, config: ClassifierConfig | None = None, segmenter: Segmenter | None = None) -> None:
        self.config = config or ClassifierConfig()
        self.segmenter = segmenter or Segmenter()
        self.labels: list[str] = []
        self._char = None
        self._word = None
        self._model = None
        self._word_coef_cache = self._word_names_cache = None   # weighing_words' reading of the fitted model

    # -- features -------------------------------------------------------------------------------
    def _fit_lexical(self, texts: Sequence[str]) -> tuple[tuple, list]:
        """Char n-gram (and word n-gram) TF-IDF of one text field, fitted: (vectorizers, blocks)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        cfg = self.config
        char = TfidfVectorizer(analyzer="char", ngram_range=tuple(cfg.char_ngrams), sublinear_tf=True,
                               min_df=cfg.min_df, max_features=cfg.max_features, dtype=np.float32)
        blocks = [char.fit_transform(texts)]
        word = None
        if cfg.use_words:
            word = TfidfVectorizer(analyzer=_WordAnalyzer(self.segmenter, cfg.word_ngrams),
                                   sublinear_tf=True, min_df=cfg.min_df, dtype=np.float32)
            blocks.append(word.fit_transform(texts))
        return (char, word), blocks

    @staticmethod
    def _transform(vectorizers: tuple, texts: Sequence[str], single: bool = False) -> list:
        """The blocks of ``texts``; ``single`` (one letter on the request path): :class:`_Row` blocks, without
        sklearn's per-call validation (~1 ms a block) or scipy."""
        if single:
            return [_one_text_row(v, texts[0]) for v in vectorizers if v is not None]
        return [v.transform(texts) for v in vectorizers if v is not None]

    def _features(self, texts: Sequence[str], vectors: np.ndarray | None, fit: bool = False,
                  fields: Sequence[tuple[str, str]] | None = None,
                  prior: tuple[Sequence[str], Sequence[str]] | None = None):
        """The feature matrix of ``texts``; one text (not fitting): a :class:`_Row`."""
        cfg = self.config
        single = len(texts) == 1 and not fit
        dense = _Row.dense if single else sparse.csr_matrix
        blocks = []
        if fit:
            (self._char, self._word), whole = self._fit_lexical(texts)
            blocks.extend(whole)
            if cfg.prior_weight > 0:
                self._fit_prior(*prior)
        else:
            blocks.extend(self._transform((self._char, self._word), texts, single))
        if cfg.field_blocks:
            if fields is None:
                raise ValueError("this classifier reads title and body as fields: pass `fields=[(title, body), …]`")
            if len(fields) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(fields)} (title, body) fields")
            titles = [t or "" for t, _ in fields]
            bodies = [b or "" for _, b in fields]
            if fit:
                self._title_vec, title_blocks = self._fit_lexical(titles)
                self._body_vec, body_blocks = self._fit_lexical(bodies)
                blocks.extend(title_blocks + body_blocks)
            else:
                blocks.extend(self._transform(self._title_vec, titles, single)
                              + self._transform(self._body_vec, bodies, single))
        if cfg.tail_chars > 0:
            tails = [_text_tail(t, cfg.tail_chars) for t in texts]
            if fit:
                self._tail_vec, tail_blocks = self._fit_lexical(tails)
            else:
                tail_blocks = self._transform(self._tail_vec, tails, single)
            blocks.extend(b * cfg.tail_weight for b in tail_blocks)
        if cfg.embedding_weight > 0:
            if vectors is None:
                raise ValueError("this classifier uses sentence embeddings: pass `vectors` for the texts")
            vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
            if vectors.shape[0] != len(texts):
                raise ValueError(f"{len(texts)} texts but {vectors.shape[0]} vectors")
            # centre (e5 cosines bunch high) and scale to the weight of one TF-IDF block
            if fit:
                self._vec_mean = vectors.mean(axis=0)
            centred = vectors - self._vec_mean
            norms = np.linalg.norm(centred, axis=1, keepdims=True)
            centred = centred / np.maximum(norms, 1e-6)
            blocks.append(dense(centred * cfg.embedding_weight))
        if cfg.cues:
            from .type_cues import cue_features

            cue_fields = fields if fields is not None else [("", t) for t in texts]
            blocks.append(dense(cue_features(cfg.cues).transform(cue_fields) * cfg.cue_weight))
        if cfg.prior_weight > 0:
            blocks.append(dense(self._prior_scores(blocks[:2 if self._word is not None else 1], fit)))
        return _Row.hstack(blocks) if single else sparse.hstack(blocks).tocsr()

    def _fit_prior(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """The weak-label model, on the whole-text vectorizers fitted to the classifier's own texts."""
        from sklearn.svm import LinearSVC

        X = sparse.hstack(self._transform((self._char, self._word), list(texts))).tocsr()
        self._prior = LinearSVC(C=self.config.prior_C, class_weight="balanced").fit(X, list(labels))

    def _prior_scores(self, lexical_blocks: list, fit: bool) -> np.ndarray:
        if getattr(self, "_prior", None) is None:
            raise ValueError("prior_weight > 0 needs weakly labelled texts: fit(…, prior=(texts, labels))")
        X = (_Row.hstack(lexical_blocks) if isinstance(lexical_blocks[0], _Row)
             else sparse.hstack(lexical_blocks).tocsr())
        scores = _linear_decision(self._prior, X)
        if fit:
            self._prior_mean, self._prior_std = scores.mean(axis=0), np.maximum(scores.std(axis=0), 1e-6)
        return ((scores - self._prior_mean) / self._prior_std * self.config.prior_weight).astype(np.float32)

    # -- training and prediction ----------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[str], vectors: np.ndarray | None = None,
            fields: Sequence[tuple[str, str]] | None = None,
            prior: tuple[Sequence[str], Sequence[str]] | None = None) -> TextClassifier:
        """``prior=(texts, labels)``: weakly labelled texts for ``prior_weight`` (ignored when it is 0)."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if len(set(labels)) < 2:
            raise ValueError("need at least two labels to train a classifier")

        counts = Counter(labels)
        rare = {lab for lab, n in counts.items() if n < max(self.config.calibration_folds, 2)}
        if rare:  # too few examples to calibrate: such a label cannot be predicted honestly
            keep = [i for i, lab in enumerate(labels) if lab not in rare]
            texts = [texts[i] for i in keep]
            labels = [labels[i] for i in keep]
            vectors = vectors[keep] if vectors is not None else None
            fields = [fields[i] for i in keep] if fields is not None else None
            self.dropped_labels = sorted(rare)
        if self.config.prior_weight > 0 and (prior is None or len(prior[0]) != len(prior[1])
                                             or len(set(prior[1])) < 2):
            raise ValueError("prior_weight > 0 needs prior=(texts, labels) with two labels or more")
        X = self._features(list(texts), vectors, fit=True, fields=fields, prior=prior)
        if self.config.calibration == "temperature":
            self._model = _TemperatureSVM(self.config.C, self.config.class_weight, self.config.calibration_folds)
        elif self.config.calibration == "sigmoid":
            svm = LinearSVC(C=self.config.C, class_weight=self.config.class_weight)
            self._model = CalibratedClassifierCV(svm, method="sigmoid", cv=self.config.calibration_folds)
        else:
            raise ValueError(f"calibration must be 'sigmoid' or 'temperature', not {self.config.calibration!r}")
        self._model.fit(X, list(labels))
        self.labels = [str(c) for c in self._model.classes_]
        self._word_coef_cache = self._word_names_cache = None   # weighing_words reads the new model
        return self

    def predict_proba(self, texts: Sequence[str], vectors: np.ndarray | None = None,
                      fields: Sequence[tuple[str, str]] | None = None) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("the classifier is not trained; call fit() or load()")
        X = self._features(list(texts), vectors, fields=fields)
        proba = _calibrated_proba(self._model, X)
        if self.config.class_offsets:
            shift = np.array([self.config.class_offsets.get(label, 0.0) for label in self.labels])
            proba = _softmax(np.log(np.maximum(proba, 1e-12)) + shift)
        return proba

    def predict(self, texts: str | Sequence[str], vectors: np.ndarray | None = None, k: int = 3,
                fields: tuple[str, str] | Sequence[tuple[str, str]] | None = None):
        """Top-k labels; ``fields`` is one (title, body) for a single text, else one per text."""
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        if vectors is not None and single:
            vectors = np.atleast_2d(vectors)
        if fields is not None and single:
            fields = [tuple(fields)]
        proba = self.predict_proba(items, vectors, fields=fields)
        out = []
        for row in proba:
            order = np.argsort(-row)[:k]
            out.append([{"label": self.labels[i], "score": round(float(row[i]), 4)} for i in order])
        return out[0] if single else out

    def weighing_words(self, text: str, label: str, k: int = 4) -> list[str]:
        """The words of ``text`` that weigh most for ``label`` in the whole text's word block (TF-IDF value × the
        label's coefficient less the other labels' mean one, averaged over the model's linear folds), best first:
        single words of two characters or more, without digits, that raise the label and can name a topic
        (:func:`~triage.segment.names_a_topic`: no 三月, 至今, A市; a word pair's two words need not stand
        together in the letter, so pairs are not given). What a clerk reads as why a domain was suggested. Empty
        for a label the model does not know, or a model without a word block."""
        if self._word is None or label not in self.labels or not text:
            return []
        coef = self._word_coefficients()
        row = _one_text_row(self._word, text)
        if not len(row.cols):
            return []
        j = self.labels.index(label)
        others = np.delete(coef[:, row.cols], j, axis=0)
        # what the word says for this label over the others (their mean): a word every label weighs alike says nothing
        contribution = (coef[j, row.cols] - (others.mean(axis=0) if len(others) else 0.0)) * row.vals
        names = self._word_names()
        out: list[str] = []
        for i in np.argsort(-contribution, kind="stable"):
            if contribution[i] <= 0 or len(out) == k:
                break
            word = names[row.cols[i]]
            if ("_" not in word and len(word) >= 2 and not any(ch.isdigit() for ch in word) and word not in out
                    and names_a_topic(word)):
                out.append(word)
        return out

    def _word_coefficients(self) -> np.ndarray:
        """(labels × words) coefficients of the whole text's word block, in :attr:`labels` order, cached."""
        if self._word_coef_cache is not None:
            return self._word_coef_cache
        start = len(self._char.vocabulary_)
        width = len(self._word.vocabulary_)
        estimators = ([self._model.svm] if isinstance(self._model, _TemperatureSVM)
                      else [f.estimator for f in getattr(self._model, "calibrated_classifiers_", [])])
        coef = np.zeros((len(self.labels), width))
        for est in estimators:
            c = np.asarray(est.coef_)[:, start:start + width]
            classes = [str(x) for x in est.classes_]
            if c.shape[0] == 1:   # two classes: the row is the second one's, the first one's is its negative
                c = np.vstack([-c, c])
            for row, label in zip(c, classes):
                coef[self.labels.index(label)] += row / max(len(estimators), 1)
        self._word_coef_cache = coef
        return coef

    def _word_names(self) -> np.ndarray:
        if self._word_names_cache is None:
            self._word_names_cache = self._word.get_feature_names_out()
        return self._word_names_cache

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: Path, **manifest_fields) -> dict:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "model.pkl", "wb") as fh:
            pickle.dump({"char": self._char, "word": self._word, "model": self._model,
                         "vec_mean": getattr(self, "_vec_mean", None),
                         "title_vec": getattr(self, "_title_vec", None), "body_vec": getattr(self, "_body_vec", None),
                         "tail_vec": getattr(self, "_tail_vec", None),
                         "prior": getattr(self, "_prior", None), "prior_mean": getattr(self, "_prior_mean", None),
                         "prior_std": getattr(self, "_prior_std", None)},
                        fh, protocol=pickle.HIGHEST_PROTOCOL)
        (folder / "config.json").write_text(json.dumps(asdict(self.config), ensure_ascii=False, indent=2))
        return write_manifest(folder, "text-classifier", labels=self.labels, **manifest_fields)

    @classmethod
    def load(cls, folder: Path, segmenter: Segmenter | None = None) -> TextClassifier:
        folder = Path(folder)
        manifest = read_manifest(folder, "text-classifier")
        config = ClassifierConfig(**json.loads((folder / "config.json").read_text()))
        self = cls(config, segmenter)
        with open(folder / "model.pkl", "rb") as fh:  # our own artefact, written by save(); never from a request
            state = pickle.load(fh)
        self._char, self._word, self._model = state["char"], state["word"], state["model"]
        if state.get("vec_mean") is not None:
            self._vec_mean = state["vec_mean"]
        for vectorizers in ((self._word,), state.get("title_vec") or (), state.get("body_vec") or (),
                            state.get("tail_vec") or ()):
            for vec in vectorizers:
                if vec is not None and isinstance(vec.analyzer, _WordAnalyzer):
                    vec.analyzer.segmenter = self.segmenter
        if config.field_blocks:
            self._title_vec, self._body_vec = state["title_vec"], state["body_vec"]
        if config.tail_chars > 0:
            self._tail_vec = state["tail_vec"]
        if config.prior_weight > 0:
            self._prior, self._prior_mean, self._prior_std = state["prior"], state["prior_mean"], state["prior_std"]
        self.labels = list(manifest["labels"])
        self.manifest = manifest
        return self
