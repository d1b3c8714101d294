"""The whole line: letter → normalise → segment → embed → {dedup | classify, route | retrieve} → suggestion.

:class:`Triage` loads every trained artefact once (``load``) and answers plain records. Persistence is
passed in (a :class:`~triage.store.Store`-like object and its :class:`~triage.retrieve.CaseIndex`); this
module imports neither the database layer nor HTTP.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classify import TextClassifier
from .dedup import (LetterView, PairModel, make_views, pack_view, pair_features, pair_features_many, reasons,
                    unpack_view)
from .embed import EmbedderConfig, get_embedder
from .errors import ConfigError, ModelMissing
from .matter import MATTER_VERSION, Matter, extract_matter
from .minhash import MinHasher
from .normalise import intake_type_word, load_word_dictionary, normalise
from .privacy import identity_keys, mask_own_name
from .records import Letter, hotline_type, letter_location, letter_text
from .retrieve import opening, reply_excerpt
from .segment import Segmenter
from .type_cues import cue_phrases

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
TYPE_CATEGORY = {"建议": "意见建议", "举报": "检举控告", "投诉": "申诉求决", "求助": "申诉求决", "咨询": "咨询"}


def default_models_dir() -> Path:
    return Path(os.environ.get("TRIAGE_MODELS_DIR", str(PROJECT_DIR / "models" / "default")))


@dataclass
class TriageConfig:
    models_dir: Path = field(default_factory=default_models_dir)
    embedder: EmbedderConfig | None = None   # None → the one the models were trained with
    profile: str | None = field(default_factory=lambda: os.environ.get("TRIAGE_PROFILE"))  # department directory
    # the history router's knobs (triage.route.RouterConfig fields as JSON, e.g. '{"admin_areas": false}')
    router: str | None = field(default_factory=lambda: os.environ.get("TRIAGE_ROUTER_CONFIG"))
    vector_cache: Path | None = None        # cache vectors by text hash here (training, evaluation, re-imports)
    # near-duplicate (LSH) candidates examined per letter, at most, most shared bands first. 20 and 50 give the same
    # same-matter recall@10 (0.942, training.evaluate) and planted-repeat recall at 1M (0.973, bench/scale.py);
    # 20 reads ~40% fewer stored cases at 1M.
    candidates: int = 20
    neighbours: int = 20                    # embedding neighbours examined per letter (each gets full pair features)
    view_cache: int = 50_000                # stored cases' pair views kept in memory (LRU)
    max_matches: int = 5
    # Domain and type read the title and the first classify_chars characters of the body (litigation cues,
    # the vector and matching read all of it). Held out, 2,000 changes no domain answer (460 Teddy messages,
    # 1.5% longer; 1,500 changes one); no fuzhou appeal is that long, so the type's held-out figure cannot tell;
    # of 205 unlabelled Teddy letters longer than 2,000, 6 type and 4 domain answers change. The longest letters
    # (3,000+ characters, the latency tail) are classified in two thirds of the time. Since session 19 the last
    # classify_tail_chars characters of a longer body take the place of its characters before the cap (the type
    # reads a letter's last words, what it asks for: docs/quality.md).
    classify_chars: int = 2000
    classify_tail_chars: int = 200


def type_reading(text: str, title: str, body: str, content: str, stated: str | None = None
                 ) -> tuple[str, tuple[str, str]]:
    """What the type model reads of a letter: (text, (title, body)) — its normalised ``text``, ``title`` and
    ``body`` — with the type a clerk's intake opening stated put back in front of the body ("市民来电咨询：公积金…"
    → "咨询:公积金…"; :func:`~triage.normalise.intake_type_word`). Normalising takes that opening off, so that two
    clerks' copies hash alike; the type it states is the hotline's own reading of the call. ``content``: as written;
    ``stated``: its :func:`~triage.normalise.intake_type_word` when the caller has it already."""
    stated = intake_type_word(content) if stated is None else stated
    if not stated:
        return text, (title, body)
    body = f"{stated}:{body}"
    return normalise(letter_text(title, body)), (title, body)


def type_evidence(label: str, title: str, body: str, stated: str = "") -> list[str]:
    """Why a letter may be of type ``label``, as a handler reads it: the type a clerk's intake opening stated, and the
    words of that type's cues the letter says (:func:`~triage.type_cues.cue_phrases`: 请问、是否 for 咨询)."""
    out = [f"the clerk's opening says {stated}"] if stated and hotline_type(stated) == label else []
    phrases = cue_phrases(title, body, label)
    if phrases:
        out.append(f"says {'、'.join(phrases)}")
    return out


@dataclass
class Prepared:
    """A letter after the shared steps: normalised text, vector, MinHash signature, pair view."""

    letter: Letter
    text: str
    vector: np.ndarray | None
    signature: np.ndarray
    view: LetterView

    def record(self) -> dict:
        d = self.letter.to_dict()
        d["norm_hash"] = self.view.hash
        d["vector"] = self.vector
        d["matter"] = self.view.matter.to_dict()   # kept, so that matching never extracts it again
        d["matter_version"] = MATTER_VERSION
        return d


class Triage:
    """``load()`` once; then ``prepare``, ``suggest``, ``compare``, ``ingest``."""

    def __init__(self, config: TriageConfig | None = None) -> None:
        self.config = config or TriageConfig()
        self.manifest: dict = {}
        self.segmenter = Segmenter()
        self.minhasher = MinHasher()
        self.embedder = None
        self.domain: TextClassifier | None = None
        self.type: TextClassifier | None = None
        self.type_history = None   # triage.type_history.TypeHistory of the open store, when active
        self.pairs: PairModel | None = None
        self.router = None
        self.directory = None
        self._history_loaded: dict[str, str] = {}   # "router"/"type" → signature of the history model in use
        # stored cases never change; their views are kept packed (dedup.pack_view: no work for the cyclic collector)
        self._views: "OrderedDict[tuple[str, str, int], tuple]" = OrderedDict()
        self._views_lock = threading.Lock()

    # -- loading --------------------------------------------------------------------------------
    def load(self, embedder=None) -> "Triage":
        folder = Path(self.config.models_dir)
        path = folder / "manifest.json"
        if not path.exists():
            raise ModelMissing(f"no trained models at {folder}; run `triage train --out {folder}` (or `make models`)")
        self.manifest = json.loads(path.read_text(encoding="utf-8"))
        self.segmenter.load()
        if embedder is not None:
            self.embedder = embedder
        else:
            cfg = self.config.embedder or EmbedderConfig(**self.manifest.get("embedder", {}))
            if self.config.vector_cache is not None:
                cfg.cache_dir = self.config.vector_cache
            self.embedder = get_embedder(cfg)
        if self.manifest.get("embedder", {}).get("name") and not self.embedder.name.startswith(
                self.manifest["embedder"]["name"]):
            log.warning("models were trained with embedder %s, running with %s", self.manifest["embedder"]["name"],
                        self.embedder.name)
        self.domain = TextClassifier.load(folder / "domain", self.segmenter)
        if (folder / "type").exists():
            self.type = TextClassifier.load(folder / "type", self.segmenter)
        self.pairs = PairModel.load(folder / "pairs")
        self._load_router()
        return self

    @staticmethod
    def _litigation(text: str) -> dict:
        try:
            from .litigation import flag_litigation
        except ImportError:  # pragma: no cover - the module ships with the library
            return {"litigation_related": False, "triggers": []}
        return flag_litigation(text)

    def _load_router(self) -> None:
        try:
            from .route import Router
        except ImportError:  # routing module not present in this build
            return
        directory = None
        if self.config.profile:
            from .directory import load_directory
            directory = load_directory(self.config.profile)
        self.directory = directory
        self.router = Router(directory, self._router_config())

    def _router_config(self):
        from .route import RouterConfig

        if not self.config.router:
            return RouterConfig()
        try:
            data = json.loads(self.config.router)
        except ValueError as exc:
            raise ConfigError(f"TRIAGE_ROUTER_CONFIG is not JSON: {exc}", field="router") from None
        if not isinstance(data, dict):
            raise ConfigError("TRIAGE_ROUTER_CONFIG must be a JSON object of RouterConfig fields", field="router")
        return RouterConfig.from_dict(data)

    @property
    def model_version(self) -> str:
        return self.manifest.get("version", "untrained")

    @property
    def embedder_key(self) -> str:
        return self.embedder.name

    def warm_up(self) -> None:
        self.suggest(Letter(id=None, content="小区物业乱收停车费，希望有关部门尽快处理。", title="物业收费"))
        load_word_dictionary()   # tells a name after 我是 and a topic word (~1.4 s), before a request needs it

    # -- shared steps ---------------------------------------------------------------------------
    def prepare(self, letters: list[Letter], show_progress: bool = False) -> list[Prepared]:
        texts = [normalise(l.text) for l in letters]
        vectors = self.embedder.encode(texts, kind="passage", **({"show_progress": show_progress}
                                       if show_progress and hasattr(self.embedder, "config") else {}))
        vectors = np.atleast_2d(vectors) if len(letters) else np.zeros((0, self.embedder.dim), np.float32)
        views = make_views([(letter.id, text, normalise(letter.title), vec, identity_keys(letter.petitioner),
                             letter.received_at, self.located_matter(text, letter_location(letter.extra)))
                            for letter, text, vec in zip(letters, texts, vectors)], self.segmenter)
        return [Prepared(letter=letter, text=text, vector=vec, signature=self.minhasher.signature_of_shingles(view.shingles),
                         view=view) for letter, text, vec, view in zip(letters, texts, vectors, views)]

    def _case_view_items(self, records: dict[int, dict], stored: dict[int, tuple]) -> list[tuple]:
        """The :func:`make_views` items of stored cases (``stored``: pk → (vector, stored matter or None))."""
        items = []
        for pk, rec in records.items():
            text = normalise(letter_text(rec.get("title"), rec["content"]))
            matter = (Matter.from_dict(stored[pk][1]) if stored[pk][1] is not None
                      else self.located_matter(text, letter_location(rec)))
            items.append((rec["id"], text, normalise(rec.get("title") or ""), stored[pk][0],
                          set(rec.get("identities") or ()), rec.get("received_at"), matter))
        return items

    def located_matter(self, text: str, location: str) -> Matter | None:
        """The matter of a letter that says where it is in a field of its own (``location``): that place is part
        of the matter, as if the text named it (None: no location, the view extracts the text's own). ``text`` is
        normalised."""
        return extract_matter(f"{text}\n{normalise(location)}", self.segmenter) if location else None

    def _case_views(self, records: dict[int, dict], stored: dict[int, tuple], scope: str = "") -> dict[int, LetterView]:
        """Pair views of stored cases, from the LRU cache or built once (text, shingles, matter, vector);
        ``stored``: pk → (vector, matter), read with the records (:meth:`Store.get_candidates`); ``scope``: the
        store they come from (one Triage may serve several stores, whose pks mean different cases). A cached view
        is used only for the case it was built from (same id)."""
        out: dict[int, LetterView] = {}
        hits: dict[int, tuple] = {}
        with self._views_lock:
            for pk, rec in records.items():
                packed = self._views.get((scope, self.embedder_key, pk))
                if packed is not None and packed[0] == rec["id"]:
                    self._views.move_to_end((scope, self.embedder_key, pk))
                    hits[pk] = packed
        for pk, packed in hits.items():
            out[pk] = unpack_view(packed)
        missing = [pk for pk in records if pk not in out]
        if missing:
            items = self._case_view_items({pk: records[pk] for pk in missing}, stored)
            built = dict(zip(missing, make_views(items, self.segmenter)))
            out.update(built)
            packed = {pk: pack_view(view) for pk, view in built.items()}   # kept out of the collector's sight
            with self._views_lock:
                for pk, entry in packed.items():
                    self._views[(scope, self.embedder_key, pk)] = entry
                while len(self._views) > self.config.view_cache:
                    self._views.popitem(last=False)
        return out

    def forget(self, pk: int, store) -> None:
        """Drop a stored case's cached view (after it was updated or deleted)."""
        with self._views_lock:
            self._views.pop((_scope(store), self.embedder_key, pk), None)

    # -- the suggestion -------------------------------------------------------------------------
    def classify(self, p: Prepared) -> dict:
        cap = self.config.classify_chars
        title, body = normalise(p.letter.title), normalise(p.letter.content)
        text = p.text
        if len(body) > cap:   # its first characters and its end
            tail = min(self.config.classify_tail_chars, cap // 2)
            body = f"{body[:cap - tail - 1]} {body[-tail:]}" if tail > 0 else body[:cap]
            # the text is the fields' own, whose words the segmenter has cut already (a text cut at cap overall
            # ended its body elsewhere: a long letter was cut twice)
            text = normalise(letter_text(title, body))
        fields = (title, body)
        domain = self.domain.predict(text, p.vector, k=3, fields=fields)
        for i, d in enumerate(domain):   # the first domain's words; the others' weights say little
            words = self.domain.weighing_words(text, d["label"]) if i == 0 else []
            d["evidence"] = [f"words for it: {'、'.join(words)}"] if words else []
        stated = intake_type_word(p.letter.content)
        types = self._types(p, *type_reading(text, title, body, p.letter.content, stated)) if self.type else []
        history = self.type_history
        learnt = ([f"learnt from this office's {history.metrics.get('letters', 0)} typed letters"]
                  if history is not None and types else [])
        for i, t in enumerate(types):
            t["evidence"] = type_evidence(t["label"], title, body, stated) + (learnt if i == 0 else [])
        lit = self._litigation(p.text)
        return {"domain": domain, "type": types,
                "category": TYPE_CATEGORY.get(types[0]["label"]) if types else None,
                "litigation_related": bool(lit["litigation_related"]), "litigation_triggers": lit["triggers"]}

    def _types(self, p: Prepared, text: str, fields: tuple[str, str]) -> list[dict]:
        """Top-3 types: the shipped model, or the stack with this deployment's typed history where it is active."""
        if self.type_history is None:
            return self.type.predict(text, p.vector, k=3, fields=fields)
        base = self.type.predict_proba([text], np.atleast_2d(p.vector), fields=[fields])
        proba = self.type_history.proba([text], base, vectors=np.atleast_2d(p.vector))[0]
        labels = self.type_history.labels
        return [{"label": labels[i], "score": round(float(proba[i]), 4)} for i in np.argsort(-proba)[:3]]

    def match(self, p: Prepared, store, index, k: int = 10, filters: dict | None = None) -> tuple[dict, list[dict], list[dict]]:
        """Duplicate verdict, similar cases and neighbours (for routing) of one prepared letter."""
        self_pk = store.pk_for(p.letter.id) if p.letter.id else None
        cand = index.candidates(p.vector, p.signature, k=self.config.neighbours, lsh_limit=self.config.candidates)
        for pk in store.pks_by_hash(p.view.hash, limit=self.config.candidates):   # the newest identical copies
            cand.setdefault(pk, 1.0)
        if p.letter.petitioner:
            from .privacy import hashed_identities
            for pk in store.pks_by_identity([(kind, h) for kind, h in hashed_identities(p.letter.petitioner)
                                             if kind != "name"], limit=20):
                cand.setdefault(pk, 0.0)
        cand.pop(self_pk, None)
        rows = store.get_candidates(cand.keys(), self.embedder_key, MATTER_VERSION)
        records = {pk: row[0] for pk, row in rows.items() if row[0]["id"] != p.letter.id}
        views = self._case_views(records, {pk: row[1:] for pk, row in rows.items()}, _scope(store))
        pks = list(records)
        scored = [(pk, records[pk], x, evidence)
                  for pk, (x, evidence) in zip(pks, pair_features_many(p.view, [views[pk] for pk in pks]))]
        return self.judge(scored, k, filters)

    def judge(self, scored: list[tuple], k: int = 10, filters: dict | None = None) -> tuple[dict, list[dict], list[dict]]:
        """Pair-model verdicts of ``(pk, record, features, evidence)`` candidates → (duplicate verdict, similar
        cases, neighbours for routing)."""
        if scored:
            P = self.pairs.proba(np.stack([s[2] for s in scored]))
            verdicts = self.pairs.verdicts(P)
        else:
            P, verdicts = np.zeros((0, 3)), []
        matches, ranked, exact = [], [], set()
        for (pk, rec, x, evidence), probs, verdict in zip(scored, P, verdicts):
            # same matter first, then same kind of issue; cosine breaks ties. Scaled into [0, 1].
            rank_score = float(probs[0] + 0.5 * probs[1] + 0.05 * max(evidence["cosine"], 0.0)) / 1.05
            ranked.append((rank_score, pk, rec, evidence, probs, verdict))
            if verdict == "duplicate" or (verdict == "related" and probs[0] + probs[1] >= self.pairs.config.related_threshold):
                matches.append({"case_id": rec["id"], "score": round(float(probs[0]), 4), "verdict": verdict,
                                "same_petitioner": bool(evidence["same_petitioner"]),
                                "reasons": reasons(evidence, verdict), "received_at": rec.get("received_at"),
                                "status": rec.get("status"), "department": rec.get("department")})
                if evidence["exact"]:
                    exact.add(rec["id"])
        # duplicates first; among them the same text, then the same petitioner, then the model's score: where the
        # pair model saturates (0.9985 for a near-twin by another petitioner, 0.9974 for the exact copy by the same
        # one), the direct evidence orders them
        matches.sort(key=lambda m: (m["verdict"] != "duplicate",
                                    not (m["verdict"] == "duplicate" and m["case_id"] in exact),
                                    not (m["verdict"] == "duplicate" and m["same_petitioner"]), -m["score"]))
        overall = "duplicate" if any(m["verdict"] == "duplicate" for m in matches) else (
            "related" if matches else "new")
        ranked.sort(key=lambda r: -r[0])
        similar = []
        for score, pk, rec, evidence, probs, verdict in ranked:
            if filters and not _passes(rec, filters):
                continue
            own = functools.partial(mask_own_name, petitioner_masked=rec.get("petitioner_masked"),
                                    identities=rec.get("identities"))   # a precedent's writer, unnamed
            similar.append({"case_id": rec["id"], "score": round(score, 4), "title": own(rec.get("title") or ""),
                            "opening": opening(own(rec["content"])), "domain": rec.get("domain"),
                            "department": rec.get("department"), "received_at": rec.get("received_at"),
                            "verdict": verdict, "reply_excerpt": reply_excerpt(own(rec.get("reply")))})
            if len(similar) >= k:
                break
        neighbours = [{"case_id": r[2]["id"], "score": r[0], "department": r[2].get("department")}
                      for r in ranked[:10]]
        return {"verdict": overall, "matches": matches[: self.config.max_matches]}, similar, neighbours

    def route(self, p: Prepared, cls: dict, neighbours: list[dict]) -> list[dict]:
        if self.router is None:
            return []
        domain = cls["domain"][0]["label"] if cls["domain"] else None
        type_ = cls["type"][0]["label"] if cls["type"] else None
        try:
            return self.router.route(p.letter.to_dict(), domain=domain, type=type_, neighbours=neighbours, k=3,
                                     vector=p.vector)
        except Exception:  # routing must never sink the rest of the suggestion
            log.exception("routing failed")
            return []

    def suggest_prepared(self, p: Prepared, store=None, index=None, k: int = 10, filters: dict | None = None) -> dict:
        cls = self.classify(p)
        if store is not None and index is not None:
            duplicates, similar, neighbours = self.match(p, store, index, k=k, filters=filters)
        else:
            duplicates, similar, neighbours = {"verdict": "new", "matches": []}, [], []
        return {"id": p.letter.id, "model_version": self.model_version, "domain": cls["domain"], "type": cls["type"],
                "category": cls["category"], "litigation_related": cls["litigation_related"],
                "litigation_triggers": cls["litigation_triggers"],
                "department": self.route(p, cls, neighbours), "duplicates": duplicates, "similar": similar}

    def suggest(self, letter: Letter, store=None, index=None, k: int = 10, filters: dict | None = None) -> dict:
        return self.suggest_prepared(self.prepare([letter])[0], store, index, k=k, filters=filters)

    # -- storing ----------------------------------------------------------------------------------
    def ingest(self, prepared: list[Prepared], store, index) -> list[tuple[int, str, bool]]:
        """Store prepared letters (one transaction) and add the new ones to the indexes."""
        results = store.add_cases([p.record() for p in prepared], self.embedder_key)
        new = [(pk, p) for (pk, _, created), p in zip(results, prepared) if created]
        if new:
            index.add([pk for pk, _ in new], np.stack([p.vector for _, p in new]),
                      np.stack([p.signature for _, p in new]))
        return results

    def refresh_matters(self, store, batch: int = 2000, show_progress: bool = False) -> int:
        """Extract again, and store, the matter of every stored case whose matter is of another version than
        :data:`~triage.matter.MATTER_VERSION` (a store from before it) or missing: what each read of such a case
        would otherwise do (~4–5 ms a candidate, once per process). Returns how many were refreshed."""
        pks = store.stale_matter_pks(MATTER_VERSION)
        from tqdm import tqdm
        with tqdm(total=len(pks), desc="matters", unit="case", file=sys.stderr,
                  disable=not show_progress or not pks) as bar:
            for start in range(0, len(pks), batch):
                chunk = pks[start:start + batch]
                matters = {}
                for pk, rec in store.get_cases(chunk).items():
                    text = normalise(letter_text(rec.get("title"), rec["content"]))
                    matter = self.located_matter(text, letter_location(rec)) or extract_matter(text, self.segmenter)
                    matters[pk] = matter.to_dict()
                store.put_matters(MATTER_VERSION, matters)
                bar.update(len(chunk))
        return len(pks)

    def refresh_history(self, store, refit: bool = True) -> None:
        """Refit what learns from the store's history when it changed (after an import): the router's history
        model (letters with a ``department``) and the type history (letters with a ``type``).

        ``refit=False`` (a service worker that does not lead): never fit, only load what the leader last saved
        beside the store, when its marker differs from what this process has; no query on the store."""
        self._refresh_router(store, refit)
        self._refresh_type_history(store, refit)

    def _saved_history(self, folder: Path, name: str) -> str | None:
        """The signature the leader saved in ``folder`` when it differs from the one this process has loaded."""
        marker = folder / "history.signature"
        try:
            saved = marker.read_text()
        except OSError:
            return None
        return saved if saved and saved != self._history_loaded.get(name) else None

    def _refresh_router(self, store, refit: bool = True) -> None:
        if self.router is None:
            return
        folder = store.index_dir / "router"
        marker = folder / "history.signature"
        from .route import Router
        if not refit:
            saved = self._saved_history(folder, "router")
            if saved is not None:
                try:
                    router = Router.load(folder)
                except Exception:   # being written: the next look finds it whole
                    return
                if self.directory is not None:
                    router.directory = self.directory
                self.router, self._history_loaded["router"] = router, saved
            return
        config = self._router_config()
        signature = store.labelled_signature("department") + (f"|{self.config.router}" if self.config.router else "")
        if config.embedding_weight > 0:   # the text heads read this embedder's vectors: another one refits
            signature += f"|{self.embedder_key}"
        if marker.exists() and marker.read_text() == signature:
            try:
                self.router = Router.load(folder)
                if self.directory is not None:
                    self.router.directory = self.directory
                self._history_loaded["router"] = signature
                return
            except Exception:
                log.warning("router history model unreadable; refitting")
        history = store.labelled_history("department", limit=config.max_history)
        router = Router(self.directory, config)
        if history:
            vectors = self._history_vectors(store, history) if config.embedding_weight > 0 else None
            history = [{**h, "text": f"{h.get('title') or ''}\n{h['content']}"} for h in history]
            router.fit_history(history, vectors)
        router.save(folder)
        marker.write_text(signature)
        self.router = router
        self._history_loaded["router"] = signature

    def _history_vectors(self, store, history: list[dict], texts: list[str] | None = None) -> np.ndarray:
        """The stored vectors of these history cases (this embedder's), any missing one encoded from its text."""
        stored = store.get_vectors([h["pk"] for h in history], self.embedder_key)
        missing = [i for i, h in enumerate(history) if h["pk"] not in stored]
        if missing:
            if texts is None:
                texts = [normalise(letter_text(h.get("title"), h["content"])) for h in history]
            fresh = self.embedder.encode([texts[i] for i in missing], kind="passage")
            stored.update({history[i]["pk"]: v for i, v in zip(missing, np.atleast_2d(fresh))})
        return np.stack([stored[h["pk"]] for h in history])

    def _refresh_type_history(self, store, refit: bool = True) -> None:
        """The type history (:mod:`triage.type_history`) of this store and this type model, fitted or reloaded.
        The one in use stays until the new one replaces it (suggestions run while a service refits)."""
        if self.type is None:
            self.type_history = None
            return
        from .type_history import NotEnoughHistory, TypeHistory, TypeHistoryConfig

        folder = store.index_dir / "type-history"
        marker = folder / "history.signature"
        if not refit:
            saved = self._saved_history(folder, "type")
            if saved is not None and saved.endswith(f"|{self.model_version}"):
                try:
                    fitted = TypeHistory.load(folder) if (folder / "manifest.json").exists() else None
                except Exception:   # being written: the next look finds it whole
                    return
                self.type_history = fitted if fitted is not None and fitted.active else None
                self._history_loaded["type"] = saved
            return
        signature = f"{store.labelled_signature('type')}|{self.model_version}"
        if marker.exists() and marker.read_text() == signature:
            self._history_loaded["type"] = signature
            if not (folder / "manifest.json").exists():   # too little typed history when it was last looked at
                self.type_history = None
                return
            try:
                fitted = TypeHistory.load(folder)
                self.type_history = fitted if fitted.active else None
                return
            except Exception:
                log.warning("type history unreadable; refitting")
        config = TypeHistoryConfig()
        history = store.labelled_history("type", limit=config.max_letters)
        fitted = None
        if len(history) >= config.min_letters:
            plain = [normalise(letter_text(h.get("title"), h["content"])) for h in history]
            read = [type_reading(text, normalise(h.get("title") or ""), normalise(h["content"]), h["content"])
                    for text, h in zip(plain, history)]
            texts, fields = [text for text, _ in read], [f for _, f in read]
            vectors = None
            if self.type.config.embedding_weight > 0 or config.embedding_weight > 0:
                vectors = self._history_vectors(store, history, plain)
            base = self.type.predict_proba(texts, vectors, fields=fields)
            try:
                fitted = TypeHistory(config).fit(texts, [hotline_type(h["type"]) for h in history], base,
                                                 self.type.labels, vectors=vectors)
            except NotEnoughHistory as e:
                log.info("type history not used: %s", e)
        if fitted is not None:
            fitted.save(folder, signature=signature)
            log.info("type history: %s", fitted.metrics)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "manifest.json").unlink(missing_ok=True)
        marker.write_text(signature)
        self._history_loaded["type"] = signature
        self.type_history = fitted if fitted is not None and fitted.active else None

    # -- pairs ----------------------------------------------------------------------------------
    def compare(self, a: Letter, b: Letter) -> dict:
        pa, pb = self.prepare([a, b])
        x, evidence = pair_features(pa.view, pb.view)
        probs = self.pairs.proba(x[None, :])
        verdict = self.pairs.verdicts(probs)[0]
        return {"verdict": verdict, "score": round(float(probs[0, 0]), 4),
                "probabilities": {"duplicate": round(float(probs[0, 0]), 4), "related": round(float(probs[0, 1]), 4),
                                  "unrelated": round(float(probs[0, 2]), 4)},
                "reasons": reasons(evidence, verdict)}


def _scope(store) -> str:
    """Which store a cached view belongs to: its URL (a Store), else the object's identity."""
    return str(getattr(store, "url", None) or id(store))


def _passes(rec: dict, filters: dict) -> bool:
    if filters.get("domain") and rec.get("domain") != filters["domain"]:
        return False
    if filters.get("region") and filters["region"] not in "\n".join(
            ((rec.get("region") or ""), letter_location(rec), rec.get("title") or "", rec["content"])):
        return False
    when = rec.get("received_at")
    if filters.get("since") and (not when or when < filters["since"]):
        return False
    if filters.get("until") and (not when or when > filters["until"]):
        return False
    return True
