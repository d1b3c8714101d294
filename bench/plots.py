"""Plots for docs/benchmarks.md from the ``result.json`` files ``bench/scale.py`` leaves in its work folders.

    python -m bench.plots data/bench/N10000/result.json data/bench/N100000/result.json ... --out docs/img
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = argparse.ArgumentParser(prog="python -m bench.plots")
    p.add_argument("results", nargs="+")
    p.add_argument("--out", default="docs/img")
    args = p.parse_args(argv)
    runs = sorted((json.loads(Path(r).read_text()) for r in args.results), key=lambda r: r["cases"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ns = [r["cases"] for r in runs]
    full = [r for r in runs if "triage_core" in r] or runs   # --vectors-only runs have no store, service or import

    # 1. in-process triage latency vs stored cases
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for key, label, style in (("triage_core", "core", "o-"), ("triage_with_proposed_patches", "with proposed patches", "s-")):
        pts = [(r["cases"], r[key]) for r in runs if key in r]
        if not pts:
            continue
        x = [a for a, _ in pts]
        ax.plot(x, [b["p50_ms"] for _, b in pts], style, label=f"{label} p50")
        ax.plot(x, [b["p99_ms"] for _, b in pts], style, alpha=0.5, label=f"{label} p99")
    ax.axhline(20, color="grey", ls=":", lw=1)
    ax.axhline(50, color="grey", ls="--", lw=1)
    ax.text(ns[0], 21, "target p50 20 ms", fontsize=8, color="grey")
    ax.text(ns[0], 52, "target p99 50 ms", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("stored cases")
    ax.set_ylabel("one letter, full suggestion (ms)")
    ax.set_title("In-process triage latency (2 cores, static embedder)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "triage_latency.png", dpi=120)
    plt.close(fig)

    # 2. per-step breakdown at the largest size
    big = full[-1]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    rows = []
    for key, label in (("triage_core", "core"), ("triage_with_proposed_patches", "patched")):
        if key in big:
            rows.append((label, big[key]["ms_per_step_mean"]))
    names = sorted({k for _, steps in rows for k in steps})
    left = [0.0] * len(rows)
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        vals = [steps.get(name, 0.0) for _, steps in rows]
        ax.barh([r[0] for r in rows], vals, left=left, color=cmap(i % 20), label=name)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("mean ms per letter")
    ax.set_title(f"Where one suggestion's time goes at {big['cases']:,} cases")
    ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "triage_steps.png", dpi=120)
    plt.close(fig)

    # 3. faiss index choices: recall vs latency
    fig, ax = plt.subplots(figsize=(6.4, 4))
    markers = "os^vD<>p*"
    for j, r in enumerate(runs):
        for i, (name, v) in enumerate((r.get("index_choices") or {}).items()):
            if "error" in v:
                continue
            ax.scatter(v["p50_ms"], v["recall_at_10"], marker=markers[i % len(markers)], s=20 + 25 * j,
                       label=name if j == len(runs) - 1 else None, color=plt.get_cmap("tab10")(i))
            ax.annotate(f"{r['cases'] // 1000}k", (v["p50_ms"], v["recall_at_10"]), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("p50 ms per query (one query)")
    ax.set_ylabel("recall@10 vs exact")
    ax.set_title("faiss index choices (static 256-d vectors)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "index_choices.png", dpi=120)
    plt.close(fig)

    # 4. dedup lookup: ours vs datasketch
    pts = [r for r in full if r.get("dedup")]
    if pts:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        x = list(range(len(pts)))
        ax.bar([i - 0.2 for i in x], [r["dedup"]["ours"]["mean_ms"] for r in pts], width=0.4, label="triage.minhash")
        ax.bar([i + 0.2 for i in x], [r["dedup"]["datasketch"]["mean_ms"] for r in pts], width=0.4,
               label="datasketch MinHashLSH")
        ax.set_xticks(x, [f"{r['dedup']['stored_cases']:,} cases" for r in pts])
        ax.set_ylabel("mean ms per near-duplicate lookup")
        ax.set_title("Near-duplicate lookup at equal recall (same shingles, 16×4 bands)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "dedup_lookup.png", dpi=120)
        plt.close(fig)

    # 5. import rate and index bytes per case
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.4))
    a1.plot([r["cases"] for r in full], [r["import_letters_per_s"] for r in full], "o-", label="batches of 2,000")
    core = [(r["cases"], r["import_core_path"]["letters_per_s"]) for r in full if r.get("import_core_path")]
    if core:
        a1.plot([a for a, _ in core], [b for _, b in core], "s-", label="batches of 32 (the CLI)")
    a1.axhline(500, color="grey", ls=":", lw=1)
    a1.set_xscale("log")
    a1.set_xlabel("stored cases")
    a1.set_ylabel("letters / s")
    a1.set_title("Import")
    a1.legend(fontsize=7)
    a2.bar(range(len(full)), [r["index"]["vector_bytes_per_case"] for r in full], label="vector index")
    a2.bar(range(len(full)), [r["index"]["lsh_bytes_per_case"] for r in full],
           bottom=[r["index"]["vector_bytes_per_case"] for r in full], label="MinHash LSH")
    a2.axhline(1536, color="grey", ls=":", lw=1)
    a2.set_xticks(range(len(full)), [f"{r['cases'] // 1000}k\n{r['index']['kind']}" for r in full])
    a2.set_ylabel("bytes per case")
    a2.set_title("Index memory")
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "import_and_memory.png", dpi=120)
    plt.close(fig)
    print(json.dumps(sorted(str(p) for p in out.glob("*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
