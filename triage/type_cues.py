"""Step 4a, for the petition type: explicit cue features (咨询/建议/投诉/举报), a small dense block.

A type is said in a few set phrases — a question (请问, 何时, 是否, 吗, ？) asks (咨询), 建议/希望/能否考虑
proposes (建议), 扰民/不作为 complains (投诉), 偷排/违法/无证 reports (举报). TF-IDF sees these among
thousands of n-grams; as a dense block of their own, a classifier trained on a few hundred letters can weigh
them. Each pattern gives two features: whether the title contains it (0/1) and log(1 + its count in the body).
Cue sets are chosen by name (:data:`CUE_SETS`) so that a saved classifier names the set it was trained with.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

PETITION_TYPE_CUES: dict[str, tuple[str, ...]] = {
    "咨询": ("请问", "咨询", "何时", "什么时候", "是否", "能否", "吗[？?。，,]?", "[？?]", "多久", "怎么", "如何",
           "了解一下"),
    "建议": ("建议", "希望", "考虑", "提议", "呼吁", "应该", "可否", "最好", "尽快"),
    "投诉": ("投诉", "不作为", "扰民", "噪音", "恶臭", "发臭", "影响", "严重", "无人管", "没人管"),
    "举报": ("举报", "偷排", "直排", "违法", "违规", "非法", "无证", "违章", "偷工减料", "私自", "乱排", "查处"),
}

CUE_SETS: dict[str, dict[str, tuple[str, ...]]] = {"petition-type": PETITION_TYPE_CUES}


@functools.lru_cache(maxsize=None)
def cue_features(name: str = "petition-type") -> "CueFeatures":
    """The shared :class:`CueFeatures` of a cue set (its compiled patterns are read-only): built once, not on every
    suggestion."""
    return CueFeatures(name)


class CueFeatures:
    """``transform([(title, body), …])`` → an (n, 2 × patterns) float array; ``names`` says which column is which."""

    def __init__(self, name: str = "petition-type") -> None:
        if name not in CUE_SETS:
            raise ValueError(f"unknown cue set {name!r}; known: {', '.join(sorted(CUE_SETS))}")
        self.name = name
        self._patterns = [(label, p, re.compile(p)) for label, ps in CUE_SETS[name].items() for p in ps]

    @property
    def names(self) -> list[str]:
        return [f"{label}:{p}@{where}" for label, p, _ in self._patterns for where in ("title", "body")]

    def transform(self, fields: Sequence[tuple[str, str]]) -> np.ndarray:
        out = np.zeros((len(fields), 2 * len(self._patterns)), dtype=np.float32)
        for i, (title, body) in enumerate(fields):
            title, body = title or "", body or ""
            for j, (_, _, rx) in enumerate(self._patterns):
                out[i, 2 * j] = 1.0 if rx.search(title) else 0.0
                out[i, 2 * j + 1] = np.log1p(len(rx.findall(body)))
        return out


def cue_phrases(title: str, body: str, label: str, name: str = "petition-type", most: int = 5) -> list[str]:
    """The words of ``label``'s cues that the letter says (title first, then body, in order of first occurrence,
    distinct, at most ``most``): what a handler reads as the evidence for a type (请问、是否 → 咨询). A cue's
    trailing punctuation is dropped (吗？ → 吗) unless it is all the cue says (？)."""
    patterns = [rx for cue_label, _, rx in cue_features(name)._patterns if cue_label == label]
    found: list[tuple[int, int, str]] = []   # (field, position, phrase)
    for field, text in enumerate((title or "", body or "")):
        for rx in patterns:
            for m in rx.finditer(text):
                phrase = m.group(0).rstrip("？?。，,") or m.group(0)
                found.append((field, m.start(), phrase))
    out: list[str] = []
    for _, _, phrase in sorted(found):
        if phrase not in out:
            out.append(phrase)
    return out[:most]

