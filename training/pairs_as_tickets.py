"""The labelled pairs read as 12345 tickets: does the matter's address, given in a column of its own, help?

    python -m training.pairs_as_tickets        # ~5 min: e5 vectors of the pairs' letters, nested 5-fold CV twice

Titles are removed (tickets have none) and the places each title named are given as the ticket's ``location``
(:func:`training.common.as_ticket`). The pair features are computed twice, with the location read into the
letter's matter (:meth:`triage.pipeline.Triage.located_matter`, as the service prepares it) and without, and scored by the same nested
out-of-fold evaluation as the shipped pair model (docs/quality.md, "Duplicates").
"""

from __future__ import annotations

import argparse

import numpy as np

from training.common import as_ticket, encode, text_of
from training.pairs import load_pairs
from training.train import evaluate_pairs, pair_folds
from triage.dedup import PairModelConfig, make_view, pair_features
from triage.pipeline import Triage, TriageConfig, default_models_dir
from triage.privacy import identity_keys
from triage.records import parse_date


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=str(default_models_dir()), help="the models whose embedder and segmenter to use")
    args = ap.parse_args(argv)
    triage = Triage(TriageConfig(models_dir=args.models)).load()
    pairs = load_pairs()
    y = [p["label"] for p in pairs]
    folds = pair_folds(pairs)
    tickets = {}
    for p in pairs:
        for side in ("a", "b"):
            tickets[p[side]["id"]] = as_ticket(p[side], located=True)
    ids = list(tickets)
    texts = [text_of(tickets[i]) for i in ids]
    vectors = dict(zip(ids, encode(triage.embedder, texts)))
    print(f"{len(pairs)} pairs, {len(ids)} letters, {sum('location' in t for t in tickets.values())} with a location")
    print("| the labelled pairs as tickets | duplicate F1 | precision | recall |\n|---|---|---|---|")
    for label, read in (("no title, the location not read", False), ("no title, the location read into the matter", True)):
        views = {}
        for i, text in zip(ids, texts):
            t = tickets[i]
            matter = triage.located_matter(text, t.get("location", "") if read else "")
            views[i] = make_view(i, text, "", vectors[i], identity_keys(t.get("petitioner")),
                                 parse_date(t.get("received_at")), triage.segmenter, matter)
        X = np.stack([pair_features(views[p["a"]["id"]], views[p["b"]["id"]])[0] for p in pairs])
        _, m = evaluate_pairs(X, y, folds, PairModelConfig())
        print(f"| {label} | {m['duplicate_f1']:.3f} | {m['duplicate_precision']:.3f} | {m['duplicate_recall']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
