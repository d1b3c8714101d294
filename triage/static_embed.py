"""A fast static embedder distilled from e5 on petition text (the bulk / request-path tier).

A letter's vector is the sum of learned vectors of its hashed character n-grams (1-, 2-, 3-grams of
the first ``max_chars`` characters — about what e5 reads in 128 tokens), unit-normalised. No model
runs at encode time: n-gram ids are computed for a whole batch at once with numpy and pooled by
``torch.nn.functional.embedding_bag``, so a letter costs tens of microseconds (≥ 5,000 letters/s on 2 cores
where e5-small does ~9). The table is learned by ``training/distill.py`` to reproduce e5's centred
vectors (the teacher) on petition letters; optional jieba words (``words=True``) cost ~1.4 ms a letter.

Same interface as the other embedders (:mod:`triage.embed`): ``name``, ``dim``, ``encode(text or texts,
kind=...)`` → unit float32 vector(s), shape following the input; ``kind`` is accepted and ignored (the
model is symmetric). ``save(dir)`` / ``load(dir)`` mirror each other: ``weights.safetensors`` (the folded
table, float16), ``teacher_mean.npy`` / ``teacher_pca.npy`` (how teacher vectors map into this space) and
``manifest.json``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .artefact import read_manifest, write_manifest

KIND = "static-embedder"
_SALT = np.uint64(0x9E3779B97F4A7C15)
_MULT = np.uint64(0xBF58476D1CE4E5B9)
_MULT2 = np.uint64(0x94D049BB133111EB)


@dataclass
class StaticConfig:
    """What the model reads and how big it is."""

    dim: int = 256
    buckets: int = 1 << 18           # hashed n-gram vectors (power of two)
    ngrams: tuple[int, ...] = (1, 2, 3)
    max_chars: int = 176             # e5-small@128 reads ~174 characters of a Chinese letter
    words: bool = False              # add jieba words of the same span (quality +, speed ÷ ~10)
    batch_size: int = 1024

    def __post_init__(self) -> None:
        self.ngrams = tuple(int(n) for n in self.ngrams)
        if self.buckets <= 0 or self.buckets & (self.buckets - 1):
            raise ValueError(f"buckets must be a power of two, got {self.buckets}: try {1 << 18}")
        if not self.ngrams or min(self.ngrams) < 1 or max(self.ngrams) > 5:
            raise ValueError(f"ngrams must be sizes between 1 and 5, got {self.ngrams}")
        if self.dim < 8 or self.max_chars < 8:
            raise ValueError("dim and max_chars must be at least 8")


def _mix(h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(31))
        h = h * _MULT
        h = h ^ (h >> np.uint64(29))
        h = h * _MULT2
        return h ^ (h >> np.uint64(32))


def _as_list(texts: str | Sequence[str]) -> tuple[list[str], bool]:
    if isinstance(texts, str):
        return [texts], True
    return list(texts), False


class StaticEmbedder:
    """Hashed character n-gram bag → unit vector. ``features`` is the part shared by training and encoding."""

    def __init__(self, config: StaticConfig | None = None, name: str | None = None) -> None:
        self.config = config or StaticConfig()
        self.dim = self.config.dim
        self.name = name or "static-untrained"
        self.table: np.ndarray | None = None          # (buckets, dim) float32
        self.projection: np.ndarray | None = None     # (dim, dim) during training; folded into table on save
        self.teacher: dict = {}
        self.manifest: dict = {}
        self._torch_table = None
        self._segmenter = None
        self._lock = threading.Lock()

    # -- features ---------------------------------------------------------------------------------
    def _segment(self, texts: list[str]) -> list[list[str]]:
        if self._segmenter is None:
            from .segment import Segmenter
            self._segmenter = Segmenter().load()
        return [self._segmenter.cut(t, drop_stopwords=False) for t in texts]

    def bags(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, offsets) for ``embedding_bag``: bucket ids of every n-gram of every text, grouped by text."""
        cfg = self.config
        cut = [t[: cfg.max_chars] for t in texts]
        n = len(cut)
        joined = "\x00".join(cut) + "\x00"
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        sep = codes == 0
        text_of = np.cumsum(sep) - sep                 # text index of every position
        mask = np.uint64(cfg.buckets - 1)
        parts_ids, parts_seg = [], []
        for k in cfg.ngrams:
            m = len(codes) - k + 1
            if m <= 0:
                continue
            bad = sep[:m].copy()
            h = np.full(m, (k * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
            with np.errstate(over="ignore"):
                for j in range(k):
                    if j:
                        bad |= sep[j:j + m]
                    h = (h ^ codes[j:j + m]) * _MULT
            keep = ~bad
            parts_ids.append(_mix(h[keep]) & mask)
            parts_seg.append(text_of[:m][keep])
        if cfg.words:
            words = self._segment(cut)
            w_ids = [np.array([int.from_bytes(hashlib.blake2b(w.encode("utf-8"), digest_size=8).digest(), "little")
                               for w in ws], dtype=np.uint64) for ws in words]
            parts_ids.append(_mix(np.concatenate(w_ids) if w_ids else np.zeros(0, np.uint64)) & mask)
            parts_seg.append(np.repeat(np.arange(n), [len(w) for w in w_ids]))
        ids = np.concatenate(parts_ids).astype(np.int64) if parts_ids else np.zeros(0, np.int64)
        seg = np.concatenate(parts_seg) if parts_seg else np.zeros(0, np.int64)
        order = np.argsort(seg, kind="stable")
        counts = np.bincount(seg, minlength=n)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return ids[order], offsets

    def features(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """One text's (ids, weights) for training (``texts`` holds one text)."""
        ids, _ = self.bags(texts)
        return ids, np.ones(len(ids), dtype=np.float32)

    # -- weights ----------------------------------------------------------------------------------
    def init_weights(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.table = (rng.standard_normal((self.config.buckets, self.dim)) * 0.05).astype(np.float32)
        self.projection = (np.eye(self.dim) + rng.standard_normal((self.dim, self.dim)) * 0.01).astype(np.float32)
        self._torch_table = None

    def fold(self, used_buckets: np.ndarray | None = None) -> None:
        """Absorb the projection into the table; zero buckets no training text used (they hold only noise)."""
        if self.projection is not None:
            self.table = (self.table @ self.projection).astype(np.float32)
            self.projection = None
        if used_buckets is not None:
            unused = np.ones(self.config.buckets, bool)
            unused[used_buckets] = False
            self.table[unused] = 0.0
        self._torch_table = None

    # -- encoding ---------------------------------------------------------------------------------
    def _table(self):
        if self._torch_table is None:
            import torch

            if self.table is None:
                raise RuntimeError("the static embedder has no weights; load() a trained folder "
                                   "(python -m training.distill train --out DIR)")
            if self.projection is not None:
                self.fold()
            self._torch_table = torch.from_numpy(np.ascontiguousarray(self.table, dtype=np.float32))
        return self._torch_table

    def encode(self, texts: str | Sequence[str], *, kind: str = "passage", **_) -> np.ndarray:
        import torch

        items, single = _as_list(texts)
        table = self._table()
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        bs = self.config.batch_size
        with torch.inference_mode():
            for start in range(0, len(items), bs):
                ids, offsets = self.bags(items[start:start + bs])
                if len(ids) == 0:
                    continue
                bag = torch.nn.functional.embedding_bag(torch.from_numpy(ids), table, torch.from_numpy(offsets),
                                                        mode="sum").numpy()
                norms = np.linalg.norm(bag, axis=1, keepdims=True)
                out[start:start + bs] = bag / np.maximum(norms, 1e-12)
        return out[0] if single else out

    # -- persistence ------------------------------------------------------------------------------
    def digest(self) -> str:
        if self.projection is not None:
            self.fold()
        return hashlib.sha256(np.ascontiguousarray(self.table, dtype=np.float16).tobytes()).hexdigest()[:10]

    def save(self, folder: str | Path, **manifest_fields) -> dict:
        """Write ``weights.safetensors``, the teacher mapping and ``manifest.json`` (mirrors :meth:`load`)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.name == "static-untrained":
            self.name = f"static-{self.digest()}"
        if self.projection is not None:
            self.fold()
        save_file({"table": np.ascontiguousarray(self.table, dtype=np.float16)}, str(folder / "weights.safetensors"))
        if self.teacher.get("mean") is not None:
            np.save(folder / "teacher_mean.npy", np.asarray(self.teacher["mean"], np.float32))
            np.save(folder / "teacher_pca.npy", np.asarray(self.teacher["pca"], np.float32))
        config = asdict(self.config)
        config["ngrams"] = list(config["ngrams"])
        self.manifest = write_manifest(folder, KIND, name=self.name, dim=self.dim, config=config,
                                       teacher_name=self.teacher.get("name"), **manifest_fields)
        return self.manifest

    @classmethod
    def load(cls, folder: str | Path) -> "StaticEmbedder":
        from safetensors.numpy import load_file

        folder = Path(folder)
        manifest = read_manifest(folder, KIND)
        config = StaticConfig(**{**manifest["config"], "ngrams": tuple(manifest["config"]["ngrams"])})
        self = cls(config, name=manifest["name"])
        table = load_file(str(folder / "weights.safetensors"))["table"]
        if table.shape != (config.buckets, config.dim):
            from .errors import ModelMissing
            raise ModelMissing(f"{folder}: weights have shape {table.shape}, the manifest says "
                               f"({config.buckets}, {config.dim}); re-run training/distill.py")
        self.table = table.astype(np.float32)
        if (folder / "teacher_mean.npy").exists():
            self.teacher = {"name": manifest.get("teacher_name"), "mean": np.load(folder / "teacher_mean.npy"),
                            "pca": np.load(folder / "teacher_pca.npy")}
        self.manifest = manifest
        return self

    def teacher_to_static(self, vectors: np.ndarray) -> np.ndarray:
        """Map teacher (e5) vectors into this model's space (centre, project, normalise): for cross-checks."""
        if not self.teacher:
            raise RuntimeError("this model was saved without its teacher mapping")
        y = (np.atleast_2d(vectors) - self.teacher["mean"]) @ self.teacher["pca"]
        return (y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)).astype(np.float32)
