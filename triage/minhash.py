"""Near-duplicate index: MinHash signatures of character shingles, banded LSH, exact Jaccard to verify.

Vectorised with numpy (no Python loop per shingle or per permutation). The LSH keeps one sorted
array of band keys per band, so memory is ``bands × 12`` bytes per case and a lookup is a binary
search per band. Inserts go to a small buffer merged on the next query; removals are tombstones
dropped at the next merge. ``save``/``load`` write plain ``.npy`` files and a manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .artefact import read_manifest, write_manifest
from .normalise import compact

_MERSENNE = np.uint64((1 << 61) - 1)


@dataclass(frozen=True)
class MinHashConfig:
    shingle: int = 3        # characters per shingle
    num_perm: int = 64
    bands: int = 16         # bands × rows == num_perm; threshold ≈ (1/bands)^(1/rows) ≈ 0.5
    seed: int = 1

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands}): "
                             f"try bands={self.num_perm // 4} (rows of 4)")
        if self.shingle < 1:
            raise ValueError("shingle must be ≥ 1 character")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands


def shingles(text: str, k: int = 3, *, normalised: bool = False) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character k-shingles of the compact text."""
    s = text if normalised else compact(text)
    if not s:
        return np.zeros(0, dtype=np.uint64)
    codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < k:
        codes = np.concatenate([codes, np.zeros(k - len(codes), np.uint64)])
    h = np.zeros(len(codes) - k + 1, dtype=np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for i in range(k):
            h = (h ^ codes[i : len(codes) - k + 1 + i]) * mult
            h ^= h >> np.uint64(29)
    return np.unique(h)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two shingle arrays (sorted unique)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """|A ∩ B| / min(|A|, |B|): high when one letter is contained in the other."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    return len(np.intersect1d(a, b, assume_unique=True)) / min(len(a), len(b))


class MinHasher:
    """Signatures: ``num_perm`` universal hashes (a·x + b mod 2^61−1), minimum over the shingles."""

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        rng = np.random.default_rng(self.config.seed)
        self._a = rng.integers(1, (1 << 61) - 1, size=self.config.num_perm, dtype=np.uint64)
        self._b = rng.integers(0, (1 << 61) - 1, size=self.config.num_perm, dtype=np.uint64)

    def signature_of_shingles(self, sh: np.ndarray) -> np.ndarray:
        if len(sh) == 0:
            return np.full(self.config.num_perm, np.uint32(0xFFFFFFFF), dtype=np.uint32)
        x = (sh & _MERSENNE)[:, None]
        with np.errstate(over="ignore"):
            hv = (x * self._a[None, :] + self._b[None, :]) % _MERSENNE
        return (hv.min(axis=0) & np.uint64(0xFFFFFFFF)).astype(np.uint32)

    def signature(self, text: str) -> np.ndarray:
        return self.signature_of_shingles(shingles(text, self.config.shingle))

    def signatures(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.signature(t) for t in texts]) if texts else np.zeros((0, self.config.num_perm), np.uint32)


class LSHIndex:
    """Banded LSH over MinHash signatures: ``insert(id, sig)``, ``query(sig)`` → candidate ids, ``remove(id)``."""

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        b = self.config.bands
        self._keys = [np.zeros(0, np.uint64) for _ in range(b)]
        self._ids = [np.zeros(0, np.int64) for _ in range(b)]
        self._pending_ids: list[int] = []
        self._pending_sigs: list[np.ndarray] = []
        self._removed: set[int] = set()
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

    def insert(self, case_id: int, sig: np.ndarray) -> None:
        self._removed.discard(int(case_id))
        self._pending_ids.append(int(case_id))
        self._pending_sigs.append(np.asarray(sig, dtype=np.uint32))

    def insert_many(self, case_ids: np.ndarray, sigs: np.ndarray) -> None:
        for cid, sig in zip(np.asarray(case_ids).tolist(), np.atleast_2d(sigs)):
            self.insert(cid, sig)

    def remove(self, case_id: int) -> None:
        self._removed.add(int(case_id))

    def _merge(self) -> None:
        if not self._pending_ids and not self._removed:
            return
        new_ids = np.asarray(self._pending_ids, dtype=np.int64)
        new_keys = self.band_keys(np.stack(self._pending_sigs)) if self._pending_ids else np.zeros((0, self.config.bands), np.uint64)
        removed = np.fromiter(self._removed, dtype=np.int64) if self._removed else None
        total = 0
        for band in range(self.config.bands):
            keys = np.concatenate([self._keys[band], new_keys[:, band]])
            ids = np.concatenate([self._ids[band], new_ids])
            if removed is not None and len(ids):
                keep = ~np.isin(ids, removed)
                keys, ids = keys[keep], ids[keep]
            order = np.argsort(keys, kind="stable")
            self._keys[band], self._ids[band] = keys[order], ids[order]
            total = len(ids)
        self._count = total
        self._pending_ids, self._pending_sigs, self._removed = [], [], set()

    def query(self, sig: np.ndarray, limit: int = 200) -> list[int]:
        """Ids that share at least one band with ``sig``, most shared bands first."""
        self._merge()
        keys = self.band_keys(sig)[0]
        hits: dict[int, int] = {}
        for band in range(self.config.bands):
            arr = self._keys[band]
            lo = np.searchsorted(arr, keys[band], side="left")
            hi = np.searchsorted(arr, keys[band], side="right")
            for cid in self._ids[band][lo:hi][:limit].tolist():
                hits[cid] = hits.get(cid, 0) + 1
        return [cid for cid, _ in sorted(hits.items(), key=lambda kv: -kv[1])][:limit]

    def nbytes(self) -> int:
        self._merge()
        return sum(k.nbytes + i.nbytes for k, i in zip(self._keys, self._ids))

    def save(self, folder: Path) -> None:
        self._merge()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "keys.npy", np.stack(self._keys) if self._count else np.zeros((self.config.bands, 0), np.uint64))
        np.save(folder / "ids.npy", np.stack(self._ids) if self._count else np.zeros((self.config.bands, 0), np.int64))
        write_manifest(folder, "minhash-lsh", config=asdict(self.config), count=self._count)

    @classmethod
    def load(cls, folder: Path) -> "LSHIndex":
        manifest = read_manifest(folder, "minhash-lsh")
        self = cls(MinHashConfig(**manifest["config"]))
        keys = np.load(Path(folder) / "keys.npy")
        ids = np.load(Path(folder) / "ids.npy")
        self._keys = [keys[b] for b in range(self.config.bands)]
        self._ids = [ids[b] for b in range(self.config.bands)]
        self._count = int(manifest["count"])
        return self
