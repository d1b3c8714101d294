"""The fast tier's model bundle: the engine's own training steps (``training/train.py``) run with the static
embedder instead of e5, so domain/type classifiers and the pair model are calibrated on the static vectors.

    python -m bench.models --embedder models/static-e5 --out data/bench/models-static

The bundle's manifest names the embedder ``static:<folder>``; until ``get_embedder`` accepts that name
(see docs/scale-out.md, "patches"), load it with :func:`load_triage`, which passes the embedder object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from triage.artefact import write_manifest


def static_embedder(path: str | Path):
    from triage.static_embed import StaticEmbedder

    return StaticEmbedder.load(path)


def train_bundle(embedder_dir: str | Path, out: str | Path, steps=("domain", "type", "pairs")) -> dict:
    from training.train import say, train_domain, train_pairs, train_type
    from triage.segment import Segmenter

    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.time()
    emb = static_embedder(embedder_dir)
    segmenter = Segmenter().load()
    metrics = {}
    if "domain" in steps:
        metrics["domain"] = train_domain(emb, segmenter, tmp, False, [])
    if "type" in steps:
        metrics["type"] = train_type(emb, segmenter, tmp, False, [])
    if "pairs" in steps:
        metrics["pairs"] = train_pairs(emb, segmenter, tmp)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M")
    digest = hashlib.sha256(json.dumps(metrics, sort_keys=True).encode()).hexdigest()[:6]
    manifest = write_manifest(tmp, "triage-models", version=f"{out.name}-{stamp}-{digest}", components=list(steps),
                              embedder={"name": f"static:{Path(embedder_dir).resolve()}", "max_seq_length": 128},
                              embedder_key=emb.name, metrics=metrics, decisions_used=0,
                              seconds=round(time.time() - started))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    say(f"wrote {out} in {time.time() - started:.0f}s")
    return manifest


def load_triage(models_dir: str | Path, embedder=None):
    """A loaded :class:`~triage.pipeline.Triage` for a bundle; a ``static:`` bundle gets its embedder passed in."""
    from triage.pipeline import Triage, TriageConfig

    manifest = json.loads((Path(models_dir) / "manifest.json").read_text(encoding="utf-8"))
    name = manifest.get("embedder", {}).get("name", "")
    if embedder is None and name.startswith("static:"):
        embedder = static_embedder(name[len("static:"):])
    return Triage(TriageConfig(models_dir=Path(models_dir))).load(embedder=embedder)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.models")
    p.add_argument("--embedder", required=True, help="a static embedder folder (training/distill.py)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    manifest = train_bundle(args.embedder, args.out)
    print(json.dumps(manifest["metrics"], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
