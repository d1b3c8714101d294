"""``python bench/scale.py --cases N``: build a history of N cases, import it, measure, print ONE JSON object.

Measured in the same run (see docs/benchmarks.md for the meaning of every field):

- import: the fast path (static embedder, batched, bulk insert: :mod:`bench.fastpath`) over all N cases,
  and the current core path (``Triage.prepare`` + ``Triage.ingest``) on a sample;
- ``index_bytes_per_case``: the serialised vector index + the MinHash LSH, per stored case;
- in-process triage of one letter (full suggestion through ``triage.pipeline``): p50/p99 with the current
  core code, a per-step breakdown, and the same with the proposed patches (:class:`bench.fastpath.FastMatcher`);
- HTTP: a bounded load run on loopback against ``triage serve`` (``bench/serve_static.py`` = ``api.main.serve``
  with the ``static:`` embedder name accepted);
- near-duplicate lookup against datasketch's MinHashLSH on the same shingles, at equal recall;
- faiss index choices (recall@10 against exact search, latency, build time, bytes, removal);
- e5-small vs the static embedder (labelled pairs, throughput); the domain classifier vs TF-IDF+SVM.

The store, indexes and model bundle are kept under ``--work`` (default ``data/bench/N<cases>``) and reused
when they match (``--rebuild`` to start over).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# One BLAS/OpenMP thread per process: the request path is many small operations, and on 2 shared cores
# multi-threaded BLAS inside scikit-learn/numpy turned p99 into seconds (measured: docs/benchmarks.md).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench import history as hist  # noqa: E402
from bench.fastpath import FastMatcher  # noqa: E402


def say(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values, q) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        info["cpu_model"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
        info["mem_gb"] = round(int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1e6, 1)
        info["load_avg_at_start"] = os.getloadavg()
    except Exception:
        pass
    import faiss
    import torch
    info.update({"torch": torch.__version__, "faiss": faiss.__version__, "numpy": np.__version__,
                 "torch_threads": torch.get_num_threads()})
    return info


# -- import ------------------------------------------------------------------------------------------

def build_store(triage, work: Path, n: int, seed: int, index_kind: str, batch: int) -> dict:
    from triage.records import parse_letter
    from triage.retrieve import CaseIndex
    from triage.store import Store

    db = work / "store.db"
    for p in work.glob("store.db*"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    store = Store(f"sqlite:///{db}").open()
    cfg = _index_config(index_kind, n, triage.embedder.dim)
    index = CaseIndex(store.index_dir, triage.embedder_key, triage.embedder.dim, cfg)
    t_prepare = t_store = t_index = t_gen = 0.0
    done = 0
    train_buf: list[np.ndarray] = []
    pending: list[tuple[list[int], np.ndarray, np.ndarray]] = []
    started = time.perf_counter()
    for start in range(0, n, batch):
        c = time.perf_counter()
        letters = [hist.case(i, n, seed) for i in range(start, min(n, start + batch))]
        t_gen += time.perf_counter() - c
        c = time.perf_counter()
        prepared = triage.prepare([parse_letter(r) for r in letters])   # the core path `triage import` runs
        t_prepare += time.perf_counter() - c
        c = time.perf_counter()
        pks = [pk for pk, _, _ in store.add_cases([p.record() for p in prepared], triage.embedder_key)]
        t_store += time.perf_counter() - c
        c = time.perf_counter()
        vecs = np.stack([p.vector for p in prepared]).astype(np.float32)
        sigs = np.stack([p.signature for p in prepared])
        if index.vectors.needs_training:  # IVF: train on the first 50k vectors, then add everything held back
            train_buf.append(vecs)
            pending.append((pks, vecs, sigs))
            if sum(len(v) for v in train_buf) >= min(n, 50_000):
                index.vectors.train(np.concatenate(train_buf))
                for p_, v_, s_ in pending:
                    index.add(p_, v_, s_)
                train_buf, pending = [], []
        else:
            index.add(pks, vecs, sigs)
        t_index += time.perf_counter() - c
        done += len(letters)
        if (start // batch) % 25 == 0:
            el = time.perf_counter() - started - t_gen
            say(f"import {done}/{n}: {done / max(el, 1e-9):.0f} letters/s (prepare {t_prepare:.0f}s, "
                f"store {t_store:.0f}s, index {t_index:.0f}s)")
    c = time.perf_counter()
    index.lsh._merge()
    index.save()
    t_save = time.perf_counter() - c
    total = time.perf_counter() - started - t_gen
    return {"letters": done, "seconds": round(total, 1), "letters_per_s": round(done / total, 1),
            "seconds_by_step": {"prepare (normalise, embed, shingles, minhash, matter)": round(t_prepare, 1),
                                "store (one insert per table and batch)": round(t_store, 1), "index add": round(t_index, 1),
                                "index save": round(t_save, 1)},
            "history_generation_seconds_excluded": round(t_gen, 1), "batch": batch, "index_kind": index_kind}


def _index_config(kind: str, n: int, dim: int):
    from triage.index import VectorIndexConfig
    from triage.retrieve import ivf_lists_for

    lists = ivf_lists_for(n)
    pq_m = 32 if dim % 32 == 0 else 48
    return VectorIndexConfig(kind=kind, ivf_lists=lists, pq_m=pq_m, nprobe=16)


def core_import_rate(triage, work: Path, sample: int, seed: int) -> dict:
    """The current core path (``Triage.prepare`` + ``Triage.ingest``, as ``triage import`` runs it)."""
    from triage.records import parse_letter
    from triage.retrieve import CaseIndex
    from triage.store import Store

    db = work / "core-import.db"
    for p in work.glob("core-import.db*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    store = Store(f"sqlite:///{db}").open()
    index = CaseIndex(store.index_dir, triage.embedder_key, triage.embedder.dim)
    letters = [parse_letter(hist.case(10_000_000 + i, 10_000_000 + sample, seed) | {"id": f"core-{i}"})
               for i in range(sample)]
    started = time.perf_counter()
    t_prep = 0.0
    for i in range(0, sample, 32):  # the CLI's batch
        c = time.perf_counter()
        prepared = triage.prepare(letters[i:i + 32])
        t_prep += time.perf_counter() - c
        triage.ingest(prepared, store, index)
    total = time.perf_counter() - started
    store.engine.dispose()
    return {"letters": sample, "letters_per_s": round(sample / total, 1),
            "prepare_share": round(t_prep / total, 3)}


# -- in-process triage --------------------------------------------------------------------------------

class StepTimer:
    """Wraps methods to accumulate their wall time (per-step breakdown of one suggestion)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._undo = []

    def wrap(self, obj, attr: str, label: str) -> None:
        fn = getattr(obj, attr)

        def timed(*a, **kw):
            c = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.totals[label] = self.totals.get(label, 0.0) + time.perf_counter() - c

        setattr(obj, attr, timed)
        self._undo.append((obj, attr, fn))

    def restore(self) -> None:
        for obj, attr, fn in reversed(self._undo):
            if getattr(obj, attr).__name__ == "timed":
                try:
                    delattr(obj, attr)
                except AttributeError:
                    setattr(obj, attr, fn)
        self._undo = []


def query_letters(store, n: int, count: int, seed: int) -> list[dict]:
    """Half planted near-duplicates of stored cases, half new letters (variants never stored)."""
    rng = random.Random(seed + 99)
    out = []
    for j in range(count):
        if j % 2 == 0:
            src = hist.case(rng.randrange(n), n, seed)
            q = hist.near_duplicate(src, j, seed)
            q["planted"] = src["id"]
        else:
            q = hist.case(n + 1_000_000 + j, n, seed) | {"id": f"query-{j}"}
        out.append(q)
    return out


class GcPauses:
    """The cyclic collector's pauses from now until :meth:`stop`, by generation: a full (generation 2) collection
    walks every tracked object, and lands in the middle of whichever suggestion triggered it."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started: float | None = None
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1000))

    def stop(self) -> dict:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
        out = {}
        for generation in range(3):
            ms = [p for g, p in self.pauses if g == generation]
            out[f"gen{generation}"] = {"collections": len(ms), "total_ms": round(sum(ms), 1),
                                       "max_ms": round(max(ms), 1) if ms else 0.0}
        return out


def triage_latency(triage, store, index, queries: list[dict], fast: FastMatcher | None = None) -> dict:
    from triage.records import parse_letter

    timer = StepTimer()
    if fast is None:
        timer.wrap(triage, "prepare", "prepare (normalise, embed, view, minhash)")
        timer.wrap(triage, "classify", "classify (domain, type, litigation)")
        timer.wrap(index, "candidates", "match: index candidates (faiss + LSH)")
        timer.wrap(store, "get_candidates", "match: store.get_candidates (records, vectors, matters)")
        timer.wrap(store, "pks_by_hash", "match: store.pks_by_hash")
        timer.wrap(triage, "_case_views", "match: candidate views (stored matter)")
        timer.wrap(triage, "judge", "match: verdicts (pair model) and ranking")
        timer.wrap(triage, "route", "route (department)")
    else:
        triage.match = fast.match
        timer.wrap(triage, "prepare", "prepare (normalise, embed, view, minhash)")
        timer.wrap(triage, "classify", "classify (domain, type, litigation)")
        timer.wrap(triage, "route", "route (department)")
    letters = [parse_letter({k: v for k, v in q.items() if k != "planted"}) for q in queries]
    for letter in letters[:5]:  # warm-up
        triage.suggest(letter, store, index)
    gc.collect()
    gc.freeze()   # as the service does once it has started (api/service.py)
    timer.totals.clear()
    pauses = GcPauses()
    if fast is not None:
        fast.timings.clear()
    times, found, planted = [], 0, 0
    slowest: list[tuple[float, int, dict]] = []   # the tail: each slow letter's length and steps
    for q, letter in zip(queries, letters):
        before = dict(timer.totals)
        c = time.perf_counter()
        out = triage.suggest(letter, store, index)
        times.append((time.perf_counter() - c) * 1000)
        slowest = sorted(slowest + [(times[-1], len(letter.content), {
            k: round((v - before.get(k, 0.0)) * 1000, 1) for k, v in timer.totals.items()})], key=lambda t: -t[0])[:5]
        if q.get("planted"):
            planted += 1
            found += any(m["case_id"] == q["planted"] for m in out["duplicates"]["matches"]) or \
                any(s["case_id"] == q["planted"] for s in out["similar"])
    timer.restore()
    if fast is not None:
        del triage.match
    steps = {k: round(v * 1000 / len(letters), 2) for k, v in timer.totals.items()}
    if fast is not None:
        steps.update({f"match: {k}": round(v * 1000 / len(letters), 2) for k, v in fast.timings.items()})
    return {"queries": len(letters), "p50_ms": pct(times, 50), "p90_ms": pct(times, 90), "p99_ms": pct(times, 99),
            "mean_ms": round(float(np.mean(times)), 2), "ms_per_step_mean": steps, "gc_pauses": pauses.stop(),
            "slowest": [{"ms": round(ms, 1), "chars": chars, "steps_ms": st} for ms, chars, st in slowest],
            "planted_found_in_matches_or_similar": round(found / max(planted, 1), 4)}


# -- HTTP --------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_HEADERS = {"Content-Type": "application/json", "X-API-Key": "dev-intake"}


def _bodies(port: int, queries: list[dict], warm: int, path: str = "/v1/triage") -> list[bytes]:
    """The request bodies of ``queries`` (without their ids and planted answers), after ``warm`` of them were sent
    one by one to warm the service."""
    import http.client

    bodies = [json.dumps({k: v for k, v in q.items() if k not in ("planted", "id")}, ensure_ascii=False).encode()
              for q in queries]
    for b in bodies[:warm]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", path, body=b, headers=_HEADERS)
        conn.getresponse().read()
    return bodies


def _post(conn, port: int, body: bytes, path: str = "/v1/triage"):
    """POST one letter on ``conn`` to ``path``: (answered 200 or 201?, the connection to use next: a new one after a
    broken one)."""
    import http.client

    try:
        conn.request("POST", path, body=body, headers=_HEADERS)
        r = conn.getresponse()
        r.read()
        return r.status in (200, 201), conn
    except OSError:
        return False, http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def closed_loop(port: int, queries: list[dict], seconds: float, concurrency: int, warm: int = 5,
                path: str = "/v1/triage") -> dict:
    """``concurrency`` clients on loopback, each POSTing to ``path`` (the queries in turn, without their ids) and
    waiting for the answer, for ``seconds``, after ``warm`` requests one by one. Latencies of the 200/201 answers."""
    import http.client

    bodies = _bodies(port, queries, warm, path)
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.time() + seconds

    def client(w: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = w
        while time.time() < stop:
            body = bodies[i % len(bodies)]
            i += concurrency
            c = time.perf_counter()
            ok, conn = _post(conn, port, body, path)
            with lock:
                if ok:
                    lat.append((time.perf_counter() - c) * 1000)
                else:
                    errors[0] += 1

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    return {"requests": len(lat), "errors": errors[0], "seconds": round(wall, 1), "clients": concurrency,
            "req_per_s": round(len(lat) / wall, 1), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


def open_loop(port: int, queries: list[dict], rate: float, seconds: float, clients: int = 64, warm: int = 5,
              path: str = "/v1/triage") -> dict:
    """Requests sent at a fixed ``rate`` (one every 1/rate s, whether or not the earlier ones were answered) for
    ``seconds``, by up to ``clients`` connections: what "p99 at 100 requests/s" means. A closed loop of N clients
    can never show it (its latency is N / throughput by construction). Each latency counts from the moment its
    request was due, so a request that waited for a free connection is charged the wait (no coordinated
    omission); ``late_starts``: requests sent more than 10 ms after they were due."""
    import http.client
    import queue

    bodies = _bodies(port, queries, warm, path)
    total = int(rate * seconds)
    due: queue.Queue = queue.Queue()
    lat: list[float] = []
    late, errors = [0], [0]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            item = due.get()
            if item is None:
                return
            i, when = item
            delay = when - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            ok, conn = _post(conn, port, bodies[i % len(bodies)], path)
            done = time.perf_counter()
            with lock:
                if started - when > 0.010:
                    late[0] += 1
                if ok:
                    lat.append((done - when) * 1000)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter() + 0.05
    for i in range(total):
        due.put((i, t0 + i / rate))
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"offered_req_per_s": rate, "requests": len(lat), "errors": errors[0], "seconds": round(wall, 1),
            "answered_req_per_s": round(len(lat) / wall, 1), "late_starts": late[0], "clients": clients,
            "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99)}


def http_load(work: Path, models_dir: Path, queries: list[dict], seconds: float, concurrency: int,
              fast: bool, timeout: float = 600, workers: int = 1, rates: tuple[float, ...] = (),
              fresh: list[dict] | None = None) -> dict:
    """Start the service (``workers`` processes) on the bench store, wait until every worker answers, warm it,
    then ``concurrency`` clients POST /v1/triage for ``seconds``; then, for each of ``rates``, an open loop at that
    many requests a second for ``seconds`` (``open_loop``: latency counted from when each request was due) over the
    letters ``fresh`` (default ``queries``)."""
    import http.client

    port = _free_port()
    env = dict(os.environ, TRIAGE_STORE=f"sqlite:///{work / 'store.db'}", TRIAGE_MODELS_DIR=str(models_dir),
               TRIAGE_ENV="development", TRIAGE_LOG_LEVEL="WARNING", PYTHONPATH=str(PROJECT_DIR))
    cmd = [sys.executable, str(PROJECT_DIR / "bench" / "serve_static.py"), "--port", str(port),
           "--workers", str(workers)] + (["--fast"] if fast else [])
    log = open(work / f"serve{'-fast' if fast else ''}-w{workers}.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(PROJECT_DIR))
    started = time.time()
    try:
        seen: set[int] = set()   # worker pids that answered: the load starts once every worker is up …
        warming = True           # … and the leader has read the store into the page cache (TRIAGE_WARM_STORE)
        while len(seen) < workers or warming:
            if proc.poll() is not None:
                return {"error": f"the service exited with {proc.returncode}; see {log.name}"}
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v1/health")
                r = c.getresponse()
                if r.status == 200:
                    health = json.loads(r.read())
                    seen.add(int(health["worker"]["pid"]))
                    if health["worker"]["leader"]:
                        warming = health["store_pages"]["state"] == "warming"
                    continue
            except OSError:
                pass
            if time.time() - started > timeout:
                return {"error": "the service did not become ready"}
            time.sleep(0.2 if seen else 1)
        ready_s = time.time() - started
        load = closed_loop(port, queries, seconds, concurrency, warm=5 * workers)
        out = {"requests": load["requests"], "errors": load["errors"], "seconds": load["seconds"],
               "concurrency": concurrency, "workers": workers, "req_per_s": load["req_per_s"],
               "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
               "service_ready_s": round(ready_s, 1), "endpoint": "POST /v1/triage (dry run: suggestion + audit row)"}
        if rates:
            out["open_loop"] = [{**open_loop(port, fresh or queries, rate, seconds, warm=0),
                                 "letters": "each sent once, never sent before" if fresh else "cycled"}
                                for rate in rates]
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# -- near-duplicate lookup vs datasketch ------------------------------------------------------------

def dedup_vs_datasketch(triage, n: int, seed: int, cases: int, queries: int = 300) -> dict:
    """Our banded LSH vs datasketch MinHashLSH (same shingles, same 16×4 banding, 64 permutations)."""
    from datasketch import MinHash, MinHashLSH

    from triage.minhash import LSHIndex, jaccard, shingles
    from triage.normalise import normalise
    from triage.records import letter_text

    def text(r):
        return normalise(letter_text(r.get("title"), r["content"]))

    cfg = triage.minhasher.config
    say(f"dedup: shingling {cases} stored cases")
    sh = [shingles(text(hist.case(i, n, seed)), cfg.shingle) for i in range(cases)]
    ours = LSHIndex(cfg)
    c = time.perf_counter()
    sigs = np.stack([triage.minhasher.signature_of_shingles(s) for s in sh])
    ours.insert_many(np.arange(cases), sigs)
    ours._merge()
    ours_build = time.perf_counter() - c

    def ident(x):
        return int(x) & 0xFFFFFFFF

    theirs = MinHashLSH(num_perm=cfg.num_perm, params=(cfg.bands, cfg.rows))
    c = time.perf_counter()
    for i, s in enumerate(sh):
        m = MinHash(num_perm=cfg.num_perm, seed=1, hashfunc=ident)
        m.update_batch(s.tolist())
        theirs.insert(i, m, check_duplication=False)
    theirs_build = time.perf_counter() - c
    rng = random.Random(seed + 5)
    qs = []
    for j in range(queries):
        src = rng.randrange(cases)
        q = hist.near_duplicate(hist.case(src, n, seed), j, seed)
        qsh = shingles(text(q), cfg.shingle)
        if jaccard(qsh, sh[src]) >= 0.5:
            qs.append((src, qsh))
    t_ours, t_theirs, hit_ours, hit_theirs, n_ours, n_theirs = [], [], 0, 0, 0, 0
    for src, qsh in qs:
        c = time.perf_counter()
        got = ours.query(triage.minhasher.signature_of_shingles(qsh), limit=200)
        t_ours.append((time.perf_counter() - c) * 1000)
        hit_ours += src in got
        n_ours += len(got)
        c = time.perf_counter()
        m = MinHash(num_perm=cfg.num_perm, seed=1, hashfunc=ident)
        m.update_batch(qsh.tolist())
        got2 = theirs.query(m)
        t_theirs.append((time.perf_counter() - c) * 1000)
        hit_theirs += src in got2
        n_theirs += len(got2)
    mo, mt = float(np.mean(t_ours)), float(np.mean(t_theirs))
    out = {"stored_cases": cases, "queries_with_jaccard_ge_0.5": len(qs), "bands_x_rows": [cfg.bands, cfg.rows],
           "ours": {"recall": round(hit_ours / len(qs), 4), "mean_ms": round(mo, 3), "p99_ms": pct(t_ours, 99),
                    "candidates_per_query": round(n_ours / len(qs), 1), "build_s": round(ours_build, 1),
                    "bytes_per_case": round(ours.nbytes() / cases, 1)},
           "datasketch": {"recall": round(hit_theirs / len(qs), 4), "mean_ms": round(mt, 3), "p99_ms": pct(t_theirs, 99),
                          "candidates_per_query": round(n_theirs / len(qs), 1), "build_s": round(theirs_build, 1)},
           "speedup": round(mt / mo, 2),
           "what": "lookup = MinHash signature of the query's shingles + LSH query (shingling shared, excluded)"}
    del theirs, sh
    gc.collect()
    return out


# -- faiss index choices ------------------------------------------------------------------------------

def index_choices(vectors: np.ndarray, queries: np.ndarray, kinds: list[str], k: int = 10) -> dict:
    """Recall@k against exact search, single-query latency, build time, bytes per vector, removal."""
    import faiss

    from triage.index import VectorIndex

    n, dim = vectors.shape
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    _, truth = exact.search(queries, k)
    del exact
    out = {}
    from triage.retrieve import ivf_lists_for

    lists = ivf_lists_for(n)
    for kind in kinds:
        try:
            c = time.perf_counter()
            if kind in ("flat", "hnsw", "ivfpq"):
                idx = VectorIndex(dim, _index_config(kind, n, dim))
                if idx.needs_training:
                    idx.train(vectors[np.random.default_rng(0).choice(n, min(n, 50_000), replace=False)])
                for s in range(0, n, 100_000):
                    idx.add(np.arange(s, min(n, s + 100_000)), vectors[s:s + 100_000])
                search = lambda q, idx=idx: idx.search(q, k)[0]  # noqa: E731
                nbytes = idx.nbytes()
                removable = kind != "hnsw"
                label = {"flat": "flat (IDMap2 Flat IP)", "hnsw": "hnsw (HNSW32 Flat)",
                         "ivfpq": f"ivfpq (IVF{lists},PQ{_index_config(kind, n, dim).pq_m})"}[kind]
            else:  # a faiss factory string, e.g. "HNSW32,SQ8" or "IVF{lists},SQ8"
                spec = kind.replace("{lists}", str(lists))
                base = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
                raw = base
                if not base.is_trained:
                    base.train(vectors[np.random.default_rng(0).choice(n, min(n, 50_000), replace=False)])
                if "IVF" in spec:
                    faiss.extract_index_ivf(base).nprobe = 16
                    idx = base
                    idx.add_with_ids(vectors, np.arange(n, dtype=np.int64))
                else:
                    idx = faiss.IndexIDMap2(base)
                    idx.add_with_ids(vectors, np.arange(n, dtype=np.int64))
                search = lambda q, idx=idx: idx.search(q[None, :], k)[1][0]  # noqa: E731
                nbytes = int(faiss.serialize_index(idx).nbytes)
                removable = "HNSW" not in spec
                label = spec
                del raw
            build = time.perf_counter() - c
            lat, rec = [], []
            for qi, q in enumerate(queries):
                c = time.perf_counter()
                got = search(q)
                lat.append((time.perf_counter() - c) * 1000)
                rec.append(len(set(np.asarray(got).tolist()) & set(truth[qi].tolist())) / k)
            out[label] = {"recall_at_10": round(float(np.mean(rec)), 4), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                          "build_s": round(build, 1), "bytes_per_vector": round(nbytes / n, 1), "removal": removable}
            say(f"index {label}: {out[label]}")
            del idx, search   # the index is large: free it before the next kind
            gc.collect()
        except Exception as exc:  # one bad choice must not sink the run
            out[kind] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


# -- embedders and classifiers ------------------------------------------------------------------------

def embedder_comparison(static, with_e5: bool) -> dict:
    from training.distill import _CachedTeacher, evaluate_embedders, throughput

    letters = [hist.case(i, 20000, 3) for i in range(2000)]
    texts = [f"{r['title']}\n{r['content']}" for r in letters]
    embs = {"static": static}
    if with_e5:
        embs = {"e5-small": _CachedTeacher(), **embs}
    out = evaluate_embedders(embs)
    out["static"]["letters_per_s"] = round(throughput(static, texts, 5.0))
    c = time.perf_counter()
    for t in texts[:200]:
        static.encode(t)
    out["static"]["one_letter_ms"] = round((time.perf_counter() - c) * 1000 / 200, 3)
    if with_e5:
        from triage.embed import EmbedderConfig, get_embedder

        e5 = get_embedder(EmbedderConfig(name="e5-small"))
        e5.encode(texts[:8])
        c = time.perf_counter()
        e5.encode(texts[8:72])
        out["e5-small"]["letters_per_s"] = round(64 / (time.perf_counter() - c), 1)
        c = time.perf_counter()
        for t in texts[72:82]:
            e5.encode(t)
        out["e5-small"]["one_letter_ms"] = round((time.perf_counter() - c) * 100, 1)
        del e5
    return out


def classifier_comparison(triage, e5_models: Path | None) -> dict:
    """The bundle's domain classifier (held-out figure from its manifest) vs TF-IDF+LinearSVC, same split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import f1_score
    from sklearn.svm import LinearSVC

    from training.datasets import teddy_domain_split
    from training.train import fields_of, text_of

    split = teddy_domain_split()
    tr = [text_of(r) for r in split.train]
    te = [text_of(r) for r in split.test]
    y_tr, y_te = [r["domain"] for r in split.train], [r["domain"] for r in split.test]
    c = time.perf_counter()
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    svm = LinearSVC(C=0.5).fit(vec.fit_transform(tr), y_tr)
    fit_s = time.perf_counter() - c
    c = time.perf_counter()
    pred = [svm.predict(vec.transform([t]))[0] for t in te]
    base_ms = (time.perf_counter() - c) * 1000 / len(te)
    out = {"heldout_messages": len(te),
           "tfidf_char13_linearsvc": {"macro_f1": round(float(f1_score(y_te, pred, average="macro")), 4),
                                      "ms_per_letter": round(base_ms, 2), "fit_s": round(fit_s, 1)}}
    dm = triage.domain.manifest.get("metrics", {})
    vecs = triage.embedder.encode(te)
    c = time.perf_counter()
    for t, v, r in zip(te, vecs, split.test):
        triage.domain.predict(t, v, k=3, fields=fields_of(r))
    out["domain_classifier_static"] = {"macro_f1": dm.get("heldout_macro_f1"), "top3": dm.get("heldout_top3"),
                                       "ms_per_letter": round((time.perf_counter() - c) * 1000 / len(te), 2),
                                       "embedder": triage.embedder.name}
    if e5_models and (e5_models / "manifest.json").exists():
        m = json.loads((e5_models / "manifest.json").read_text())
        d = m.get("metrics", {}).get("domain", {})
        out["domain_classifier_e5"] = {"macro_f1": d.get("heldout_macro_f1"), "top3": d.get("heldout_top3"),
                                       "from": str(e5_models)}
    return out


def vectors_only(args, result: dict) -> int:
    from triage.minhash import MinHasher
    from triage.normalise import normalise
    from triage.static_embed import StaticEmbedder

    n = args.cases
    static = StaticEmbedder.load(args.embedder)
    result["embedder"] = {"name": static.name, "dim": static.dim}
    vecs = np.zeros((n, static.dim), np.float32)
    c = time.perf_counter()
    t_embed = 0.0
    for s in range(0, n, 10_000):
        texts = [normalise(f"{r['title']}\n{r['content']}") for r in (hist.case(i, n, args.seed)
                                                                      for i in range(s, min(n, s + 10_000)))]
        e = time.perf_counter()
        vecs[s:s + len(texts)] = static.encode(texts)
        t_embed += time.perf_counter() - e
        if (s // 10_000) % 10 == 0:
            say(f"embedded {s + len(texts)}/{n}")
    result["embed"] = {"letters_per_s": round(n / t_embed), "seconds_incl_generation": round(time.perf_counter() - c)}
    queries = [hist.near_duplicate(hist.case(i, n, args.seed), j, args.seed)
               for j, i in enumerate(random.Random(args.seed).sample(range(n), 200))]
    qv = static.encode([normalise(f"{q['title']}\n{q['content']}") for q in queries])
    kinds = [k.replace("_", ",") for k in args.index_kinds.split(",")]
    result["index_choices"] = index_choices(vecs, qv, kinds)
    del vecs
    gc.collect()
    if "dedup" not in set(filter(None, args.skip.split(","))):

        class _T:  # the two attributes dedup_vs_datasketch reads
            minhasher = MinHasher()

        d = dedup_vs_datasketch(_T(), n, args.seed, args.dedup_cases or min(n, 200_000))
        result["dedup"], result["dedup_speedup_vs_datasketch"] = d, d["speedup"]
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    work = Path(args.work or PROJECT_DIR / "data" / "bench" / f"N{n}-vectors")
    work.mkdir(parents=True, exist_ok=True)
    (work / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False))
    return 0


# -- main ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/scale.py", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--embedder", default=str(PROJECT_DIR / "models" / "static-e5"), help="static embedder folder")
    p.add_argument("--models", default=None, help="model bundle for the static embedder (trained if missing)")
    p.add_argument("--e5-models", default=os.environ.get("TRIAGE_MODELS_DIR", str(PROJECT_DIR / "models" / "default")))
    p.add_argument("--work", default=None)
    p.add_argument("--index", default=None, help="vector index of the store: a triage.index kind (default: flat "
                                                  "below triage.retrieve.AUTO_IVF_AT cases, ivfsq8 from there)")
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--verify", type=int, default=10, help="FastMatcher: candidates given full pair features")
    p.add_argument("--core-import-sample", type=int, default=1000)
    p.add_argument("--index-kinds", default="flat,hnsw,ivfpq,HNSW32_SQ8,IVF{lists}_SQ8")
    p.add_argument("--dedup-cases", type=int, default=None, help="default: min(cases, 200000)")
    p.add_argument("--http-seconds", type=float, default=30)
    p.add_argument("--http-concurrency", type=int, default=8)
    p.add_argument("--http-workers", type=int, default=2,
                   help="also load `triage serve --workers N` (1: only the one-worker run); default 2, one per core")
    p.add_argument("--http-rate", type=float, action="append", default=None,
                   help="open-loop rates (requests/s) run against the --http-workers service after its closed loop "
                        "(repeatable; default 100, the target)")
    p.add_argument("--skip", default="", help="comma list of: http, dedup, indexes, embedders, classifier, core")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--update", action="store_true",
                   help="keep the parts skipped by this run from the last result.json (listed under "
                        "kept_from_earlier_run, with when they were measured)")
    p.add_argument("--vectors-only", action="store_true",
                   help="no store, no service: embed the N letters, then compare faiss index choices and the "
                        "near-duplicate lookup at this size (for sizes whose full run does not fit the time)")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    args.http_rate = args.http_rate or [100.0]
    n = args.cases
    work = Path(args.work or PROJECT_DIR / "data" / "bench" / f"N{n}")
    work.mkdir(parents=True, exist_ok=True)
    from triage.retrieve import AUTO_IVF_AT

    index_kind = args.index or ("flat" if n < AUTO_IVF_AT else "ivfsq8")   # what the service would choose
    result: dict = {"cases": n, "seed": args.seed, "machine": machine()}
    say(f"machine: {result['machine']}")

    if args.vectors_only:
        return vectors_only(args, result)

    from bench.models import load_triage, train_bundle
    from triage.static_embed import StaticEmbedder

    static = StaticEmbedder.load(args.embedder)
    models = Path(args.models or PROJECT_DIR / "data" / "bench" / f"models-{static.name}")
    if not (models / "manifest.json").exists():
        say(f"training the fast tier's model bundle into {models}")
        train_bundle(args.embedder, models)
    triage = load_triage(models, embedder=static)
    result["embedder"] = {"name": static.name, "dim": static.dim, "folder": str(args.embedder)}
    result["models"] = {"dir": str(models), "version": triage.model_version}

    # 1. import -------------------------------------------------------------------------------
    stamp = work / "built.json"
    want = {"cases": n, "seed": args.seed, "embedder": static.name, "index": index_kind, "import": "core"}
    built = json.loads(stamp.read_text()) if stamp.exists() else None
    if args.rebuild or not built or built.get("want") != want:
        say(f"building the history and importing {n} cases (index {index_kind})")
        stamp.unlink(missing_ok=True)
        imp = build_store(triage, work, n, args.seed, index_kind, args.batch)
        stamp.write_text(json.dumps({"want": want, "import": imp}))
    else:
        imp = built["import"]
        say(f"reusing the store in {work} (built {imp['letters']} cases at {imp['letters_per_s']} letters/s)")
    result["import"] = imp
    result["import_letters_per_s"] = imp["letters_per_s"]
    if "core" not in skip:
        result["import_core_path"] = core_import_rate(triage, work, args.core_import_sample, args.seed)
        say(f"core import path: {result['import_core_path']}")

    from triage.retrieve import CaseIndex
    from triage.store import Store

    store = Store(f"sqlite:///{work / 'store.db'}").open()
    c = time.perf_counter()
    index = CaseIndex.open(store, triage.embedder_key, triage.embedder.dim, _index_config(index_kind, n, static.dim))
    load_s = time.perf_counter() - c
    vec_bytes, lsh_bytes = index.vectors.nbytes(), index.lsh.nbytes()
    db_bytes = sum(f.stat().st_size for f in work.glob("store.db*") if f.is_file())
    result["index_bytes_per_case"] = round((vec_bytes + lsh_bytes) / n, 1)
    result["index"] = {"kind": index_kind, "vector_bytes_per_case": round(vec_bytes / n, 1),
                       "lsh_bytes_per_case": round(lsh_bytes / n, 1), "open_s": round(load_s, 1),
                       "store_bytes_per_case": round(db_bytes / n, 1), "cases_indexed": len(index)}
    say(f"index: {result['index']}")

    # 2. in-process triage --------------------------------------------------------------------
    queries = query_letters(store, n, args.queries, args.seed)
    # the open loop sends letters never sent before, one each (the closed loop cycles through `queries`, whose
    # candidates' views the service has cached after the first round: a real intake desk sends new letters)
    fresh = (query_letters(store, n, int(max(args.http_rate) * args.http_seconds) + 50, args.seed + 1000)
             if "http" not in skip else None)
    # what the service's leader does at start: the history models of this store (type history, router), fitted
    # once and saved beside it, so that the suggestion timed here is the one the service serves
    triage.refresh_history(store)
    result["history_models"] = {"type_history_active": triage.type_history is not None,
                                "router_departments": len(getattr(triage.router, "departments", None) or [])}
    say(f"history models: {result['history_models']}")
    say("the store's file into the page cache, as the service's leader does at start (Store.warm_pages)")
    result["store_pages"] = store.warm_pages()
    say(f"store pages: {result['store_pages']}")
    say("in-process triage, current core code")
    core = triage_latency(triage, store, index, queries)
    say(f"core: {json.dumps(core, ensure_ascii=False)}")
    fast = FastMatcher(triage, verify=args.verify)
    say("in-process triage, proposed patches (FastMatcher)")
    patched = triage_latency(triage, store, index, queries, fast=fast)
    say(f"patched: {json.dumps(patched, ensure_ascii=False)}")
    result["triage_p50_ms"], result["triage_p99_ms"] = core["p50_ms"], core["p99_ms"]
    result["triage_core"] = core
    result["triage_with_proposed_patches"] = patched
    result["triage_patched_p50_ms"], result["triage_patched_p99_ms"] = patched["p50_ms"], patched["p99_ms"]
    store.engine.dispose()
    del index
    gc.collect()

    # 3. HTTP ---------------------------------------------------------------------------------
    result["http_p99_ms"] = result["http_req_per_s"] = None
    if "http" not in skip:
        runs = [("http_core", False, 1), ("http_core_workers", False, args.http_workers),
                ("http_with_proposed_patches", True, 1)]
        for label, use_fast, workers in runs if args.http_workers > 1 else [runs[0], runs[2]]:
            say(f"HTTP load ({label}): {workers} worker(s), {args.http_concurrency} clients × {args.http_seconds:.0f}s")
            rates = tuple(args.http_rate) if label == "http_core_workers" else ()
            h = http_load(work, models, queries, args.http_seconds, args.http_concurrency, use_fast, workers=workers,
                          rates=rates, fresh=fresh)
            result[label] = h
            say(f"{label}: {h}")
        h = result["http_core"]
        if "error" not in h:
            result["http_p99_ms"], result["http_req_per_s"] = h["p99_ms"], h["req_per_s"]
            result["http_headline"] = f"closed loop, {args.http_concurrency} clients, one worker (http_core)"
        w = result.get("http_core_workers") or {}
        if "error" not in h and w and "error" not in w:
            # the same load against `triage serve --workers N`, measured in the same run as the one worker
            result["http_workers"] = w["workers"]
            result["http_workers_p99_ms"], result["http_workers_req_per_s"] = w["p99_ms"], w["req_per_s"]
            result["http_workers_vs_one"] = round(w["req_per_s"] / h["req_per_s"], 2) if h["req_per_s"] else None
        for o in w.get("open_loop") or []:
            # what the target means: requests sent at a fixed rate to the default service (`triage serve`, as many
            # workers as `make run` starts), each latency counted from when it was due
            if o["offered_req_per_s"] == max(args.http_rate):
                result["http_open_loop"] = {**o, "workers": w["workers"]}
                result["http_p99_ms"], result["http_req_per_s"] = o["p99_ms"], o["answered_req_per_s"]
                result["http_headline"] = (f"open loop at {o['offered_req_per_s']:g} req/s offered, {w['workers']} "
                                           "workers (http_open_loop)")

    # 4. dedup vs datasketch ------------------------------------------------------------------
    result["dedup_speedup_vs_datasketch"] = None
    if "dedup" not in skip:
        cases = args.dedup_cases or min(n, 200_000)
        d = dedup_vs_datasketch(triage, n, args.seed, cases)
        result["dedup"] = d
        result["dedup_speedup_vs_datasketch"] = d["speedup"]
        say(f"dedup: {d}")

    # 5. faiss index choices --------------------------------------------------------------------
    if "indexes" not in skip:
        store = Store(f"sqlite:///{work / 'store.db'}").open()
        vecs = np.zeros((n, static.dim), np.float32)
        filled = 0
        for pks, v in store.iter_vectors(triage.embedder_key, after_pk=0):
            vecs[np.asarray(pks) - 1] = v
            filled += len(pks)
        store.engine.dispose()
        qv = triage.embedder.encode([f"{q['title']}\n{q['content']}" for q in queries[:200]])
        kinds = [k.replace("_", ",") for k in args.index_kinds.split(",")]
        result["index_choices"] = index_choices(vecs, qv, kinds)
        del vecs
        gc.collect()

    # 6. embedders, classifiers ---------------------------------------------------------------------
    if "embedders" not in skip:
        result["embedders"] = embedder_comparison(static, with_e5=True)
    if "classifier" not in skip:
        result["classifiers"] = classifier_comparison(triage, Path(args.e5_models) if args.e5_models else None)

    result["machine"]["load_avg_at_end"] = os.getloadavg()
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    if args.update and (work / "result.json").exists():
        # keep the parts this run skipped from the last run, and say which they are and when they were measured
        earlier = json.loads((work / "result.json").read_text())
        kept = {}
        for key, value in earlier.items():
            if key == "kept_from_earlier_run":
                continue
            if key not in result or (result[key] is None and value is not None):
                result[key] = value
                kept[key] = (earlier.get("kept_from_earlier_run") or {}).get(key) or earlier.get("measured_at", "earlier run")
        result["kept_from_earlier_run"] = kept
    (work / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
