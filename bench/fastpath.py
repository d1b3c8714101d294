"""Prototypes of the core changes proposed for scale, measured by ``bench/scale.py`` next to the current code.

Nothing here is imported by ``triage/``; each function names the core function it would replace:

- :func:`bulk_prepare` → ``Triage.prepare(letters, views=False)``: at import the pair view (matter
  extraction = jieba, ~2 ms a letter) is computed and thrown away; only text, hash, vector and MinHash
  signature are stored. Also: the matter is kept (``extra["matter"]``) so that candidate views never segment.
- :func:`bulk_add` → ``Store.add_cases_bulk``: one executemany per table with pks assigned in the
  transaction, instead of an ORM ``flush()`` per case.
- :class:`FastMatcher` → ``Triage.match``: candidate records, identities and vectors in one query each
  (Core, not ORM), vectors from the store only for candidates that need them, pair views of stored cases
  cached (LRU) and built from the stored matter, and full pair features only for the ``verify`` best
  candidates by (cosine, shared LSH bands) — instead of 50 views segmented with jieba on every request.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict

import numpy as np

from triage.dedup import LetterView, make_view, pair_features
from triage.matter import Matter, extract_matter
from triage.minhash import shingles
from triage.normalise import content_hash, normalise
from triage.privacy import hashed_identities, masked_petitioner


# -- import ------------------------------------------------------------------------------------------

def bulk_prepare(triage, letters: list[dict], keep_matter: bool = False) -> list[dict]:
    """Letters → store records with ``norm_hash``, ``vector``, ``signature`` (and optionally the matter)."""
    texts = [normalise(f"{r['title']}\n{r['content']}" if r.get("title") else r["content"]) for r in letters]
    vecs = np.atleast_2d(triage.embedder.encode(texts, kind="passage"))
    out = []
    for rec, text, vec in zip(letters, texts, vecs):
        sh = shingles(text, triage.minhasher.config.shingle)
        r = dict(rec)
        r["norm_hash"] = content_hash(text)
        r["vector"] = vec
        r["signature"] = triage.minhasher.signature_of_shingles(sh)
        if keep_matter:
            r["matter"] = extract_matter(text, triage.segmenter).to_dict()
        out.append(r)
    return out


def bulk_add(store, records: list[dict], model: str) -> list[int]:
    """Insert new cases with one executemany per table (ids assumed new). Returns their pks."""
    from sqlalchemy import func, select

    from triage.store import Case, CaseVector, Identity

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with store.engine.begin() as conn:
        start = int(conn.execute(select(func.coalesce(func.max(Case.pk), 0))).scalar()) + 1
        cases, idents, vecs = [], [], []
        for i, p in enumerate(records):
            pk = start + i
            received = dt.datetime.fromisoformat(p["received_at"]) if p.get("received_at") else None
            extra = {"matter": p["matter"]} if p.get("matter") else None
            cases.append({"pk": pk, "ext_id": p["id"], "title": p.get("title") or "", "content": p["content"],
                          "norm_hash": p["norm_hash"], "channel": p.get("channel"), "received_at": received,
                          "region": p.get("region"), "domain": p.get("domain"), "type": p.get("type"),
                          "department": p.get("department"), "reply": p.get("reply"),
                          "status": p.get("status") or "open", "petitioner_masked": masked_petitioner(p.get("petitioner")),
                          "extra": extra, "created_at": now, "deleted": False})
            for kind, h in hashed_identities(p.get("petitioner")):
                idents.append({"case_pk": pk, "kind": kind, "hash": h})
            vecs.append({"case_pk": pk, "model": model, "vector": np.asarray(p["vector"], np.float16).tobytes()})
        conn.execute(Case.__table__.insert(), cases)
        if idents:
            conn.execute(Identity.__table__.insert(), idents)
        conn.execute(CaseVector.__table__.insert(), vecs)
    return list(range(start, start + len(records)))


# -- matching ----------------------------------------------------------------------------------------

class FastMatcher:
    """Drop-in for ``Triage.match`` (same return value) with the changes listed in the module docstring."""

    def __init__(self, triage, verify: int = 12, cache_size: int = 50_000) -> None:
        self.t = triage
        self.verify = verify
        self._views: OrderedDict[int, LetterView] = OrderedDict()
        self.cache_size = cache_size
        self.timings: dict[str, float] = {}

    def _records(self, store, pks: list[int]) -> dict[int, dict]:
        from sqlalchemy import select

        from triage.store import Case, CaseVector, Identity

        if not pks:
            return {}
        cols = (Case.pk, Case.ext_id, Case.title, Case.content, Case.received_at, Case.domain, Case.department,
                Case.reply, Case.status, Case.region, Case.extra)
        out: dict[int, dict] = {}
        with store.engine.connect() as conn:
            for row in conn.execute(select(*cols).where(Case.pk.in_(pks), Case.deleted.is_(False))):
                out[row.pk] = {"pk": row.pk, "id": row.ext_id, "title": row.title, "content": row.content,
                               "received_at": row.received_at.isoformat() if row.received_at else None,
                               "domain": row.domain, "department": row.department, "reply": row.reply,
                               "status": row.status, "region": row.region, "extra": row.extra, "identities": set()}
            for pk, kind, h in conn.execute(select(Identity.case_pk, Identity.kind, Identity.hash)
                                            .where(Identity.case_pk.in_(pks))):
                if pk in out:
                    out[pk]["identities"].add(f"{kind}:{h}")
            for pk, blob in conn.execute(select(CaseVector.case_pk, CaseVector.vector)
                                         .where(CaseVector.case_pk.in_(pks), CaseVector.model == self.t.embedder_key)):
                if pk in out:
                    out[pk]["vector"] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        return out

    def _by_hash_and_identity(self, store, p) -> list[int]:
        """Exact copies (normalised hash) and the petitioner's other cases, as in ``Triage.match``."""
        from sqlalchemy import select

        from triage.store import Case, Identity

        out = []
        with store.engine.connect() as conn:
            out += list(conn.execute(select(Case.pk).where(Case.norm_hash == p.view.hash, Case.deleted.is_(False)))
                        .scalars())
            hashes = [(kind, h) for kind, h in hashed_identities(p.letter.petitioner) if kind != "name"]
            for kind, h in hashes:
                out += list(conn.execute(select(Identity.case_pk).where(Identity.kind == kind, Identity.hash == h)
                                         .order_by(Identity.case_pk.desc()).limit(20)).scalars())
        return out

    def _view(self, rec: dict) -> LetterView:
        pk = rec["pk"]
        view = self._views.get(pk)
        if view is not None:
            self._views.move_to_end(pk)
            view.identities = {i for i in rec["identities"] if not i.startswith("name:")}
            return view
        text = normalise(f"{rec['title']}\n{rec['content']}" if rec.get("title") else rec["content"])
        stored = (rec.get("extra") or {}).get("matter") if isinstance(rec.get("extra"), dict) else None
        if stored:
            m = Matter(objects={k: set(v) for k, v in stored.get("objects", {}).items()},
                       demands=set(stored.get("demands", ())), places=set(stored.get("places", ())))
            when = dt.datetime.fromisoformat(rec["received_at"]) if rec.get("received_at") else None
            title = normalise(rec.get("title") or "")
            view = LetterView(id=rec["id"], text=text, title=title, hash=content_hash(text), shingles=shingles(text, 3),
                              title_shingles=shingles(title, 2) if title else np.zeros(0, np.uint64), matter=m,
                              vector=rec.get("vector"), identities=set(), received_at=when)
        else:
            view = make_view(rec["id"], text, normalise(rec.get("title") or ""), rec.get("vector"), set(),
                             rec.get("received_at"), self.t.segmenter)
        view.identities = {i for i in rec["identities"] if not i.startswith("name:")}
        self._views[pk] = view
        if len(self._views) > self.cache_size:
            self._views.popitem(last=False)
        return view

    def match(self, p, store, index, k: int = 10, filters: dict | None = None):
        t = self.t
        clock = time.perf_counter()
        cand: dict[int, float] = {}
        ids, scores = index.vectors.search(p.vector, t.config.candidates)
        cand.update({int(i): float(s) for i, s in zip(ids, scores)})
        lsh_hits = index.lsh.query(p.signature, limit=t.config.candidates)
        for pk in lsh_hits:
            cand.setdefault(int(pk), 0.0)
        cand.update({pk: cand.get(pk, 0.0) for pk in self._by_hash_and_identity(store, p)})
        self.timings["candidates"] = self.timings.get("candidates", 0) + time.perf_counter() - clock
        clock = time.perf_counter()
        records = self._records(store, list(cand))
        records = {pk: r for pk, r in records.items() if r["id"] != p.letter.id}
        self.timings["fetch"] = self.timings.get("fetch", 0) + time.perf_counter() - clock
        clock = time.perf_counter()
        # cheap pre-ranking: the ANN cosine, or the exact cosine from the stored vector for LSH-only hits
        lsh_rank = {int(pk): r for r, pk in enumerate(lsh_hits)}
        def pre(pk):
            rec = records[pk]
            cos = cand[pk] or (float(rec["vector"] @ p.vector) if rec.get("vector") is not None else 0.0)
            return max(cos, 1.0 - 0.01 * lsh_rank.get(pk, 100))
        order = sorted(records, key=pre, reverse=True)[: self.verify]
        scored = []
        for pk in order:
            view = self._view(records[pk])
            x, evidence = pair_features(p.view, view)
            scored.append((pk, records[pk], x, evidence))
        self.timings["views"] = self.timings.get("views", 0) + time.perf_counter() - clock
        clock = time.perf_counter()
        out = t.judge(scored, k, filters)
        self.timings["pair_model"] = self.timings.get("pair_model", 0) + time.perf_counter() - clock
        return out


def backfill_matter(triage, store, batch: int = 500) -> dict:
    """Proposed background job: extract and keep the matter of stored cases that lack it (imported history).

    ~150 letters/s per core (jieba); resumable (only cases without ``extra["matter"]`` are read)."""
    from sqlalchemy import select, update

    from triage.store import Case

    done, started, last = 0, time.perf_counter(), 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(select(Case.pk, Case.title, Case.content, Case.extra).where(Case.pk > last)
                                .order_by(Case.pk).limit(batch)).all()
        if not rows:
            break
        last = rows[-1].pk
        todo = [r for r in rows if not (isinstance(r.extra, dict) and r.extra.get("matter"))]
        updates = []
        for r in todo:
            text = normalise(f"{r.title}\n{r.content}" if r.title else r.content)
            updates.append({"pk_": r.pk, "extra": {**(r.extra or {}), "matter": extract_matter(text, triage.segmenter).to_dict()}})
        if updates:
            from sqlalchemy import bindparam

            with store.engine.begin() as conn:
                conn.execute(update(Case).where(Case.pk == bindparam("pk_")).values(extra=bindparam("extra")), updates)
        done += len(updates)
    seconds = time.perf_counter() - started
    return {"cases": done, "seconds": round(seconds, 1), "letters_per_s": round(done / max(seconds, 1e-9), 1)}
