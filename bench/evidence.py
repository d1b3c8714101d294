"""What the evidence of the domain and type costs a suggestion: ``Triage.classify`` per letter with it and with it
turned off (``TextClassifier.weighing_words`` and ``triage.pipeline.type_evidence`` giving nothing), rounds
interleaved in one run, the ratio printed.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.evidence [--letters 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import triage.pipeline as pipeline
from training.datasets import PROJECT_DIR, teddy_messages
from triage.classify import TextClassifier
from triage.pipeline import Triage, TriageConfig
from triage.records import Letter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    tri = Triage(TriageConfig(models_dir=PROJECT_DIR / "models" / "default",
                              vector_cache=PROJECT_DIR / ".cache" / "vectors")).load()
    prepared = tri.prepare([Letter(id=None, title=m.get("title") or "", content=m["content"])
                            for m in teddy_messages()[: args.letters]])
    tri.warm_up()
    words, evidence = TextClassifier.weighing_words, pipeline.type_evidence

    def per_letter_ms() -> float:
        start = time.perf_counter()
        for p in prepared:
            tri.classify(p)
        return (time.perf_counter() - start) / len(prepared) * 1000

    on, off = [], []
    try:
        for _ in range(args.rounds):
            TextClassifier.weighing_words, pipeline.type_evidence = words, evidence
            on.append(per_letter_ms())
            TextClassifier.weighing_words = lambda self, text, label, k=4: []
            pipeline.type_evidence = lambda *a, **k: []
            off.append(per_letter_ms())
    finally:
        TextClassifier.weighing_words, pipeline.type_evidence = words, evidence
    a, b = statistics.median(off), statistics.median(on)
    print(f"classify ms a letter ({len(prepared)} Teddy letters, median of {args.rounds} interleaved rounds): "
          f"without evidence {a:.2f}, with {b:.2f}, ratio {b / a:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
