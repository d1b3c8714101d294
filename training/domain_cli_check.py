"""The domain figure measured through the command line, as the maintainers measure it.

    python -m training.domain_cli_check --models models/default --work /tmp/domain-cli

Copies the bundle, replaces its domain model by one trained on the training part of the split only (the shipped
one has seen the held-out messages), writes the 460 held-out messages as letters JSONL, runs ``triage run`` on
them and prints macro-F1 / accuracy of the first domain suggestion.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from triage.classify import TextClassifier
from triage.segment import Segmenter

from .datasets import teddy_domain_split
from .train import DOMAIN_CONFIG, fields_of, macro_f1, text_of


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/domain-cli"))
    args = parser.parse_args(argv)
    split = teddy_domain_split()
    bundle = args.work / "models"
    shutil.rmtree(args.work, ignore_errors=True)
    shutil.copytree(args.models, bundle)
    shutil.rmtree(bundle / "domain")
    clf = TextClassifier(DOMAIN_CONFIG, Segmenter()).fit(
        [text_of(r) for r in split.train], [r["domain"] for r in split.train], fields=[fields_of(r) for r in split.train])
    clf.save(bundle / "domain", metrics={}, embedder="none", train_n=len(split.train))
    letters = args.work / "heldout.jsonl"
    with open(letters, "w", encoding="utf-8") as fh:
        for r in split.test:
            fh.write(json.dumps({"id": r["id"], "title": r["title"], "content": r["content"],
                                 "received_at": r["received_at"]}, ensure_ascii=False) + "\n")
    out = args.work / "suggestions.jsonl"
    env = {**os.environ, "TRIAGE_MODELS_DIR": str(bundle)}
    with open(letters, "rb") as fin, open(out, "wb") as fout:
        subprocess.run([str(Path(sys.executable).parent / "triage"), "run", "--store",
                        f"sqlite:///{args.work / 'store.db'}"], stdin=fin, stdout=fout, env=env, check=True)
    gold = {r["id"]: r["domain"] for r in split.test}
    y, pred = [], []
    for line in out.read_text(encoding="utf-8").splitlines():
        s = json.loads(line)
        y.append(gold[s["id"]])
        pred.append(s["domain"][0]["label"] if s["domain"] else "")
    acc = sum(a == b for a, b in zip(y, pred)) / len(y)
    print(json.dumps({"letters": len(y), "macro_f1": round(macro_f1(y, pred), 4), "accuracy": round(acc, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
