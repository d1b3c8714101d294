"""Step 2: segment normalised text into words with jieba.

Each :class:`Segmenter` owns its own ``jieba.Tokenizer`` loaded with the project's petition
dictionary (``corpora/dict/*.dict``); jieba's global tokenizer is never touched. Place-like spans
(A2区, 景蓉华苑小区, 桂花坪街道, 火炬路) are kept whole so that they survive as features.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

CORPORA_DIR = Path(__file__).resolve().parent.parent / "corpora"

# Place names: an anonymised code (A市, A2区, E5县) or 2–8 Chinese characters ending in a place suffix.
PLACE_SUFFIXES = ("小区", "街道", "社区", "花园", "花苑", "家园", "公寓", "大道", "区", "县", "镇", "乡", "村", "路", "街", "巷")
PLACE_RE = re.compile(
    r"[A-Z][0-9]{0,2}(?:市|区|县)"
    r"|[\u4e00-\u9fff]{2,6}(?:小区|街道|社区|花园|花苑|家园|公寓|大道)"
    r"|[\u4e00-\u9fff]{2,4}(?:镇|乡|村|路)"
)
_SKIP_PLACE_PREFIX = ("我们", "你们", "他们", "这个", "那个", "所在", "附近", "周边", "本", "该", "其他", "整个", "一个")
_WORD_RE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
# parts of speech in jieba's dictionary that say when, how much, how, where or who, never what a letter is about:
# pronouns (每月, 我们), locatives (周边), adverbs (至今, 一直), time words (目前), conjunctions, prepositions,
# measure words, particles, numerals (三月, 多次), modal particles, interjections, onomatopoeia
_FUNCTION_TAGS = frozenset("rfdtcpqumyeo")
# an anonymised place code (A市, A2区) or a province named by one word (西地省): where, not what
_PLACE_CODE_RE = re.compile(r"[A-Z][0-9]{0,2}(?:省|市|区|县)|[\u4e00-\u9fff]{1,3}省")


def names_a_topic(word: str) -> bool:
    """Whether a word can say what a letter is about (used to tell a clerk why a domain was suggested): not a
    function word by jieba's dictionary (:data:`_FUNCTION_TAGS`: 三月, 至今, 每月, 周边) and not a place code
    (A市, 西地省). Words the dictionary does not hold (停车位, 人社局) are taken as topics."""
    if _PLACE_CODE_RE.fullmatch(word):
        return False
    return _word_tag(word)[:1] not in _FUNCTION_TAGS


def _word_tag(word: str) -> str:
    """A word's part of speech in jieba's dictionary ("" for a word it does not hold); loads the table once."""
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab.get(word, "")


@dataclass
class SegmenterConfig:
    """Where the dictionaries are; defaults are the project's own under ``corpora/``."""

    dict_paths: list[Path] = field(default_factory=lambda: sorted((CORPORA_DIR / "dict").glob("*.dict")))
    stopwords_path: Path | None = CORPORA_DIR / "stopwords.txt"
    keep_places: bool = True
    hmm: bool = True


class Segmenter:
    """``cut(text)`` → words; ``cut([texts])`` → list of word lists (the shape follows the input)."""

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        self.config = config or SegmenterConfig()
        self._tokenizer = None
        self.stopwords: frozenset[str] = frozenset()

    def load(self) -> "Segmenter":
        import jieba

        logging.getLogger("jieba").setLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        for path in self.config.dict_paths:
            tokenizer.load_userdict(str(path))
        self._tokenizer = tokenizer
        if self.config.stopwords_path and Path(self.config.stopwords_path).exists():
            words = Path(self.config.stopwords_path).read_text(encoding="utf-8").split()
            self.stopwords = frozenset(w.strip() for w in words if w.strip())
        return self

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self.load()
        return self._tokenizer

    def _cut_one(self, text: str, drop_stopwords: bool) -> list[str]:
        words: list[str] = []
        pos = 0
        spans = []
        if self.config.keep_places:
            for m in PLACE_RE.finditer(text):
                if not m.group(0).startswith(_SKIP_PLACE_PREFIX):
                    spans.append((m.start(), m.end()))
        for start, end in spans + [(len(text), len(text))]:
            if start > pos:
                words.extend(self.tokenizer.lcut(text[pos:start], HMM=self.config.hmm))
            if end > start:
                words.append(text[start:end])
            pos = max(pos, end)
        out = []
        for w in words:
            w = w.strip()
            if not w or not _WORD_RE.search(w):
                continue
            if drop_stopwords and w in self.stopwords:
                continue
            out.append(w)
        return out

    def cut(self, text: str | list[str], *, drop_stopwords: bool = True) -> list[str] | list[list[str]]:
        if isinstance(text, str):
            parts = text.split()
            if len(parts) == 1 and parts[0] == text:
                return self._cut_recent(text, drop_stopwords)
            # Whitespace is a hard boundary for jieba and for place spans, so a text's words are the words of its
            # whitespace-separated parts (tested): the title and body, cut for the field features, serve the
            # whole letter ("title body" once normalised) from the cache.
            words: list[str] = []
            for part in parts:
                words.extend(self._cut_recent(part, drop_stopwords))
            return words
        return [self._cut_one(t, drop_stopwords) for t in text]

    # A suggestion segments the same letter several times (domain and type word features, the matter): the last
    # few single-text cuts are kept, so each text is cut once per request. Batches (lists) bypass the cache.
    RECENT = 256

    def _cut_recent(self, text: str, drop_stopwords: bool) -> list[str]:
        recent = self.__dict__.get("_recent")
        if recent is None:
            recent = self.__dict__.setdefault("_recent", OrderedDict())
            self.__dict__.setdefault("_recent_lock", threading.Lock())
        key = (text, drop_stopwords)
        with self._recent_lock:
            words = recent.get(key)
            if words is not None:
                recent.move_to_end(key)
                return list(words)
        words = self._cut_one(text, drop_stopwords)
        with self._recent_lock:
            recent[key] = tuple(words)
            while len(recent) > self.RECENT:
                recent.popitem(last=False)
        return words

    def __getstate__(self):  # the jieba tokenizer is rebuilt after unpickling, not pickled
        state = dict(self.__dict__)
        state["_tokenizer"] = None
        state.pop("_recent", None)
        state.pop("_recent_lock", None)
        return state
