"""``python -m api.retrain --out DIR [--embedder NAME] [--small]``: the retraining job's child process.

The service starts this in the background (POST /v1/admin/retrain); it is ``triage train`` with the
store's confirmed decisions (``TRIAGE_RETRAIN_STORE``, kept off the command line) as extra examples.
The last line on stdout is a JSON summary: out, version, metrics, decisions used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.retrain")
    parser.add_argument("--out", required=True)
    parser.add_argument("--embedder", default=None)
    parser.add_argument("--small", action="store_true", help="small training sets (tests, smoke runs)")
    args = parser.parse_args(argv)
    from training.train import train

    manifest = train(out_dir=args.out, embedder=args.embedder, small=args.small,
                     decisions_store=os.environ.get("TRIAGE_RETRAIN_STORE") or None)
    print(json.dumps({"out": manifest["out"], "version": manifest["version"], "metrics": manifest["metrics"],
                      "decisions_used": manifest.get("decisions_used", 0)}, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
