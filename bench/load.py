"""``python -m bench.load --port P``: closed-loop HTTP load on a running service (``bench/serve_static.py`` or
``triage serve``), for comparing two checkouts served one after the other on the same store.

The clients are those of ``bench/scale.py`` (``--clients`` threads, each POSTing ``/v1/triage`` and waiting for
the answer; bench letters of ``--cases``' store, planted repeats and new variants). A few requests warm the
service first. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cases", type=int, default=1_000_000, help="the bench store whose letters to send")
    p.add_argument("--data", default=str(PROJECT_DIR / "data" / "bench"))
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)

    from bench.scale import closed_loop, query_letters
    from triage.store import Store

    store = Store(f"sqlite:///{Path(args.data) / f'N{args.cases}' / 'store.db'}").open()
    queries = query_letters(store, args.cases, 300, args.seed)
    store.engine.dispose()
    print(json.dumps(closed_loop(args.port, queries, args.seconds, args.clients, warm=10)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
