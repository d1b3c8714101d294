"""Markdown tables for docs/benchmarks.md from ``bench/scale.py`` result files.

    python -m bench.report data/bench/N10000/result.json data/bench/N100000/result.json data/bench/N1000000-vectors/result.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _v(x, fmt="{:,}"):
    if x is None:
        return "—"
    if isinstance(x, float) and fmt == "{:,}":
        return f"{x:,.1f}"
    return fmt.format(x)


def main(argv=None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    section = None
    if args and args[0].startswith("--section="):
        section = args.pop(0).split("=", 1)[1]
    print(sections(args)[section] if section else "\n\n".join(sections(args).values()))
    return 0


def sections(paths) -> dict[str, str]:
    runs = sorted((json.loads(Path(p).read_text()) for p in paths), key=lambda r: r["cases"])
    found: dict[str, str] = {}
    full = [r for r in runs if "triage_core" in r]
    out = []
    out.append("| cases | import letters/s (batches of 2,000) | import letters/s (batches of 32, as the CLI) | index bytes/case | "
               "triage p50 / p99 ms (core) | triage p50 / p99 ms (patched) | HTTP closed loop, 1 worker: p99 ms / req/s | "
               "HTTP closed loop, 2 workers: p99 ms / req/s | HTTP open loop, 2 workers: offered → answered req/s, "
               "p50 / p99 ms | dedup speed-up vs datasketch (core / patched) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        hc, hw, ho = r.get("http_core") or {}, r.get("http_core_workers") or {}, r.get("http_open_loop") or {}
        opened = (f"{_v(ho.get('offered_req_per_s'))} → {_v(ho.get('answered_req_per_s'))}, "
                  f"{_v(ho.get('p50_ms'))} / {_v(ho.get('p99_ms'))}") if ho else "—"
        tc, tp = r.get("triage_core") or {}, r.get("triage_with_proposed_patches") or {}
        out.append(f"| {r['cases']:,}{' (vectors only)' if 'triage_core' not in r else ''} "
                   f"| {_v(r.get('import_letters_per_s'))} | {_v((r.get('import_core_path') or {}).get('letters_per_s'))} "
                   f"| {_v(r.get('index_bytes_per_case'))} ({(r.get('index') or {}).get('kind', '—')}) "
                   f"| {_v(tc.get('p50_ms'))} / {_v(tc.get('p99_ms'))} | {_v(tp.get('p50_ms'))} / {_v(tp.get('p99_ms'))} "
                   f"| {_v(hc.get('p99_ms'))} / {_v(hc.get('req_per_s'))} | {_v(hw.get('p99_ms'))} / {_v(hw.get('req_per_s'))} "
                   f"| {opened} "
                   f"| {_v(r.get('dedup_speedup_vs_datasketch'))} / {_v(r.get('dedup_speedup_vs_datasketch_patched'))} |")
    found["headline"] = "\n".join(out)
    out = []
    if full:
        steps = sorted({k for r in full for key in ("triage_core", "triage_with_proposed_patches")
                        for k in r[key]["ms_per_step_mean"]})
        out.append("Mean ms per letter, by step:\n")
        out.append("| step | " + " | ".join(f"{r['cases']:,} core | {r['cases']:,} patched" for r in full) + " |")
        out.append("|---|" + "---|---|" * len(full))
        for s in steps:
            cells = []
            for r in full:
                for key in ("triage_core", "triage_with_proposed_patches"):
                    cells.append(_v(r[key]["ms_per_step_mean"].get(s)))
            out.append(f"| {s} | " + " | ".join(cells) + " |")
    found["steps"] = "\n".join(out)
    out = []
    out.append("| cases | index | recall@10 | p50 ms | p99 ms | build s | bytes/vector | removal |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in runs:
        for name, v in (r.get("index_choices") or {}).items():
            if "error" in v:
                out.append(f"| {r['cases']:,} | {name} | error: {v['error']} |||||| ")
                continue
            out.append(f"| {r['cases']:,} | {name} | {v['recall_at_10']} | {v['p50_ms']} | {v['p99_ms']} | {v['build_s']} "
                       f"| {v['bytes_per_vector']} | {'yes' if v['removal'] else 'rebuild'} |")
    found["index"] = "\n".join(out)
    out = []
    out.append("| stored cases | queries | triage.minhash ms (recall) | proposed patches ms (recall) | datasketch ms (recall) "
               "| speed-up core / patched |")
    out.append("|---|---|---|---|---|---|")
    for r in runs:
        d = r.get("dedup")
        if not d:
            continue
        p = d.get("ours_with_proposed_patches") or {}
        out.append(f"| {d['stored_cases']:,} | {d['queries_with_jaccard_ge_0.5']} | {d['ours']['mean_ms']} ({d['ours']['recall']}) "
                   f"| {p.get('mean_ms', '—')} ({p.get('recall', '—')}) | {d['datasketch']['mean_ms']} ({d['datasketch']['recall']}) "
                   f"| {d['speedup']} / {d.get('speedup_with_proposed_patches', '—')} |")
    found["dedup"] = "\n".join(out)
    return found


if __name__ == "__main__":
    sys.exit(main())
