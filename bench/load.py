"""``python -m bench.load --port P``: closed-loop HTTP load on a running service (``bench/serve_static.py`` or
``triage serve``), for comparing two checkouts served one after the other on the same store.

The clients are those of ``bench/scale.py`` (``--clients`` threads, each POSTing ``/v1/triage`` and waiting for
the answer; bench letters of ``--cases``' store, planted repeats and new variants). A few requests warm the
service first. Prints one JSON object. With ``--rate R`` (repeatable) the load is an open loop instead
(``bench.scale.open_loop``): requests are sent at R a second whatever the answers' pace, and the latency of each
counts from when it was due, which is what "p99 at R requests/s" means; one JSON object per rate. With
``--server-pid PID`` (the service's process: uvicorn's supervisor or its only process) each object also gives the
CPU time the serving processes spent per answered request (``server_cpu_ms_per_request``, user + system, from
``/proc``), the figure the HTTP target depends on (docs/benchmarks.md, session 11).
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
    p.add_argument("--rate", type=float, action="append", default=[],
                   help="open loop instead: requests sent at this rate per second, whatever the answers' pace "
                        "(repeat for several rates, run one after the other); latency counted from when each was due")
    p.add_argument("--queries", type=int, default=300, help="distinct letters sent, in turn")
    p.add_argument("--open-clients", type=int, default=64,
                   help="open loop: connections the requests go out on (a request due while all are busy waits, "
                        "and the wait counts in its latency)")
    p.add_argument("--path", default="/v1/triage",
                   help="what each request POSTs to: /v1/triage (dry run) or /v1/letters (stored: the store grows; "
                        "run it on a copy of a bench store)")
    p.add_argument("--server-pid", type=int, default=None,
                   help="report the CPU the serving processes (this pid, or its children: uvicorn's workers) spent "
                        "per answered request")
    args = p.parse_args(argv)

    from bench.scale import closed_loop, open_loop, query_letters
    from triage.store import Store

    store = Store(f"sqlite:///{Path(args.data) / f'N{args.cases}' / 'store.db'}").open()
    queries = query_letters(store, args.cases, args.queries, args.seed)
    store.engine.dispose()
    runs = ([lambda: closed_loop(args.port, queries, args.seconds, args.clients, warm=10, path=args.path)]
            if not args.rate else
            [lambda rate=rate: open_loop(args.port, queries, rate, args.seconds, clients=args.open_clients, warm=10,
                                         path=args.path)
             for rate in args.rate])
    for run in runs:
        before = server_cpu_seconds(args.server_pid) if args.server_pid else None
        out = run()
        if before is not None:
            answered = out.get("requests", 0)   # the answered ones: failures are counted apart, in "errors"
            spent = server_cpu_seconds(args.server_pid) - before   # the few warm-up requests are counted too
            out["server_cpu_ms_per_request"] = round(spent * 1000 / max(answered, 1), 2)
        print(json.dumps(out), flush=True)
    return 0


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the serving processes: ``pid``'s children (uvicorn's workers), else ``pid``."""
    import os

    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [int(c) for c in children.read_text().split()] if children.exists() else []
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for one in pids or [pid]:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14 and 15 of stat)
    return total / tick


if __name__ == "__main__":
    sys.exit(main())
