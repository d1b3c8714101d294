"""Step 4c: the stored cases a letter resembles (类案推送), and the candidates for duplicate checks.

:class:`CaseIndex` holds the in-memory indexes over the store — a faiss :class:`~triage.index.VectorIndex`
of embeddings and a MinHash :class:`~triage.minhash.LSHIndex` of character shingles — persisted beside
the store and caught up from it on open (so a crash never loses a stored case from search).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from .index import VectorIndex, VectorIndexConfig
from .minhash import LSHIndex, MinHashConfig, MinHasher
from .normalise import normalise
from .records import letter_text

log = logging.getLogger(__name__)


class CaseIndex:
    """Vector + near-duplicate indexes over a store's cases, keyed by case pk."""

    def __init__(self, folder: Path, model: str, dim: int, vector_config: VectorIndexConfig | None = None,
                 minhash_config: MinHashConfig | None = None) -> None:
        self.folder = Path(folder)
        self.model = model
        self.dim = dim
        self.vectors = VectorIndex(dim, vector_config)
        self.minhasher = MinHasher(minhash_config)
        self.lsh = LSHIndex(minhash_config)
        self.lsh_high_water = 0

    @classmethod
    def open(cls, store, model: str, dim: int, vector_config: VectorIndexConfig | None = None,
             progress: bool = False) -> "CaseIndex":
        """Load the indexes beside ``store`` (or start empty), then add every stored case they miss."""
        folder = store.index_dir
        requested = vector_config or VectorIndexConfig.from_env()   # None: whatever kind is on disk (else flat)
        self = cls(folder, model, dim, requested)
        vec_dir, lsh_dir = folder / "vectors", folder / "lsh"
        try:
            if (vec_dir / "manifest.json").exists():
                loaded, manifest = VectorIndex.load(vec_dir)
                if manifest.get("model") != model or loaded.dim != dim:
                    log.warning("vector index was built with %s; rebuilding for %s", manifest.get("model"), model)
                elif requested is not None and loaded.config.kind != requested.kind:
                    log.warning("vector index is %s, %s was asked for; rebuilding from the store",
                                loaded.config.kind, requested.kind)
                else:
                    self.vectors = loaded
            if (lsh_dir / "manifest.json").exists():
                loaded_lsh = LSHIndex.load(lsh_dir)
                if loaded_lsh.config == self.minhasher.config:
                    import json
                    self.lsh = loaded_lsh
                    self.lsh_high_water = int(json.loads((lsh_dir / "manifest.json").read_text()).get("high_water", 0))
                else:  # other MinHash settings (e.g. the older hash family): its band keys cannot be queried
                    log.warning("near-duplicate index was built with %s; rebuilding from the store", loaded_lsh.config)
        except Exception as exc:  # a corrupt index is rebuilt from the store, never trusted
            log.warning("index at %s unreadable (%s); rebuilding from the store", folder, type(exc).__name__)
            shutil.rmtree(folder, ignore_errors=True)
            self = cls(folder, model, dim, vector_config)
        added = self.catch_up(store, progress=progress)
        if added:
            self.save()
        return self

    def catch_up(self, store, progress: bool = False) -> int:
        """Add stored cases beyond each index's high-water mark. Returns how many were added."""
        added = 0
        for pks, vecs in store.iter_vectors(self.model, after_pk=self.vectors.high_water,
                                            batch=max(5000, 4 * self.vectors.config.ivf_lists)
                                            if self.vectors.needs_training else 5000):
            self.vectors.add(pks, vecs)   # a kind that needs training trains on its first batch
            added += len(pks)
        for rows in store.iter_texts(after_pk=self.lsh_high_water):
            for pk, title, content in rows:
                text = normalise(letter_text(title, content))
                self.lsh.insert(pk, self.minhasher.signature(text))
                self.lsh_high_water = max(self.lsh_high_water, pk)
            added += len(rows)
        return added

    def add(self, pks: list[int], vecs: np.ndarray, sigs: np.ndarray) -> None:
        self.vectors.add(np.asarray(pks, np.int64), vecs)
        for pk, sig in zip(pks, sigs):
            self.lsh.insert(int(pk), sig)
            self.lsh_high_water = max(self.lsh_high_water, int(pk))

    def remove(self, pk: int) -> None:
        """Forget a case. A graph index (hnsw*) cannot remove: its entry stays until the next rebuild and is never
        answered, because the store marks the case deleted and matching reads only live cases."""
        try:
            self.vectors.remove([pk])
        except NotImplementedError:
            log.info("vector index %s keeps case %d until it is rebuilt", self.vectors.config.kind, pk)
        self.lsh.remove(pk)

    def candidates(self, vec: np.ndarray | None, sig: np.ndarray, k: int = 50,
                   lsh_limit: int | None = None) -> dict[int, float]:
        """Candidate pks → embedding score (0 when found only by MinHash): the ``k`` nearest vectors and up to
        ``lsh_limit`` (default ``k``) cases sharing a MinHash band."""
        out: dict[int, float] = {}
        if vec is not None:
            ids, scores = self.vectors.search(vec, k)
            out.update({int(i): float(s) for i, s in zip(ids, scores)})
        for pk in self.lsh.query(sig, limit=lsh_limit or k):
            out.setdefault(int(pk), 0.0)
        return out

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.vectors.save(self.folder / "vectors", self.model)
        self.lsh.save(self.folder / "lsh")
        import json
        manifest = json.loads((self.folder / "lsh" / "manifest.json").read_text())
        manifest["high_water"] = self.lsh_high_water
        (self.folder / "lsh" / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))

    def __len__(self) -> int:
        return len(self.vectors)


def reply_excerpt(reply: str | None, limit: int = 160) -> str | None:
    """The part of a precedent reply that says what was done, without the salutation."""
    if not reply:
        return None
    text = normalise(reply)
    for marker in ("答复如下", "回复如下", "现回复如下", "现答复如下", "经调查", "经核实", "经了解"):
        pos = text.find(marker)
        if 0 <= pos < 200:
            text = text[pos + len(marker):].lstrip(":：,，。 ")
            break
    return text[:limit] + ("…" if len(text) > limit else "")
