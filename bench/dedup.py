"""Near-duplicate lookup alone: ``triage.minhash`` vs datasketch's MinHashLSH, same shingles, same banding.

    python -m bench.dedup --cases 100000            # prints one JSON object

Runs :func:`bench.scale.dedup_vs_datasketch` twice in the same process: with the core's MinHash (multiply-shift
signatures, one composite sorted array) and with the older ``mersenne`` hash family, so the effect of the hash
family is measured against the same datasketch baseline on the same machine state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bench.scale import dedup_vs_datasketch
    from triage.minhash import MinHashConfig, MinHasher

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args(argv)
    out = {}
    for name, config in (("core", MinHashConfig()), ("mersenne_hash", MinHashConfig(hash="mersenne"))):
        holder = type("T", (), {"minhasher": MinHasher(config)})()
        out[name] = dedup_vs_datasketch(holder, args.cases, args.seed, args.cases, args.queries)
    out["speedup_vs_datasketch"] = out["core"]["speedup"]
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
