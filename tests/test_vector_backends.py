"""Swapping the vector engine is a configuration change: Qdrant (local mode, in-process) answers the same
candidate search as faiss through :class:`triage.retrieve.CaseIndex`, including removal.

``qdrant-client`` is pinned in requirements.txt, so `make test` runs this (a missing client fails there); elsewhere
it is skipped when the client is not installed (an optional backend; see docs/scale-out.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from triage.index import VectorIndex, VectorIndexConfig

if os.environ.get("TRIAGE_REQUIRE_MODELS") == "1":   # set by `make test`
    import qdrant_client  # noqa: F401
else:
    qdrant_client = pytest.importorskip("qdrant_client")
PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(PROJECT_DIR))


def _vectors(n: int = 300, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _backends(dim: int):
    from bench.backends import QdrantVectorIndex

    return VectorIndex(dim, VectorIndexConfig(kind="flat")), QdrantVectorIndex(dim, collection="swap-test")


def test_same_neighbours_as_faiss_flat():
    vecs = _vectors()
    ids = np.arange(1, len(vecs) + 1)
    faiss_index, qdrant_index = _backends(vecs.shape[1])
    for index in (faiss_index, qdrant_index):
        index.add(ids, vecs)
        assert len(index) == len(vecs) and index.high_water == len(vecs)
    for q in _vectors(20, seed=1):
        a_ids, a_scores = faiss_index.search(q, 10)
        b_ids, b_scores = qdrant_index.search(q, 10)
        assert list(a_ids) == list(b_ids)
        np.testing.assert_allclose(a_scores, b_scores, atol=1e-4)


def test_removal_and_case_index_swap(tmp_path):
    from triage.retrieve import CaseIndex

    vecs = _vectors(100)
    ids = np.arange(1, 101)
    case_index = CaseIndex(tmp_path / "idx", "toy", vecs.shape[1])
    _, case_index.vectors = _backends(vecs.shape[1])  # the swap: one object behind the same interface
    sigs = np.stack([case_index.minhasher.signature(f"信件{i}号关于小区物业收费的问题") for i in ids])
    case_index.add(list(ids), vecs, sigs)
    top = case_index.candidates(vecs[41], sigs[41], k=5)
    assert max(top, key=top.get) == 42 and top[42] == pytest.approx(1.0, abs=1e-4)
    case_index.remove(42)
    assert len(case_index) == 99
    ids_after, _ = case_index.vectors.search(vecs[41], 5)
    assert 42 not in ids_after
    case_index.save()  # the manifest records which engine holds the vectors
    assert (tmp_path / "idx" / "vectors" / "manifest.json").exists()


def test_refuses_a_changed_embedder():
    _, qdrant_index = _backends(16)
    with pytest.raises(ValueError, match="embedder changed"):
        qdrant_index.add([1], np.ones((1, 8), np.float32))
