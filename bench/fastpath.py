"""A prototype of the one core change still proposed for scale, measured by ``bench/scale.py`` next to the core.

Nothing here is imported by ``triage/``. Landed in the core since it was first prototyped here: the bulk
import (``Store.add_cases`` inserts a batch with one statement per table), the stored matter (``case_matters``:
a stored case's view is never segmented again) and the LRU of stored cases' views (``Triage._case_views``).

- :class:`FastMatcher` → ``Triage.match``: candidate records, identities, vectors and matters in one Core query
  each, and full pair features only for the ``verify`` best candidates by (cosine, shared LSH bands) instead
  of all ~50 candidates.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from triage.dedup import LetterView, make_view, pair_features
from triage.matter import Matter
from triage.normalise import normalise
from triage.privacy import hashed_identities
from triage.records import letter_text


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

        from triage.matter import MATTER_VERSION
        from triage.store import Case, CaseMatter, CaseVector, Identity

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
            for pk, matter in conn.execute(select(CaseMatter.case_pk, CaseMatter.matter)
                                           .where(CaseMatter.case_pk.in_(pks), CaseMatter.version == MATTER_VERSION)):
                if pk in out:
                    out[pk]["matter"] = matter
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
        text = normalise(letter_text(rec.get("title"), rec["content"]))
        stored = Matter.from_dict(rec["matter"]) if rec.get("matter") is not None else None
        view = make_view(rec["id"], text, normalise(rec.get("title") or ""), rec.get("vector"), set(),
                         rec.get("received_at"), self.t.segmenter, matter=stored)
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
