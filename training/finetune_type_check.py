"""Would fine-tuning the e5 encoder read a letter's type better than the shipped lexical recipe?
``python -m training.finetune_type_check [--top 4] [--epochs 2]`` (~16 min on 2 cores; a one-off measurement, not a
step of training)

The shipped type model (``SHIPPED_RECIPE``) reads the frozen e5 sentence vector beside char/word TF-IDF blocks and
the cue block. Here the encoder's top ``--top`` transformer layers are trained instead, with a linear head on the
mean-pooled tokens (128 tokens, "query: " prefix, AdamW 5e-5 with warm-up and linear decay, batch 16, class weights
(n/count)^0.5). Training rows are the shipped recipe's: the fuzhou training part (repeated ``--fuzhou-repeat``
times, as the target source) and the title-typed Teddy messages on their body only (``bodies``). Tested on the
held-out fuzhou part (same split as the shipped model's manifest) and on the Teddy letters typed by their reply,
each alone and fused with the shipped recipe (weighted mean of log-probabilities over the four main types).

Prints a JSON object (docs/quality.md, "Type: fine-tuning the encoder").
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np

from .common import cached_e5, say, text_of, type_inputs
from .train_type import (MAIN_TYPES, SHIPPED_RECIPE, _macro_f1, bodies, fit_recipe, record_embedder, reply_typed,
                         type_data)

MAX_TOKENS = 128
BATCH = 16


def _finetune(rows: list[tuple[str, int]], top: int, epochs: float, seed: int = 0):
    """(encoder, head) with the encoder's top ``top`` layers and the head trained on (text, label index) rows."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from triage.embed import e5_dir

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(e5_dir()))
    encoder = AutoModel.from_pretrained(str(e5_dir()))
    for p in encoder.parameters():
        p.requires_grad_(False)
    for layer in encoder.encoder.layer[-top:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    head = torch.nn.Linear(encoder.config.hidden_size, len(MAIN_TYPES))
    counts = np.bincount([y for _, y in rows], minlength=len(MAIN_TYPES))
    weights = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    loss_of = torch.nn.CrossEntropyLoss(weight=weights / weights.mean())
    params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimiser = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
    steps = int(len(rows) / BATCH * epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps))
    order: list[int] = []
    while len(order) < steps * BATCH:
        more = list(range(len(rows)))
        rng.shuffle(more)
        order += more

    def pooled(texts: list[str]):
        batch = tokenizer(["query: " + t for t in texts], max_length=MAX_TOKENS, truncation=True, padding=True,
                          return_tensors="pt")
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (encoder(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)

    encoder.train()
    started = time.time()
    for step in range(steps):
        batch = [rows[i] for i in order[step * BATCH:(step + 1) * BATCH]]
        loss = loss_of(head(pooled([t for t, _ in batch])), torch.tensor([y for _, y in batch]))
        loss.backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % 50 == 0:
            say(f"step {step}/{steps} loss {loss.item():.3f} ({time.time() - started:.0f} s)")
    encoder.eval()

    def proba(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return np.vstack([torch.softmax(head(pooled(texts[i:i + 32])), -1).numpy()
                              for i in range(0, len(texts), 32)])

    return proba


def main(argv: list[str] | None = None) -> None:
    from triage.segment import Segmenter

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=4, help="transformer layers trained (from the top)")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--fuzhou-repeat", type=int, default=2)
    args = ap.parse_args(argv)
    train, test = type_data()
    fuzhou = [r for r in train if not r.get("weak")]
    weak = [r for r in train if r.get("weak")]
    index = {t: i for i, t in enumerate(MAIN_TYPES)}
    label = lambda t: index.get(t, index["投诉"])   # noqa: E731  (the two 求助 letters join 投诉, as in the split)
    rows = ([(text_of(r), label(r["type"])) for r in fuzhou] * args.fuzhou_repeat
            + [(text_of(r), label(r["type"])) for r in bodies(weak) if r["type"] in index])
    say(f"fine-tuning the top {args.top} layers on {len(rows)} rows, {args.epochs} epochs")
    finetuned = _finetune(rows, args.top, args.epochs)
    embed = record_embedder(cached_e5())
    shipped = fit_recipe(SHIPPED_RECIPE, Segmenter().load(), fuzhou, embed(fuzhou), weak, embed)
    columns = [shipped.labels.index(t) for t in MAIN_TYPES]
    out: dict = {"top_layers": args.top, "epochs": args.epochs, "rows": len(rows)}
    for name, recs in (("heldout", test), ("reply_typed", reply_typed())):
        truth = [r["type"] for r in recs]
        tuned = finetuned([text_of(r) for r in recs])
        texts, fields = type_inputs(recs)
        base = shipped.predict_proba(texts, embed(recs), fields=fields)[:, columns]
        base = base / base.sum(1, keepdims=True)
        for w in (0.0, 0.25, 0.5, 1.0):   # 0: the shipped recipe alone; 1: the fine-tuned encoder alone
            fused = (1 - w) * np.log(base + 1e-9) + w * np.log(tuned + 1e-9)
            out[f"{name}_macro_f1_finetuned_weight_{w}"] = round(_macro_f1(truth, [MAIN_TYPES[i] for i in fused.argmax(1)]), 4)
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
