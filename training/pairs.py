"""Hand-labelled letter pairs (``corpora/pairs/*.jsonl``) resolved against the shared datasets.

The pair files hold only ids, labels and short notes; the letters' text is read from
``../shared/datasets`` at train/test time.
"""

from __future__ import annotations

import json
from pathlib import Path

from .datasets import PROJECT_DIR, read_csv

PAIRS_DIR = PROJECT_DIR / "corpora" / "pairs"


def _teddy_hot() -> dict[str, dict]:
    out = {}
    for r in read_csv("teddy2020/hot_issues.csv"):
        out[r["留言编号"]] = {"id": f"hot-{r['留言编号']}", "title": r["留言主题"].strip(), "content": r["留言详情"].strip(),
                           "received_at": r["留言时间"], "petitioner": {"account": r["留言用户"]}}
    return out


def _fuzhou() -> dict[str, dict]:
    out = {}
    for r in read_csv("fuzhou_water/appeals.csv"):
        letter = {"id": f"fz-{r['id']}", "title": r["标题"].strip(), "content": r["投诉件内容"].strip(),
                  "received_at": r["时间"], "type": r["性质"], "reply": r["回复1"], "region": r["区"] or None}
        out[r["id"]] = letter
    return out


SOURCES = {"teddy2020/hot_issues.csv": _teddy_hot, "fuzhou_water/appeals.csv": _fuzhou}


def load_letters(source: str) -> dict[str, dict]:
    return SOURCES[source]()


def load_pairs(folder: Path = PAIRS_DIR) -> list[dict]:
    """Every labelled pair: ``{"a": letter, "b": letter, "label", "difficulty", "source", "key"}``."""
    cache: dict[str, dict[str, dict]] = {}
    out = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            letters = cache.setdefault(rec["source"], load_letters(rec["source"]))
            a, b = letters.get(str(rec["a"])), letters.get(str(rec["b"]))
            if a is None or b is None or not a["content"] or not b["content"]:
                continue
            out.append({"a": a, "b": b, "label": rec["label"], "difficulty": rec.get("difficulty", ""),
                        "source": rec["source"], "key": f"{rec['source']}:{rec['a']}:{rec['b']}"})
    return out
