"""Distil e5-small into a static embedder on petition text: ``python -m training.distill {teacher,train}``.

prepare → teacher → train → evaluate, each step with inputs and outputs:

- **prepare** (:func:`distill_corpus`): every letter text of ``../shared/datasets`` (Teddy titles, details,
  messages, hot issues, replies, unlabeled; Fuzhou appeals) in the form the pipeline embeds
  (``normalise(title + "\\n" + content)``), de-duplicated. Letters of the hand-labelled pairs
  (``corpora/pairs/*.jsonl``) — and any text identical to, or a near-duplicate of, one of them (3-shingle
  Jaccard ≥ 0.5) — are **excluded**, so that the pair evaluation below is on letters the student never saw.
  The rest is split 90/10 by a hash of the text (``holdout``).
- **teacher** (:func:`fill_teacher`): e5-small@128 ``passage`` vectors, read from the shared
  :class:`~triage.embed.VectorCache` (``.cache/vectors/vectors.sqlite``) and, with ``--fill``, computed for
  texts still missing (slow: ~8 letters/s; one thread, resumable).
- **train** (:func:`train_static`): :class:`~triage.static_embed.StaticEmbedder` fitted on the training part
  to match the teacher: cosine to the teacher's centred vector (PCA to ``dim``) + matching the in-batch
  similarity matrix (relational term), Adam on torch; a few minutes on 2 cores.
- **evaluate** (:func:`evaluate_embedders`): held-out cosine to the teacher, and on the labelled pairs the
  ROC AUC of cosine (duplicate vs rest) and the pair model's out-of-fold duplicate F1 (``training/train.py``),
  side by side with e5, plus throughput.

    python -m training.distill teacher --fill --limit 3000      # add e5 vectors for missing texts
    python -m training.distill train --out models/static-e5     # ~3 min
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from triage.normalise import compact, normalise
from triage.records import letter_text

from .datasets import PROJECT_DIR, read_csv

TEACHER = "e5-small@128"
CACHE_PATH = PROJECT_DIR / ".cache" / "vectors" / "vectors.sqlite"


def _say(msg: str) -> None:
    print(f"[distill] {msg}", file=sys.stderr, flush=True)


def _text(title: str, content: str) -> str:
    title, content = (title or "").strip(), (content or "").strip()
    return normalise(letter_text(title, content))


# -- prepare ------------------------------------------------------------------------------------------

def raw_texts() -> list[tuple[str, str]]:
    """(source, text) for every letter-like text in the shared datasets, in the pipeline's embedded form."""
    out: list[tuple[str, str]] = []
    for name in ("messages_labeled", "hot_issues", "replies", "unlabeled"):
        for r in read_csv(f"teddy2020/{name}.csv"):
            out.append((f"teddy/{name}", _text(r["留言主题"], r["留言详情"])))
    for r in read_csv("teddy2020/titles_labeled.csv"):
        out.append(("teddy/titles", _text("", r["留言主题"])))
    for r in read_csv("teddy2020/details_labeled.csv"):
        out.append(("teddy/details", _text("", r["留言详情"])))
    for r in read_csv("fuzhou_water/appeals.csv"):
        out.append(("fuzhou/appeals", _text(r["标题"], r["投诉件内容"])))
    return [(s, t) for s, t in out if t]


def pair_letters() -> list[dict]:
    """Every letter that appears in a labelled pair."""
    from .pairs import load_pairs

    letters = {}
    for p in load_pairs():
        letters[p["a"]["id"]] = p["a"]
        letters[p["b"]["id"]] = p["b"]
    return list(letters.values())


def _is_holdout(text: str, fraction: float) -> bool:
    h = int(hashlib.sha1(("holdout\x00" + text).encode("utf-8")).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


@dataclass
class DistillCorpus:
    train: list[str]
    holdout: list[str]
    excluded: int          # texts dropped because they are (near-)copies of labelled-pair letters
    sources: dict


def distill_corpus(holdout_fraction: float = 0.1, exclude_pairs: bool = True, near_dup: float = 0.5) -> DistillCorpus:
    """De-duplicated corpus with the labelled-pair letters (and their near-copies) removed."""
    from triage.minhash import LSHIndex, MinHashConfig, MinHasher, jaccard, shingles

    seen: set[str] = set()
    items: list[tuple[str, str]] = []
    for source, text in raw_texts():
        key = compact(text)
        if key and key not in seen:
            seen.add(key)
            items.append((source, text))
    excluded = 0
    if exclude_pairs:
        letters = pair_letters()
        blocked: set[str] = set()
        for rec in letters:
            blocked.add(compact(_text(rec.get("title", ""), rec["content"])))
            blocked.add(compact(rec["content"]))
            if rec.get("title"):
                blocked.add(compact(rec["title"]))
        cfg = MinHashConfig(num_perm=64, bands=32)  # rows of 2: catches Jaccard ≳ 0.2 candidates, verified below
        hasher, lsh = MinHasher(cfg), LSHIndex(cfg)
        pair_sh = []
        for i, rec in enumerate(letters):
            sh = shingles(_text(rec.get("title", ""), rec["content"]), 3)
            pair_sh.append(sh)
            lsh.insert(i, hasher.signature_of_shingles(sh))
        kept = []
        for source, text in items:
            if compact(text) in blocked:
                excluded += 1
                continue
            sh = shingles(text, 3)
            if any(jaccard(sh, pair_sh[j]) >= near_dup for j in lsh.query(hasher.signature_of_shingles(sh), 50)):
                excluded += 1
                continue
            kept.append((source, text))
        items = kept
    train, hold = [], []
    sources: dict[str, int] = {}
    for source, text in items:
        sources[source] = sources.get(source, 0) + 1
        (hold if _is_holdout(text, holdout_fraction) else train).append(text)
    return DistillCorpus(train=train, holdout=hold, excluded=excluded, sources=sources)


# -- teacher ------------------------------------------------------------------------------------------

def teacher_vectors(texts: list[str], cache_path: Path = CACHE_PATH) -> dict[str, np.ndarray]:
    """Cached e5 vectors for the texts that have one (text → 384-d unit vector)."""
    from triage.embed import VectorCache

    cache = VectorCache(cache_path)
    keys = {VectorCache.key(TEACHER, "passage", t): t for t in texts}
    found = cache.get_many(list(keys))
    return {keys[k]: v for k, v in found.items() if v.shape[0] == 384}


def fill_teacher(texts: list[str], limit: int, threads: int = 1, cache_path: Path = CACHE_PATH) -> int:
    """Embed up to ``limit`` texts that have no cached teacher vector (through :class:`CachedEmbedder`)."""
    from triage.embed import EmbedderConfig, get_embedder

    have = teacher_vectors(texts, cache_path)
    missing = [t for t in texts if t not in have]
    random.Random(5).shuffle(missing)  # a partial fill covers every source
    missing = missing[:limit]
    _say(f"{len(have)} texts have teacher vectors; embedding {len(missing)} more with {TEACHER} ({threads} thread)")
    if not missing:
        return 0
    emb = get_embedder(EmbedderConfig(name="e5-small", threads=threads, cache_dir=cache_path.parent))
    for start in range(0, len(missing), 256):  # CachedEmbedder stores every 256: an interrupted run keeps them
        emb.encode(missing[start:start + 256])
        _say(f"  {min(start + 256, len(missing))}/{len(missing)}")
    return len(missing)


# -- train --------------------------------------------------------------------------------------------

@dataclass
class DistillConfig:
    epochs: int = 3                    # the held-out cosine plateaus after 2-3 epochs (the table overfits after)
    batch_size: int = 128
    lr: float = 3e-3
    relational_weight: float = 1.0     # weight of the in-batch similarity-matrix term
    token_dropout: float = 0.2         # drop this share of a text's n-grams per step (augmentation)
    weight_decay: float = 1e-4         # L2 on the n-gram vectors a step touches (prior "zero")
    prior: str = "lexical"             # "lexical": start from, and decay towards, an IDF-scaled random code per
                                       # n-gram (a random projection of TF-IDF: unseen names still match
                                       # lexically); "zero": plain init, unused buckets zeroed
    prior_decay: float = 1.0           # decoupled decay towards the prior (× lr per touch)
    seed: int = 0
    threads: int = 2


def _teacher_targets(T: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre the teacher's vectors (e5 cosines bunch near 0.9) and keep the top ``dim`` principal directions."""
    mean = T.mean(axis=0)
    C = T - mean
    _, _, vt = np.linalg.svd(C, full_matrices=False)
    P = vt[:dim].T.astype(np.float32)                      # (384, dim)
    Y = C @ P
    Y /= np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-9)
    return Y.astype(np.float32), mean.astype(np.float32), P


def train_static(texts: list[str], teacher: np.ndarray, config=None, train_config: DistillConfig | None = None,
                 holdout: tuple[list[str], np.ndarray] | None = None, log=_say):
    """Fit a :class:`StaticEmbedder` to the teacher's centred vectors. Returns (embedder, history).

    The table is updated lazily (Adam moments only for the rows a batch touches, on a compact copy of
    those rows), which is ~20× faster than ``SparseAdam`` on this CPU.
    """
    import torch

    from triage.static_embed import StaticConfig, StaticEmbedder

    cfg = config or StaticConfig()
    if cfg.dim > min(teacher.shape):
        raise ValueError(f"dim {cfg.dim} exceeds the teacher's {teacher.shape[1]} dimensions")
    tc = train_config or DistillConfig()
    torch.manual_seed(tc.seed)
    torch.set_num_threads(tc.threads)
    Y, mean, P = _teacher_targets(teacher, cfg.dim)
    model = StaticEmbedder(cfg)
    model.init_weights(seed=tc.seed)
    feats = [model.features([t])[0] for t in texts]           # bucket ids per text, computed once
    prior = None
    if tc.prior == "lexical":
        df = np.bincount(np.concatenate([np.unique(f) for f in feats]), minlength=cfg.buckets)
        idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        prior = model.table * (idf / idf.mean())[:, None].astype(np.float32)
        model.table = prior.copy()
        prior = torch.from_numpy(prior)
    elif tc.prior != "zero":
        raise ValueError(f"unknown prior {tc.prior!r}: use 'lexical' or 'zero'")
    table = torch.from_numpy(model.table)
    m1, m2 = torch.zeros_like(table), torch.zeros_like(table)
    proj = torch.nn.Parameter(torch.from_numpy(model.projection))
    opt_dense = torch.optim.Adam([proj], lr=tc.lr * 0.3)
    hold_Y = None
    if holdout:
        hold_Y = (holdout[1] - mean) @ P
        hold_Y /= np.maximum(np.linalg.norm(hold_Y, axis=1, keepdims=True), 1e-9)
    Yt = torch.from_numpy(Y)
    rng = np.random.default_rng(tc.seed)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def batch_ids(idx):
        parts = [feats[i] for i in idx]
        if tc.token_dropout:
            parts = [f[rng.random(len(f)) >= tc.token_dropout] if len(f) > 4 else f for f in parts]
        ids = np.concatenate(parts)
        offsets = np.cumsum([0] + [len(f) for f in parts[:-1]])
        return ids, offsets

    def evaluate_holdout() -> float:
        probe = StaticEmbedder(cfg)
        probe.table = table.numpy() @ proj.detach().numpy()
        ho = probe.encode(holdout[0])
        return round(float((ho * hold_Y).sum(1).mean()), 4)

    history = []
    n = len(texts)
    steps_per_epoch = math.ceil(n / tc.batch_size)
    started, step = time.time(), 0
    for epoch in range(tc.epochs):
        order = rng.permutation(n)
        total = 0.0
        lr = tc.lr * 0.5 * (1 + math.cos(math.pi * epoch / tc.epochs))  # cosine decay per epoch
        for g in opt_dense.param_groups:
            g["lr"] = lr * 0.3
        for s in range(steps_per_epoch):
            idx = order[s * tc.batch_size:(s + 1) * tc.batch_size]
            ids, offsets = batch_ids(idx)
            uniq, inv = np.unique(ids, return_inverse=True)
            u = torch.from_numpy(uniq)
            rows = table[u].requires_grad_(True)
            bag = torch.nn.functional.embedding_bag(torch.from_numpy(inv.astype(np.int64)), rows,
                                                    torch.from_numpy(offsets), mode="sum")
            out = torch.nn.functional.normalize(bag @ proj, dim=1)
            y = Yt[idx]
            loss = (1 - (out * y).sum(1)).mean()
            if tc.relational_weight:
                loss = loss + tc.relational_weight * ((out @ out.T - y @ y.T) ** 2).mean()
            opt_dense.zero_grad()
            loss.backward()
            opt_dense.step()
            step += 1
            with torch.no_grad():
                g = rows.grad if prior is not None else rows.grad + tc.weight_decay * rows.detach()
                mu = m1[u].mul_(b1).add_(g, alpha=1 - b1)
                nu = m2[u].mul_(b2).addcmul_(g, g, value=1 - b2)
                m1[u], m2[u] = mu, nu
                corr = math.sqrt(1 - b2 ** step) / (1 - b1 ** step)
                new = rows.detach() - lr * corr * mu / (nu.sqrt() + eps)
                if prior is not None:
                    new -= lr * tc.prior_decay * (new - prior[u])
                table[u] = new
            total += float(loss.detach()) * len(idx)
        row = {"epoch": epoch + 1, "train_loss": round(total / n, 5), "seconds": round(time.time() - started, 1)}
        if holdout:
            row["holdout_cosine"] = evaluate_holdout()
        history.append(row)
        log(json.dumps(row))
    model.table = table.numpy().copy()
    model.projection = proj.detach().numpy().copy()
    model.fold(used_buckets=np.unique(np.concatenate(feats)) if prior is None else None)
    model.teacher = {"name": TEACHER, "mean": mean, "pca": P}
    if holdout:
        ho = model.encode(holdout[0])
        history[-1]["holdout_cosine_folded"] = round(float((ho * hold_Y).sum(1).mean()), 4)
    return model, history


# -- evaluate -----------------------------------------------------------------------------------------

def pair_auc(pairs: list[dict], embedder) -> dict:
    """ROC AUC of cosine(a, b): duplicate vs the rest, and duplicate vs related (the hard part)."""
    from sklearn.metrics import roc_auc_score

    from .train import text_of

    letters = {}
    for p in pairs:
        letters[p["a"]["id"]] = text_of(p["a"])
        letters[p["b"]["id"]] = text_of(p["b"])
    ids = list(letters)
    V = np.atleast_2d(embedder.encode([letters[i] for i in ids]))
    pos = {i: k for k, i in enumerate(ids)}
    cos = np.array([float(V[pos[p["a"]["id"]]] @ V[pos[p["b"]["id"]]]) for p in pairs])
    y = np.array([p["label"] == "duplicate" for p in pairs])
    hard = np.array([p["label"] != "unrelated" for p in pairs])
    return {"auc_duplicate_vs_rest": round(float(roc_auc_score(y, cos)), 4),
            "auc_duplicate_vs_related": round(float(roc_auc_score(y[hard], cos[hard])), 4),
            "mean_cos_duplicate": round(float(cos[y].mean()), 4),
            "mean_cos_unrelated": round(float(cos[np.array([p["label"] == "unrelated" for p in pairs])].mean()), 4)}


def pair_model_f1(pairs: list[dict], embedder, segmenter) -> dict:
    """The engine's pair model (features incl. this embedder's cosine), out-of-fold duplicate F1."""
    from triage.dedup import FEATURES, PairModelConfig

    from .train import baseline_threshold_f1, evaluate_pairs, pair_folds, pair_matrix

    y = [p["label"] for p in pairs]
    X = pair_matrix(pairs, embedder, segmenter)
    folds = pair_folds(pairs)
    _, metrics = evaluate_pairs(X, y, folds, PairModelConfig())
    metrics["cosine_threshold_f1"] = baseline_threshold_f1(X[:, FEATURES.index("cosine")], y, folds)
    return metrics


def throughput(embedder, texts: list[str], seconds: float = 5.0, batch: int = 256) -> float:
    """Letters per second in batches of ``batch`` (after one warm-up batch)."""
    embedder.encode(texts[:batch])
    done, started = 0, time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        chunk = texts[i:i + batch] or texts[:batch]
        embedder.encode(chunk)
        done += len(chunk)
        i = (i + batch) % max(len(texts) - batch, 1)
    return done / (time.perf_counter() - started)


class _CachedTeacher:
    """e5 vectors from the cache only (for evaluation side by side; computes what is missing)."""

    name = TEACHER
    dim = 384

    def __init__(self) -> None:
        self._emb = None

    def encode(self, texts, kind: str = "passage", **_):
        from triage.embed import EmbedderConfig, get_embedder

        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        if self._emb is None:
            self._emb = get_embedder(EmbedderConfig(name="e5-small", cache_dir=CACHE_PATH.parent, threads=2))
        out = self._emb.encode(items, kind=kind)
        return out[0] if single else out


def evaluate_embedders(embedders: dict, pairs: list[dict] | None = None, segmenter=None,
                       speed_texts: list[str] | None = None, speed_seconds: float = 5.0) -> dict:
    """Side-by-side figures for each named embedder."""
    from .pairs import load_pairs

    pairs = pairs if pairs is not None else load_pairs()
    if segmenter is None:
        from triage.segment import Segmenter
        segmenter = Segmenter().load()
    out = {}
    for name, emb in embedders.items():
        row = {"pairs_n": len(pairs)}
        row.update(pair_auc(pairs, emb))
        row.update({f"pair_model_{k}": v for k, v in pair_model_f1(pairs, emb, segmenter).items()})
        if speed_texts is not None and name != "e5-small":
            row["letters_per_s"] = round(throughput(emb, speed_texts, speed_seconds))
        out[name] = row
        _say(f"{name}: {json.dumps(row, ensure_ascii=False)}")
    return out


# -- command line -------------------------------------------------------------------------------------

def _evaluate_saved(folder: str, corpus: DistillCorpus, compare_e5: bool) -> int:
    from triage.static_embed import StaticEmbedder

    model = StaticEmbedder.load(folder)
    tv = teacher_vectors(corpus.holdout)
    hold = [t for t in corpus.holdout if t in tv]
    fidelity = None
    if model.teacher:
        target = model.teacher_to_static(np.stack([tv[t] for t in hold]))
        fidelity = round(float((model.encode(hold) * target).sum(1).mean()), 4)
    embs = {"e5-small": _CachedTeacher(), "static": model} if compare_e5 else {"static": model}
    metrics = {"holdout_cosine_to_teacher": fidelity, "holdout_n": len(hold),
               "excluded_pair_copies": corpus.excluded, "pairs": evaluate_embedders(embs, speed_texts=hold * 3)}
    path = Path(folder) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["metrics"] = {**manifest.get("metrics", {}), **metrics}
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    print(json.dumps(metrics, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.distill", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("teacher", help="count (and with --fill, compute) cached e5 teacher vectors")
    p.add_argument("--fill", action="store_true")
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("train", help="distil the static embedder from cached teacher vectors")
    p.add_argument("--out", required=True)
    p.add_argument("--dim", type=int, default=None)
    p.add_argument("--buckets", type=int, default=None)
    p.add_argument("--max-chars", type=int, default=None)
    p.add_argument("--words", action="store_true", help="add jieba words (slower: ~700 letters/s per core)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--relational", type=float, default=None)
    p.add_argument("--no-eval", action="store_true", help="skip the labelled-pair evaluation")
    p.add_argument("--compare-e5", action="store_true", help="also evaluate e5 itself on the pairs (cached vectors)")
    p = sub.add_parser("evaluate", help="held-out fidelity, labelled pairs (side by side with e5) and speed of a "
                                        "saved model; the figures are written into its manifest")
    p.add_argument("model")
    p.add_argument("--compare-e5", action="store_true")
    args = parser.parse_args(argv)

    corpus = distill_corpus()
    if args.cmd == "evaluate":
        return _evaluate_saved(args.model, corpus, args.compare_e5)
    _say(f"corpus: {len(corpus.train)} train / {len(corpus.holdout)} held-out texts; {corpus.excluded} excluded as "
         f"(near-)copies of labelled-pair letters; by source {corpus.sources}")
    if args.cmd == "teacher":
        if args.fill:
            fill_teacher(corpus.train + corpus.holdout, args.limit, args.threads)
        have = teacher_vectors(corpus.train + corpus.holdout)
        print(json.dumps({"texts": len(corpus.train) + len(corpus.holdout), "with_teacher": len(have)}))
        return 0

    from triage.static_embed import StaticConfig

    cfg = StaticConfig()
    for field, value in (("dim", args.dim), ("buckets", args.buckets), ("max_chars", args.max_chars)):
        if value is not None:
            setattr(cfg, field, value)
    if args.words:
        cfg.words = True
    tc = DistillConfig()
    if args.epochs is not None:
        tc.epochs = args.epochs
    if args.relational is not None:
        tc.relational_weight = args.relational
    tv = teacher_vectors(corpus.train + corpus.holdout)
    train_texts = [t for t in corpus.train if t in tv]
    hold_texts = [t for t in corpus.holdout if t in tv]
    _say(f"teacher vectors: {len(train_texts)} train, {len(hold_texts)} held-out")
    started = time.time()
    model, history = train_static(train_texts, np.stack([tv[t] for t in train_texts]), cfg, tc,
                                  holdout=(hold_texts, np.stack([tv[t] for t in hold_texts])))
    seconds = round(time.time() - started, 1)
    metrics = {"holdout_cosine_to_teacher": history[-1].get("holdout_cosine"), "train_seconds": seconds,
               "train_n": len(train_texts), "holdout_n": len(hold_texts), "excluded_pair_copies": corpus.excluded}
    if not args.no_eval:
        embs = {"static": model}
        if args.compare_e5:
            embs = {"e5-small": _CachedTeacher(), **embs}
        metrics["pairs"] = evaluate_embedders(embs, speed_texts=hold_texts * 3)
    data_hash = hashlib.sha256("\x00".join(train_texts).encode("utf-8")).hexdigest()[:16]
    model.save(args.out, metrics=metrics, history=history, data_hash=data_hash, train_config=asdict(tc),
               teacher=TEACHER)
    print(json.dumps(metrics, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
