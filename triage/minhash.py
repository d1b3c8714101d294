"""Near-duplicate index: MinHash signatures of character shingles, banded LSH, exact Jaccard to verify.

Vectorised with numpy (no Python loop per shingle or per permutation). Signatures use multiply-shift
hashing (``(a·x + b) >> 32`` on uint64, ``a`` odd): the ``mod 2^61 − 1`` of the classic universal family
dominated the cost (~4× slower here); indexes saved with the older family are rebuilt from the store.
The LSH keeps ONE sorted array of composite keys (the band number in the top bits, the band's key
below), so memory is ``bands × 16`` bytes per case and a lookup is a single vectorised
``searchsorted`` for all bands. Inserts go to a small buffer that queries scan and that is merged every
``LSHIndex.MERGE_AT`` ids; removals are filtered at query time and dropped at the next merge. ``save``/``load`` write plain ``.npy`` files and a manifest.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .artefact import read_manifest, write_manifest
from .normalise import compact_codes

_MERSENNE = np.uint64((1 << 61) - 1)


@dataclass(frozen=True)
class MinHashConfig:
    shingle: int = 3        # characters per shingle
    num_perm: int = 64
    bands: int = 16         # bands × rows == num_perm; threshold ≈ (1/bands)^(1/rows) ≈ 0.5
    seed: int = 1
    hash: str = "multiply-shift"   # or "mersenne": (a·x + b) mod 2^61−1, the family of indexes saved before

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands}): "
                             f"try bands={self.num_perm // 4} (rows of 4)")
        if self.shingle < 1:
            raise ValueError("shingle must be ≥ 1 character")
        if self.hash not in ("multiply-shift", "mersenne"):
            raise ValueError(f"hash must be 'multiply-shift' or 'mersenne', not {self.hash!r}")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands


def shingles(text: str, k: int = 3, *, normalised: bool = False) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character k-shingles of the compact text (``normalised``: ``text`` is
    already compact)."""
    if normalised:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    else:
        codes = compact_codes(text)
    return shingles_of_codes(codes, k)


def shingles_of_codes(codes: np.ndarray, k: int = 3) -> np.ndarray:
    """:func:`shingles` of a compact text given as its code points (:func:`~triage.normalise.compact_codes`)."""
    return shingles_of_many([codes], k)[0]


def shingles_of_many(codes_list: list[np.ndarray], k: int = 3) -> list[np.ndarray]:
    """``[shingles_of_codes(codes, k) for codes in codes_list]``, the shingles of all texts hashed in one numpy pass
    over their concatenation (a letter's ~40 candidates: ~3× faster than one text at a time; the windows that
    straddle two texts are hashed too and never used). A text shorter than ``k`` is padded with zeros."""
    texts = []
    for codes in codes_list:
        codes = np.asarray(codes).astype(np.uint64)
        if 0 < len(codes) < k:
            codes = np.concatenate([codes, np.zeros(k - len(codes), np.uint64)])
        texts.append(codes)
    lengths = [len(c) for c in texts]
    joined = np.concatenate(texts) if texts else np.zeros(0, np.uint64)
    windows = len(joined) - k + 1
    h = np.zeros(max(windows, 0), dtype=np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for i in range(k):
            h = (h ^ joined[i: i + windows]) * mult
            h ^= h >> np.uint64(29)
    out, start = [], 0
    for n in lengths:
        # sorted unique: a sort and a neighbour comparison (np.unique hashes first, twice the time at letter sizes)
        own = np.sort(h[start: start + n - k + 1]) if n else np.zeros(0, np.uint64)
        start += n
        if len(own) > 1:
            keep = np.empty(len(own), dtype=bool)
            keep[0] = True
            np.not_equal(own[1:], own[:-1], out=keep[1:])
            own = own[keep]
        out.append(own)
    return out


def shared_count(a: np.ndarray, b: np.ndarray) -> int:
    """|A ∩ B| of two sorted unique arrays: each element of the shorter one looked up in the longer one."""
    if len(a) == 0 or len(b) == 0:
        return 0
    if len(a) > len(b):
        a, b = b, a
    pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return int(np.count_nonzero(b[pos] == a))


def shared_counts(a: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """``[shared_count(a, b) for b in others]`` in one pass: every element of every ``b`` looked up in ``a``."""
    counts = np.zeros(len(others), dtype=np.int64)
    if len(a) == 0 or not others:
        return counts
    lengths = np.fromiter(map(len, others), dtype=np.int64, count=len(others))
    if not lengths.any():
        return counts
    joined = np.concatenate(others)
    pos = np.minimum(np.searchsorted(a, joined), len(a) - 1)
    owner = np.repeat(np.arange(len(others)), lengths)
    return np.bincount(owner[a[pos] == joined], minlength=len(others))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two shingle arrays (sorted unique)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    inter = shared_count(a, b)
    return inter / (len(a) + len(b) - inter)


def overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(Jaccard, containment) of two shingle arrays, from one intersection; containment = |A ∩ B| / min(|A|, |B|),
    high when one letter is contained in the other."""
    if len(a) == 0 or len(b) == 0:
        return 0.0, 0.0
    inter = shared_count(a, b)
    return inter / (len(a) + len(b) - inter), inter / min(len(a), len(b))


class MinHasher:
    """Signatures: ``num_perm`` hashes of each shingle, minimum over the shingles (32 bits kept)."""

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        rng = np.random.default_rng(self.config.seed)
        n = self.config.num_perm
        if self.config.hash == "mersenne":
            self._a = rng.integers(1, (1 << 61) - 1, size=n, dtype=np.uint64)
            self._b = rng.integers(0, (1 << 61) - 1, size=n, dtype=np.uint64)
        else:
            self._a = rng.integers(1, 1 << 63, size=n, dtype=np.uint64) | np.uint64(1)
            self._b = rng.integers(0, 1 << 63, size=n, dtype=np.uint64)

    def signature_of_shingles(self, sh: np.ndarray) -> np.ndarray:
        if len(sh) == 0:
            return np.full(self.config.num_perm, np.uint32(0xFFFFFFFF), dtype=np.uint32)
        with np.errstate(over="ignore"):
            if self.config.hash == "mersenne":
                hv = ((sh & _MERSENNE)[:, None] * self._a[None, :] + self._b[None, :]) % _MERSENNE
                return (hv.min(axis=0) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            hv = sh[:, None] * self._a[None, :]
            hv += self._b[None, :]
        # the top 32 bits of the smallest value are the smallest top 32 bits (the shift keeps order): one pass over
        # the (shingles × permutations) array less, same signature (tested), ~20% faster for a long letter
        return (hv.min(axis=0) >> np.uint64(32)).astype(np.uint32)

    def signature(self, text: str) -> np.ndarray:
        return self.signature_of_shingles(shingles(text, self.config.shingle))

    def signatures(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.signature(t) for t in texts]) if texts else np.zeros((0, self.config.num_perm), np.uint32)


class LSHIndex:
    """Banded LSH over MinHash signatures: ``insert(id, sig)``, ``query(sig)`` → candidate ids, ``remove(id)``."""

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        b = self.config.bands
        self._band_bits = max(1, int(np.ceil(np.log2(b))))
        self._band_tags = np.arange(b, dtype=np.uint64) << np.uint64(64 - self._band_bits)
        self._comp = np.zeros(0, np.uint64)    # sorted composite keys: band tag | band key >> band_bits
        self._cids = np.zeros(0, np.int64)     # the case id of each composite key
        self._pending_ids: list[int] = []
        self._pending_sigs: list[np.ndarray] = []
        self._removed: set[int] = set()
        self._pending_view: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._count = 0
        rng = np.random.default_rng(self.config.seed + 7)
        self._mix = rng.integers(1, 1 << 63, size=self.config.rows, dtype=np.uint64) | np.uint64(1)

    def __len__(self) -> int:
        return self._count + len(self._pending_ids) - len(self._removed)

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """(n, num_perm) uint32 → (n, bands) uint64 band keys."""
        sigs = np.atleast_2d(sigs).astype(np.uint64)
        n = sigs.shape[0]
        r = self.config.rows
        banded = sigs.reshape(n, self.config.bands, r)
        with np.errstate(over="ignore"):
            keys = (banded * self._mix[None, None, :]).sum(axis=2, dtype=np.uint64)
            keys ^= keys >> np.uint64(31)
        return keys

    def _composite(self, keys: np.ndarray) -> np.ndarray:
        """(n, bands) band keys → (n, bands) composite keys, sortable across bands."""
        return (keys >> np.uint64(self._band_bits)) | self._band_tags[None, :]

    # New ids wait in a small buffer that queries scan directly; it is merged into the sorted array when it holds
    # MERGE_AT ids (one O(N) insertion of a sorted block), not on the first query after an insert, so one new
    # letter at 1M stored cases costs microseconds instead of a re-sort of 16M keys. Removed ids are filtered out
    # at query time and dropped at the next merge.
    MERGE_AT = 1024

    def insert(self, case_id: int, sig: np.ndarray) -> None:
        self._removed.discard(int(case_id))
        self._pending_ids.append(int(case_id))
        self._pending_sigs.append(np.asarray(sig, dtype=np.uint32))
        self._pending_view = None
        if len(self._pending_ids) >= self.MERGE_AT:
            self._merge()

    def insert_many(self, case_ids: np.ndarray, sigs: np.ndarray) -> None:
        for cid, sig in zip(np.asarray(case_ids).tolist(), np.atleast_2d(sigs)):
            self.insert(cid, sig)

    def remove(self, case_id: int) -> None:
        self._removed.add(int(case_id))
        if len(self._removed) >= self.MERGE_AT:
            self._merge()

    def _pending(self) -> tuple[np.ndarray, np.ndarray]:
        """The buffer as (composite keys, case ids), computed once per change."""
        view = self._pending_view
        if view is None:
            with self._lock:
                ids, sigs = list(self._pending_ids), list(self._pending_sigs)
            if ids:
                comp = self._composite(self.band_keys(np.stack(sigs))).ravel()
                view = (comp, np.repeat(np.asarray(ids, np.int64), self.config.bands))
            else:
                view = (np.zeros(0, np.uint64), np.zeros(0, np.int64))
            self._pending_view = view
        return view

    def _merge(self) -> None:
        if not self._pending_ids and not self._removed:
            return
        new, new_ids = self._pending()   # the buffer's keys, as queries see them
        with self._lock:
            comp, cids = self._comp, self._cids
            if self._removed and len(cids):
                keep = ~np.isin(cids, np.fromiter(self._removed, dtype=np.int64))
                comp, cids = comp[keep], cids[keep]
            if len(new):
                order = np.argsort(new, kind="stable")
                new, new_ids = new[order], new_ids[order]
                keep = ~np.isin(new_ids, np.fromiter(self._removed, dtype=np.int64)) if self._removed else None
                if keep is not None:
                    new, new_ids = new[keep], new_ids[keep]
                at = np.searchsorted(comp, new, side="right")   # after equal keys: the order a stable sort gives
                comp, cids = np.insert(comp, at, new), np.insert(cids, at, new_ids)
            self._comp, self._cids = comp, cids
            self._count = len(self._cids) // self.config.bands
            self._pending_ids, self._pending_sigs, self._removed = [], [], set()
            self._pending_view = None

    def query(self, sig: np.ndarray, limit: int = 200) -> list[int]:
        """Ids that share at least one band with ``sig``, most shared bands first (then lowest id). Safe to call
        from several threads while no insert or remove runs."""
        keys = self._composite(self.band_keys(sig))[0]
        comp, cids, removed = self._comp, self._cids, self._removed
        lo = np.searchsorted(comp, keys, side="left")
        hi = np.searchsorted(comp, keys, side="right")
        hits: dict[int, int] = {}
        for a, b in zip(lo.tolist(), hi.tolist()):
            if b > a:   # a handful of ids per band: plain Python beats numpy's per-call overhead here
                for cid in cids[a:min(b, a + limit)].tolist():
                    hits[cid] = hits.get(cid, 0) + 1
        if self._pending_ids:
            pcomp, pcids = self._pending()
            rows, cols = np.nonzero(pcomp[None, :] == keys[:, None])
            for cid in pcids[cols].tolist():
                hits[cid] = hits.get(cid, 0) + 1
        if removed:
            hits = {cid: n for cid, n in hits.items() if cid not in removed}
        return sorted(hits, key=lambda cid: (-hits[cid], cid))[:limit]

    def nbytes(self) -> int:
        self._merge()
        return int(self._comp.nbytes + self._cids.nbytes)

    def save(self, folder: Path) -> None:
        self._merge()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "comp.npy", self._comp)
        np.save(folder / "cids.npy", self._cids)
        for old in ("keys.npy", "ids.npy"):
            (folder / old).unlink(missing_ok=True)
        write_manifest(folder, "minhash-lsh", config=asdict(self.config), count=self._count, layout="composite")

    @classmethod
    def load(cls, folder: Path) -> "LSHIndex":
        """Load a saved index. One saved before the composite layout (per-band arrays, mersenne signatures) is
        read as it was written; :class:`triage.retrieve.CaseIndex` rebuilds it when its hash family differs."""
        manifest = read_manifest(folder, "minhash-lsh")
        config = dict(manifest["config"])
        config.setdefault("hash", "mersenne")        # saved before the hash family was recorded
        self = cls(MinHashConfig(**config))
        folder = Path(folder)
        if manifest.get("layout") == "composite":
            self._comp, self._cids = np.load(folder / "comp.npy"), np.load(folder / "cids.npy")
        else:
            keys, ids = np.load(folder / "keys.npy"), np.load(folder / "ids.npy")   # (bands, n) each
            comp = self._composite(keys.T).T.ravel() if keys.size else np.zeros(0, np.uint64)
            order = np.argsort(comp, kind="stable")
            self._comp, self._cids = comp[order], ids.ravel()[order]
        self._count = int(manifest["count"])
        return self
