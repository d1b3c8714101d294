"""What every training step shares: a record's text and fields, embedding with progress, macro-F1, progress lines."""

from __future__ import annotations

import functools
import sys

import numpy as np

from triage.normalise import normalise
from triage.records import letter_text


def say(msg: str) -> None:
    print(f"[train] {msg}", file=sys.stderr, flush=True)


def text_of(rec: dict) -> str:
    return normalise(letter_text(rec.get("title"), rec["content"]))


def as_ticket(rec: dict, located: bool) -> dict:
    """A letter as a 12345 ticket comes: no title. ``located``: the places its title named (pattern extractor, in
    order) are given instead as the ticket's address column (``location``, as an export's 事发地址 is read)."""
    from triage.places import extract_places

    title = rec.get("title") or ""
    ticket = {**rec, "title": ""}
    if located:
        names = list(dict.fromkeys(p.name for p in extract_places(title) if p.span is not None))
        if names:
            ticket["location"] = "".join(names)
    return ticket


def fields_of(rec: dict) -> tuple[str, str]:
    """(title, body), normalised; a title alone from the titles file is a title with no body."""
    if rec.get("part") == "title":
        return normalise(rec["content"]), ""
    return normalise(rec.get("title") or ""), normalise(rec["content"])


def type_inputs(recs: list[dict]) -> tuple[list[str], list[tuple[str, str]]]:
    """Texts and (title, body) fields as the type model reads records (:func:`triage.pipeline.type_reading`: the
    type a clerk's intake opening stated kept in front of the body), for training as for suggesting; their vectors
    stay :func:`text_of`'s."""
    from triage.pipeline import type_reading

    read = [(text_of(r), fields_of(r)) if r.get("part") == "title"
            else type_reading(text_of(r), *fields_of(r), r["content"]) for r in recs]
    return [text for text, _ in read], [fields for _, fields in read]


@functools.lru_cache(maxsize=None)
def cached_e5():
    """The e5-small embedder with its vectors cached on disk (``.cache/vectors``): what the evaluation scripts
    embed with, one instance per process."""
    from triage.embed import EmbedderConfig, get_embedder

    from .datasets import PROJECT_DIR

    return get_embedder(EmbedderConfig(name="e5-small", cache_dir=PROJECT_DIR / ".cache" / "vectors"))


def encode(embedder, texts: list[str]) -> np.ndarray:
    """Embed with a progress bar when the embedder is the cached real one."""
    if hasattr(embedder, "cache"):
        return embedder.encode(texts, show_progress=True)
    return embedder.encode(texts)


def macro_f1(y_true, y_pred, labels=None) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
