"""Loaders for the public datasets in ``../shared/datasets`` (read at train/test time, never copied).

Every loader returns plain letter dicts in the contract's field names, so the same code path serves
training, evaluation and import.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """``$TRIAGE_SHARED_DIR`` or ``../shared`` beside the project."""
    return Path(os.environ.get("TRIAGE_SHARED_DIR", PROJECT_DIR.parent / "shared"))


def datasets_dir() -> Path:
    return shared_dir() / "datasets"


def read_csv(relpath: str) -> list[dict[str, str]]:
    path = datasets_dir() / relpath
    if not path.exists():
        raise FileNotFoundError(f"dataset file not found: {path} (is ../shared beside the project? "
                                "set TRIAGE_SHARED_DIR to its location)")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    """Whitespace removed — the form the details file uses, and the key for de-duplication."""
    return _WS.sub("", text or "")


def data_hash(records: list[dict], fields: tuple[str, ...] = ("title", "content", "domain", "type", "department")) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps([r.get(f) for f in fields], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]


# --- Teddy 2020: domain labels -------------------------------------------------------------------

def teddy_messages() -> list[dict]:
    """Full labelled messages (title + content + domain + account + date)."""
    out = []
    for r in read_csv("teddy2020/messages_labeled.csv"):
        out.append({"id": f"teddy-{r['留言编号']}", "title": r["留言主题"].strip(), "content": r["留言详情"].strip(),
                    "received_at": r["留言时间"], "petitioner": {"account": r["留言用户"]}, "domain": r["一级标签"].strip()})
    return out


@dataclass
class DomainSplit:
    train: list[dict]      # letters (title and/or content) with a domain
    test: list[dict]       # full held-out messages, never seen in any form in train
    labels: list[str]


def teddy_domain_split(test_fraction: float = 0.3, seed: int = 13) -> DomainSplit:
    """Train/test split of the Teddy domain data with de-duplication across its three files.

    The held-out test set is a random part of ``messages_labeled.csv`` (title + content). Its titles are
    removed from the titles file and its contents from the details file, so no held-out message reaches
    training in any form. Training examples: remaining full messages, titles alone, details alone, each
    de-duplicated by whitespace-free text; a title or detail alone carries ``part`` = "title" / "detail"
    (its text is in ``content``). Rows with a multi-label (``a|b``) are dropped.
    """
    messages = [m for m in teddy_messages() if "|" not in m["domain"]]
    rng = random.Random(seed)
    # de-duplicate messages by title+content before splitting
    seen: set[str] = set()
    unique = []
    for m in messages:
        key = squash(m["title"]) + "\x00" + squash(m["content"])
        if key not in seen:
            seen.add(key)
            unique.append(m)
    rng.shuffle(unique)
    n_test = int(len(unique) * test_fraction)
    test = unique[:n_test]
    held_titles = {squash(m["title"]) for m in test}
    held_details = {squash(m["content"]) for m in test}
    train: list[dict] = []
    used: set[str] = set()

    def add(rec: dict) -> None:
        key = squash(rec.get("title", "")) + "\x00" + squash(rec["content"])
        if key in used:
            return
        used.add(key)
        train.append(rec)

    for m in unique[n_test:]:
        if squash(m["title"]) in held_titles or squash(m["content"]) in held_details:
            continue
        add(m)
    train_titles = {squash(m["title"]) for m in train}
    train_details = {squash(m["content"]) for m in train}
    for i, r in enumerate(read_csv("teddy2020/titles_labeled.csv")):
        label = r["一级标签"].strip()
        t = squash(r["留言主题"])
        if not t or "|" in label or t in held_titles or t in train_titles:
            continue
        add({"id": f"teddy-title-{i}", "title": "", "content": r["留言主题"].strip(), "domain": label,
             "part": "title"})
    for i, r in enumerate(read_csv("teddy2020/details_labeled.csv")):
        label = r["一级标签"].strip()
        d = squash(r["留言详情"])
        if not d or "|" in label or d in held_details or d in train_details:
            continue
        add({"id": f"teddy-detail-{i}", "title": "", "content": r["留言详情"].strip(), "domain": label,
             "part": "detail"})
    labels = sorted({r["domain"] for r in train})
    return DomainSplit(train=train, test=test, labels=labels)


def teddy_domain_all() -> DomainSplit:
    """Everything for the final model (test empty): de-duplicated the same way."""
    split = teddy_domain_split(test_fraction=0.0)
    return split
