"""``python -m bench.import_at_scale --cases N``: bulk import through the CLI into a store that already holds N cases.

The store built by ``bench/scale.py --cases N`` (``data/bench/N<cases>``) is copied, with its indexes, once per
worker count; ``--letters`` new letters of the same synthetic history (never stored: ids after N) are written to a
JSONL file and imported with ``triage import --workers W`` (the fast tier's model bundle). Two rates: the whole
command (model and index loading, index saving and the history refit included) and its read → prepare → store
loop (the command's own phase timings). Prints one JSON object and writes it to ``<work>/import_at_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench import history as hist  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.import_at_scale", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, required=True)
    p.add_argument("--letters", type=int, default=20_000)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--batch", type=int, default=64, help="triage import --batch")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--models", default=str(PROJECT_DIR / "data" / "bench" / "models-static-now"))
    p.add_argument("--work", default=None)
    p.add_argument("--tmp", default=str(PROJECT_DIR / "data" / "bench" / "tmp-import"))
    args = p.parse_args(argv)
    work = Path(args.work or PROJECT_DIR / "data" / "bench" / f"N{args.cases}")
    if not (work / "store.db").exists():
        raise SystemExit(f"no store at {work}: run bench/scale.py --cases {args.cases} first")
    tmp = Path(args.tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    letters = tmp / "letters.jsonl"
    with open(letters, "w", encoding="utf-8") as f:
        for i in range(args.letters):
            case = hist.case(args.cases + 2_000_000 + i, args.cases, args.seed)
            f.write(json.dumps({**case, "id": f"bulk-{i}"}, ensure_ascii=False) + "\n")
    env = {**os.environ, "TRIAGE_MODELS_DIR": args.models, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    result = {"stored_before": args.cases, "letters": args.letters, "batch": args.batch, "runs": {}}
    for workers in [int(w) for w in args.workers.split(",")]:
        target = tmp / f"w{workers}"
        target.mkdir()
        shutil.copy2(work / "store.db", target / "store.db")
        shutil.copytree(work / "store.db.indexes", target / "store.db.indexes")
        started = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "triage.cli", "import", "--store", f"sqlite:///{target / 'store.db'}",
                            "--quiet", "--workers", str(workers), "--batch", str(args.batch), str(letters)], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if r.returncode != 0:
            raise SystemExit(f"import failed (workers {workers}): {r.stderr[-2000:]}")
        summary = json.loads(r.stdout)
        loop = summary["seconds"]["read_prepare_store"]
        result["runs"][str(workers)] = {"seconds": round(seconds, 1), "imported": summary["imported"],
                                        "letters_per_s_whole_command": round(summary["imported"] / seconds, 1),
                                        "letters_per_s_read_prepare_store": round(summary["imported"] / loop, 1),
                                        "phases_s": summary["seconds"], "stored_after": summary["stored_cases"]}
        print(f"[import_at_scale] workers {workers}: {result['runs'][str(workers)]}", file=sys.stderr, flush=True)
        shutil.rmtree(target)
    result["machine_load_avg_at_end"] = os.getloadavg()
    (work / "import_at_scale.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
