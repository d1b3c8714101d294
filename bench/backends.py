"""A distributed vector engine behind the same interface as :class:`triage.index.VectorIndex` (prototype).

:class:`QdrantVectorIndex` speaks to Qdrant through ``qdrant-client``: ``location=":memory:"`` (or a path)
runs Qdrant's local mode in-process — what the swap test uses here — and ``url="http://qdrant:6333"`` points
the very same code at a Qdrant cluster (sharded, replicated, HNSW with payload filters). Proposed home:
``triage/index.py``, chosen by ``VectorIndexConfig.kind = "qdrant"`` (see docs/scale-out.md).

Interface (what ``CaseIndex`` uses): ``add(ids, vecs)``, ``remove(ids)``, ``search(vec, k)`` → (ids, scores),
``__len__``, ``needs_training``/``train``, ``high_water``, ``nbytes``, ``save(folder, model)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from triage.artefact import write_manifest


class QdrantVectorIndex:
    """Cosine search over unit vectors in a Qdrant collection; ids are the store's case pks."""

    def __init__(self, dim: int, collection: str = "cases", location: str | None = ":memory:", url: str | None = None,
                 hnsw_m: int = 32, batch: int = 1024) -> None:
        try:
            from qdrant_client import QdrantClient, models
        except ImportError as exc:  # pragma: no cover - optional backend
            raise ImportError("the qdrant vector backend needs `pip install qdrant-client`") from exc
        self.dim = dim
        self.collection = collection
        self.batch = batch
        self.high_water = 0
        self._models = models
        self._client = QdrantClient(url=url) if url else QdrantClient(location=location)
        if not self._client.collection_exists(collection):
            self._client.create_collection(
                collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                hnsw_config=models.HnswConfigDiff(m=hnsw_m))

    def __len__(self) -> int:
        return int(self._client.count(self.collection, exact=True).count)

    needs_training = False

    def train(self, sample: np.ndarray) -> None:  # nothing to train
        return None

    def add(self, ids, vecs) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        vecs = np.atleast_2d(np.asarray(vecs, dtype=np.float32))
        if vecs.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {vecs.shape[1]}, the collection {self.dim}: "
                             "the embedder changed — rebuild the index")
        for s in range(0, len(ids), self.batch):
            self._client.upsert(self.collection, points=self._models.Batch(
                ids=[int(i) for i in ids[s:s + self.batch]], vectors=vecs[s:s + self.batch].tolist()), wait=True)
        self.high_water = max(self.high_water, int(ids.max()))

    def remove(self, ids) -> int:
        ids = [int(i) for i in ids]
        before = len(self)
        self._client.delete(self.collection, points_selector=self._models.PointIdsList(points=ids), wait=True)
        return before - len(self)

    def search(self, vec, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        if len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        hits = self._client.query_points(self.collection, query=np.asarray(vec, np.float32).ravel().tolist(),
                                         limit=k).points
        return (np.array([h.id for h in hits], dtype=np.int64), np.array([h.score for h in hits], dtype=np.float32))

    def nbytes(self) -> int:
        return len(self) * (self.dim * 4 + 8)  # the engine's own memory is not visible from here

    def save(self, folder: Path, model: str) -> None:
        """Only the manifest: the vectors live in the engine (local mode: in its path)."""
        write_manifest(Path(folder), "vector-index", dim=self.dim, config={"kind": "qdrant", "collection": self.collection},
                       model=model, count=len(self), high_water=self.high_water)
