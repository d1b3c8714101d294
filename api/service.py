"""The service's state and operations: what the routers call. One instance per app, built in the lifespan.

It owns the loaded :class:`~triage.pipeline.Triage`, the :class:`~triage.store.Store` and the in-memory
:class:`~triage.retrieve.CaseIndex`. The pipeline and the index are not thread-safe for writes, so every
step that reads or changes the index (matching, ingesting, saving, refitting the router) runs under one
lock (:class:`ReadWriteLock`): steps that only read it run side by side, a write waits for them and runs alone;
the slow step, embedding (``prepare``), runs outside it.

Identity fields are sealed as soon as a letter is parsed (:func:`seal`): keyed hashes for matching and a
masked form for display. The clear values live only in the request's memory, never in the database, the
job queue or a log line. Free text shown to anyone passes through :func:`~triage.normalise.mask_pii`.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio import to_thread
from sqlalchemy.exc import IntegrityError

from triage.errors import InvalidLetter, NotFound
from triage.locks import exclusive
from triage.normalise import mask_pii
from triage.privacy import hashed_identities, identity_keys, mask_shown, masked_petitioner
from triage.records import Letter, parse_letter
from triage.store import CONCLUDED_STATUSES, Store, index_dir_for

from .errors import Conflict
from .settings import DEFAULT_IDENTITY_KEY, Principal, Settings

log = logging.getLogger("api.service")

API_VERSION = "1"
# Keys of a suggestion whose values are identifiers or labels, never free text: not masked.
_UNMASKED_KEYS = frozenset({"id", "case_id", "model_version", "label", "name", "verdict", "category", "suggestion_id"})


def new_letter_id() -> str:
    return f"L{uuid.uuid4().hex[:20]}"


def is_open(status: str | None) -> bool:
    return (status or "open") not in CONCLUDED_STATUSES


def mask_deep(value: Any, key: str | None = None) -> Any:
    """:func:`mask_pii` over every string of a JSON-like value, except identifier and label fields."""
    if isinstance(value, str):
        return value if key in _UNMASKED_KEYS else mask_pii(value)
    if isinstance(value, dict):
        return {k: mask_deep(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_deep(v, key) for v in value]
    return value


# -- sealed letters ---------------------------------------------------------------------------------

@dataclass
class Sealed:
    """A letter without clear identities: keyed hashes and a masked form stand in for them."""

    letter: dict            # Letter.to_dict() without "petitioner"
    keys: list[str]         # "kind:hash" for same-petitioner evidence (account, id_number, phone)
    hashes: list[list[str]]  # [kind, hash] of every identity field, names included
    masked: dict | None

    def to_json(self) -> dict:
        return {"letter": self.letter, "keys": self.keys, "hashes": self.hashes, "masked": self.masked}

    @classmethod
    def from_json(cls, data: dict) -> "Sealed":
        return cls(letter=data["letter"], keys=list(data.get("keys") or []),
                   hashes=[list(h) for h in data.get("hashes") or []], masked=data.get("masked"))

    @property
    def id(self) -> str:
        return self.letter["id"]


def seal(letter: Letter) -> Sealed:
    if letter.id is None:
        letter.id = new_letter_id()
    pet = letter.petitioner or {}
    data = letter.to_dict()
    data.pop("petitioner", None)
    return Sealed(letter=data, keys=sorted(identity_keys(pet)), hashes=[[k, h] for k, h in hashed_identities(pet)],
                  masked=masked_petitioner(pet))


def check_letter(letter: Letter, where: str = "") -> Letter:
    """Checks the library leaves to storage: lengths of the columns, dates the database can hold."""
    limits = {"region": 200, "domain": 200, "type": 50, "department": 200, "status": 50}
    for name, limit in limits.items():
        value = getattr(letter, name)
        if value is not None and len(value) > limit:
            raise InvalidLetter(f"is {len(value)} characters; the limit is {limit}", field=where + name)
    if letter.id is not None and len(letter.id) > 200:
        raise InvalidLetter("is longer than 200 characters", field=where + "id")
    if letter.received_at:
        try:
            when = dt.datetime.fromisoformat(letter.received_at)
            if when.tzinfo is not None:
                when.astimezone(dt.timezone.utc)
        except (ValueError, OverflowError):
            raise InvalidLetter("is not a date the store can hold", field=where + "received_at") from None
        if not 1900 <= when.year <= 2200:
            raise InvalidLetter(f"year {when.year} is out of range (1900–2200)", field=where + "received_at")
    return letter


def letter_from_body(data: dict, where: str = "") -> Letter:
    """Validate one letter of a request (library rules + storage limits); errors name the field."""
    try:
        letter = parse_letter(data)
    except InvalidLetter as exc:
        if where:
            exc.field = where + (exc.field or "")
        raise
    return check_letter(letter, where)


# -- the service ------------------------------------------------------------------------------------

# New cases (stored by the other workers) a request on the event loop takes into the index itself before it
# suggests: reading a case's row and computing its MinHash signature took 0.05 + 0.08 ms (10k bench store), so
# ~5 ms at most on the loop; more (an import beside the service) go to a request thread.
SYNC_ON_LOOP_AT_MOST = 32


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back (so an import cannot be starved).

    ``with lock:`` (and ``lock.write()``) is the exclusive side, re-entrant for the thread that holds it;
    ``with lock.read():`` the shared side. Suggestions without storing (dry runs, a case's matches, the
    reception check) read the index and the store; storing a letter, importing and saving the index write.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0
        self._waiting_writers = 0

    def acquire_read(self, blocking: bool = True) -> bool:
        """Take the shared side; with ``blocking=False`` only if no writer holds or waits for the lock (False:
        nothing taken)."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:   # a writer may read what it holds
                self._depth += 1
                return True
            while self._writer is not None or self._waiting_writers:
                if not blocking:
                    return False
                self._cond.wait()
            self._readers += 1
            return True

    def release_read(self) -> None:
        with self._cond:
            if self._writer == threading.get_ident():
                self._depth -= 1
                return
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire(self, blocking: bool = True) -> bool:
        """Take the exclusive side; with ``blocking=False`` only if nobody holds either side now (False: nothing
        taken)."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
                return True
            if not blocking:
                if self._writer is not None or self._readers:
                    return False
                self._writer, self._depth = me, 1
                return True
            self._waiting_writers += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writer, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._writer != threading.get_ident():
                raise RuntimeError("release of a write lock this thread does not hold")
            self._depth -= 1
            if not self._depth:
                self._writer = None
                self._cond.notify_all()

    def __enter__(self) -> "ReadWriteLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def write(self) -> "ReadWriteLock":
        return self

    @contextmanager
    def read(self):
        self.acquire_read()
        try:
            yield self
        finally:
            self.release_read()


class Leadership:
    """Which of several processes serving one store leads: runs the queued jobs and saves the index beside the
    store. An exclusive ``flock`` on ``<index dir>/leader.lock``, held for the life of the process; the kernel
    releases it when the holder dies, and a follower's sync loop takes it over. A single process always leads."""

    def __init__(self, folder) -> None:
        self.path = Path(folder) / "leader.lock"
        self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> bool:
        if self._fh is not None:
            return True
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")
        except OSError as exc:   # no writable folder beside the store: nobody can share it, so lead
            log.warning("cannot open %s (%s); leading without a lock", self.path, type(exc).__name__)
            self._fh = True
            return True
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None and fh is not True:
            fh.close()   # closing the file drops the lock


class Service:
    """Loaded once in the lifespan (:meth:`start`), closed at shutdown (:meth:`stop`)."""

    def __init__(self, settings: Settings, triage=None) -> None:
        self.settings = settings
        self.triage = triage
        self.store: Store | None = None
        self.index = None
        self.lock = ReadWriteLock()
        # Suggestions computed at once by this process (TRIAGE_SUGGEST_THREADS): the rest of the request threads
        # wait their turn instead of trading the GIL every few ms (1 worker, 8 clients, 10k cases: 25 → 34 req/s
        # and p99 0.57 → 0.36 s; docs/benchmarks.md).
        self.cpu = threading.BoundedSemaphore(settings.suggest_threads)
        self.started_at: float | None = None
        self.revision: str | None = None
        self.jobs = None
        self._dirty = False
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        self._syncer: threading.Thread | None = None
        self._warmer: threading.Thread | None = None
        self.store_pages: dict = {"state": "skipped", "reason": "not started"}
        self.leadership: Leadership | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "Service":
        from triage.pipeline import Triage, TriageConfig
        from triage.retrieve import CaseIndex

        from . import migrate
        from .jobs import JobRunner

        s = self.settings
        if s.identity_key is not None and os.environ.get("TRIAGE_IDENTITY_KEY") != s.identity_key.get_secret_value():
            os.environ["TRIAGE_IDENTITY_KEY"] = s.identity_key.get_secret_value()  # read by triage.privacy
        if os.environ.get("TRIAGE_IDENTITY_KEY", DEFAULT_IDENTITY_KEY) == DEFAULT_IDENTITY_KEY:
            log.warning("identity hashes use the development key; set TRIAGE_IDENTITY_KEY outside development")
        t0 = time.time()
        if s.migrate:
            with exclusive(index_dir_for(s.store) / "migrate.lock"):   # the workers of one service start together
                self.revision = migrate.upgrade(s.store)
        self.store = Store(s.store).open(create=not s.migrate)
        if self.triage is None:
            config = TriageConfig()
            if s.models_dir:
                config.models_dir = s.models_dir
            if s.profile:
                config.profile = s.profile
            self.triage = Triage(config).load()
        self.leadership = Leadership(self.store.index_dir)
        # The workers of one service start together. The first through this lock leads and opens the index while
        # holding it, the others open theirs after it: what the leader had to rebuild (the vector index of a store
        # grown past retrieve.AUTO_IVF_AT: 3.3 minutes at 1M) they load as it saved it, instead of each worker
        # rebuilding it at once on the same cores. A follower beside a leader already running opens at once.
        with exclusive(self.store.index_dir / "index-open.lock"):
            leader = self.leadership.acquire()
            if leader:
                self.index = CaseIndex.open(self.store, self.triage.embedder_key, self.triage.embedder.dim, save=True)
        if not leader:
            self.index = CaseIndex.open(self.store, self.triage.embedder_key, self.triage.embedder.dim, save=False)
        # Only the leader fits what learns from history; the other workers load what it saved (see _sync_loop).
        self.triage.refresh_history(self.store, refit=leader)
        if s.warm_up:
            self.triage.warm_up()
        # Models, router and indexes live as long as the process: out of the cyclic collector's sight, a full
        # collection no longer walks their millions of objects (one took 230 ms in the middle of a suggestion at
        # 100k cases; in-process p99 86.6 → 62.9 ms, docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        self.jobs = JobRunner(self)
        if leader:
            self._lead()
        else:
            self.store_pages = {"state": "skipped", "reason": "the leading worker reads them"}
        self._syncer = threading.Thread(target=self._sync_loop, name="index-sync", daemon=True)
        self._syncer.start()
        self.started_at = time.time()
        log.info("service ready in %.1fs: models %s, store %s (revision %s), %d indexed cases, %s",
                 time.time() - t0, self.triage.model_version, s.store_kind, self.revision, len(self.index),
                 "leading (jobs, index saving)" if leader else "following (another worker runs jobs)")
        return self

    def _lead(self) -> None:
        """This process became the leader: it runs the queued jobs, saves the index and warms the store's pages."""
        self.jobs.lead()
        self._saver = threading.Thread(target=self._save_loop, name="index-saver", daemon=True)
        self._saver.start()
        if self.settings.warm_store and self._warmer is None:
            self.store_pages = {"state": "warming"}
            self._warmer = threading.Thread(target=self._warm_pages, name="store-pages", daemon=True)
            self._warmer.start()
        elif not self.settings.warm_store:
            self.store_pages = {"state": "skipped", "reason": "TRIAGE_WARM_STORE is off"}

    def _warm_pages(self) -> None:
        """Read the store's file into the page cache (Store.warm_pages) beside the requests (the page cache is the
        system's: one worker warming serves them all): once, or every ``warm_store_seconds`` on a host that pages
        out cache left idle for a while (this project's machines: DAMON reclaim after ~60 s, docs/benchmarks.md)."""
        every = self.settings.warm_store_seconds
        first = True
        while True:
            try:
                pages = self.store.warm_pages(stop=self._stop)
            except OSError as exc:
                log.warning("could not read the store's pages ahead: %s", type(exc).__name__)
                self.store_pages = {"state": "failed", "reason": type(exc).__name__}
                return
            self.store_pages = pages
            if first:
                if pages["state"] == "done":
                    log.info("store pages read into the page cache: %.1f MB in %.1fs", pages["bytes"] / 1e6,
                             pages["seconds"])
                else:
                    log.info("store pages not read ahead (%s)", pages.get("reason", pages["state"]))
            first = False
            if pages["state"] != "done" or every <= 0 or self._stop.wait(every):
                return

    @property
    def leader(self) -> bool:
        return self.leadership is not None and self.leadership.held

    def sync_index(self, blocking: bool = True) -> bool:
        """Take in the cases other processes stored (other workers, a `triage import` beside the service) before
        matching reads the index: a count on the store when nothing is new, the write lock only when it is.
        ``blocking=False``: False, nothing done, where that lock is taken."""
        if self.index.behind(self.store):
            if not self.lock.acquire(blocking):
                return False
            try:
                self.index.sync(self.store)
            finally:
                self.lock.release()
        return True

    def _sync_loop(self) -> None:
        """Every ``sync_seconds``: take in other processes' cases (so the floor settles and the saved index is
        whole), follow the leader's refitted history models, and take over the lead when its holder is gone."""
        while not self._stop.wait(self.settings.sync_seconds):
            try:
                if self.index.due(self.store):
                    with self.lock:
                        self.index.sync(self.store)
                self._outgrown_flat_index()
                if not self.leader:
                    if self.leadership.acquire():
                        log.info("took over the lead: running the job queue and saving the index")
                        self.triage.refresh_history(self.store)
                        self._lead()
                    else:
                        self.triage.refresh_history(self.store, refit=False)
            except Exception:
                log.exception("index sync failed; retrying")

    def _outgrown_flat_index(self) -> None:
        """A flat vector index that the service's own intake (or imports beside it) took past AUTO_IVF_AT cases,
        with no kind asked for, becomes the default inverted lists now, not at the next start: built from the store
        beside the requests (12 s of one core at 100k), swapped in under the write lock. Every worker does it for
        its own index; the leader saves it."""
        vectors = self.index.default_kind_vectors(self.store)
        if vectors is None:
            return
        with self.lock:
            self.index.adopt_vectors(vectors, self.store)
            self._dirty = True
        log.info("vector index rebuilt as %s (%d cases)", vectors.config.kind, len(vectors))

    def stop(self) -> None:
        self._stop.set()
        if self.jobs is not None:
            self.jobs.stop()
        for thread in (self._saver, self._syncer, self._warmer):
            if thread is not None:
                thread.join(timeout=5)
        if self.leader:
            self.save_index()
            self.leadership.release()
        if self.store is not None and self.store.engine is not None:
            self.store.engine.dispose()

    def save_index(self, force: bool = False) -> None:
        if self.index is None:
            return
        with self.lock:
            if self._dirty or force:
                self.index.save()
                self._dirty = False

    def _save_loop(self) -> None:
        while not self._stop.wait(self.settings.index_save_seconds):
            try:
                self.save_index()
            except Exception:
                log.exception("saving the index failed (it is rebuilt from the store on start)")

    @property
    def model_version(self) -> str:
        return self.triage.model_version

    # -- preparing --------------------------------------------------------------------------------
    def prepare(self, sealed: list[Sealed]):
        """Embed and view sealed letters (outside the lock); the identity evidence comes from the hashes."""
        letters = [parse_letter(s.letter) for s in sealed]
        prepared = self.triage.prepare(letters)
        for p, s in zip(prepared, sealed):
            p.view.identities = set(s.keys)
        return prepared

    def prepare_case(self, case: dict):
        letter = Letter(id=case["id"], title=case.get("title") or "", content=case["content"],
                        received_at=case.get("received_at"))
        p = self.triage.prepare([letter])[0]
        p.view.identities = {i for i in case.get("identities") or () if not i.startswith("name:")}
        return p

    @staticmethod
    def record(p, s: Sealed) -> dict:
        rec = p.record()
        rec.pop("petitioner", None)
        rec["identity_hashes"] = s.hashes
        rec["petitioner_masked"] = s.masked
        return rec

    def _suggest(self, p, k: int, filters: dict | None = None) -> dict:
        """The public suggestion of one prepared letter (free text masked). Call under the lock."""
        return mask_deep(self.triage.suggest_prepared(p, self.store, self.index, k=k, filters=filters))

    # -- submitting ---------------------------------------------------------------------------------
    def submit(self, sealed: Sealed, principal: Principal, k: int, prepared=None, job_id: str | None = None) -> dict:
        """Store a letter and its suggestion (idempotent by id). Returns the suggestion with ``suggestion_id``
        and ``created``; a different letter under a stored id is a :class:`Conflict`."""
        with self.cpu:
            return self._submit(sealed, principal, k, prepared, job_id)

    async def submit_soon(self, sealed: Sealed, principal: Principal, k: int) -> dict:
        """:meth:`submit` on the calling thread (the event loop) when the lane and the index's exclusive side are
        free now, else on a request thread (see :meth:`dry_run_soon`)."""
        with self._lane(wait=False, write=True) as held:
            if held:
                return self._submit(sealed, principal, k, None, None)
        return await to_thread.run_sync(self.submit, sealed, principal, k)

    def _submit(self, sealed: Sealed, principal: Principal, k: int, prepared, job_id: str | None) -> dict:
        p = prepared if prepared is not None else self.prepare([sealed])[0]
        with self.lock:
            self.index.sync(self.store)   # cases other processes stored: one count when there are none
            existing = self.store.get_case(sealed.id)
            if existing is not None or self.store.pk_for(sealed.id) is not None:
                return self._replay(existing, p, principal, k, job_id)
            suggestion = self._suggest(p, k)
            audit = {"actor": principal.actor, "role": principal.role, "action": "suggestion.served",
                     "detail": self._audit_detail(suggestion, stored=True, job_id=job_id)}
            try:
                pk, created, sid = self.store.submit_case(self.record(p, sealed), self.triage.embedder_key,
                                                          self.model_version, suggestion, audit)
            except IntegrityError:  # another process stored the same id a moment ago
                created = False
            if not created:  # stored meanwhile by someone else, or a deleted case's id
                return self._replay(self.store.get_case(sealed.id), p, principal, k, job_id)
            self.index.add([pk], p.vector[None, :], p.signature[None, :])
            self._dirty = True
        log.info("stored case %s (pk %d), suggestion %d, duplicates: %s", sealed.id, pk, sid,
                 suggestion["duplicates"]["verdict"])
        return {**suggestion, "suggestion_id": sid, "created": True}

    def _replay(self, case: dict | None, p, principal: Principal, k: int, job_id: str | None) -> dict:
        """The answer to a letter whose id is already stored: its current suggestion, nothing stored twice."""
        if case is None:
            raise Conflict(f"id '{p.letter.id}' belongs to a deleted case; use another id", field="id")
        if case["norm_hash"] != p.view.hash:
            raise Conflict(f"id '{case['id']}' is already stored with a different text; a new letter needs a new "
                           "id (or omit id to have one assigned)", field="id")
        latest = self.store.latest_suggestion(case["pk"])
        if latest is None:  # imported history has no suggestion yet: make one now (the case never matches itself)
            suggestion = self._suggest(p, k)
            sid = self.store.add_suggestion(case["pk"], self.model_version, suggestion)
        else:
            suggestion, sid = latest["payload"], latest["id"]
        self.store.add_audit(principal.actor, principal.role, "suggestion.served", case["id"],
                             {**self._audit_detail(suggestion, stored=False, job_id=job_id), "suggestion_id": sid,
                              "replay": True}, suggestion.get("model_version"))
        return {**suggestion, "suggestion_id": sid, "created": False}

    @staticmethod
    def _audit_detail(suggestion: dict, stored: bool, job_id: str | None = None) -> dict:
        top = lambda part, key="label": suggestion[part][0][key] if suggestion.get(part) else None  # noqa: E731
        detail = {"stored": stored, "domain": top("domain"), "type": top("type"),
                  "department": top("department", "name"), "duplicates": suggestion["duplicates"]["verdict"],
                  "duplicate_of": [m["case_id"] for m in suggestion["duplicates"]["matches"]
                                   if m.get("verdict") == "duplicate"][:3]}
        if job_id:
            detail["job_id"] = job_id
        return detail

    def dry_run(self, sealed: Sealed, principal: Principal, k: int, filters: dict | None) -> dict:
        with self._lane():
            return self._dry_run(sealed, principal, k, filters)

    async def dry_run_soon(self, sealed: Sealed, principal: Principal, k: int, filters: dict | None) -> dict:
        """:meth:`dry_run` on the calling thread (the event loop) when it can start at once: no other
        suggestion in this process's lane, no writer on the index, the index current (or a few cases short, taken
        in first). Otherwise on a request thread, where it waits without holding up the loop (a large import
        beside the service, a job's letter).

        A suggestion is GIL-bound Python: on a request thread it trades the GIL with the event loop's thread
        (and with other request threads) every few ms, which costs CPU and delays both. On the loop it runs
        alone: at 1M stored cases, two workers and 100 letters/s offered, less CPU per request and a p99 under
        100 ms where request threads saturated (docs/benchmarks.md, session 12)."""
        with self._lane(wait=False) as held:
            if held:
                return self._dry_run(sealed, principal, k, filters)
        return await to_thread.run_sync(self.dry_run, sealed, principal, k, filters)

    @contextmanager
    def _lane(self, wait: bool = True, write: bool = False):
        """This process's suggestion lane and one side of the index's lock (shared to read, exclusive to write);
        yields True. Reading, the index first takes in other processes' cases (a writer does it under its lock).
        ``wait=False``: yields False at once, holding nothing, where the lane or the lock is taken or the index
        misses more stored cases than a request takes in on the loop (:meth:`_caught_up_now`; an import's cases
        may take seconds)."""
        if not self.cpu.acquire(blocking=wait):
            yield False
            return
        try:
            if wait:
                if not write:
                    self.sync_index()
            elif not self._caught_up_now(write):
                yield False
                return
            if not (self.lock.acquire(wait) if write else self.lock.acquire_read(wait)):
                yield False
                return
            try:
                yield True
            finally:
                if write:
                    self.lock.release()
                else:
                    self.lock.release_read()
        finally:
            self.cpu.release()

    def _caught_up_now(self, write: bool) -> bool:
        """Without waiting: whether the index holds every stored case, or will once a few new ones (another
        worker's letters, at most ``SYNC_ON_LOOP_AT_MOST``) are taken in: now, if the exclusive side is free,
        or by the writer under its own lock. More (an import beside the service) is left to a request thread."""
        missing = self.index.missing(self.store)
        if not missing:
            return True
        if missing > SYNC_ON_LOOP_AT_MOST:
            return False
        return write or self.sync_index(blocking=False)   # a writer: _submit takes them in under its lock

    def _dry_run(self, sealed: Sealed, principal: Principal, k: int, filters: dict | None) -> dict:
        """The dry run with the lane and the index's shared side held (:meth:`_lane`)."""
        p = self.prepare([sealed])[0]
        suggestion = self._suggest(p, k, filters)
        audit = {"actor": principal.actor, "role": principal.role, "action": "suggestion.served", "target": sealed.id,
                 "detail": {**self._audit_detail(suggestion, stored=False), "dry_run": True},
                 "model_version": self.model_version}
        sid = self.store.add_suggestion(None, self.model_version, suggestion, audit=audit)   # one transaction
        return {**suggestion, "suggestion_id": sid, "created": False}

    def compare(self, a: Letter, b: Letter, principal: Principal) -> dict:
        result = self.triage.compare(a, b)
        self.store.add_audit(principal.actor, principal.role, "compare.served", None,
                             {"verdict": result["verdict"], "score": result["score"]}, self.model_version)
        return result

    # -- cases ----------------------------------------------------------------------------------------
    def case(self, case_id: str) -> dict:
        case = self.store.get_case(case_id)
        if case is None:
            raise NotFound(f"no case with id '{case_id}'", field="case_id")
        return case

    def matches_of_case(self, case_id: str, k: int, filters: dict | None = None) -> tuple[dict, list[dict]]:
        case = self.case(case_id)
        with self.cpu:
            p = self.prepare_case(case)
            self.sync_index()
            with self.lock.read():
                duplicates, similar, _ = self.triage.match(p, self.store, self.index, k=k, filters=filters)
        return mask_deep(duplicates), mask_deep(similar)

    # -- reception ------------------------------------------------------------------------------------
    def reception_check(self, identity: dict[str, str], matter: str | None, limit: int, principal: Principal) -> dict:
        hashes = hashed_identities(identity)
        strong = [kind for kind, _ in hashes if kind != "name"]
        matched = self.store.identity_matches(hashes, limit=limit * 4)
        if strong:  # a name alone is too common to name a person when a stronger identity was given
            matched = {pk: kinds for pk, kinds in matched.items() if kinds - {"name"}}
        records = self.store.get_cases(list(matched)[:limit])
        person = [self._reception_case(records[pk], sorted(matched[pk])) for pk in matched if pk in records]
        out: dict[str, Any] = {"person": {"cases": person, "total": len(matched),
                                          "open": sum(1 for c in person if c["open"]),
                                          "matched_on_name_only": not strong and bool(matched)}}
        matter_out = None
        if matter:
            with self.cpu:
                p = self.triage.prepare([Letter(id=None, content=matter.strip(), petitioner=dict(identity))])[0]
                self.sync_index()
                with self.lock.read():
                    duplicates, _, _ = self.triage.match(p, self.store, self.index, k=limit)
            cases = []
            for m in duplicates["matches"]:
                rec = self.store.get_case(m["case_id"])
                if rec is None:
                    continue
                cases.append({**self._reception_case(rec, []), "verdict": m["verdict"], "score": m["score"],
                              "same_petitioner": m["same_petitioner"], "reasons": mask_deep(m["reasons"])})
            matter_out = {"verdict": duplicates["verdict"], "cases": cases}
        out["matter"] = matter_out
        out["alert"] = self._alert(person, matter_out)
        self.store.add_audit(principal.actor, principal.role, "reception.check", None,
                             {"identity_kinds": sorted(identity), "matter_given": bool(matter),
                              "person_cases": len(person),
                              "matter_cases": len(matter_out["cases"]) if matter_out else 0,
                              "alert": out["alert"]["level"],
                              "case_ids": out["alert"]["case_ids"]}, self.model_version)
        return out

    @staticmethod
    def _reception_case(rec: dict, matched_on: list[str]) -> dict:
        title = mask_shown(rec.get("title") or "", rec.get("petitioner_masked"), rec.get("identities"))
        return {"case_id": rec["id"], "title": title, "received_at": rec.get("received_at"),
                "created_at": rec.get("created_at"), "status": rec.get("status"), "open": is_open(rec.get("status")),
                "department": rec.get("department"), "domain": rec.get("domain"), "channel": rec.get("channel"),
                "matched_on": matched_on, "petitioner": rec.get("petitioner_masked")}

    @staticmethod
    def _alert(person: list[dict], matter: dict | None) -> dict:
        """重复访提醒: the matter is already open → duplicate visit; else a concluded repeat; else open cases."""
        if matter:
            dup = [c for c in matter["cases"] if c["verdict"] == "duplicate"]
            open_dup = [c for c in dup if c["open"]]
            if open_dup:
                first = open_dup[0]
                return {"level": "duplicate_visit", "label": "重复访",
                        "message": f"this matter is already open as case {first['case_id']}"
                                   + (f" (received {first['received_at'][:10]}" if first.get("received_at") else " (")
                                   + f", status {first['status']}, handled by "
                                   + f"{first['department'] or 'not yet assigned'})"
                                   + "; merge the visit into it and tell the visitor where it stands",
                        "case_ids": [c["case_id"] for c in open_dup]}
            if dup:
                return {"level": "repeat_after_conclusion", "label": "重复信访",
                        "message": f"this matter was raised before and concluded (case {dup[0]['case_id']}); "
                                   "a new petition on it is a repeat — consider review (复查) instead",
                        "case_ids": [c["case_id"] for c in dup]}
        open_person = [c for c in person if c["open"]]
        if open_person:
            return {"level": "person_has_open_cases", "label": "在办事项",
                    "message": f"this person has {len(open_person)} open case(s); check whether the visit concerns one",
                    "case_ids": [c["case_id"] for c in open_person]}
        return {"level": "none", "label": "无", "message": "no earlier case of this person or this matter",
                "case_ids": []}

    # -- decisions ------------------------------------------------------------------------------------
    def decide(self, case_id: str, body: dict, principal: Principal) -> list[dict]:
        """Record a handler's decision on each part given; the suggestion itself is never changed."""
        case = self.case(case_id)
        if body.get("suggestion_id") is not None:
            sug = self.store.get_suggestion(body["suggestion_id"])
            if sug is None or sug["case_pk"] != case["pk"]:
                raise NotFound(f"case '{case_id}' has no suggestion {body['suggestion_id']}", field="suggestion_id")
        else:
            sug = self.store.latest_suggestion(case["pk"])
            if sug is None:
                raise Conflict(f"case '{case_id}' has no suggestion to decide on (imported history); submit it "
                               "through POST /v1/letters first", field="suggestion_id")
        payload = sug["payload"]
        parts, updates = [], {}
        for part, key in (("domain", "label"), ("type", "label"), ("department", "name")):
            given = body.get(part)
            if given is None:
                continue
            top = payload.get(part)[0][key] if payload.get(part) else None
            value = self._decided_value(part, given, top)
            parts.append({"part": part, "accepted": bool(given["accepted"]), "suggested": top, "value": value})
            updates[part] = value
        dup = body.get("duplicate")
        if dup is not None:
            matches = payload.get("duplicates", {}).get("matches") or []
            top = next((m["case_id"] for m in matches if m.get("verdict") == "duplicate"), None)
            if dup["accepted"]:
                if dup.get("duplicate_of") not in (None, top):
                    raise InvalidLetter(f"accepting means duplicate of '{top}' as suggested; to name another case "
                                        "send accepted=false", field="duplicate.duplicate_of")
                value = top
            else:
                value = dup.get("duplicate_of")
                if value == top and top is not None:
                    raise InvalidLetter("is what was suggested; send accepted=true", field="duplicate.duplicate_of")
            if value is not None:
                if value == case_id:
                    raise InvalidLetter("a case cannot duplicate itself", field="duplicate.duplicate_of")
                if self.store.get_case(value) is None:
                    raise NotFound(f"no case with id '{value}'", field="duplicate.duplicate_of")
            if dup.get("merge"):
                if value is None:
                    raise InvalidLetter("merge needs a case to merge into", field="duplicate.merge")
                updates["merged_into"], updates["status"] = value, "merged"
            parts.append({"part": "duplicate", "accepted": bool(dup["accepted"]), "suggested": top, "value": value})
        if not parts:
            raise InvalidLetter("give at least one of domain, type, department, duplicate", field="body")
        audit = {"actor": principal.actor, "role": principal.role, "action": "decision.recorded", "target": case_id,
                 "detail": {"suggestion_id": sug["id"],
                            "parts": {p["part"]: {"accepted": p["accepted"], "value": p["value"]} for p in parts},
                            "merged_into": updates.get("merged_into")}}
        return self.store.add_decisions(case["pk"], sug["id"], parts, principal.actor, sug["model_version"],
                                        case_updates=updates, audit=audit)

    def _decided_value(self, part: str, given: dict, top: str | None) -> str:
        value = given.get("value")
        if given["accepted"]:
            if top is None:
                raise InvalidLetter("nothing was suggested to accept; send accepted=false with the value",
                                    field=f"{part}.accepted")
            if value not in (None, top):
                raise InvalidLetter(f"differs from the suggestion '{top}'; to correct it send accepted=false",
                                    field=f"{part}.value")
            return top
        if not value:
            raise InvalidLetter("is required when correcting (accepted=false)", field=f"{part}.value")
        labels = self.labels(part)
        if labels and value not in labels:
            raise InvalidLetter(f"'{value}' is not a {part} of this deployment; one of: {', '.join(labels)}",
                                field=f"{part}.value")
        return value

    def labels(self, part: str) -> list[str]:
        model = {"domain": self.triage.domain, "type": self.triage.type}.get(part)
        return list(getattr(model, "labels", None) or []) if model is not None else []

    def set_status(self, case_id: str, status: str, principal: Principal) -> dict:
        case = self.case(case_id)
        self.store.set_case_status(case["pk"], status)
        self.store.add_audit(principal.actor, principal.role, "case.status", case_id,
                             {"from": case.get("status"), "to": status})
        return self.case(case_id)

    # -- health -----------------------------------------------------------------------------------------
    def health(self) -> dict:
        vectors, high = len(self.index), int(self.index.lsh_high_water)  # plain reads: never wait for the lock
        return {"status": "ok", "api_version": API_VERSION, "model_version": self.model_version,
                "store": self.settings.store_kind, "schema_revision": self.revision, "cases": self.store.count(),
                "index": {"vectors": vectors, "high_water": high},
                "worker": {"pid": os.getpid(), "leader": self.leader}, "store_pages": self.store_pages,
                "uptime_seconds": round(time.time() - (self.started_at or time.time()), 1)}
