"""``python -m bench.load --port P``: closed-loop HTTP load on a running service (``bench/serve_static.py`` or
``triage serve``), for comparing two checkouts served one after the other on the same store.

The clients are those of ``bench/scale.py`` (``--clients`` threads, each POSTing ``/v1/triage`` and waiting for
the answer; bench letters of ``--cases``' store, planted repeats and new variants). A few requests warm the
service first. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

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

    from bench.scale import query_letters
    from triage.store import Store

    store = Store(f"sqlite:///{Path(args.data) / f'N{args.cases}' / 'store.db'}").open()
    bodies = [json.dumps({k: v for k, v in q.items() if k not in ("planted", "id")}, ensure_ascii=False).encode()
              for q in query_letters(store, args.cases, 300, args.seed)]
    store.engine.dispose()
    headers = {"Content-Type": "application/json", "X-API-Key": "dev-intake"}
    for body in bodies[:10]:   # warm-up
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        conn.request("POST", "/v1/triage", body=body, headers=headers)
        conn.getresponse().read()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.time() + args.seconds

    def client(w: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        i = w
        while time.time() < stop:
            body = bodies[i % len(bodies)]
            i += args.clients
            started = time.perf_counter()
            try:
                conn.request("POST", "/v1/triage", body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors[0] += 1

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(w,)) for w in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.time() - t0
    lat = np.array(latencies) if latencies else np.zeros(1)
    print(json.dumps({"requests": len(latencies), "errors": errors[0], "seconds": round(seconds, 1),
                      "clients": args.clients, "req_per_s": round(len(latencies) / seconds, 1),
                      "p50_ms": round(float(np.percentile(lat, 50)), 1),
                      "p99_ms": round(float(np.percentile(lat, 99)), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
