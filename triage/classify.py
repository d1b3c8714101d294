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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import sparse

from .artefact import read_manifest, write_manifest
from .segment import Segmenter


@dataclass
class ClassifierConfig:
    char_ngrams: tuple[int, int] = (1, 3)
    word_ngrams: tuple[int, int] = (1, 2)
    use_words: bool = True
    embedding_weight: float = 1.0  # 0 → lexical only
    C: float = 0.5
    calibration_folds: int = 3
    class_weight: str | None = None  # "balanced" for skewed label sets
    max_features: int = 400_000
    min_df: int = 2


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


class TextClassifier:
    """``fit(texts, labels, vectors)``; ``predict(text or texts, vectors, k)`` → top-k ``{"label", "score"}``."""

    def __init__(self, config: ClassifierConfig | None = None, segmenter: Segmenter | None = None) -> None:
        self.config = config or ClassifierConfig()
        self.segmenter = segmenter or Segmenter()
        self.labels: list[str] = []
        self._char = None
        self._word = None
        self._model = None

    # -- features -------------------------------------------------------------------------------
    def _features(self, texts: Sequence[str], vectors: np.ndarray | None, fit: bool = False):
        from sklearn.feature_extraction.text import TfidfVectorizer

        cfg = self.config
        blocks = []
        if fit:
            self._char = TfidfVectorizer(analyzer="char", ngram_range=tuple(cfg.char_ngrams), sublinear_tf=True,
                                         min_df=cfg.min_df, max_features=cfg.max_features, dtype=np.float32)
            blocks.append(self._char.fit_transform(texts))
            if cfg.use_words:
                self._word = TfidfVectorizer(analyzer=_WordAnalyzer(self.segmenter, cfg.word_ngrams),
                                             sublinear_tf=True, min_df=cfg.min_df, dtype=np.float32)
                blocks.append(self._word.fit_transform(texts))
        else:
            blocks.append(self._char.transform(texts))
            if self._word is not None:
                blocks.append(self._word.transform(texts))
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
            blocks.append(sparse.csr_matrix(centred * cfg.embedding_weight))
        return sparse.hstack(blocks).tocsr()

    # -- training and prediction ----------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[str], vectors: np.ndarray | None = None) -> "TextClassifier":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if len(set(labels)) < 2:
            raise ValueError("need at least two labels to train a classifier")
        from collections import Counter

        counts = Counter(labels)
        rare = {lab for lab, n in counts.items() if n < max(self.config.calibration_folds, 2)}
        if rare:  # too few examples to calibrate: such a label cannot be predicted honestly
            keep = [i for i, lab in enumerate(labels) if lab not in rare]
            texts = [texts[i] for i in keep]
            labels = [labels[i] for i in keep]
            vectors = vectors[keep] if vectors is not None else None
            self.dropped_labels = sorted(rare)
        X = self._features(list(texts), vectors, fit=True)
        svm = LinearSVC(C=self.config.C, class_weight=self.config.class_weight)
        self._model = CalibratedClassifierCV(svm, method="sigmoid", cv=self.config.calibration_folds)
        self._model.fit(X, list(labels))
        self.labels = [str(c) for c in self._model.classes_]
        return self

    def predict_proba(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("the classifier is not trained; call fit() or load()")
        X = self._features(list(texts), vectors)
        return self._model.predict_proba(X)

    def predict(self, texts: str | Sequence[str], vectors: np.ndarray | None = None, k: int = 3):
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        if vectors is not None and single:
            vectors = np.atleast_2d(vectors)
        proba = self.predict_proba(items, vectors)
        out = []
        for row in proba:
            order = np.argsort(-row)[:k]
            out.append([{"label": self.labels[i], "score": round(float(row[i]), 4)} for i in order])
        return out[0] if single else out

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: Path, **manifest_fields) -> dict:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "model.pkl", "wb") as fh:
            pickle.dump({"char": self._char, "word": self._word, "model": self._model,
                         "vec_mean": getattr(self, "_vec_mean", None)}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        (folder / "config.json").write_text(json.dumps(asdict(self.config), ensure_ascii=False, indent=2))
        return write_manifest(folder, "text-classifier", labels=self.labels, **manifest_fields)

    @classmethod
    def load(cls, folder: Path, segmenter: Segmenter | None = None) -> "TextClassifier":
        folder = Path(folder)
        manifest = read_manifest(folder, "text-classifier")
        config = ClassifierConfig(**json.loads((folder / "config.json").read_text()))
        self = cls(config, segmenter)
        with open(folder / "model.pkl", "rb") as fh:  # our own artefact, written by save(); never from a request
            state = pickle.load(fh)
        self._char, self._word, self._model = state["char"], state["word"], state["model"]
        if state.get("vec_mean") is not None:
            self._vec_mean = state["vec_mean"]
        if self._word is not None:
            self._word.analyzer.segmenter = self.segmenter
        self.labels = list(manifest["labels"])
        self.manifest = manifest
        return self
