"""``python -m bench.ab --cases N``: the in-process suggestion latency of THIS checkout on a bench store, for
comparing two versions of the code back to back on the same store and queries.

Whole ``bench/scale.py`` runs move by several ms between runs on shared cores; the figures in docs/benchmarks.md
("What changed in the core this session") come from this script instead:

* two checkouts, one after the other, the page cache dropped before each (``sync; echo 3 >
  /proc/sys/vm/drop_caches``, as root): ``git worktree add ../old <commit>``, then from each checkout
  ``python -m bench.ab --cases 1000000 --data /path/to/main/data/bench``;
* ``--alternate-read-ahead``: in one process, the store's read-ahead (``Store.parallel_reads``) on for every
  other letter and off for the rest, so both see the same machine state.

The store's file is first read into the page cache (``Store.warm_pages``, as the service's leader does at start)
unless ``--cold``; a checkout without ``warm_pages`` skips it (the page cache is the system's, so run the newer
checkout first, or ``cat`` the file, for a fair comparison).

The store, indexes and fast-tier models are those built by ``bench/scale.py`` (``<data>/N<cases>``,
``<data>/models-static-now``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, required=True)
    p.add_argument("--data", default=str(PROJECT_DIR / "data" / "bench"), help="where bench/scale.py keeps its stores")
    p.add_argument("--embedder", default=str(PROJECT_DIR / "models" / "static-e5"))
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--alternate-read-ahead", action="store_true")
    p.add_argument("--cold", action="store_true",
                   help="do not read the store into the page cache first (the service does, at start)")
    args = p.parse_args(argv)

    from bench.models import load_triage
    from bench.scale import _index_config, query_letters, triage_latency
    from triage.records import parse_letter
    from triage.retrieve import CaseIndex
    from triage.static_embed import StaticEmbedder
    from triage.store import Store

    data = Path(args.data)
    static = StaticEmbedder.load(args.embedder)
    triage = load_triage(data / "models-static-now", embedder=static)
    work = data / f"N{args.cases}"
    store = Store(f"sqlite:///{work / 'store.db'}").open()
    from triage.retrieve import AUTO_IVF_AT

    kind = "ivfsq8" if args.cases >= AUTO_IVF_AT else "flat"
    index = CaseIndex.open(store, triage.embedder_key, triage.embedder.dim, _index_config(kind, args.cases, static.dim))
    queries = query_letters(store, args.cases, args.queries, args.seed)
    out = {"code": str(PROJECT_DIR), "cases": args.cases, "seed": args.seed}
    triage.refresh_history(store, refit=False)   # the type history / router the service saved beside the store
    out["type_history_active"] = triage.type_history is not None
    if not args.cold and hasattr(store, "warm_pages"):   # older checkouts have no warm_pages
        out["store_pages"] = store.warm_pages()
    if not args.alternate_read_ahead:
        out.update(triage_latency(triage, store, index, queries))
    else:
        letters = [parse_letter({k: v for k, v in q.items() if k != "planted"}) for q in queries]
        for letter in letters[:5]:
            triage.suggest(letter, store, index)
        times: dict[bool, list[float]] = {True: [], False: []}
        for i, letter in enumerate(letters[5:]):
            store.parallel_reads = i % 2 == 0
            c = time.perf_counter()
            triage.suggest(letter, store, index)
            times[store.parallel_reads].append((time.perf_counter() - c) * 1000)
        for on, label in ((False, "read_ahead_off"), (True, "read_ahead_on")):
            a = np.array(times[on])
            out[label] = {"letters": len(a), "p50_ms": round(float(np.percentile(a, 50)), 2),
                          "p99_ms": round(float(np.percentile(a, 99)), 2), "mean_ms": round(float(a.mean()), 2)}
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
