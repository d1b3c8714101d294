"""Step 4c: the stored cases a letter resembles (类案推送), and the candidates for duplicate checks.

:class:`CaseIndex` holds the in-memory indexes over the store — a faiss :class:`~triage.index.VectorIndex`
of embeddings and a MinHash :class:`~triage.minhash.LSHIndex` of character shingles — persisted beside
the store and caught up from it on open (so a crash never loses a stored case from search).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from .index import VectorIndex, VectorIndexConfig
from .minhash import LSHIndex, MinHashConfig, MinHasher
from .normalise import normalise
from .records import letter_text

log = logging.getLogger(__name__)


# With no vector index kind asked for (TRIAGE_VECTOR_INDEX), a store of at least this many cases gets an inverted-
# file index with 8-bit codes instead of exact search (docs/benchmarks.md, "faiss index choices": recall@10 0.98 at
# 100k, 0.94 at 1M). Exact search grows with the store: ~0.8 ms a letter at 10k, 8 ms at 100k, 51 ms at 1M.
AUTO_IVF_AT = 50_000


def ivf_lists_for(cases: int) -> int:
    """Inverted lists for an index of ``cases`` vectors: about 4·√n (the benchmarks' choice), 64 to 8,192."""
    return int(min(max(64, 4 * np.sqrt(cases)), 8192))


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
        # Cases another process stores (a second worker of `triage serve`, a `triage import` beside the service)
        # reach this index through sync(): every case pk ≤ ``floor`` has been taken in (or was deleted), and
        # ``recent`` maps the pks above it that have been, to when (time.monotonic()). The floor trails the
        # newest case by ``settle_seconds``: a PostgreSQL sequence hands out pks before their transactions
        # commit, so a lower pk may become visible after a higher one.
        self.floor = 0
        self.recent: dict[int, float] = {}
        self.settle_seconds = 30.0

    @classmethod
    def open(cls, store, model: str, dim: int, vector_config: VectorIndexConfig | None = None,
             progress: bool = False, save: bool = True) -> "CaseIndex":
        """Load the indexes beside ``store`` (or start empty), then add every stored case they miss (and save them
        unless ``save`` is false: a service worker that does not lead leaves the files to the leader)."""
        folder = store.index_dir
        requested = vector_config or VectorIndexConfig.from_env()   # None: whatever kind is on disk (else flat)
        self = cls(folder, model, dim, requested)
        vectors_loaded = lsh_loaded = False   # each index as saved (not rebuilt)
        vec_dir, lsh_dir = folder / "vectors", folder / "lsh"
        # the marks both were saved with: the floor, and the cases above it they held then ("recent")
        saved = _saved_manifest(lsh_dir)
        listed = {int(pk) for pk in saved.get("recent", [])}
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
                    vectors_loaded = True
            if (lsh_dir / "manifest.json").exists():
                loaded_lsh = LSHIndex.load(lsh_dir)
                if loaded_lsh.config == self.minhasher.config:
                    self.lsh = loaded_lsh
                    self.lsh_high_water = int(saved.get("high_water", 0))
                    lsh_loaded = True
                else:  # other MinHash settings (e.g. the older hash family): its band keys cannot be queried
                    log.warning("near-duplicate index was built with %s; rebuilding from the store", loaded_lsh.config)
        except Exception as exc:  # a corrupt index is rebuilt from the store, never trusted
            log.warning("index at %s unreadable (%s); rebuilding from the store", folder, type(exc).__name__)
            shutil.rmtree(folder, ignore_errors=True)
            self = cls(folder, model, dim, vector_config)
            vectors_loaded = lsh_loaded = False
        config = _default_kind(requested, self.vectors.config.kind, store)
        if config is not None:
            # No kind asked for and too many cases for exhaustive search (51 ms a query at 1M): the default
            # becomes the benchmarked one, inverted lists over 8-bit codes, rebuilt once from the store here
            # (catch_up below; 3.3 minutes at 1M on one core, 12 s at 100k) and saved; removal stays supported.
            self.vectors = VectorIndex(dim, config)
            vectors_loaded = False
        # Both as saved together: the cases above the floor that they hold are listed, sync takes in the rest. A
        # rebuilt one starts empty, so each is caught up on its own (with marks both at 0 — every case stored less
        # than settle_seconds before the save — the listed cases would otherwise never reach the rebuilt one).
        if vectors_loaded and lsh_loaded and self.vectors.high_water == self.lsh_high_water:
            # saved by sync-aware code: the floor and the cases taken in above it, taken in no later than the save
            # (its time in the manifest; before it was kept there, the manifest file's). sync takes in what the
            # store now shows above the floor, then settles: those listed by a save settle_seconds ago or more at
            # once. Until the floor passes them, every suggestion's sync check counts the rows above it (26,000
            # cases listed by a 1M import's save: 7.5 ms a letter for the first 30 s of each start)
            self.floor = self.lsh_high_water
            saved_at = saved.get("saved_at")
            if saved_at is None:
                saved_at = (lsh_dir / "manifest.json").stat().st_mtime
            age = max(0.0, time.time() - float(saved_at))
            self.recent = dict.fromkeys(sorted(listed), time.monotonic() - age)
            self.lsh_high_water = max([self.floor, *self.recent])
            added = self.sync(store, progress=progress)
        else:   # a fresh index, or one saved with the two high-water marks apart: catch each up on its own
            # the cases above the floor that a loaded one holds (listed in the saved manifest) are not added twice
            added = self.catch_up(store, progress=progress, lsh_held=listed if lsh_loaded else set(),
                                  vectors_held=listed if vectors_loaded else set())
            self.floor = max(self.vectors.high_water, self.lsh_high_water)
        if added and save:
            self.save()
        return self

    def adopt_default_kind(self, store) -> bool:
        """After adding many cases (``triage import``): with no kind asked for, a flat vector index that now holds
        ``AUTO_IVF_AT`` cases or more is rebuilt from the store as ``CaseIndex.open`` would at the next start
        — here, once, where the import already waits. Returns whether it was rebuilt; call :meth:`save` after."""
        vectors = self.default_kind_vectors(store)
        if vectors is None:
            return False
        self.adopt_vectors(vectors, store)
        return True

    def default_kind_vectors(self, store) -> VectorIndex | None:
        """The vector index this one should become (no kind asked for, flat, ``AUTO_IVF_AT`` cases or more), built
        from the store's vectors, or None. Reads only: a service builds it beside its requests, then swaps it in
        with :meth:`adopt_vectors` under its write lock."""
        if len(self.vectors) < AUTO_IVF_AT:   # before _default_kind's count of the store (every sync, in a service)
            return None
        config = _default_kind(VectorIndexConfig.from_env(), self.vectors.config.kind, store)
        if config is None:
            return None
        vectors = VectorIndex(self.dim, config)
        self._add_stored_vectors(vectors, store)
        return vectors

    def adopt_vectors(self, vectors: VectorIndex, store) -> int:
        """Use ``vectors`` (from :meth:`default_kind_vectors`) from now on, after adding the cases stored since it
        was built. A case deleted meanwhile may keep an entry there, never answered (matching reads live cases
        only), until the next rebuild. Call under the owner's write lock; returns the cases added."""
        added = self._add_stored_vectors(vectors, store)
        self.vectors = vectors
        return added

    def catch_up(self, store, progress: bool = False, lsh_held: set[int] = frozenset(),
                 vectors_held: set[int] = frozenset()) -> int:
        """Add stored cases beyond each index's high-water mark (``lsh_held``, ``vectors_held``: pks above its mark
        that the near-duplicate or the vector index already holds). Returns how many were added."""
        added = self._add_stored_vectors(self.vectors, store, held=vectors_held)
        for rows in store.iter_texts(after_pk=self.lsh_high_water):
            for pk, title, content in rows:
                if pk not in lsh_held:
                    self.lsh.insert(pk, self._signature(title, content))
                    added += 1
                self.lsh_high_water = max(self.lsh_high_water, pk)
        return added

    def _add_stored_vectors(self, vectors: VectorIndex, store, held: set[int] = frozenset()) -> int:
        """Add to ``vectors`` the stored cases above its high-water mark, but ``held`` ones; returns how many."""
        added = 0
        for pks, vecs in store.iter_vectors(self.model, after_pk=vectors.high_water,
                                            # a kind that trains does so on its first batch: 16 vectors a list
                                            # (auto ivfsq8 at 100k: recall@10 0.962 with 4, 0.969 with 16)
                                            batch=max(5000, 16 * vectors.config.ivf_lists)
                                            if vectors.needs_training else 5000):
            if held:
                keep = ~np.isin(pks, np.fromiter(held, dtype=np.int64, count=len(held)))
                pks, vecs = pks[keep], vecs[keep]
            vectors.add(pks, vecs)   # a kind that needs training trains on its first batch
            added += len(pks)
        return added

    def _signature(self, title: str | None, content: str) -> np.ndarray:
        """The MinHash signature of a stored case, from its text as the store keeps it."""
        return self.minhasher.signature(normalise(letter_text(title, content)))

    def add(self, pks: list[int], vecs: np.ndarray, sigs: np.ndarray) -> None:
        self.vectors.add(np.asarray(pks, np.int64), vecs)
        now = time.monotonic()
        for pk, sig in zip(pks, sigs):
            self.lsh.insert(int(pk), sig)
            self.lsh_high_water = max(self.lsh_high_water, int(pk))
            if int(pk) > self.floor:
                self.recent[int(pk)] = now
        self._settle()

    # -- cases stored by other processes ----------------------------------------------------------
    def behind(self, store) -> bool:
        """Whether the store holds cases above the floor that this index has not taken in: one range count, cheap
        enough to ask before every suggestion. Reads only; call :meth:`sync` (which writes) when it says so."""
        return self.missing(store) != 0

    def missing(self, store) -> int:
        """How many cases above the floor the store holds and this index has not taken in (rows are never removed
        from the store, deleted cases included, so this is what :meth:`sync` would read): one range count."""
        return store.count_after(self.floor) - len(self.recent)

    def due(self, store) -> bool:
        """:meth:`behind`, or the floor can rise: whether :meth:`sync` has anything to do."""
        if self.recent and next(iter(self.recent.values())) <= time.monotonic() - self.settle_seconds:
            return True
        return self.behind(store)

    def sync(self, store, progress: bool = False) -> int:
        """Take in the cases stored above the floor that this index does not hold (by any process), then raise
        the floor past what has settled. Returns how many cases were added. Call under the owner's write lock."""
        added = 0
        if self.behind(store):
            missing = [pk for pk in store.pks_after(self.floor) if pk not in self.recent]
            now = time.monotonic()
            for start in range(0, len(missing), 5000):
                chunk = missing[start:start + 5000]
                rows = store.index_rows(chunk, self.model)
                with_vec = [(pk, vec) for pk, vec, _, _ in rows if vec is not None]
                if with_vec:
                    self.vectors.add(np.array([pk for pk, _ in with_vec], np.int64), np.stack([v for _, v in with_vec]))
                for pk, _, title, content in rows:
                    self.lsh.insert(pk, self._signature(title, content))
                    self.lsh_high_water = max(self.lsh_high_water, pk)
                added += len(rows)
                self.recent.update(dict.fromkeys(chunk, now))   # deleted ones too: they stay out, and are counted
                if progress:
                    log.info("index: took in %d of %d cases stored elsewhere", min(start + 5000, len(missing)),
                             len(missing))
        self._settle()
        return added

    def _settle(self) -> None:
        """Raise the floor to the highest pk taken in at least ``settle_seconds`` ago. A pk below it that the store
        never showed is given up on: a transaction that held a pk that long without committing, or rolled back."""
        cutoff = time.monotonic() - self.settle_seconds
        floor = self.floor
        while self.recent:
            pk, t = next(iter(self.recent.items()))   # oldest first: entries are made in time order
            if t > cutoff:
                break
            del self.recent[pk]
            floor = max(floor, pk)
        if floor > self.floor:
            self.floor = floor
            if self.recent and min(self.recent) <= floor:
                self.recent = {pk: t for pk, t in self.recent.items() if pk > floor}

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
        self.vectors.high_water = self.floor   # the saved marks are the floor: sync() re-reads what lies above it
        self.vectors.save(self.folder / "vectors", self.model)
        self.lsh.save(self.folder / "lsh")
        import json
        manifest = json.loads((self.folder / "lsh" / "manifest.json").read_text())
        manifest["high_water"] = self.floor
        manifest["recent"] = sorted(self.recent)
        manifest["saved_at"] = time.time()   # the listed cases were all taken in by then
        (self.folder / "lsh" / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))

    def __len__(self) -> int:
        return len(self.vectors)


def _default_kind(requested, kind: str, store) -> VectorIndexConfig | None:
    """The vector index config that replaces a flat index when no kind was asked for (``requested`` None) and the
    store holds ``AUTO_IVF_AT`` cases or more: ``ivfsq8`` with :func:`ivf_lists_for` lists. None: keep it."""
    if requested is not None or kind != "flat":
        return None
    stored = store.count()
    if stored < AUTO_IVF_AT:
        return None
    config = VectorIndexConfig(kind="ivfsq8", ivf_lists=ivf_lists_for(stored))
    log.warning("%d stored cases: rebuilding the vector index as %s with %d lists (set TRIAGE_VECTOR_INDEX to "
                "choose the kind)", stored, config.kind, config.ivf_lists)
    return config


def _saved_manifest(lsh_dir: Path) -> dict:
    """The near-duplicate index's saved manifest (the indexes' marks), or {} when there is none readable."""
    import json

    try:
        return json.loads((lsh_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def opening(content: str | None, limit: int = 60) -> str:
    """A precedent's first words, to tell it by when it has no title (a 12345 ticket has none)."""
    text = " ".join(normalise(content or "").split())
    return text[:limit] + ("…" if len(text) > limit else "")


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
