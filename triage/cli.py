"""The ``triage`` command line: train, import, run, compare, serve (see ``../shared/docs/contract.md``).

Bad input never produces a traceback: a bad line is reported on stderr with its line number and
skipped; an input that is unusable as a whole (missing file, nothing valid in it) exits non-zero
with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import IO, Iterator

from .errors import InvalidInput, TriageError
from .normalise import mask_pii

BATCH = 32


class _MaskingFormatter(logging.Formatter):
    """Log lines never carry ID numbers or phones."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_pii(super().format(record))


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)
    for noisy in ("jieba", "sentence_transformers", "transformers", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _err(message: str) -> None:
    print(mask_pii(message), file=sys.stderr)


def _open_in(path: str | None) -> IO[str]:
    if not path or path == "-":
        return sys.stdin
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"file not found: {p}")
    if p.is_dir():
        raise InvalidInput(f"{p} is a directory, expected a JSONL file")
    from .records import text_encoding

    return open(p, encoding=text_encoding(p))


def _open_out(path: str | None) -> IO[str]:
    if not path or path == "-":
        return sys.stdout
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8")


def _load_triage(args):
    from .pipeline import Triage, TriageConfig

    config = TriageConfig()
    if getattr(args, "models", None):
        config.models_dir = Path(args.models)
    if getattr(args, "profile", None):
        config.profile = args.profile
    return Triage(config).load()


def _open_store(url: str | None):
    from .store import Store

    return Store(url).open()


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def _batches(parsed: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in parsed:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _dump(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


# -- commands ---------------------------------------------------------------------------------------

def cmd_train(args) -> int:
    from training.train import train

    out = Path(args.out) if args.out else None
    manifest = train(out_dir=out, embedder=args.embedder, decisions_store=args.decisions)
    print(json.dumps({"out": manifest["out"], "version": manifest["version"], "metrics": manifest["metrics"]},
                     ensure_ascii=False, indent=2))
    return 0


def cmd_import(args) -> int:
    import time

    from .retrieve import CaseIndex

    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 1)
        clock = now

    triage = _load_triage(args)
    store = _open_store(args.store)
    index = CaseIndex.open(store, triage.embedder_key, triage.embedder.dim)
    totals = {"read": 0, "imported": 0, "already_present": 0, "bad_lines": 0}
    pool = None
    if args.workers > 1:
        from .prepare_pool import PreparePool

        pool = PreparePool(triage.config, args.workers)
    lap("load")
    try:
        _import_files(args, triage, store, index, totals, pool)
    except TriageError as exc:   # an unreadable file
        _err(f"error: {exc}")
        return 2
    finally:
        if pool is not None:
            pool.close()
    lap("read_prepare_store")
    refreshed = triage.refresh_matters(store, show_progress=not args.quiet)   # a store from before MATTER_VERSION
    if refreshed:
        totals["matters_refreshed"] = refreshed
        lap("matters_refresh")
    if index.adopt_default_kind(store):   # the store outgrew exact search: rebuilt now, not at the next start
        totals["vector_index"] = index.vectors.config.kind
        lap("index_rebuild")
    index.save()
    lap("index_save")
    triage.refresh_history(store)
    lap("history_refit")
    totals["stored_cases"] = store.count()
    totals["seconds"] = seconds
    print(_dump(totals))
    if totals["read"] and totals["imported"] + totals["already_present"] == 0:
        _err("error: no valid letter in the input")
        return 1
    return 0


def _import_files(args, triage, store, index, totals: dict, pool) -> None:
    """Read, prepare (here, or in ``pool``'s worker processes) and store every file's letters."""
    from tqdm import tqdm

    from .records import column_fields, read_letters

    for path in args.files:
        headers: list[list] = []
        parsed = list(read_letters(path, on_header=headers.append))
        if headers:   # how a table's header row was read: a column read wrongly shows here (as bad lines do)
            columns = column_fields(headers[0])
            read = "、".join(f"{c} → {f}" for c, f in columns if f)
            kept = "、".join(c for c, f in columns if not f)
            _err(f"{path}: columns read as {read or 'nothing'}" + (f"; kept as written: {kept}" if kept else ""))
        good = [p for p in parsed if p.letter is not None]
        for p in parsed:
            if p.error:
                totals["bad_lines"] += 1
                _err(f"{path}: {p.error} — skipped")
        totals["read"] += len(parsed)
        with tqdm(total=len(good), desc=f"import {Path(path).name}", unit="letter", file=sys.stderr,
                  disable=args.quiet) as bar:
            batches = ([p.letter for p in batch] for batch in _batches(iter(good), args.batch))
            prepared_batches = pool.prepare(batches) if pool is not None else map(triage.prepare, batches)
            for prepared in prepared_batches:
                for _, _, created in triage.ingest(prepared, store, index):
                    totals["imported" if created else "already_present"] += 1
                bar.update(len(prepared))


def cmd_run(args) -> int:
    from .records import file_format, read_letters
    from .retrieve import CaseIndex

    triage = _load_triage(args)
    store = _open_store(args.store)
    index = CaseIndex.open(store, triage.embedder_key, triage.embedder.dim)
    triage.refresh_history(store)
    filters = {k: v for k, v in {"domain": args.domain, "region": args.region, "since": args.since,
                                 "until": args.until}.items() if v}
    table_in = bool(args.input) and args.input != "-" and file_format(args.input) != "jsonl"
    src = None if table_in else _open_in(args.input)
    out = _open_out(args.output)
    counts = {"suggested": 0, "bad_lines": 0, "ingested": 0}
    try:
        # a .csv, .xlsx or .xls file (an export with its own headers, as `import` reads them); else JSONL
        parsed = (read_letters(args.input, require_id=False) if table_in else
                  read_letters(stream=src, fmt="jsonl", require_id=False))
        for batch in _batches(parsed, BATCH):
            good = []
            for p in batch:
                if p.error:
                    counts["bad_lines"] += 1
                    _err(f"{p.error} — skipped")
                else:
                    if p.letter.id is None and args.ingest:
                        p.letter.id = f"run-{uuid.uuid4().hex[:12]}"
                    good.append(p.letter)
            if not good:
                continue
            for prepared in triage.prepare(good):
                suggestion = triage.suggest_prepared(prepared, store, index, k=args.k, filters=filters or None)
                out.write(_dump(suggestion) + "\n")
                counts["suggested"] += 1
                if args.ingest:
                    triage.ingest([prepared], store, index)
                    counts["ingested"] += 1
            out.flush()
    finally:
        if src is not None and src is not sys.stdin:
            src.close()
        if out is not sys.stdout:
            out.close()
    if args.ingest:
        index.save()
    _err(f"triage run: {counts['suggested']} suggested, {counts['bad_lines']} bad lines skipped"
         + (f", {counts['ingested']} stored" if args.ingest else ""))
    if counts["suggested"] == 0 and counts["bad_lines"]:
        _err("error: no valid letter in the input")
        return 1
    return 0


def cmd_compare(args) -> int:
    from .records import parse_letter

    triage = _load_triage(args)
    src = _open_in(args.input)
    out = _open_out(args.output)
    ok = bad = 0
    try:
        for number, raw in enumerate(src, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                bad += 1
                _err(f"line {number}: broken JSON ({exc.msg} at column {exc.colno}) — skipped")
                continue
            if not isinstance(obj, dict) or "a" not in obj or "b" not in obj:
                bad += 1
                _err(f"line {number}: expected an object {{\"a\": letter, \"b\": letter}} — skipped")
                continue
            try:
                a = parse_letter(obj["a"])
                b = parse_letter(obj["b"])
            except TriageError as exc:
                bad += 1
                which = "a" if not _valid(obj["a"]) else "b"
                _err(f"line {number}: letter '{which}': {exc} — skipped")
                continue
            result = triage.compare(a, b)
            out.write(_dump(result) + "\n")
            ok += 1
    finally:
        if src is not sys.stdin:
            src.close()
        if out is not sys.stdout:
            out.close()
    if ok == 0 and bad:
        _err("error: no valid pair in the input")
        return 1
    return 0


def _valid(obj) -> bool:
    from .records import parse_letter

    try:
        parse_letter(obj)
        return True
    except TriageError:
        return False


def cmd_serve(args) -> int:
    try:
        from api.main import serve
    except ImportError as exc:
        _err(f"error: the HTTP service is not available ({exc})")
        return 2
    return serve(store=args.store, host=args.host, port=args.port, workers=args.workers) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description="Triage Chinese petitions and citizen messages.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train every model from the configured corpora")
    p.add_argument("--out", help="artefact folder (default: models/default)")
    p.add_argument("--embedder", default=None, help="embedder name or path (default: e5-small)")
    p.add_argument("--decisions", default=None, metavar="STORE",
                   help="also learn from handlers' confirmed decisions in this store")
    p.set_defaults(func=cmd_train)

    def common(q, store=True):
        if store:
            q.add_argument("--store", default=None, help="store URL (default: sqlite:///data/triage.db)")
        q.add_argument("--models", default=None, help="trained models folder (default: models/default)")
        q.add_argument("--profile", default=None, help="deployment profile with a department directory")

    p = sub.add_parser("import", help="add history letters (JSONL, CSV, .xlsx or .xls) to the store and its indexes")
    common(p)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=_positive, default=1,
                   help="processes preparing letters while this one stores them (bulk imports on several cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("run", help="letters in (JSONL, or a .csv / .xlsx / .xls file), suggestions JSONL out")
    common(p)
    p.add_argument("--k", type=int, default=10, help="similar cases per letter")
    p.add_argument("--ingest", action="store_true", help="also store the letters")
    p.add_argument("--domain", help="similar cases: only this domain")
    p.add_argument("--region", help="similar cases: only cases mentioning this place")
    p.add_argument("--since", help="similar cases: received on or after (ISO date)")
    p.add_argument("--until", help="similar cases: received on or before (ISO date)")
    p.add_argument("input", nargs="?", default=None, metavar="IN")
    p.add_argument("output", nargs="?", default=None, metavar="OUT")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="pairs {a, b} in, verdicts out")
    common(p, store=False)
    p.add_argument("input", nargs="?", default=None, metavar="IN")
    p.add_argument("output", nargs="?", default=None, metavar="OUT")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("serve", help="the HTTP service")
    p.add_argument("--store", default=None)
    p.add_argument("--host", default=os.environ.get("TRIAGE_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("TRIAGE_PORT", "8000")))
    p.add_argument("--workers", type=int, default=None,
                   help="serving processes sharing the store (default TRIAGE_WORKERS, else 1); one per core")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except TriageError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
