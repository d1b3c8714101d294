"""What a municipal unit is for, read from its name: 长沙市住建局 → 物业, 开发商, 商品房 … (``corpora/duties.tsv``).

Every Chinese city has the same kinds of units (住建, 人社, 教育, 交警, 供电 …), named the same way. A history of
routed letters without a directory names its units but not their duties; the router (:mod:`triage.route`) reads
them here, so that a unit with few letters in the history is still reached by a letter about its matters. The
lexicon is general knowledge of the units' published duties, shipped with the project; a deployment may point
``TRIAGE_DUTIES`` at its own file of the same format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError
from .segment import CORPORA_DIR

__all__ = ["DutyLexicon", "Duty"]


@dataclass(frozen=True)
class Duty:
    word: str                    # the word of the unit's name that says what it is (住建, 交警)
    keywords: tuple[str, ...]    # what letters about its matters say


class DutyLexicon:
    """Name words → duty keywords. ``of(name)`` finds a unit's duty; ``hits(duty, text)`` what a letter says of it."""

    def __init__(self, rows: list[tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
        self._by_word: dict[str, tuple[str, ...]] = {}
        for words, keywords in rows:
            for w in words:
                self._by_word.setdefault(w, keywords)
        self._words = sorted(self._by_word, key=len, reverse=True)

    def __len__(self) -> int:
        return len(self._by_word)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "DutyLexicon":
        """The lexicon at ``path``, ``$TRIAGE_DUTIES`` or the project's ``corpora/duties.tsv`` (cached)."""
        p = Path(path or os.environ.get("TRIAGE_DUTIES") or CORPORA_DIR / "duties.tsv")
        try:
            return _read(str(p.resolve()), p.stat().st_mtime_ns)
        except FileNotFoundError:
            raise ConfigError(f"duty lexicon not found: {p}") from None

    def of(self, name: str) -> Duty | None:
        """The duty of a unit by its name: the name word ending last in it, the longest at that end
        (长沙市公安局交通警察支队 → 交警's; 市住房和城乡建设局 → 住建's); None for an office (雨花区, 洞井街道)."""
        best: tuple[int, int, str] | None = None
        for w in self._words:
            end = name.rfind(w)
            if end < 0:
                continue
            key = (end + len(w), len(w), w)
            if best is None or key[:2] > best[:2]:
                best = key
        return Duty(best[2], self._by_word[best[2]]) if best else None

    @staticmethod
    def hits(duty: Duty, text: str) -> list[str]:
        """The duty's keywords the text holds, in the lexicon's order; a keyword inside a longer one that is
        also found counts once (公交线路 holds 公交 and 线路)."""
        found = [k for k in duty.keywords if k in text]
        return [k for k in found if not any(k != other and k in other for other in found)]


@lru_cache(maxsize=4)
def _read(path: str, _mtime_ns: int) -> DutyLexicon:
    rows = []
    with open(path, encoding="utf-8") as fh:
        header_seen = False
        for number, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cells = line.split("\t")
            if not header_seen:
                header_seen = True
                if cells[:2] == ["name_words", "keywords"]:
                    continue
            if len(cells) != 2:
                raise ConfigError(f"{path}, line {number}: expected name words and keywords separated by one tab")
            words = tuple(w.strip() for w in cells[0].split("|") if w.strip())
            keywords = tuple(k.strip() for k in cells[1].split("|") if k.strip())
            short = [k for k in (*words, *keywords) if len(k) < 2]
            if not words or not keywords or short:
                raise ConfigError(f"{path}, line {number}: name words and keywords must be two characters or more"
                                  + (f" ({'、'.join(short)})" if short else ""))
            rows.append((words, keywords))
    return DutyLexicon(rows)
