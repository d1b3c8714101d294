"""Vector index over stored cases (faiss), by name: ``flat`` (exact; the default below 50,000 stored cases,
``triage.retrieve.AUTO_IVF_AT``), ``ivfsq8`` (inverted lists of 8-bit codes: ~270 B a vector, recall@10 ≈ 0.94
at 1M, removal supported — the choice for millions), ``hnsw`` / ``hnswsq8`` (graph; removal by rebuild) or
``ivfpq`` (smallest, least exact). Ids are store
primary keys. The kinds that need training (ivf*, *sq8) train on the first vectors they are given.
``save``/``load`` use ``faiss.write_index`` plus a manifest holding the high-water mark (largest case pk
covered), so that on start the index catches up with the store instead of being rebuilt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .artefact import read_manifest, write_manifest


KINDS = ("flat", "ivfsq8", "hnsw", "hnswsq8", "ivfpq")
REMOVABLE = ("flat", "ivfsq8", "ivfpq")   # the graph kinds are rebuilt from the store instead


@dataclass
class VectorIndexConfig:
    kind: str = "flat"   # flat | ivfsq8 | hnsw | hnswsq8 | ivfpq (see KINDS)
    hnsw_m: int = 32
    ivf_lists: int = 1024
    pq_m: int = 48
    nprobe: int = 16

    @classmethod
    def from_env(cls) -> "VectorIndexConfig | None":
        """``TRIAGE_VECTOR_INDEX`` (a kind), ``TRIAGE_VECTOR_LISTS``, ``TRIAGE_VECTOR_NPROBE``; None when unset."""
        import os

        kind = os.environ.get("TRIAGE_VECTOR_INDEX")
        if not kind:
            return None
        if kind not in KINDS:
            raise ValueError(f"TRIAGE_VECTOR_INDEX={kind!r}: use one of {', '.join(KINDS)}")
        cfg = cls(kind=kind)
        if os.environ.get("TRIAGE_VECTOR_LISTS"):
            cfg.ivf_lists = int(os.environ["TRIAGE_VECTOR_LISTS"])
        if os.environ.get("TRIAGE_VECTOR_NPROBE"):
            cfg.nprobe = int(os.environ["TRIAGE_VECTOR_NPROBE"])
        return cfg


class VectorIndex:
    """``add(ids, vecs)``, ``remove(ids)``, ``search(vec, k)`` → (ids, scores); inner product on unit vectors."""

    def __init__(self, dim: int, config: VectorIndexConfig | None = None) -> None:
        import faiss

        self.dim = dim
        self.config = config or VectorIndexConfig()
        self.high_water = 0
        kind = self.config.kind
        if kind == "flat":
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif kind == "hnsw":
            self._index = faiss.IndexIDMap2(faiss.IndexHNSWFlat(dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT))
        elif kind == "hnswsq8":
            self._index = faiss.IndexIDMap2(faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, self.config.hnsw_m,
                                                              faiss.METRIC_INNER_PRODUCT))
        elif kind in ("ivfpq", "ivfsq8"):
            if kind == "ivfpq" and dim % self.config.pq_m:
                raise ValueError(f"pq_m {self.config.pq_m} must divide the dimension {dim}")
            self._ivf(self.config.ivf_lists)
        else:
            raise ValueError(f"unknown vector index kind '{kind}': use one of {', '.join(KINDS)}")

    def _ivf(self, lists: int) -> None:
        """A fresh, untrained inverted-file index of this config's kind with ``lists`` lists."""
        import faiss

        self._quantizer = faiss.IndexFlatIP(self.dim)   # kept alive beside the index that points to it
        if self.config.kind == "ivfsq8":
            self._index = faiss.IndexIVFScalarQuantizer(self._quantizer, self.dim, lists, faiss.ScalarQuantizer.QT_8bit,
                                                        faiss.METRIC_INNER_PRODUCT)
        else:
            self._index = faiss.IndexIVFPQ(self._quantizer, self.dim, lists, self.config.pq_m, 8,
                                           faiss.METRIC_INNER_PRODUCT)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def needs_training(self) -> bool:
        return not self._index.is_trained

    def train(self, sample: np.ndarray) -> None:
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        if self.config.kind.startswith("ivf") and len(sample) < self.config.ivf_lists:
            # fewer vectors than lists: as many lists as vectors allow (faiss needs ≥ 1 training point per list)
            self.config.ivf_lists = max(1, len(sample) // 4)
            self._ivf(self.config.ivf_lists)
        self._index.train(sample)

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        vecs = np.ascontiguousarray(np.atleast_2d(vecs), dtype=np.float32)
        if vecs.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {vecs.shape[1]}, the index {self.dim}: "
                             "the embedder changed — rebuild the index (triage import --rebuild)")
        if self.needs_training:   # the first vectors of a trained kind: train on them
            self.train(vecs)
        self._index.add_with_ids(vecs, ids)
        self.high_water = max(self.high_water, int(ids.max()))

    def remove(self, ids) -> int:
        import faiss

        if self.config.kind not in REMOVABLE:
            raise NotImplementedError(f"a {self.config.kind} index does not support removal: rebuild it from the store")
        return int(self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(list(ids), dtype=np.int64))))

    def search(self, vec: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        if len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if self.config.kind.startswith("ivf"):
            self._index.nprobe = self.config.nprobe
        q = np.ascontiguousarray(np.atleast_2d(vec), dtype=np.float32)
        scores, ids = self._index.search(q, min(k, len(self)))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def nbytes(self) -> int:
        import faiss

        return int(faiss.serialize_index(self._index).nbytes)

    def save(self, folder: Path, model: str) -> None:
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "vectors.faiss.tmp"
        faiss.write_index(self._index, str(tmp))
        tmp.replace(folder / "vectors.faiss")
        write_manifest(folder, "vector-index", dim=self.dim, config=asdict(self.config), model=model,
                       count=len(self), high_water=self.high_water)

    @classmethod
    def load(cls, folder: Path) -> tuple["VectorIndex", dict]:
        import faiss

        manifest = read_manifest(folder, "vector-index")
        self = cls.__new__(cls)
        self.dim = int(manifest["dim"])
        self.config = VectorIndexConfig(**manifest["config"])
        self._index = faiss.read_index(str(Path(folder) / "vectors.faiss"))
        self.high_water = int(manifest["high_water"])
        return self, manifest
