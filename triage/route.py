"""Step: suggest the responsible department (属地管理 + 谁主管谁负责), with the evidence for each suggestion.

A :class:`Router` combines what a deployment knows:

* its **directory** (:class:`~triage.directory.Directory`) — which unit covers which place, and whose duties
  are which domains, types and keywords (cold start: usable before any history exists);
* its **history** of routed letters (``department`` filled), learned by :meth:`Router.fit_history`:
  which departments the places named in letters went to (so that with no directory at all a district or
  street name still routes to the sub-centre that handled it before), a text classifier over character
  n-grams (one for departments, one for department *roles* such as "<区>住建局", shared across districts),
  and the departments' frequencies;
* the **neighbours** the caller retrieved (similar stored cases and where they went).

Each candidate department gets a small feature vector (place evidence, learned place association, text
scores, neighbour votes, duty matches, prior); a conditional-logit model turns them into probabilities
over the candidates plus a "none of these" alternative, so scores are calibrated-ish and do not sum to 1
when the evidence is thin. Its weights are fitted on held-out history scored by models trained on the rest
(two folds on a small history; the latest 25% when dates exist on a large one), so they reflect how far
each signal can be trusted in this deployment; they are kept non-negative for positive clues, so a clue
never counts against the department it points to. Without enough history (``min_fit``), the documented
:data:`DEFAULT_WEIGHTS` are used.

Only departments the deployment knows (from its directory or history) are ever suggested; with neither,
:meth:`Router.route` returns ``[]``.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import hashlib
import json
import logging
import math
import platform
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .admin_areas import LocalAreas, NationalAreas
from .directory import Directory
from .duties import Duty, DutyLexicon
from .errors import ConfigError, InvalidInput, ModelMissing
from .normalise import normalise
from .places import Gazetteer, Place, PlaceConfig, extract_places, leading_places, level_rank, place_of_name
from .records import letter_location, letter_text
from .rerank import Trees, TreesConfig, out_of_fold

__all__ = ["Router", "RouterConfig", "FEATURES", "DEFAULT_WEIGHTS", "department_role", "department_places",
           "department_kind"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

FEATURES: tuple[str, ...] = (
    "text",          # direct text classifier: 1 / rank of this department
    "text_top",      # 1 if it is the classifier's first choice
    "role",          # role classifier ("<区>住建局"): 1 / rank of this department's role
    "place_name",    # a mentioned place is part of the department's own name (朝阳区 → 朝阳区分中心), by level
    "place_name_wide",  # … where that place is the deployment's prefecture or a province (长沙市 → 长沙市教育局)
    "place_assoc",   # share of earlier letters naming that place that went to this department
    "place_other",   # the letter names districts/counties, none of them this department's own
    "place_first",   # the first place the letter names that any department covers is this one's own
    "neighbours",    # score-weighted share of the similar cases that went to it
    "prior",         # log share of history
    "dir_place",     # the directory says it covers a mentioned place, by level
    "dir_keywords",  # directory keywords found in the text (0..1)
    "dir_domain",    # the letter's domain is among its duties
    "dir_type",      # the letter's type is among its duties
    "kind",          # kind model: probability that the letter goes to a department of this one's kind
    "text_kind",     # text classifier: 1 / rank of this department among the departments of its kind
    "duty_named",    # the letter names the department's duty word (交通运输局 → 交通运输: 1; its first two characters: 0.5)
    "duty_words",    # the letter speaks of what a unit of its kind does (物业, 开发商 → 住建局; corpora/duties.tsv): hits / 3
    "rerank",        # boosted trees over the clues above, fitted on this deployment's held-out history: their
    #                  log-odds that this is the department (triage/rerank.py; 0 without a fitted history)
)
_F = {name: i for i, name in enumerate(FEATURES)}
_CLUES = len(FEATURES) - 1   # the clues the trees read (all but their own)
# the trees may not lower a department's score for more of a clue that raises it in the linear model
_MONOTONE = [-1 if f == "place_other" else 0 if f == "prior" else 1 for f in FEATURES[:_CLUES]]

DEFAULT_WEIGHTS: dict[str, float] = {
    "text": 2.0, "text_top": 0.5, "role": 1.0, "place_name": 3.0, "place_name_wide": 3.0, "place_assoc": 4.0, "place_other": -1.5,
    "place_first": 0.5,
    "neighbours": 3.0, "prior": 0.3, "dir_place": 4.0, "dir_keywords": 3.0, "dir_domain": 1.5, "dir_type": 0.7,
    "kind": 1.0, "text_kind": 1.0, "duty_named": 0.0, "duty_words": 0.0, "rerank": 0.0, "__none__": 2.0,
}
"""Weights used until a deployment's history is large enough to fit its own (``RouterConfig.min_fit``).

``__none__`` is the logit of "none of the candidates": a unit with one keyword hit (logit 1.0) gets about
0.27, one covering the named district (0.7 × 4 = 2.8) about 0.69, both about 0.86 (when it is the only
candidate). A unit named after the place it covers (朝阳区分中心 covering 朝阳区) counts that once, as the
directory's clue, not again as its name's (with these weights only; a fitted history learns the overlap).
Conservative on purpose: a directory written on day one is a guess. ``duty_named`` starts at 0:
before any history the directory's own keywords say what a unit does; a fitted history decides its weight.
So does ``duty_words`` (the shipped lexicon of what each kind of unit does).
"""


@dataclass(frozen=True)
class RouterConfig:
    """Knobs of the router; the defaults are what the numbers in ``docs/routing.md`` were measured with."""

    max_chars: int = 300                # text the text heads read per letter (title + content)
    place_chars: int = 1500             # text searched for places and duty words (a ticket may give its
    #                                     address last)
    ngram_range: tuple[int, int] = (1, 3)
    max_features: int = 200_000
    min_df: int = 2
    C: float = 0.5                      # LinearSVC regularisation (small histories)
    alpha: float = 2e-5                 # SGD (hinge) regularisation of the text classifiers (large ones)
    epochs: int = 4
    n_jobs: int = 2
    min_classifier: int = 20            # fewer history letters: no text classifier
    min_fit: int = 120                  # fewer: default weights instead of fitted ones
    holdout_fraction: float = 0.25
    max_holdout: int = 1500             # letters the combination weights are fitted on
    max_partial: int = 2000             # letters the held-out stage's text models are trained on
    crossfit_below: int = 2000          # histories up to this size use two folds instead of one slice
    crossfit_repeats: int = 3           # ... that many times (the first by date when dates exist, then random)
    neighbour_k: int = 10               # simulated neighbours while fitting weights
    candidates: int = 10                # from the text classifier
    assoc_min_support: int = 2          # a place must appear this often in history to vote
    assoc_smoothing: float = 1.0
    l2: float = 0.002                   # ridge on the conditional-logit weights (features scaled to [-1, 1])
    svm_below: int = 100_000            # letters × departments below which the exact LinearSVC is used
    seed: int = 13
    kind_C: float = 4.0                 # logistic regularisation of the kind model (office vs duty unit)
    kind_min: int = 5                   # letters of the rarer kind needed before the kind model is fitted
    kind_candidates: int = 2            # best departments of each kind (by its own text head) always considered
    roads: bool = True                  # roads (X路) count as places for learned associations
    admin_areas: bool = True            # a street/town/community named without its district adds the district
    #                                     (the prefectures the history speaks of, from the national table)
    area_bare_names: bool = True        # ... and so does a town's bare name (星沙 for 星沙街道)
    duty_lexicon: bool = True           # the duties of a unit's kind (corpora/duties.tsv) as a clue (duty_words)
    wide_places: bool = True            # a named prefecture / province is its own feature (place_name_wide)
    named_district_wins: bool = True    # a street, town or village names no district when the letter itself
    #                                     names another of the deployment's districts (同名村: 高塘村 is in
    #                                     长沙县 by the table, but the letter says 宁乡市双江口镇)
    embedding_weight: float = 1.0       # the letters' sentence vectors, when given, beside the char n-grams of the
    #                                     text heads (scaled by this; 0: n-grams only)
    balanced: bool = False              # text and role heads weigh each department's letters inversely to its
    #                                     share: a bureau with few letters is not drowned by a big district
    max_history: int = 30_000           # the newest routed letters learnt from: fitting grows with the history
    #                                     (30,000 letters: ~70 s, 2.3 GB), and routing follows the latest practice
    rerank: bool = False                # boosted trees over the clues, fitted on the held-out history, as one more
    #                                     clue (rerank; session 20: docs/routing.md). Off: on a history whose
    #                                     letters all name streets it has seen, the trees learn to trust the text
    #                                     model over a place, and a letter naming an unseen street (read as its
    #                                     district through the national table) went to the text model's choice

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_fraction < 0.9:
            raise ConfigError("holdout_fraction must be in (0, 0.9)", field="holdout_fraction")
        if self.ngram_range[0] < 1 or self.ngram_range[1] < self.ngram_range[0]:
            raise ConfigError(f"ngram_range {self.ngram_range} is not (min, max) with 1 <= min <= max",
                              field="ngram_range")
        if self.max_chars < 20:
            raise ConfigError("max_chars below 20 leaves no text to read", field="max_chars")
        if self.max_history < 1:
            raise ConfigError("max_history must be at least 1", field="max_history")
        if self.place_chars < self.max_chars:
            raise ConfigError("place_chars below max_chars would search less text for places than the text heads "
                              "read", field="place_chars")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RouterConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            warnings.warn(f"RouterConfig: ignoring unknown keys {sorted(unknown)}", stacklevel=2)
        kwargs = {k: v for k, v in data.items() if k in known}
        if "ngram_range" in kwargs:
            kwargs["ngram_range"] = tuple(kwargs["ngram_range"])
        return cls(**kwargs)


# ------------------------------------------------------------------------------------------------
# department names → their places and roles

def department_places(name: str) -> list[Place]:
    """Places named inside a department's name: "A3区住建局" → [A3区]; "朝阳区分中心" → [朝阳区]; "宁乡区住建局" →
    [宁乡区] (the places the name begins with, :func:`~triage.places.leading_places`, read real names that the
    free-text extractor misses), in order of position."""
    skip = m.end() if (m := _COMPANY_PREFIX.match(name)) else 0     # 国网北京市电力公司: 北京市, not 国网北京市

    def shifted(places: list[Place]) -> list[Place]:   # spans in ``name``, not in what follows the company
        return [p._replace(span=(p.span[0] + skip, p.span[1] + skip)) for p in places]

    found = {p.span: p for p in shifted(extract_places(name[skip:], config=PlaceConfig(roads=False))) if p.level in
             ("省", "市", "区", "县", "旗", "街道", "镇", "乡", "村", "社区")}
    for p in shifted(leading_places(name[skip:])):
        if not any(s < p.span[1] and p.span[0] < e for s, e in found):
            found[p.span] = p
        elif p.span not in found:   # the leading chain's reading wins where the two overlap (东乡区, not 东乡)
            found = {span: q for span, q in found.items() if not (span[0] < p.span[1] and p.span[0] < span[1])}
            found[p.span] = p
    return [found[span] for span in sorted(found)]


def department_role(name: str) -> str:
    """The department with its places replaced by their levels: "A3区住建局" → "<区>住建局".

    Departments sharing a role (every district's 住建局, every district sub-centre) share what the text
    classifier learns about their kind of matter; the place then says which one.
    """
    out, pos = [], 0
    for p in department_places(name):
        s, e = p.span
        out.append(name[pos:s])
        out.append(f"<{p.level}>")
        pos = e
    out.append(name[pos:])
    return "".join(out)


# what an office of a place is called besides the place (海淀区12345热线分中心, 经开区管委会, 朝阳区人民政府)
_OFFICE_WORDS = re.compile(r"分中心|人民政府|政府|街道办事处|办事处|街道办|服务中心|中心|管理委员会|管委会|12345|热线|工作站")


def department_kind(name: str) -> str:
    """``"office"`` for a department that *is* a place's office (A7县, 朝阳区分中心, 洞井街道办事处, A市), so that
    which one is a question of where; ``"unit"`` for one defined by its duty (市住建局, A3区教育局, 市公交集团).

    The first routing decision is between these two kinds: a letter naming 朝阳区 may still be about a bus
    line (市交通运输局); the kind model learns from the wording which kind of department a matter goes to.
    """
    role = department_role(name)
    rest = _OFFICE_WORDS.sub("", re.sub(r"<[^>]*>", "", role)).strip()
    return "office" if "<" in role and not rest else "unit"


_UNIT_SUFFIX = re.compile(r"(?:管理局|管理处|管理所|管理中心|委员会|(?:股份)?有限(?:责任)?公司|总公司|分公司|公司|集团|支队|大队"
                          r"|中队|办公室|分局|局|厅|委|办|中心|所|站|院)$")
_BODY_SUFFIX = re.compile(r"(?:有限公司|公司|集团|局|厅|委|办|中心|所|站|院)$")   # the kind of body alone
# national companies' names begin with the company, not the duty: 中国电信福州分公司 is 电信, 国网福州供电公司 供电
_COMPANY_PREFIX = re.compile(r"^(?:中国(?=移动|联通|电信|邮政|铁塔)|国网|国家电网|南方电网|中国石化|中国石油)")
# two-character openings too common in letters to stand for a duty (城市管理 → 城市, 行政审批 → 行政)
_GENERIC_OPENINGS = frozenset("城市 行政 中国 国家 综合 管理 服务 发展 公共 社会 人民 市民 地方".split())


@functools.lru_cache(maxsize=1)
def _bare_place_names() -> frozenset[str]:
    """Province and prefecture names without their level (福建, 合肥), from the table of areas (county names are
    words too often: 安定, 新民, 温泉)."""
    try:
        return frozenset(NationalAreas.load().bare)
    except ModelMissing:
        return frozenset()


def _strip_bare_places(core: str) -> str:
    """合肥供水 → 供水, 中国电信合肥 → 中国电信: a place written without its level (a unit's name often opens or ends
    with its city's bare name) is no part of its duty; a core that is nothing but a place name stays (公安)."""
    bare = _bare_place_names()
    for n in (3, 2):
        if len(core) - n >= 2 and core[:n] in bare:
            core = core[n:]
            break
    for n in (3, 2):
        if len(core) - n >= 2 and core[-n:] in bare:
            core = core[:-n]
            break
    return core


def department_duty(name: str) -> str:
    """The duty word of a unit's name: its role without places and the kind of body (A市交通运输局 → 交通运输,
    市公安局 → 公安, A市公积金中心 → 公积金, 合肥供水集团 → 供水, 国网福州供电公司 → 供电); "" for offices of a
    place (A7县, 朝阳区分中心)."""
    if department_kind(name) == "office":
        return ""
    core = re.sub(r"<[^>]*>", "", department_role(name))
    core = re.sub(r"^[市区县](?!场)", "", core)   # 市住建局: the bare level prefix is no duty (市场监管局 keeps it)
    core = _COMPANY_PREFIX.sub("", core)
    duty = _UNIT_SUFFIX.sub("", core)
    if duty in _GENERIC_OPENINGS:      # 城市管理局: 管理 is part of the duty here
        duty = _BODY_SUFFIX.sub("", core)
    duty = _strip_bare_places(duty)
    return duty if len(duty) >= 2 else ""


def duty_hit(duty: str, text: str) -> str:
    """What of a unit's duty word a letter names: the whole word, else its first two characters when they are no
    word every other letter uses (交通运输 → 交通; not 城市管理 → 城市); "" when neither."""
    if duty and duty in text:
        return duty
    if len(duty) > 2 and duty[:2] not in _GENERIC_OPENINGS and duty[:2] in text:
        return duty[:2]
    return ""


# ------------------------------------------------------------------------------------------------
# text features: char n-gram TF-IDF with a fixed vocabulary (saved as JSON + numpy, no pickle)

class _Vectoriser:
    """Char n-grams hashed into 2**20 buckets; the buckets seen in ``min_df`` letters are kept (saved as an
    index array with their idf, so nothing but numbers is stored)."""

    N_FEATURES = 2 ** 20

    def __init__(self, keep: np.ndarray, idf: np.ndarray, ngram_range: tuple[int, int]) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.keep = np.asarray(keep, dtype=np.int64)
        self.idf = np.asarray(idf, dtype=np.float32)
        self._col = np.full(self.N_FEATURES, -1, dtype=np.int64)
        self._col[self.keep] = np.arange(len(self.keep))
        self.ngram_range = tuple(int(x) for x in ngram_range)
        self._hasher = HashingVectorizer(analyzer="char", ngram_range=self.ngram_range, n_features=self.N_FEATURES,
                                         alternate_sign=False, norm=None, lowercase=False, dtype=np.float32)

    @classmethod
    def fit(cls, texts: Sequence[str], config: RouterConfig) -> tuple["_Vectoriser", Any]:
        probe = cls(np.arange(0), np.zeros(0), config.ngram_range)
        H = probe._hasher.transform(texts).tocsr()
        df = np.bincount(H.indices, minlength=H.shape[1])
        min_df = config.min_df if (df >= config.min_df).sum() > 0 else 1
        keep = np.flatnonzero(df >= min_df)
        if len(keep) > config.max_features:
            keep = np.sort(keep[np.argsort(-df[keep], kind="stable")[: config.max_features]])
        n = len(texts)
        idf = (np.log((1.0 + n) / (1.0 + df[keep])) + 1.0).astype(np.float32)
        vec = cls(keep, idf, config.ngram_range)
        return vec, vec._weigh(vec._select(H))

    def _select(self, H):
        """Keep the retained buckets, renumbered (fast: an index map instead of fancy column indexing)."""
        import scipy.sparse as sp

        H = H.tocsr()
        cols = self._col[H.indices]
        ok = cols >= 0
        row_of = np.repeat(np.arange(H.shape[0]), np.diff(H.indptr))
        return sp.csr_matrix((H.data[ok], (row_of[ok], cols[ok])), shape=(H.shape[0], len(self.keep)),
                             dtype=np.float32)

    def _weigh(self, C):
        from sklearn.preprocessing import normalize

        C = C.tocsr().astype(np.float32)
        C.data = 1.0 + np.log(C.data)
        C = C.multiply(self.idf[np.newaxis, :]).tocsr()
        return normalize(C, norm="l2", copy=False)

    def transform(self, texts: Sequence[str]):
        return self._weigh(self._select(self._hasher.transform(texts)))


@dataclass
class _Linear:
    """A linear text head: decision = X @ coef.T + intercept (hinge loss, one-vs-rest; LinearSVC, or SGD
    when the history is large)."""

    classes: list[str]
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, X, labels: Sequence[str], config: RouterConfig, logistic: bool = False) -> "_Linear | None":
        from sklearn.linear_model import LogisticRegression, SGDClassifier
        from sklearn.svm import LinearSVC

        classes = sorted(set(labels))
        if len(classes) < 2:
            return None
        if logistic:   # probabilities wanted (the kind model): balanced so a rare kind is not drowned out
            clf = LogisticRegression(C=config.kind_C, class_weight="balanced", max_iter=500)
        elif X.shape[0] * len(classes) < config.svm_below:
            clf = LinearSVC(C=config.C, random_state=config.seed,
                            class_weight="balanced" if config.balanced else None)
        else:   # large histories: SGD on the same hinge loss, a few epochs, one-vs-rest in parallel
            clf = SGDClassifier(loss="hinge", alpha=config.alpha, max_iter=config.epochs, tol=None,
                                random_state=config.seed, n_jobs=config.n_jobs,
                                class_weight="balanced" if config.balanced else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, labels)
        coef = clf.coef_.astype(np.float32)
        intercept = np.atleast_1d(clf.intercept_).astype(np.float32)
        if len(classes) == 2:   # binary: one row, positive class = classes[1]
            coef = np.vstack([-coef[0], coef[0]])
            intercept = np.array([-intercept[0], intercept[0]], dtype=np.float32)
        return cls([str(c) for c in clf.classes_], coef, intercept)

    def __post_init__(self) -> None:
        self._coef_t = np.ascontiguousarray(np.asarray(self.coef, dtype=np.float32).T)

    def decision(self, X) -> np.ndarray:
        return np.asarray(X @ self._coef_t) + self.intercept[np.newaxis, :]

    def proba(self, X) -> dict[str, float]:
        """Class probabilities of one row (logistic heads: binary = sigmoid of the positive row)."""
        dec = self.decision(X)[0]
        if len(self.classes) == 2:
            p1 = 1.0 / (1.0 + math.exp(-float(dec[1])))
            return {self.classes[0]: 1.0 - p1, self.classes[1]: p1}
        e = np.exp(dec - dec.max())
        return {c: float(v) for c, v in zip(self.classes, e / e.sum())}


# ------------------------------------------------------------------------------------------------

@dataclass
class _History:
    """What was learned from routed history: counts and text heads (all plain data)."""

    n: int = 0
    dept_counts: dict[str, int] = field(default_factory=dict)
    place_counts: dict[str, int] = field(default_factory=dict)
    place_dept: dict[str, dict[str, int]] = field(default_factory=dict)
    vectoriser: _Vectoriser | None = None
    dense_dim: int = 0                  # width of the sentence vectors the text heads read after the n-grams
    text: _Linear | None = None
    role: _Linear | None = None
    kind: _Linear | None = None


@dataclass
class _Candidate:
    name: str
    f: np.ndarray
    evidence: dict[str, str] = field(default_factory=dict)


def _letter_text(letter: dict, max_chars: int) -> str:
    title = str(letter.get("title") or "").strip()
    content = str(letter.get("content") or "").strip()
    text = letter_text(title, content)
    return normalise(text)[:max_chars] if text else ""


class Router:
    """Suggests departments for letters. See the module docstring for how the signals combine.

    >>> Router().route({"content": "朝阳区某小区噪音"})
    []
    """

    def __init__(self, directory: Directory | None = None, config: RouterConfig | None = None) -> None:
        if directory is not None and not isinstance(directory, Directory):
            raise ConfigError(f"directory must be a triage.directory.Directory, got {type(directory).__name__}")
        self.config = config or RouterConfig()
        self._directory = directory
        self._history = _History()
        self._weights: dict[str, dict[str, float]] = {"plain": dict(DEFAULT_WEIGHTS),
                                                      "neighbours": dict(DEFAULT_WEIGHTS)}
        self._fitted_weights = False
        self._rerank: dict[str, Trees | None] = {}   # "plain" / "neighbours", as the weights
        self._gazetteer_cache: Gazetteer | None = None
        self._areas: LocalAreas | None = None
        self._dept_places: dict[str, list[Place]] = {}
        self._dept_roles: dict[str, str] = {}
        self.metrics: dict[str, Any] = {}
        self.data_hash: str | None = None
        self._areas_note = ""
        self._areas = self._directory_areas()
        self._refresh_departments()

    # -- state helpers ---------------------------------------------------------------------------

    @property
    def directory(self) -> Directory | None:
        """The deployment's directory; assigning a new one refreshes what depends on it (no refit needed
        for place and duty matching; history names are folded into the new aliases at the next fit)."""
        return self._directory

    @directory.setter
    def directory(self, value: Directory | None) -> None:
        if value is not None and not isinstance(value, Directory):
            raise ConfigError(f"directory must be a triage.directory.Directory, got {type(value).__name__}")
        self._directory = value
        if hasattr(self, "_history"):
            if not self._history.n:   # no history yet: the directory says which prefectures
                self._areas = self._directory_areas()
            self._refresh_departments()

    @property
    def departments(self) -> list[str]:
        """Every department this router may suggest (directory units, then history departments by frequency)."""
        return list(self._departments)

    def _refresh_departments(self) -> None:
        names = [u.name for u in self.directory] if self.directory is not None else []
        seen = set(names)
        for d in sorted(self._history.dept_counts, key=lambda d: (-self._history.dept_counts[d], d)):
            if d not in seen:
                names.append(d)
                seen.add(d)
        self._departments = names
        self._dept_places = {d: department_places(d) for d in self.departments}
        self._dept_roles = {d: department_role(d) for d in self.departments}
        self._dept_kinds = {d: department_kind(d) for d in self.departments}
        self._dept_duties = {d: department_duty(d) for d in self.departments}
        lexicon = DutyLexicon.load() if self.config.duty_lexicon else None
        self._dept_lexicon = {d: duty for d in self.departments if lexicon is not None and self._dept_kinds[d] == "unit"
                              for duty in [lexicon.of(d)] if duty is not None}
        # place → departments whose own name holds it (and the reverse look-up by department)
        self._place_owners: dict[str, set[str]] = collections.defaultdict(set)
        self._own_places: dict[str, set[str]] = {d: {p.name for p in ps} for d, ps in self._dept_places.items()}
        for d, places in self._dept_places.items():
            for p in places:
                self._place_owners[p.name].add(d)
        gaz = self.directory.gazetteer() if self.directory else Gazetteer()
        for places in self._dept_places.values():
            for p in places:
                gaz.add(p.name, p.level)
        for place, n in self._history.place_counts.items():
            if n >= self.config.assoc_min_support and len(place) >= 3:
                gaz.add(place)
        if self._areas is not None:   # the deployment's real districts, read whole (宁乡市, 靖州苗族侗族自治县)
            for county in self._areas.counties:
                gaz.add(county)
        self._gazetteer_cache = gaz

    def _canonical(self, name: str | None) -> str | None:
        if not name or not str(name).strip():
            return None
        name = " ".join(str(name).split())
        if self.directory is not None:
            return self.directory.canonical(name) or name
        return name

    def _places(self, letter: dict, text: str) -> list[Place]:
        """Places of the text, then of the letter's place fields (``region``, then where the matter is)."""
        config = PlaceConfig(roads=self.config.roads)
        found = extract_places(text, region=letter.get("region"), gazetteer=self._gazetteer_cache, config=config)
        location = letter_location(letter)
        if location:
            found += extract_places("", region=location, gazetteer=self._gazetteer_cache, config=config)
        return found

    # -- training --------------------------------------------------------------------------------

    def fit_history(self, letters: Iterable[dict], vectors: np.ndarray | None = None) -> "Router":
        """Learn from history letters that carry a ``department``; others are ignored. Returns ``self``.

        Replaces what an earlier call learned (call it again with the whole history after each import).
        Fits place→department associations, the text classifiers and — with at least
        ``config.min_fit`` letters — the weights that combine the signals, on a held-out slice.
        ``vectors`` (one sentence vector per letter, in order) join the char n-grams of the text heads
        (``config.embedding_weight``); :meth:`route` then wants the letter's vector from the same embedder.
        Letters come oldest first; only the last ``config.max_history`` routed ones are learnt from.
        """
        cfg = self.config
        letters = list(letters)
        if vectors is not None:
            vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
            if len(vectors) != len(letters):
                raise InvalidInput(f"{len(vectors)} vectors for {len(letters)} history letters")
        rows, kept = [], []
        for i, letter in enumerate(letters):
            if not isinstance(letter, dict):
                raise InvalidInput(f"history letters must be dicts, got {type(letter).__name__}")
            dept = self._canonical(letter.get("department"))
            text = _letter_text(letter, cfg.place_chars)
            if dept and text:
                rows.append((letter, text, dept))
                kept.append(i)
        rows, kept = rows[-cfg.max_history:], kept[-cfg.max_history:]   # the newest (history comes oldest first)
        self._history = _History()
        self._weights = {"plain": dict(DEFAULT_WEIGHTS), "neighbours": dict(DEFAULT_WEIGHTS)}
        self._fitted_weights = False
        self._rerank = {}
        self.metrics = {}
        self.data_hash = _hash_rows(rows)
        if not rows:
            self._areas = self._directory_areas()
            self._refresh_departments()
            return self

        n = len(rows)
        texts = [t[: cfg.max_chars] for _, t, _ in rows]
        depts = [d for _, _, d in rows]
        # places with the pattern extractor only (the learned gazetteer comes from these)
        self._history.dept_counts = dict(collections.Counter(depts))
        self._areas, self._areas_note = None, ""
        self._refresh_departments()
        place_sets = [self._letter_place_names(letter, text) for letter, text, _ in rows]
        if cfg.admin_areas:
            self._areas = self._local_areas(place_sets) or self._directory_areas()
            if self._areas is not None:
                self._refresh_departments()
                place_sets = [self._letter_place_names(letter, text) for letter, text, _ in rows]
        # what the learned place association counts: a district inferred from a street is no mention of it (the
        # text model already knows the streets history names; counting them again shifted weight from the text
        # to places, measured). Once here, not in every fold's _learn
        assoc_sets = [[p for p in names if p not in self._inferred(names, text)]
                      for names, (_, text, _) in zip(place_sets, rows)]

        vec, X = _Vectoriser.fit(texts, cfg) if n >= cfg.min_classifier else (None, None)
        dense_dim = 0
        if X is not None and vectors is not None and cfg.embedding_weight > 0:
            import scipy.sparse as sp

            dense_dim = vectors.shape[1]
            X = sp.hstack([X, sp.csr_matrix(vectors[kept] * cfg.embedding_weight)], format="csr")

        if n >= cfg.min_fit and len(set(depts)) >= 2:
            # Held-out slices: on a small history, two folds (each half scored by models of the other
            # half) so that the weights see every letter; on a large one, the latest slice only.
            order = _holdout_order(rows, cfg.seed)
            if n <= cfg.crossfit_below:
                half = n // 2
                folds = []
                for r in range(cfg.crossfit_repeats):   # more halvings, random ones, steady the weights
                    o = order if r == 0 else [int(i) for i in np.random.default_rng(cfg.seed + r).permutation(n)]
                    folds += [(o[:half], o[half:]), (o[half:], o[:half])]
            else:
                n_hold = min(int(n * cfg.holdout_fraction), cfg.max_holdout)
                folds = [(order[:n_hold], order[n_hold:])]
            cand_plain, cand_neigh, targets = [], [], []
            for hold, train in folds:
                if len(train) > cfg.max_partial:   # keeps fitting fast on large histories
                    train = sorted(np.random.default_rng(cfg.seed).choice(train, cfg.max_partial,
                                                                          replace=False).tolist())
                self._history = self._learn(rows, assoc_sets, X, vec, train, dense_dim)
                self._refresh_departments()
                neigh = _simulated_neighbours(X, train, hold, depts, cfg.neighbour_k)
                for j, i in enumerate(hold):
                    letter, text, dept = rows[i]
                    xi = X[i] if X is not None else None
                    cand_plain.append(self._candidates(letter, text, xi, place_sets[i], None, None, None))
                    cand_neigh.append(self._candidates(letter, text, xi, place_sets[i], None, None, neigh[j]))
                    targets.append(dept)
            if cfg.rerank:   # the trees' out-of-fold log-odds become the rerank clue the weights are fitted with
                self._rerank = {"plain": _fit_rerank(cand_plain, targets, cfg.seed),
                                "neighbours": _fit_rerank(cand_neigh, targets, cfg.seed)}
            self._weights["plain"] = _fit_clogit(cand_plain, targets, cfg.l2)
            self._weights["neighbours"] = _fit_clogit(cand_neigh, targets, cfg.l2)
            self._fitted_weights = True
            self.metrics = {
                "holdout_letters": len({i for hold, _ in folds for i in hold}),
                "holdout_rows": len(targets),   # held-out letters × halvings (crossfit_repeats)
                "holdout_top1": _topk(self._weights["plain"], cand_plain, targets, 1),
                "holdout_top3": _topk(self._weights["plain"], cand_plain, targets, 3),
                "holdout_top1_with_neighbours": _topk(self._weights["neighbours"], cand_neigh, targets, 1),
                "holdout_top3_with_neighbours": _topk(self._weights["neighbours"], cand_neigh, targets, 3),
            }
        self._history = self._learn(rows, assoc_sets, X, vec, list(range(n)), dense_dim)
        self._refresh_departments()
        if cfg.admin_areas:
            a = self._areas
            self.metrics["admin_areas"] = (
                {"prefectures": a.prefectures, "counties": len(a.counties), "names": len(a.areas) + len(a.bare)}
                if a is not None else self._areas_note)
        return self

    def _directory_places(self) -> set[str]:
        if self.directory is None:
            return set()
        names = {place_of_name(p)[0] for unit in self.directory for p in unit.places}
        return names | {p.name for unit in self.directory for p in department_places(unit.name)}

    def _directory_areas(self) -> LocalAreas | None:
        """Cold start: the areas of the prefectures the directory's places lie in (two names that agree suffice:
        a directory is written by the deployment, not guessed from letters)."""
        if self.directory is None or not self.config.admin_areas:
            return None
        return self._local_areas([], min_letters=2)

    def _local_areas(self, place_sets: list[list[str]], min_letters: int = 5) -> LocalAreas | None:
        """The deployment's towns, villages and communities with their districts, for the prefectures its
        history (and directory) names (see :mod:`triage.admin_areas`); None when they name none or there is no
        table."""
        mentions: collections.Counter = collections.Counter()
        for names in place_sets:
            mentions.update(set(names))
        for d in self._history.dept_counts:
            mentions.update({p.name for p in department_places(d)})
        mentions.update(self._directory_places())
        if not mentions:
            return None
        try:
            national = NationalAreas.load()
        except ModelMissing as exc:
            log.warning("routing without administrative areas: %s", exc)
            self._areas_note = "unavailable: no table of administrative areas"
            return None
        prefectures = national.prefectures_of(mentions, min_letters=min_letters)
        if not prefectures:
            self._areas_note = "none: the history names no prefecture's streets, towns or districts"
            return None
        local = national.local(prefectures)
        if not self.config.area_bare_names:
            local.bare = {k: v for k, v in local.bare.items() if v in local.counties}   # counties' bare names only
        return local

    def _letter_place_names(self, letter: dict, text: str) -> list[str]:
        """Distinct place names, region first, then in order of first mention; a street, town or community
        of the deployment's areas is followed by its district (洞井街道 → 洞井街道, 雨花区)."""
        places = self._places(letter, text)
        ordered = [(-1.0, p.name) for p in places if p.span is None]
        ordered += [(float(p.span[0]), p.name) for p in places if p.span is not None]
        areas = self._areas
        if areas is not None:
            fields = [str(letter.get("region") or ""), letter_location(letter)]
            # a name found inside a longer place the letter names is part of that name (塘市 in 岳塘市)
            # — unless the longer name is nothing but the deployment's own names run together (浏阳大瑶镇: a
            # county's bare name, then its town)
            spans = [p.span for p in places if p.span is not None and not areas.tiles(text[p.span[0]:p.span[1]])]
            hits = [(float(h.span[0]), text, h) for h in areas.find(text)
                    if not any(s <= h.span[0] and h.span[1] <= e and (s, e) != h.span for s, e in spans)]
            hits += [(-1.0, field, h) for field in fields for h in areas.find(field)]
            # the deployment's districts the letter names itself: one of them wins over a district inferred
            named: set[str] = set()
            if self.config.named_district_wins:
                counties = set(areas.counties)
                named = {name for _, name in ordered if name in counties}
                # a county's bare name (浏阳 for 浏阳市) is the county named, not inferred
                named |= {h.county for _, source, h in hits if h.county.startswith(source[h.span[0]:h.span[1]])}
            for pos, source, h in hits:
                # the words as written: a town's bare name (星沙) is no mention of its street office (星沙街道),
                # which a directory or history may hold as a unit of its own; only its district is inferred
                ordered.append((pos, source[h.span[0]:h.span[1]]))
                if not named or h.county in named:
                    ordered.append((pos + 0.5, h.county))
            for pos, name in list(ordered):
                county = areas.areas.get(name)   # a full name the pattern extractor found (洞井街道)
                if county and (not named or county in named):
                    ordered.append((pos + 0.5, county))
            ordered.sort(key=lambda pn: pn[0])
        return list(dict.fromkeys(name for _, name in ordered))

    def _inferred(self, places: list[str], text: str) -> dict[str, str]:
        """District → the first named place it was inferred from, for the districts a letter does not name."""
        if self._areas is None:
            return {}
        via: dict[str, str] = {}
        for p in places:
            county = self._areas.county_of(p)
            if county and county != p and county not in text:
                via.setdefault(county, p)
        return via

    def _learn(self, rows, place_sets, X, vec, idx: list[int], dense_dim: int = 0) -> _History:
        cfg = self.config
        h = _History(n=len(idx), vectoriser=vec, dense_dim=dense_dim)
        depts = [rows[i][2] for i in idx]
        h.dept_counts = dict(collections.Counter(depts))
        pc: collections.Counter = collections.Counter()
        pd: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for i in idx:
            for p in place_sets[i]:
                pc[p] += 1
                pd[p][rows[i][2]] += 1
        keep = sorted(p for p, c in pc.items() if c >= cfg.assoc_min_support)   # sorted: same order every run
        h.place_counts = {p: pc[p] for p in keep}
        h.place_dept = {p: dict(pd[p]) for p in keep}
        if X is not None and len(idx) >= cfg.min_classifier:
            Xi = X[idx]
            h.text = _Linear.fit(Xi, depts, cfg)
            roles = [department_role(d) for d in depts]
            if len(set(roles)) < len(set(depts)):
                h.role = _Linear.fit(Xi, roles, cfg)
            kinds = [department_kind(d) for d in depts]
            if min(collections.Counter(kinds).get(k, 0) for k in ("office", "unit")) >= cfg.kind_min:
                h.kind = _Linear.fit(Xi, kinds, cfg, logistic=True)
        return h

    # -- suggesting ------------------------------------------------------------------------------

    def route(self, letter: dict, *, domain: str | None = None, type: str | None = None,
              neighbours: list[dict] | None = None, k: int = 3, vector: np.ndarray | None = None) -> list[dict]:
        """Top ``k`` departments for one letter: ``[{"name", "score", "evidence": [...]}, ...]``, best first.

        ``domain`` / ``type`` (e.g. from the classifier) feed duty matching against the directory;
        ``neighbours`` are similar stored cases ``[{"case_id", "score", "department"}]``; ``vector`` is the
        letter's sentence vector, read when the history was fitted with vectors (without it the text heads read
        the n-grams alone). Returns ``[]`` when the router knows no department (no directory, no history) or
        finds no evidence at all.
        """
        if not isinstance(letter, dict):
            raise InvalidInput(f"a letter must be a dict, got {letter.__class__.__name__}")
        if k < 1:
            return []
        if not self._departments:
            return []
        text = _letter_text(letter, self.config.place_chars)
        if not text and not str(letter.get("region") or "").strip() and not letter_location(letter):
            return []
        h = self._history
        xi = self._text_row(text, vector)
        places = self._letter_place_names(letter, text)
        votes = _neighbour_votes(neighbours, self._canonical)
        cands = self._candidates(letter, text, xi, places, domain, type, votes or None,
                                 default_weights=not self._fitted_weights)
        if not cands:
            return []
        weights = self._weights["neighbours" if votes else "plain"]
        trees = self._rerank.get("neighbours" if votes else "plain")
        if trees is not None:
            scores = trees.decision(_matrix(cands)[:, :_CLUES])
            for c, v in zip(cands, scores):
                c.f[_F["rerank"]] = v
        probs, contrib = _score(weights, cands)
        order = _rank(probs, cands, h.dept_counts)[:k]
        out = []
        for j in order:
            c = cands[j]
            # what raised the score first, then clues this deployment's weights do not count (shown, not hidden)
            ev = [c.evidence[f] for f in sorted(c.evidence, key=lambda f: -contrib[j][_F[f]])
                  if contrib[j][_F[f]] > 0 or (contrib[j][_F[f]] == 0 and c.f[_F[f]] > 0)]
            if not ev:
                ev = [next(iter(c.evidence.values()))] if c.evidence else [f"known department {c.name}"]
            ev = [e for e in ev if e + " (directory)" not in ev]   # the directory already says it
            out.append({"name": c.name, "score": round(float(probs[j]), 4), "evidence": ev})
        return out

    def _text_row(self, text: str, vector: np.ndarray | None):
        """What the text heads read of one letter: its char n-grams, then its sentence vector when they learnt one."""
        h = self._history
        if h.vectoriser is None or not text:
            return None
        x = h.vectoriser.transform([text[: self.config.max_chars]])
        if not h.dense_dim:
            return x
        import scipy.sparse as sp

        v = np.zeros(h.dense_dim, dtype=np.float32)
        if vector is not None:
            vector = np.asarray(vector, dtype=np.float32).ravel()
            if vector.shape[0] != h.dense_dim:
                raise InvalidInput(f"a {vector.shape[0]}-dimensional vector for a router fitted on "
                                   f"{h.dense_dim}-dimensional ones (another embedder?)")
            v = vector * self.config.embedding_weight
        return sp.hstack([x, sp.csr_matrix(v[np.newaxis, :])], format="csr")

    def _kind(self, d: str) -> str:
        """:func:`department_kind` of a department, from the table made when the router was fitted (computing it
        again for every department of every letter took 40% of a suggestion's routing)."""
        kind = self._dept_kinds.get(d)
        return kind if kind is not None else department_kind(d)

    def route_many(self, letters: Sequence[dict], **kwargs) -> list[list[dict]]:
        """:meth:`route` for each letter (``neighbours`` and ``vectors`` then must be one per letter, or absent)."""
        neighbours = kwargs.pop("neighbours", None)
        vectors = kwargs.pop("vectors", None)
        return [self.route(l, neighbours=(neighbours[i] if neighbours else None),
                           vector=(vectors[i] if vectors is not None else None), **kwargs)
                for i, l in enumerate(letters)]

    def _candidates(self, letter: dict, text: str, xi, places: list[str], domain: str | None,
                    type_: str | None, votes: dict[str, float] | None,
                    default_weights: bool = False) -> list[_Candidate]:
        cfg = self.config
        h = self._history
        known_set = set(self._departments)
        cands: dict[str, _Candidate] = {}

        def cand(d: str) -> _Candidate:
            if d not in cands:
                cands[d] = _Candidate(d, np.zeros(len(FEATURES), dtype=np.float64))
            return cands[d]

        mentioned = {p: place_of_name(p)[1] for p in places}
        via = self._inferred(places, text)
        gaz = self._gazetteer_cache
        for p in list(mentioned):
            if not mentioned[p] and gaz is not None:
                mentioned[p] = gaz.level(p)
        # (a) places: department names, directory coverage, learned association
        # districts named, or inferred from a street and the name of some department's own district (in a history
        # whose departments are codes, an inferred real name says nothing against them)
        wide_places = set(self._areas.prefectures) if self._areas is not None else set()
        local_mentions = {p for p, lvl in mentioned.items() if lvl in ("区", "县", "旗") and
                          (p not in via or p in self._place_owners)}
        for d, dplaces in self._dept_places.items():
            best, best_p = 0.0, None
            for dp in dplaces:
                if dp.name in mentioned:
                    r = level_rank(dp.level)
                    if r > best:
                        best, best_p = r, dp.name
            if best_p:
                c = cand(d)
                # a prefecture or province named holds many units: its own weight (长沙市 → 长沙市教育局)
                wide = cfg.wide_places and (best_p in wide_places or mentioned.get(best_p) in ("省", "自治区"))
                feature = "place_name_wide" if wide else "place_name"
                c.f[_F[feature]] = best
                c.evidence[feature] = (f"mentions {via[best_p]} (in {best_p}) → {d}" if best_p in via
                                            else f"mentions {best_p} → {d}")
        if self.directory is not None:
            for p, lvl in mentioned.items():
                for unit in self.directory.covering(p):
                    r = level_rank(lvl or place_of_name(p)[1])
                    c = cand(unit.name)
                    if r > c.f[_F["dir_place"]]:
                        c.f[_F["dir_place"]] = r
                        c.evidence["dir_place"] = (f"mentions {via[p]} (in {p}) → {unit.name} (directory)" if p in via
                                                   else f"mentions {p} → {unit.name} (directory)")
        if h.place_dept:
            a = cfg.assoc_smoothing
            total = max(h.n, 1)
            for p in mentioned:
                if p in via:
                    continue
                dist = h.place_dept.get(p)
                if not dist:
                    continue
                n_p = h.place_counts[p]
                for d, c_pd in dist.items():
                    prior = h.dept_counts.get(d, 0) / total
                    share = (c_pd + a * prior) / (n_p + a)
                    if share < 0.05 or d not in known_set:
                        continue
                    c = cand(d)
                    if share > c.f[_F["place_assoc"]]:
                        c.f[_F["place_assoc"]] = share
                        c.evidence["place_assoc"] = f"{c_pd} of {n_p} earlier cases mentioning {p} went to {d}"
        # (b) duties from the directory
        if self.directory is not None:
            for name, match in self.directory.duties(text, domain=domain, type=type_).items():
                c = cand(name)
                if match.keywords:
                    c.f[_F["dir_keywords"]] = min(len(match.keywords), 3) / 3.0
                    c.evidence["dir_keywords"] = f"keywords {'、'.join(match.keywords[:4])} → {name} (duty)"
                if match.domain:
                    c.f[_F["dir_domain"]] = 1.0
                    c.evidence["dir_domain"] = f"domain {match.domain} is a duty of {name}"
                if match.type:
                    c.f[_F["dir_type"]] = 1.0
                    c.evidence["dir_type"] = f"type {match.type} is a duty of {name}"
        # (c) history: text classifiers, neighbours
        text_scores: dict[str, float] = {}
        if h.text is not None and xi is not None:
            dec = h.text.decision(xi)[0]
            top = np.argsort(-dec)[: cfg.candidates]
            text_scores = {h.text.classes[i]: float(dec[i]) for i in range(len(dec))}
            best_d = h.text.classes[int(top[0])]
            for rank, i in enumerate(top, start=1):
                d = h.text.classes[int(i)]
                if d in known_set:
                    c = cand(d)
                    c.evidence["text"] = f"wording resembles earlier cases of {d} (text model rank {rank})"
            cand(best_d).f[_F["text_top"]] = 1.0
            cand(best_d).evidence["text_top"] = f"text model's first choice: {best_d}"
        # rank among the departments of the same kind: the best duty unit by wording is a candidate even
        # when district centres fill the overall top (the kind model then says which kind is likelier)
        kind_rank: dict[str, int] = {}
        if text_scores:
            by_score = sorted(text_scores, key=lambda d: -text_scores[d])
            for kd in ("office", "unit"):
                ranked = [d for d in by_score if self._kind(d) == kd]
                for r, d in enumerate(ranked, start=1):
                    kind_rank[d] = r
                    if r <= cfg.kind_candidates and d in known_set:
                        cand(d).evidence.setdefault("text", f"wording resembles earlier cases of {d} "
                                                            f"(rank {r} among {kd} departments)")
        kind_p: dict[str, float] = h.kind.proba(xi) if h.kind is not None and xi is not None else {}
        # (d) the letter names a unit's duty (请市交通局… / 公积金 / 规划): a unit not seen often enough for
        # the text model to know its wording can still be reached by its name
        for d, duty in self._dept_duties.items():
            if not duty or d not in known_set:
                continue
            hit = duty_hit(duty, text)
            if hit:
                c = cand(d)
                c.f[_F["duty_named"]] = 1.0 if hit == duty else 0.5
                c.evidence["duty_named"] = f"the letter names {hit} → {d}"
        # (e) the letter speaks of what a unit of a known kind does (物业, 开发商 → 住建局)
        said: dict[Duty, list[str]] = {}   # units of one kind (every district's 教育局) share what the letter says
        for d, duty in self._dept_lexicon.items():
            if d not in known_set:
                continue
            if duty not in said:
                said[duty] = DutyLexicon.hits(duty, text)
            found = said[duty]
            if found:
                c = cand(d)
                c.f[_F["duty_words"]] = min(len(found), 3) / 3.0
                c.evidence["duty_words"] = f"the letter speaks of {'、'.join(found[:4])} → {d} (what {duty.word} units do)"
        role_scores: dict[str, float] = {}
        if h.role is not None and xi is not None:
            dec = h.role.decision(xi)[0]
            role_scores = {h.role.classes[i]: float(dec[i]) for i in range(len(dec))}
            top_roles = {h.role.classes[int(i)] for i in np.argsort(-dec)[:3]}
            # a department of a likely role at a mentioned place becomes a candidate
            for d, role in self._dept_roles.items():
                if role in top_roles and any(dp.name in mentioned for dp in self._dept_places.get(d, ())):
                    c = cand(d)
                    c.evidence.setdefault("role", f"matter of the kind {role} handles, at a named place")
        if votes:
            total_votes = sum(v for key, v in votes.items() if key != "__counts__")
            counts = votes.get("__counts__", {})
            for d, v in votes.items():
                if d == "__counts__" or d not in known_set:
                    continue
                c = cand(d)
                c.f[_F["neighbours"]] = v / total_votes if total_votes else 0.0
                c.evidence["neighbours"] = (f"{counts.get(d, 0)} of {counts.get('__n__', 0)} similar cases "
                                            f"went to {d}")
        if not cands and h.n and h.text is None:
            # tiny history, no classifier: its most frequent departments, said as such
            for d, cnt in sorted(h.dept_counts.items(), key=lambda kv: -kv[1])[:3]:
                cand(d).evidence["prior"] = f"{cnt} of {h.n} earlier cases went to {d}"
        text_rank = {d: i + 1 for i, d in enumerate(sorted(text_scores, key=lambda d: -text_scores[d]))}
        role_rank = {r: i + 1 for i, r in enumerate(sorted(role_scores, key=lambda r: -role_scores[r]))}
        # the first named place that some department covers: where the matter is, usually
        first_place = None
        for p in mentioned:
            if p in self._place_owners or (self.directory is not None and self.directory.covering(p)):
                first_place = p
                break
        # fill the remaining features of every candidate
        total = max(h.n, 1)
        for d, c in cands.items():
            if text_scores:   # reciprocal rank: robust to how the margins of each class are scaled
                c.f[_F["text"]] = 1.0 / text_rank[d] if d in text_rank else 0.0
            if role_scores:
                role = self._dept_roles.get(d, d)
                c.f[_F["role"]] = 1.0 / role_rank[role] if role in role_rank else 0.0
            if d in kind_rank:
                c.f[_F["text_kind"]] = 1.0 / kind_rank[d]
            if kind_p:
                kd = self._kind(d)
                c.f[_F["kind"]] = kind_p.get(kd, 0.0)
                if kind_p.get(kd, 0.0) >= 0.5:
                    c.evidence["kind"] = (f"matter of the kind a{'n' if kd == 'office' else ''} {kd} handles "
                                          f"({kind_p[kd]:.0%})")
            if h.n:
                c.f[_F["prior"]] = math.log((h.dept_counts.get(d, 0) + 0.5) / (total + 0.5))
                if "prior" not in c.evidence and h.dept_counts.get(d):
                    c.evidence["prior"] = f"{h.dept_counts[d]} of {h.n} earlier cases went to {d}"
            if first_place is not None and (
                    first_place in self._own_places.get(d, ()) or
                    (self.directory is not None and d in self.directory and
                     any(u.name == d for u in self.directory.covering(first_place)))):
                c.f[_F["place_first"]] = 1.0
            own_local = {dp.name for dp in self._dept_places.get(d, ()) if dp.level in ("区", "县", "旗")}
            if self.directory is not None and d in self.directory:
                own_local |= {p for p in self.directory.get(d).places if place_of_name(p)[1] in ("区", "县", "旗")}
            if own_local and local_mentions and not (own_local & local_mentions):
                c.f[_F["place_other"]] = 1.0
            if default_weights and c.f[_F["dir_place"]] > 0 and (c.f[_F["place_name"]] or c.f[_F["place_name_wide"]]):
                # a directory unit named after the place it covers (朝阳区分中心 covers 朝阳区): one clue, not two.
                # The default weights count it once (≈ 0.69 alone, as documented); fitted weights learn the overlap
                for feature in ("place_name", "place_name_wide"):
                    c.f[_F[feature]] = 0.0
                    c.evidence.pop(feature, None)
        return [c for c in cands.values() if c.name in known_set]

    # -- persistence -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the router to a folder: ``manifest.json``, ``state.json``, ``arrays.npz``."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        h = self._history
        arrays: dict[str, np.ndarray] = {}
        state: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "config": _config_dict(self.config),
            "directory": self.directory.to_records() if self.directory else None,
            "directory_name": self.directory.name if self.directory else None,
            "weights": self._weights,
            "fitted_weights": self._fitted_weights,
            "history": {"n": h.n, "dept_counts": h.dept_counts, "place_counts": h.place_counts,
                        "place_dept": h.place_dept, "dense_dim": h.dense_dim},
            "areas": self._areas.to_dict() if self._areas is not None else None,
            "vectoriser": None, "text_classes": None, "role_classes": None, "kind_classes": None,
        }
        if h.vectoriser is not None:
            state["vectoriser"] = {"kind": "char-hash", "n_features": _Vectoriser.N_FEATURES,
                                   "ngram_range": list(h.vectoriser.ngram_range)}
            arrays["keep"] = h.vectoriser.keep
            arrays["idf"] = h.vectoriser.idf
        for key, head in (("text", h.text), ("role", h.role), ("kind", h.kind)):
            if head is not None:
                state[f"{key}_classes"] = head.classes
                arrays[f"{key}_coef"] = head.coef
                arrays[f"{key}_intercept"] = head.intercept
        state["rerank"] = sorted(key for key, trees in self._rerank.items() if trees is not None)
        for key in state["rerank"]:
            arrays.update(self._rerank[key].to_arrays(f"rerank_{key}_"))
        (out / "state.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(out / "arrays.npz", **arrays)
        manifest = {
            "component": "router",
            "format": FORMAT_VERSION,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions(),
            "departments": self.departments,
            "history_letters": h.n,
            "data_hash": self.data_hash,
            "directory": self.directory.name if self.directory else None,
            "fitted_weights": self._fitted_weights,
            "metrics": self.metrics,
            "config": _config_dict(self.config),
        }
        (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> "Router":
        """Read a folder written by :meth:`save`; warns when library versions differ."""
        p = Path(path)
        for name in ("manifest.json", "state.json", "arrays.npz"):
            if not (p / name).exists():
                raise ModelMissing(f"{p} is not a saved router: {name} is missing (run the training step)")
        manifest = json.loads((p / "manifest.json").read_text(encoding="utf-8"))
        state = json.loads((p / "state.json").read_text(encoding="utf-8"))
        if state.get("format") != FORMAT_VERSION:
            raise ModelMissing(f"{p}: router format {state.get('format')} is not {FORMAT_VERSION}; retrain it")
        now = _versions()
        for lib, ver in (manifest.get("versions") or {}).items():
            if lib in now and now[lib] != ver:
                warnings.warn(f"router in {p} was saved with {lib} {ver}, running {now[lib]}", stacklevel=2)
        directory = (Directory.from_records(state["directory"], name=state.get("directory_name") or "",
                                            source=str(p / "state.json")) if state.get("directory") else None)
        saved = dict(state["config"])
        saved.setdefault("named_district_wins", False)   # a router saved before reads places as it did
        router = cls(config=RouterConfig.from_dict(saved))
        router._directory = directory   # not through the setter: the saved state has the areas already
        with np.load(p / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        hist = state["history"]
        h = _History(n=hist["n"], dept_counts=hist["dept_counts"], place_counts=hist["place_counts"],
                     place_dept=hist["place_dept"], dense_dim=int(hist.get("dense_dim", 0)))
        if state.get("vectoriser") is not None:
            if state["vectoriser"].get("n_features") != _Vectoriser.N_FEATURES:
                raise ModelMissing(f"{p}: the router's text features differ from this version's; retrain it")
            h.vectoriser = _Vectoriser(arrays["keep"], arrays["idf"], tuple(state["vectoriser"]["ngram_range"]))
        for key in ("text", "role", "kind"):
            if state.get(f"{key}_classes") is not None:
                setattr(h, key, _Linear(state[f"{key}_classes"], arrays[f"{key}_coef"], arrays[f"{key}_intercept"]))
        router._history = h
        router._areas = LocalAreas.from_dict(state.get("areas"))
        router._weights = state["weights"]
        for weights in router._weights.values():   # saved before a named prefecture had its own weight: as then
            weights.setdefault("place_name_wide", weights.get("place_name", DEFAULT_WEIGHTS["place_name"]))
        router._fitted_weights = state["fitted_weights"]
        router._rerank = {key: Trees.from_arrays(arrays, f"rerank_{key}_") for key in state.get("rerank") or ()}
        router.metrics = manifest.get("metrics") or {}
        router.data_hash = manifest.get("data_hash")
        router._refresh_departments()
        return router


# ------------------------------------------------------------------------------------------------
# helpers

def _config_dict(config: RouterConfig) -> dict[str, Any]:
    d = asdict(config)
    d["ngram_range"] = list(d["ngram_range"])
    return d


def _versions() -> dict[str, str]:
    import sklearn

    from . import __version__

    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "triage": __version__}


def _hash_rows(rows) -> str:
    h = hashlib.sha256()
    for letter, text, dept in rows:
        location = letter_location(letter)   # only when given: histories without one hash as before
        row = [text, dept, letter.get("region")] + ([location] if location else [])
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]


def _holdout_order(rows, seed: int) -> list[int]:
    """Indices, latest first when dates exist (so weights are fitted on 'future' letters), else shuffled."""
    n = len(rows)
    dates = [str(r[0].get("received_at") or "") for r in rows]
    rng = np.random.default_rng(seed)
    if sum(bool(d) for d in dates) >= 0.8 * n:
        tie = rng.random(n)
        return sorted(range(n), key=lambda i: (dates[i], tie[i]), reverse=True)
    return list(rng.permutation(n))


def _simulated_neighbours(X, train: list[int], hold: list[int], depts: list[str], k: int) -> list[dict]:
    """For each held-out letter, votes of its k most similar training letters (TF-IDF cosine)."""
    if X is None or not train:
        return [{} for _ in hold]
    Xt = X[train]
    out = []
    for start in range(0, len(hold), 512):
        block = hold[start:start + 512]
        sims = np.asarray((X[block] @ Xt.T).todense())
        kk = min(k, sims.shape[1])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        for r in range(len(block)):
            nb = [{"department": depts[train[j]], "score": float(sims[r, j])} for j in top[r]]
            out.append(_neighbour_votes(nb, lambda x: x))
    return out


def _neighbour_votes(neighbours: list[dict] | None, canonical) -> dict[str, Any]:
    """Score-weighted department votes of the neighbours (scores clipped to [0, 1])."""
    if not neighbours:
        return {}
    votes: dict[str, Any] = collections.defaultdict(float)
    counts: collections.Counter = collections.Counter()
    n = 0
    for nb in neighbours:
        if not isinstance(nb, dict):
            raise InvalidInput(f"neighbours must be dicts with case_id, score, department; got {type(nb).__name__}")
        n += 1
        d = canonical(nb.get("department"))
        if not d:
            continue
        try:
            s = float(nb.get("score", 1.0))
        except (TypeError, ValueError):
            raise InvalidInput(f"neighbour score must be a number, got {nb.get('score')!r}") from None
        votes[d] += min(max(s, 0.0), 1.0) + 1e-3
        counts[d] += 1
    if not counts:
        return {}
    out: dict[str, Any] = dict(votes)
    counts["__n__"] = n
    out["__counts__"] = dict(counts)
    return out


def _fit_rerank(cand_lists: list[list[_Candidate]], targets: list[str], seed: int) -> Trees | None:
    """Trees over held-out letters' candidates (1: the department the letter went to); each candidate's rerank
    clue is set to their out-of-fold log-odds, the weights being fitted next on these rows. None: too few rows."""
    groups = [_matrix(cands)[:, :_CLUES] for cands in cand_lists]
    labels = [np.array([c.name == t for c in cands], dtype=int) for cands, t in zip(cand_lists, targets)]
    scores, trees = out_of_fold(groups, labels, _MONOTONE, TreesConfig(seed=seed))
    for cands, values in zip(cand_lists, scores):
        for c, v in zip(cands, values):
            c.f[_F["rerank"]] = v
    return trees


def _matrix(cands: list[_Candidate]) -> np.ndarray:
    return np.vstack([c.f for c in cands]) if cands else np.zeros((0, len(FEATURES)))


def _score(weights: dict[str, float], cands: list[_Candidate]) -> tuple[np.ndarray, np.ndarray]:
    w = np.array([weights.get(f, 0.0) for f in FEATURES])
    F = _matrix(cands)
    contrib = F * w[np.newaxis, :]
    logits = contrib.sum(axis=1)
    none = weights.get("__none__", 0.0)
    m = max(float(logits.max()) if len(logits) else none, none)
    e = np.exp(logits - m)
    probs = e / (e.sum() + math.exp(none - m))
    return probs, contrib


def _rank(probs: np.ndarray, cands: list[_Candidate], counts: dict[str, int]) -> list[int]:
    """Candidate indices best first; equal scores go to the department seen more often, then by name."""
    return sorted(range(len(cands)), key=lambda j: (-round(float(probs[j]), 9), -counts.get(cands[j].name, 0),
                                                    cands[j].name))


def _topk(weights, cand_lists, targets, k: int, counts: dict[str, int] | None = None) -> float:
    hit = 0
    for cands, t in zip(cand_lists, targets):
        if not cands:
            continue
        probs, _ = _score(weights, cands)
        order = _rank(probs, cands, counts or {})[:k]
        hit += any(cands[j].name == t for j in order)
    return round(hit / max(len(targets), 1), 4)


def _fit_clogit(cand_lists: list[list[_Candidate]], targets: list[str], l2: float) -> dict[str, float]:
    """Conditional logit over each letter's candidates plus a 'none' alternative (its logit = bias)."""
    from scipy.optimize import minimize

    p = len(FEATURES)
    m = max((len(c) for c in cand_lists), default=0)
    n = len(cand_lists)
    if n == 0 or m == 0:
        return dict(DEFAULT_WEIGHTS)
    F = np.zeros((n, m, p))
    mask = np.zeros((n, m), dtype=bool)
    tgt = np.full(n, -1)
    for i, (cands, t) in enumerate(zip(cand_lists, targets)):
        for j, c in enumerate(cands):
            F[i, j] = c.f
            mask[i, j] = True
            if c.name == t:
                tgt[i] = j
    # scale features so one ridge penalty suits all
    scale = np.maximum(np.abs(F[mask]).max(axis=0), 1e-6) if mask.any() else np.ones(p)
    Fs = F / scale
    active = np.abs(F[mask]).max(axis=0) > 0 if mask.any() else np.zeros(p, dtype=bool)

    def loss(theta):
        w, b = theta[:p], theta[p]
        logits = np.where(mask, Fs @ w, -np.inf)
        allz = np.concatenate([np.full((n, 1), b), logits], axis=1)
        mx = allz.max(axis=1, keepdims=True)
        ez = np.exp(allz - mx)
        z = ez.sum(axis=1)
        lse = np.log(z) + mx[:, 0]
        chosen = np.where(tgt >= 0, logits[np.arange(n), np.maximum(tgt, 0)], b)
        nll = (lse - chosen).sum() / n + l2 * float(w @ w)
        prob = ez / z[:, None]
        # gradient
        g_w = np.einsum("nm,nmp->p", prob[:, 1:], Fs)
        onehot = np.zeros((n, m))
        onehot[np.arange(n)[tgt >= 0], tgt[tgt >= 0]] = 1.0
        g_w -= np.einsum("nm,nmp->p", onehot, Fs)
        g_b = prob[:, 0].sum() - (tgt < 0).sum()
        grad = np.concatenate([g_w / n + 2 * l2 * w, [g_b / n]])
        return nll, grad

    theta0 = np.zeros(p + 1)
    for f, v in DEFAULT_WEIGHTS.items():
        if f in _F:
            theta0[_F[f]] = v * scale[_F[f]] * 0.5
    theta0[p] = DEFAULT_WEIGHTS["__none__"]
    # monotone evidence: more of a positive clue never lowers a department's score (a collinear clue
    # could otherwise get a negative weight and contradict its own evidence string)
    bounds = [(None, None)] * (p + 1)
    for f, i in _F.items():
        if f == "place_other":
            bounds[i] = (None, 0.0)
        elif f != "prior":
            bounds[i] = (0.0, None)
    theta0 = np.clip(theta0, [b[0] if b[0] is not None else -np.inf for b in bounds],
                     [b[1] if b[1] is not None else np.inf for b in bounds])
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 300})
    w = res.x[:p] / scale
    out = {f: (round(float(w[i]), 6) if active[i] else DEFAULT_WEIGHTS.get(f, 0.0)) for f, i in _F.items()}
    out["__none__"] = round(float(res.x[p]), 6)
    return out
