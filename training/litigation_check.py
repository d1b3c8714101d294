"""How often the 涉法涉诉 flag is right, on Teddy letters read by hand.

``corpora/litigation_check.csv`` holds the verdicts (file, 留言编号, yes/no, why — no letter text): 141 letters the
flag raised, the first 101 drawn at random in three samples of the flagged letters of messages_labeled + replies and
read whole: A (40) with the rules before session 17, B (40, 31 not in A) after its first rules, C (30, none in A or B)
after the rules were settled; two rules came after it — 被告之 (was told), which C showed, and a court or
procuratorate as an estate or a building project's client, from A and B — and of C's letters only the one 被告之
letter reads differently. Sample D (40, session 19) is every flagged letter none of A–C had drawn, so that all the
letters the session 18 rules flagged are read (28 of D's 40 right); three rules came after it (执法官员, a
procuratorate's 生活区, a procuratorate asked to investigate). "yes" means the matter is in, or belongs to,
litigation, arbitration, administrative reconsideration or enforcement (the writer went to court, was told to, or
means to); "no" means the trigger was something else (a law cited, a court as a landmark, 上诉 said of a petition).
The file also keeps what the rules of its time said (``flagged_before`` / ``flagged_now``): :func:`check` re-reads
every letter with the rules in :mod:`triage.litigation` as they are now.

Command line (prints precision before the session 17 rules and now, and every letter whose flag the verdict
contradicts)::

    python -m training.litigation_check

Samples A and B guided the session 17 rules (what was wrong in them is what they fix), so "now" on them is not
an independent measurement; C was drawn after and is (22 of its 30 right when drawn). A fresh sample to judge is
printed by ``--sample N --seed S``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys

from training.datasets import PROJECT_DIR, read_csv
from triage.litigation import flag_litigation

CHECK_FILE = PROJECT_DIR / "corpora" / "litigation_check.csv"
SOURCES = ("messages_labeled.csv", "replies.csv")


def teddy_letters() -> dict[tuple[str, str], str]:
    """(file, 留言编号) → title + body, for the files the samples were drawn from."""
    out = {}
    for fname in SOURCES:
        for r in read_csv(f"teddy2020/{fname}"):
            out.setdefault((fname, r["留言编号"]), r["留言主题"] + "\n" + r["留言详情"])
    return out


def check(path=CHECK_FILE) -> dict:
    """Precision of the flag on the hand-read letters (rules as they are now, and as the file recorded before)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    letters = teddy_letters()
    missing = [(r["file"], r["id"]) for r in rows if (r["file"], r["id"]) not in letters]
    if missing:
        raise SystemExit(f"{len(missing)} checked letters not found in the dataset, e.g. {missing[:3]}")
    wrong = []
    now = before = right_now = right_before = 0
    per_sample: dict[str, list[int]] = {}
    for r in rows:
        flagged = flag_litigation(letters[(r["file"], r["id"])])["litigation_related"]
        tally = per_sample.setdefault(r["sample"], [0, 0, 0])   # letters, flagged now, right among them
        tally[0] += 1
        tally[1] += flagged
        tally[2] += flagged and r["verdict"] == "yes"
        now += flagged
        right_now += flagged and r["verdict"] == "yes"
        before += r["flagged_before"] == "yes"
        right_before += r["flagged_before"] == "yes" and r["verdict"] == "yes"
        if flagged != (r["verdict"] == "yes"):
            wrong.append({"file": r["file"], "id": r["id"], "flagged": flagged, "note": r["note"]})
    return {"letters": len(rows), "flagged_now": now, "precision_now": round(right_now / max(now, 1), 3),
            "flagged_before": before, "precision_before": round(right_before / max(before, 1), 3),
            "per_sample": {k: {"letters": n, "flagged_now": f, "precision_now": round(ok / max(f, 1), 3)}
                           for k, (n, f, ok) in per_sample.items()},
            "disagreements": wrong}


def sample(n: int, seed: int) -> None:
    """Print ``n`` flagged letters drawn at random with their triggers, to read and judge by hand."""
    flagged = [(k, t) for k, t in teddy_letters().items() if flag_litigation(t)["litigation_related"]]
    random.Random(seed).shuffle(flagged)
    for (fname, lid), text in flagged[:n]:
        print(f"{fname} {lid} {flag_litigation(text)['triggers']}\n{text}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=0, help="print this many flagged letters to judge instead")
    ap.add_argument("--seed", type=int, default=31)
    args = ap.parse_args(argv)
    if args.sample:
        sample(args.sample, args.seed)
        return 0
    res = check()
    print(f"{res['letters']} hand-read letters; flagged by the rules before session 17: {res['flagged_before']}, "
          f"precision {res['precision_before']}; flagged now: {res['flagged_now']}, precision {res['precision_now']}")
    for name, t in res["per_sample"].items():
        print(f"  {name}: {t['letters']} letters, {t['flagged_now']} flagged now, precision {t['precision_now']}")
    for w in res["disagreements"]:
        print(f"  {w['file']} {w['id']}: flagged {w['flagged']} against the verdict ({w['note'] or 'litigation'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
