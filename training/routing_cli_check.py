"""Department routing measured through the command line, the way the maintainers' hidden test runs.

    python -m training.routing_cli_check --dataset teddy-offices-real --seed 7 --work /tmp/routing-cli
    python -m training.routing_cli_check --dataset teddy-mixed --tickets located   # untitled, address column

A random half of the dataset's routed letters (with ``department``) is imported with ``triage import`` into a fresh
store; the other half (without ``department``) goes through ``triage run`` with no directory (``TRIAGE_PROFILE``
unset), the store's e5 neighbours and its history router answering. Prints one JSON object: top-1 / top-3 of the
suggested departments, and top-1 on the letters whose department the imported half names.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .common import as_ticket
from .eval_routing import datasets, router_settings, split_half

FIELDS = ("id", "title", "content", "received_at", "region", "location", "petitioner", "channel")


def _write(path: Path, letters: list[dict], with_department: bool) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for letter in letters:
            rec = {k: letter[k] for k in FIELDS if letter.get(k)}
            if with_department:
                rec["department"] = letter["department"]
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="teddy-offices-real",
                        help="a dataset of training.eval_routing (default teddy-offices-real)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/routing-cli"))
    parser.add_argument("--tickets", choices=("untitled", "located"),
                        help="the letters as tickets: without their titles, or with the places the title named "
                             "in an address column of their own (training.common.as_ticket)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a RouterConfig field for the store's router (TRIAGE_ROUTER_CONFIG)")
    args = parser.parse_args(argv)
    letters, _ = datasets(args.dataset)
    if args.tickets:
        letters = [as_ticket(l, located=args.tickets == "located") for l in letters]
    train, test = split_half(letters, args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    history, queries, out = args.work / "history.jsonl", args.work / "queries.jsonl", args.work / "suggestions.jsonl"
    _write(history, train, True)
    _write(queries, test, False)
    triage = str(Path(sys.executable).parent / "triage")
    store = f"sqlite:///{args.work / 'store.db'}"
    env = {k: v for k, v in os.environ.items() if k != "TRIAGE_PROFILE"}
    if args.set:
        env["TRIAGE_ROUTER_CONFIG"] = json.dumps(router_settings(args.set))
    subprocess.run([triage, "import", "--store", store, str(history)], env=env, check=True, stdout=subprocess.DEVNULL)
    with open(queries, "rb") as fin, open(out, "wb") as fout:
        subprocess.run([triage, "run", "--store", store], stdin=fin, stdout=fout, env=env, check=True)
    gold = {l["id"]: l["department"] for l in test}
    seen = {l["department"] for l in train}
    n = top1 = top3 = known = known_top1 = 0
    for line in out.read_text(encoding="utf-8").splitlines():
        s = json.loads(line)
        names = [d["name"] for d in s["department"]]
        g = gold[s["id"]]
        n += 1
        top1 += bool(names) and names[0] == g
        top3 += g in names[:3]
        if g in seen:
            known += 1
            known_top1 += bool(names) and names[0] == g
    print(json.dumps({"dataset": args.dataset, "seed": args.seed, "imported": len(train), "letters": n,
                      "top1": round(top1 / n, 4), "top3": round(top3 / n, 4), "known_department_letters": known,
                      "top1_known": round(known_top1 / known, 4) if known else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
