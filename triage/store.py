"""Persistence: cases, identities, vectors, suggestions, decisions and the audit trail, via SQLAlchemy.

SQLite (WAL) by default, PostgreSQL by URL, one schema. Identity fields are stored only as keyed
hashes (for matching) and a masked form (for display); the clear values never reach the database.
A model's suggestion and a person's decision are separate tables; neither overwrites the other.
The vector and MinHash indexes live beside the store and are rebuilt from it (see ``CaseIndex``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        case as sql_case, create_engine, delete, event, func, insert, select, update)
from sqlalchemy import inspect as sql_inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .privacy import hashed_identities, masked_petitioner
from .records import FIELD_LIMITS, LETTER_FIELDS

DEFAULT_STORE_URL = "sqlite:///data/triage.db"
SQLITE_MMAP_DEFAULT = 1 << 36   # more than any build allows: SQLite maps as much as its limit lets it
UNFINISHED_JOB_STATUSES = ("queued", "running", "cancelling")


class Base(DeclarativeBase):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Case(Base):
    __tablename__ = "cases"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ext_id: Mapped[str] = mapped_column(String(FIELD_LIMITS["id"]), unique=True, index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text)
    norm_hash: Mapped[str] = mapped_column(String(40), index=True)
    channel: Mapped[str | None] = mapped_column(String(20), nullable=True)
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    region: Mapped[str | None] = mapped_column(String(FIELD_LIMITS["region"]), nullable=True)
    domain: Mapped[str | None] = mapped_column(String(FIELD_LIMITS["domain"]), nullable=True, index=True)
    type: Mapped[str | None] = mapped_column(String(FIELD_LIMITS["type"]), nullable=True)
    department: Mapped[str | None] = mapped_column(String(FIELD_LIMITS["department"]), nullable=True)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str | None] = mapped_column(String(FIELD_LIMITS["status"]), nullable=True)
    petitioner_masked: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    extra: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Identity(Base):
    __tablename__ = "identities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.pk", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    hash: Mapped[str] = mapped_column(String(64), index=True)


class CaseVector(Base):
    __tablename__ = "case_vectors"
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.pk", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16


class CaseMatter(Base):
    """A case's matter (named objects, demands, places: :mod:`triage.matter`), kept when the case is stored so
    that matching never segments a stored case again. ``version`` is the extraction's; other versions are ignored."""

    __tablename__ = "case_matters"
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.pk", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(20))
    matter: Mapped[dict] = mapped_column(JSON)


class Suggestion(Base):
    __tablename__ = "suggestions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_pk: Mapped[int | None] = mapped_column(ForeignKey("cases.pk", ondelete="SET NULL"), nullable=True, index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id"), index=True)
    case_pk: Mapped[int | None] = mapped_column(ForeignKey("cases.pk", ondelete="SET NULL"), nullable=True, index=True)
    part: Mapped[str] = mapped_column(String(30))        # domain | type | department | duplicate
    accepted: Mapped[bool] = mapped_column(Boolean)
    suggested: Mapped[Any] = mapped_column(JSON, nullable=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    handler: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class AuditEvent(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, index=True)


class Job(Base):
    """A background job of the service (batch pre-sorting, history import, retraining) and its progress."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))            # presort | import | retrain
    # queued | running | cancelling (a retraining an admin cancelled, whose process has not ended yet) | done | failed |
    # interrupted | cancelled
    status: Mapped[str] = mapped_column(String(20), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class JobItem(Base):
    """One letter of a job. ``letter`` holds it (identity fields sealed: hashes + masked only) until processed."""

    __tablename__ = "job_items"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))          # pending | done | failed | conflict
    letter: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    case_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    suggestion_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


Index("ix_identity_kind_hash_case", Identity.kind, Identity.hash, Identity.case_pk)   # migration 0004
Index("ix_job_items_job_status", JobItem.job_id, JobItem.status)

CONCLUDED_STATUSES = frozenset({"concluded", "closed", "resolved", "done", "merged", "replied",
                                "已办结", "办结", "已答复", "已回复", "结案", "已结案", "已处理"})
"""Case statuses that mean the matter is no longer open (anything else counts as open)."""
_RECORD_KEYS = LETTER_FIELDS | {"norm_hash", "vector", "identity_hashes", "petitioner_masked", "extra", "matter",
                                "matter_version"}


# Store.warm_pages's child process: read each file named after the chunk size through, print the bytes read.
_READ_FILES = """
import sys
chunk, done = int(sys.argv[1]), 0
buffer = bytearray(chunk)
for name in sys.argv[2:]:
    with open(name, "rb", buffering=0) as fh:
        while (n := fh.readinto(buffer)) > 0:
            done += n
print(done)
"""


def _available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (Linux ``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class ReadAhead:
    """Whether reading a letter's candidates' pages ahead (``Store._prefetch``) pays, learnt from the reads' own times.

    Each way keeps a moving average of the time per candidate of the reads that used it; the faster way is used, and
    now and then the other one, so that its average follows the page cache as it warms up (or as the file outgrows
    it). While reading ahead is the faster way (the file is not cached), plain reads are tried every ``explore``-th
    read, to notice soon that the cache has warmed. While plain reads are faster (the file is cached), reading ahead
    is tried only every ``explore_cached``-th read: a cache going cold shows in the plain reads' own average, which
    then climbs past reading ahead's last one, and each such try costs a letter ~4 ms more at 1M (1 letter in 10
    was the p90–p99 band). Until both ways have been timed, they take turns."""

    def __init__(self, explore: int = 10, weight: float = 0.1, explore_cached: int = 100) -> None:
        self.explore, self.weight, self.explore_cached = explore, weight, explore_cached
        self.average: dict[bool, float | None] = {True: None, False: None}
        self.reads = 0
        self._lock = threading.Lock()

    def choose(self) -> bool:
        with self._lock:
            self.reads += 1
            on, off = self.average[True], self.average[False]
            if on is None or off is None:
                return on is None
            faster = on < off
            every = self.explore if faster else self.explore_cached
            return (not faster) if self.reads % every == 0 else faster

    def record(self, ahead: bool, seconds_per_case: float) -> None:
        with self._lock:
            last = self.average[ahead]
            self.average[ahead] = seconds_per_case if last is None else (
                last + self.weight * (seconds_per_case - last))


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite-file URL (``sqlite:///path``); None for any other store (in memory, PostgreSQL)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            return path
    return None


def sqlite_mmap_bytes() -> int:
    """How much of a SQLite store's file each connection maps into memory (``TRIAGE_SQLITE_MMAP``, bytes)."""
    raw = os.environ.get("TRIAGE_SQLITE_MMAP", str(SQLITE_MMAP_DEFAULT))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"TRIAGE_SQLITE_MMAP={raw!r}: expected a number of bytes (0 turns memory mapping off)") from None
    if value < 0:
        raise ValueError(f"TRIAGE_SQLITE_MMAP={raw!r}: expected a number of bytes >= 0")
    return value


def index_dir_for(url: str) -> Path:
    """Where the indexes of a store live: beside a SQLite file, else under ``data/indexes/<hash>``."""
    path = sqlite_file(url)
    if path:
        return Path(path + ".indexes")
    digest = hashlib.sha1(url.encode()).hexdigest()[:12]
    return Path(os.environ.get("TRIAGE_DATA_DIR", "data")) / "indexes" / digest


def normalise_url(url: str | None) -> str:
    url = url or os.environ.get("TRIAGE_STORE", DEFAULT_STORE_URL)
    if "://" not in url:  # a plain path means a SQLite file
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Store:
    """The case store. Construct cheaply; ``open()`` creates the file/schema when absent."""

    def __init__(self, url: str | None = None) -> None:
        self.url = normalise_url(url)
        self.engine = None
        self._sessions = None
        # A SQLite file: the pages of a letter's candidates may first be read at once, one table per thread (see
        # _prefetch). It pays while the page cache does not hold the file (1M cases after a cold start: suggestion
        # p50 35.6 → 27.1 ms, p99 89 → 61 ms) and costs once it does (1M cases, file cached: p50 21.7 → 24.1 ms,
        # mean 23.8 → 28.9). "auto" learns which holds from the reads' own times (ReadAhead); True / False force
        # it. Elsewhere (PostgreSQL, in memory) never.
        self.parallel_reads: bool | str = "auto" if sqlite_file(self.url) is not None else False
        self.read_ahead = ReadAhead()

    def open(self, create: bool = True) -> "Store":
        path = sqlite_file(self.url)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
        self.engine = create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite"):
            mmap_bytes = sqlite_mmap_bytes()   # read (and a bad value refused) once, not at every new connection

            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _record):  # noqa: ANN001
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                # the file read through memory maps instead of a read() call per 4 KB page: a letter's ~35
                # candidates at 1M cases read in 1.27 instead of 1.71 ms (bench, docs/benchmarks.md). SQLite caps
                # the map at its build's limit (2 GB for Python's); 0 turns it off
                cur.execute(f"PRAGMA mmap_size={mmap_bytes}")
                cur.close()
        if create:
            Base.metadata.create_all(self.engine)
            for table in Base.metadata.sorted_tables:   # indexes added since an existing store was created
                for index in table.indexes:
                    try:
                        index.create(self.engine, checkfirst=True)
                    except SQLAlchemyError:   # another process created it between the check and the create
                        if not sql_inspect(self.engine).has_index(table.name, index.name):
                            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        paramstyle = self.engine.dialect.paramstyle
        if paramstyle not in ("qmark", "format", "pyformat"):
            raise ValueError(f"unsupported database driver for {self.engine.dialect.name}: its parameters are "
                             f"written {paramstyle!r} (SQLite and PostgreSQL are supported)")
        self._mark = "?" if paramstyle == "qmark" else "%s"
        return self

    def _connect(self):
        """A plain connection (no session, no identity map)."""
        if self.engine is None:
            self.open()
        return self.engine.connect()

    @contextlib.contextmanager
    def _driver(self) -> Iterator[Any]:
        """A cursor of the database driver itself on a pooled connection, for the request path's reads: the same
        rows as SQLAlchemy statements would give, without their per-call compiling and per-row type processing
        (reading 37 candidates at 1M cases: ~3.6 → ~1.5 ms). Their SQL is written with :meth:`_marks`."""
        if self.engine is None:
            self.open()
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                yield cur
            finally:
                cur.close()
        finally:
            raw.close()

    def _marks(self, n: int) -> str:
        """``n`` parameter placeholders in the driver's style, comma-separated."""
        return ",".join([self._mark] * n)

    def session(self) -> Session:
        if self._sessions is None:
            self.open()
        return self._sessions()

    @property
    def index_dir(self) -> Path:
        return index_dir_for(self.url)

    # -- cases ----------------------------------------------------------------------------------
    def add_cases(self, prepared: list[dict], model: str) -> list[tuple[int, str, bool]]:
        """Insert prepared cases (letter dict + ``norm_hash``, ``vector``); returns (pk, ext_id, created).

        A case whose ``id`` already exists is not inserted again (``created`` False); the whole batch is one
        transaction, so an acknowledged batch is on disk.
        """
        out = []
        with self.session() as s, s.begin():
            ids = [p["id"] for p in prepared]
            existing = dict(s.execute(select(Case.ext_id, Case.pk).where(Case.ext_id.in_(ids))).all()) if ids else {}
            new, seen = [], set()
            for p in prepared:
                if p["id"] not in existing and p["id"] not in seen:
                    new.append(p)
                    seen.add(p["id"])
            if new:
                self._insert_many(s, new, model, existing)
            created = set()
            for p in prepared:
                first = p["id"] in seen and p["id"] not in created
                created.add(p["id"])
                out.append((existing[p["id"]], p["id"], first))
        return out

    @classmethod
    def _insert_many(cls, s: Session, prepared: list[dict], model: str, pks: dict[str, int]) -> None:
        """Insert new cases with one multi-row statement per table (import: ~10× faster than one flush per case);
        the new pks are written into ``pks``."""
        rows = [cls._case_row(p) for p in prepared]
        returned = s.execute(insert(Case).returning(Case.pk, Case.ext_id, sort_by_parameter_order=True),
                             [r for r, _ in rows]).all()
        idents, vectors, matters = [], [], []
        for (pk, ext_id), p, (_, hashes) in zip(returned, prepared, rows):
            pks[ext_id] = pk
            idents.extend({"case_pk": pk, "kind": kind, "hash": h} for kind, h in hashes)
            if p.get("vector") is not None:
                vectors.append({"case_pk": pk, "model": model,
                                "vector": np.asarray(p["vector"], dtype=np.float16).tobytes()})
            if p.get("matter") is not None:
                matters.append({"case_pk": pk, "version": p.get("matter_version") or "", "matter": p["matter"]})
        for table, values in ((Identity, idents), (CaseVector, vectors), (CaseMatter, matters)):
            if values:
                s.execute(insert(table), values)

    @staticmethod
    def _case_row(p: dict) -> tuple[dict, list[tuple[str, str]]]:
        """A prepared case → (cases row, identity hashes).

        Identities come from the clear ``petitioner`` (hashed and masked here), or already sealed as
        ``identity_hashes`` [(kind, hash)] and ``petitioner_masked`` (the service's job queue never holds
        clear identities). Fields the contract does not know are kept in ``extra``.
        """
        received = dt.datetime.fromisoformat(p["received_at"]) if p.get("received_at") else None
        if received is not None and received.tzinfo is not None:
            received = received.astimezone(dt.timezone.utc).replace(tzinfo=None)
        extra = p.get("extra") if isinstance(p.get("extra"), dict) else None
        if extra is None:
            extra = {k: v for k, v in p.items() if k not in _RECORD_KEYS}
        if "identity_hashes" in p:
            hashes = [(str(k), str(h)) for k, h in p["identity_hashes"]]
            masked = p.get("petitioner_masked") or None
        else:
            hashes = hashed_identities(p.get("petitioner"))
            masked = masked_petitioner(p.get("petitioner"))
        row = dict(ext_id=p["id"], title=p.get("title") or "", content=p["content"], norm_hash=p["norm_hash"],
                   channel=p.get("channel"), received_at=received, region=p.get("region"),
                   domain=p.get("domain"), type=p.get("type"), department=p.get("department"),
                   reply=p.get("reply"), status=p.get("status") or "open",
                   petitioner_masked=masked, extra=extra or None, created_at=_now(), deleted=False)
        return row, hashes

    @classmethod
    def _insert_case(cls, s: Session, p: dict, model: str) -> int:
        """Insert one prepared case in session ``s`` (see :meth:`_insert_many`); returns its pk."""
        pks: dict[str, int] = {}
        cls._insert_many(s, [p], model, pks)
        return pks[p["id"]]

    def pk_for(self, ext_id: str) -> int | None:
        with self._driver() as cur:
            row = cur.execute(f"SELECT pk FROM cases WHERE ext_id = {self._mark} AND NOT deleted", (ext_id,)).fetchone()
        return row[0] if row else None

    def get_cases(self, pks: Iterable[int]) -> dict[int, dict]:
        pks = list(pks)
        if not pks:
            return {}
        with self.session() as s:
            table = Case.__table__   # Core rows (attributes named like the ORM's): no identity map, ~3× faster
            rows = s.execute(select(table).where(table.c.pk.in_(pks), table.c.deleted.is_(False))).all()
            idents = self.identity_keys_of(s, pks)
        return {c.pk: case_record(c, idents.get(c.pk, set())) for c in rows}

    @staticmethod
    def identity_keys_of(conn, pks: list[int]) -> dict[int, set[str]]:
        """Hashed identity keys ("kind:hash") of these cases (``conn``: a session or a connection)."""
        return _identity_sets(conn.execute(select(Identity.case_pk, Identity.kind, Identity.hash)
                                           .where(Identity.case_pk.in_(pks))).all())

    def get_candidates(self, pks: Iterable[int], model: str, matter_version: str
                       ) -> dict[int, tuple[dict, np.ndarray | None, dict | None]]:
        """Live cases → (record as :meth:`get_cases`, vector of ``model`` or None, matter of ``matter_version`` or
        None): what matching reads of each candidate, in two statements on the driver's cursor (pages read ahead
        first, see ``parallel_reads``)."""
        pks = list(pks)
        if not pks:
            return {}
        auto = self.parallel_reads == "auto"
        ahead = self.read_ahead.choose() if auto else bool(self.parallel_reads)
        started = time.perf_counter()
        if ahead:
            self._prefetch(pks, model, matter_version)
        marks = self._marks(len(pks))
        with self._driver() as cur:
            rows = cur.execute(
                f"SELECT {_DRIVER_CASE_COLUMNS}, v.vector, m.matter FROM cases c "
                f"LEFT JOIN case_vectors v ON v.case_pk = c.pk AND v.model = {self._mark} "
                f"LEFT JOIN case_matters m ON m.case_pk = c.pk AND m.version = {self._mark} "
                f"WHERE c.pk IN ({marks}) AND NOT c.deleted", (model, matter_version, *pks)).fetchall()
            idents = _identity_sets(cur.execute(f"SELECT case_pk, kind, hash FROM identities WHERE case_pk IN ({marks})",
                                                tuple(pks)).fetchall())
        if auto:
            self.read_ahead.record(ahead, (time.perf_counter() - started) / len(pks))
        n = len(CASE_RECORD_COLUMNS)
        return {row[0]: (_record_of(row[:n], idents.get(row[0], set())),
                         _vector(bytes(row[n])) if row[n] is not None else None, _driver_json(row[n + 1]))
                for row in rows}

    def _prefetch(self, pks: list[int], model: str, matter_version: str) -> None:
        """Read the pages of these cases' rows in every table at once, one plain read-only sqlite3 connection per
        table: the random page reads of a large store (not all in the page cache) overlap, and the statements of
        :meth:`get_candidates` then find the pages cached. Each statement returns one row, so SQLite reads every
        page without going back to Python (and its lock) in between; ``typeof`` of a row's last column reads the
        row's page and record header and builds no value."""
        path = sqlite_file(self.url)
        marks = ",".join("?" * len(pks))
        jobs = ((f"SELECT count(typeof(extra)) FROM cases WHERE pk IN ({marks})", pks),
                (f"SELECT count(typeof(vector)) FROM case_vectors WHERE case_pk IN ({marks}) AND model = ?",
                 [*pks, model]),
                (f"SELECT count(typeof(matter)) FROM case_matters WHERE case_pk IN ({marks}) AND version = ?",
                 [*pks, matter_version]),
                (f"SELECT count(typeof(hash)) FROM identities WHERE case_pk IN ({marks})", pks))
        for future in [_read_pool().submit(_touch, path, sql, args) for sql, args in jobs]:
            future.result()

    def get_case(self, ext_id: str) -> dict | None:
        pk = self.pk_for(ext_id)
        return self.get_cases([pk]).get(pk) if pk else None

    def count(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count(Case.pk)).where(Case.deleted.is_(False))) or 0)

    def max_pk(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.max(Case.pk))) or 0)

    def pks_by_hash(self, norm_hash: str, limit: int | None = None) -> list[int]:
        """Live cases whose normalised text hashes to ``norm_hash``, newest first; at most ``limit`` (a text sent
        by a whole campaign can have thousands of copies, and a letter needs only the latest few as evidence)."""
        sql = f"SELECT pk FROM cases WHERE norm_hash = {self._mark} AND NOT deleted ORDER BY pk DESC"
        args: tuple = (norm_hash,)
        if limit is not None:
            sql += f" LIMIT {self._mark}"
            args = (norm_hash, int(limit))
        with self._driver() as cur:
            return [r[0] for r in cur.execute(sql, args).fetchall()]

    def pks_by_identity(self, hashes: list[tuple[str, str]], limit: int = 50) -> list[int]:
        """The newest ``limit`` cases holding any of these (kind, hash) identity keys, newest first.

        Any listed kind with any listed hash, as one ``IN × IN`` query would match; asked pair by pair so that each
        look-up reads the newest rows straight from the (kind, hash, case_pk) index, however many cases one
        petitioner has."""
        if not hashes:
            return []
        kinds = list(dict.fromkeys(k or "" for k, _ in hashes))
        values = list(dict.fromkeys(h for _, h in hashes))
        found: set[int] = set()
        sql = (f"SELECT case_pk FROM identities WHERE kind = {self._mark} AND hash = {self._mark} "
               f"ORDER BY case_pk DESC LIMIT {int(limit)}")
        with self._driver() as cur:
            for kind in kinds:
                for value in values:
                    found.update(r[0] for r in cur.execute(sql, (kind, value)).fetchall())
        return sorted(found, reverse=True)[:limit]

    def iter_vectors(self, model: str, after_pk: int = 0, batch: int = 5000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(pks, float32 vectors) of stored cases with pk > after_pk, in batches (index catch-up and rebuild)."""
        last = after_pk
        while True:
            with self.session() as s:
                rows = s.execute(select(CaseVector.case_pk, CaseVector.vector)
                                 .join(Case, Case.pk == CaseVector.case_pk)
                                 .where(CaseVector.model == model, CaseVector.case_pk > last, Case.deleted.is_(False))
                                 .order_by(CaseVector.case_pk).limit(batch)).all()
            if not rows:
                return
            pks = np.array([r[0] for r in rows], dtype=np.int64)
            vecs = np.stack([_vector(r[1]) for r in rows])
            last = int(pks[-1])
            yield pks, vecs

    def warm_pages(self, max_share: float = 0.5, stop: threading.Event | None = None,
                   chunk: int = 8 << 20) -> dict:
        """Read a SQLite store's file (and its write-ahead log) once from start to end, so that the operating system's
        page cache holds it, as PostgreSQL's ``pg_prewarm`` does for its tables: a letter's ~40 candidates are then
        read from memory instead of ~40 random disk reads (1M cases, 3.3 GB file, fresh letters: suggestion p50
        28.8 → 16.8 ms, p99 88 → 48 ms; docs/benchmarks.md). Done only when the files take at most ``max_share``
        of the memory the system has available (more would only push other pages out); ``stop`` ends it early.

        The files are read by a child process, never by this one: POSIX locks belong to a process, and closing any
        descriptor of the database file drops every lock SQLite holds on it here (sqlite.org/howtocorrupt.html
        §2.2) — another process could then check the write-ahead log back while this one still reads it.
        Returns what was done: ``{"state": "done" | "skipped" | "stopped" | "failed", …}``."""
        import subprocess
        import sys

        path = sqlite_file(self.url)
        if path is None or not Path(path).exists():
            return {"state": "skipped", "reason": "not a SQLite file"}
        files = [Path(path)] + [p for p in (Path(path + "-wal"),) if p.exists()]
        size = sum(p.stat().st_size for p in files)
        available = _available_memory()
        if available is None or size > max_share * available:
            return {"state": "skipped", "bytes": size, "reason": "larger than "
                    f"{max_share:.0%} of the available memory" if available else "available memory unknown"}
        started = time.perf_counter()
        if stop is not None and stop.is_set():
            return {"state": "stopped", "bytes": 0, "seconds": 0.0}
        child = subprocess.Popen([sys.executable, "-c", _READ_FILES, str(chunk), *map(str, files)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while child.poll() is None:
            if stop is None:
                time.sleep(0.05)
            elif stop.wait(0.05):
                child.kill()
                child.communicate()
                return {"state": "stopped", "bytes": None, "seconds": round(time.perf_counter() - started, 2)}
        out, err = child.communicate()
        if child.returncode != 0:
            return {"state": "failed", "reason": (err.strip().splitlines() or ["the reader failed"])[-1][:200]}
        return {"state": "done", "bytes": int(out), "seconds": round(time.perf_counter() - started, 2)}

    def count_after(self, floor: int) -> int:
        """How many cases have a pk above ``floor``, deleted ones included: what another process may have stored
        since an index last looked (:meth:`CaseIndex.sync`). One range count on the primary key."""
        with self._driver() as cur:
            return int(cur.execute(f"SELECT count(pk) FROM cases WHERE pk > {self._mark}", (floor,)).fetchone()[0] or 0)

    def pks_after(self, floor: int) -> list[int]:
        """Every case pk above ``floor`` (deleted ones included), ascending."""
        with self._connect() as conn:
            return list(conn.execute(select(Case.pk).where(Case.pk > floor).order_by(Case.pk)).scalars())

    def index_rows(self, pks: Iterable[int], model: str) -> list[tuple[int, np.ndarray | None, str, str]]:
        """(pk, vector of ``model`` or None, title, content) of the live cases among ``pks``: what an index needs to
        take in cases that another process stored. One statement: callers pass a few thousand pks at a time."""
        with self._connect() as conn:
            rows = conn.execute(
                select(Case.pk, CaseVector.vector, Case.title, Case.content)
                .select_from(Case.__table__.outerjoin(CaseVector.__table__, (CaseVector.case_pk == Case.pk)
                                                      & (CaseVector.model == model)))
                .where(Case.pk.in_(list(pks)), Case.deleted.is_(False))
                .order_by(Case.pk)).all()
        return [(int(pk), _vector(v) if v is not None else None, title, content) for pk, v, title, content in rows]

    def stale_matter_pks(self, version: str) -> list[int]:
        """The live cases whose stored matter is not of ``version`` (a store from before it) or who have none,
        ascending: what :meth:`triage.pipeline.Triage.refresh_matters` extracts again."""
        with self._connect() as conn:
            return list(conn.execute(
                select(Case.pk).select_from(Case.__table__.outerjoin(CaseMatter.__table__, CaseMatter.case_pk == Case.pk))
                .where(Case.deleted.is_(False), (CaseMatter.version.is_(None)) | (CaseMatter.version != version))
                .order_by(Case.pk)).scalars())

    def put_matters(self, version: str, matters: dict[int, dict]) -> None:
        """Store these cases' matters (pk → matter) as ``version``'s, in place of any other they had."""
        if not matters:
            return
        with self.session() as s, s.begin():
            s.execute(delete(CaseMatter).where(CaseMatter.case_pk.in_(list(matters))))
            s.execute(insert(CaseMatter), [{"case_pk": pk, "version": version, "matter": m} for pk, m in matters.items()])

    def iter_texts(self, after_pk: int = 0, batch: int = 5000) -> Iterator[list[tuple[int, str, str]]]:
        last = after_pk
        while True:
            with self.session() as s:
                rows = s.execute(select(Case.pk, Case.title, Case.content).where(Case.pk > last, Case.deleted.is_(False))
                                 .order_by(Case.pk).limit(batch)).all()
            if not rows:
                return
            last = rows[-1][0]
            yield [(r[0], r[1], r[2]) for r in rows]

    def labelled_history(self, field: str, limit: int | None = None) -> list[dict]:
        """Live cases whose outcome ``field`` (``department``, ``type``) is filled, oldest first: what the router
        and the type history learn from. ``limit``: only the newest ``limit`` of them."""
        column = _LABEL_FIELDS[field]
        with self.session() as s:
            q = select(Case).where(column.is_not(None), column != "", Case.deleted.is_(False))
            if limit:
                q = q.order_by(Case.pk.desc()).limit(limit)
                return [case_record(c, set()) for c in s.scalars(q)][::-1]
            return [case_record(c, set()) for c in s.scalars(q.order_by(Case.pk))]

    def labelled_signature(self, field: str) -> str:
        """Changes whenever the cases labelled with ``field`` change (count and newest pk)."""
        column = _LABEL_FIELDS[field]
        with self.session() as s:
            n, mx = s.execute(select(func.count(Case.pk), func.max(Case.pk))
                              .where(column.is_not(None), column != "", Case.deleted.is_(False))).one()
        return f"{n}:{mx}"

    def get_vectors(self, pks: Iterable[int], model: str) -> dict[int, np.ndarray]:
        """Stored vectors of ``model`` for these cases (cases without one are left out)."""
        pks = list(pks)
        found: dict[int, np.ndarray] = {}
        with self.session() as s:
            for start in range(0, len(pks), 5000):
                rows = s.execute(select(CaseVector.case_pk, CaseVector.vector)
                                 .where(CaseVector.case_pk.in_(pks[start:start + 5000]), CaseVector.model == model))
                found.update({pk: _vector(v) for pk, v in rows})
        return found

    def delete_case(self, ext_id: str) -> int | None:
        with self.session() as s, s.begin():
            case = s.scalar(select(Case).where(Case.ext_id == ext_id))
            if case is None:
                return None
            case.deleted = True
            return case.pk

    # -- suggestions, decisions, audit ----------------------------------------------------------
    def add_suggestion(self, case_pk: int | None, model_version: str, payload: dict, audit: dict | None = None) -> int:
        """Store a suggestion; with ``audit`` (``actor, role, action, target, detail, model_version``) also the audit
        event that served it, in the same transaction, its detail naming the new ``suggestion_id``."""
        # Core statements, not the ORM's unit of work: this is every dry run's write (~1 ms less a request).
        if self.engine is None:
            self.open()
        with self.engine.begin() as conn:
            sid = conn.execute(insert(Suggestion).returning(Suggestion.id),
                               {"case_pk": case_pk, "model_version": model_version, "payload": payload}).scalar_one()
            if audit is not None:
                conn.execute(insert(AuditEvent), {"target": None, "model_version": None, **audit,
                                                  "detail": {**(audit.get("detail") or {}), "suggestion_id": sid}})
            return sid

    def add_audit(self, actor: str, role: str, action: str, target: str | None = None, detail: dict | None = None,
                  model_version: str | None = None) -> None:
        with self.session() as s, s.begin():
            s.add(AuditEvent(actor=actor, role=role, action=action, target=target, detail=detail,
                             model_version=model_version))


    def confirmed_labels(self) -> list[dict]:
        """Latest handler decision per case and part (domain/type/department), joined with the case text."""
        with self.session() as s:
            rows = s.execute(select(Decision.case_pk, Decision.part, Decision.accepted, Decision.suggested, Decision.value,
                                    Decision.id).where(Decision.part.in_(["domain", "type", "department"]),
                                                       Decision.case_pk.is_not(None)).order_by(Decision.id)).all()
            latest: dict[int, dict] = {}
            for case_pk, part, accepted, suggested, value, _ in rows:
                label = value if value is not None else (suggested if accepted else None)
                if isinstance(label, dict):
                    label = label.get("label") or label.get("name")
                if label:
                    latest.setdefault(case_pk, {})[part] = str(label)
            cases = s.scalars(select(Case).where(Case.pk.in_(list(latest)))).all() if latest else []
        return [{"id": c.ext_id, "title": c.title, "content": c.content, **latest[c.pk]} for c in cases]


    # -- the service: submissions, suggestions, decisions, reception, stats --------------------------
    def submit_case(self, record: dict, model: str, model_version: str, payload: dict,
                    audit: dict | None = None) -> tuple[int, bool, int | None]:
        """Store one new case, its suggestion and the audit event in ONE transaction (all or nothing).

        Returns ``(pk, created, suggestion_id)``; when ``record["id"]`` is already stored nothing is written
        and ``created`` is False. ``audit`` holds ``actor``, ``role``, ``action`` and optional ``detail``.
        """
        with self.session() as s, s.begin():
            pk = s.scalar(select(Case.pk).where(Case.ext_id == record["id"]))
            if pk is not None:
                return pk, False, None
            pk = self._insert_case(s, record, model)
            sug = Suggestion(case_pk=pk, model_version=model_version, payload=payload)
            s.add(sug)
            s.flush()
            if audit:
                s.add(AuditEvent(actor=audit["actor"], role=audit["role"], action=audit["action"], target=record["id"],
                                 detail={**(audit.get("detail") or {}), "suggestion_id": sug.id},
                                 model_version=model_version))
            return pk, True, sug.id

    def latest_suggestion(self, case_pk: int) -> dict | None:
        with self.session() as s:
            sug = s.scalar(select(Suggestion).where(Suggestion.case_pk == case_pk)
                           .order_by(Suggestion.id.desc()).limit(1))
            return _suggestion_record(sug) if sug else None

    def get_suggestion(self, suggestion_id: int) -> dict | None:
        with self.session() as s:
            sug = s.get(Suggestion, suggestion_id)
            return _suggestion_record(sug) if sug else None

    def add_decisions(self, case_pk: int, suggestion_id: int, parts: list[dict], handler: str, model_version: str,
                      case_updates: dict | None = None, audit: dict | None = None) -> list[dict]:
        """Record a person's decision on each part of a suggestion (one row per part), in one transaction.

        The suggestion is never touched. ``case_updates`` (decided domain/type/department, status, merged_into)
        are applied to the case's outcome fields, so routed history and the reception desk see the decision.
        """
        with self.session() as s, s.begin():
            rows = []
            for part in parts:
                d = Decision(suggestion_id=suggestion_id, case_pk=case_pk, part=part["part"],
                             accepted=bool(part["accepted"]), suggested=part.get("suggested"), value=part.get("value"),
                             handler=handler, model_version=model_version)
                s.add(d)
                rows.append(d)
            case = s.get(Case, case_pk)
            if case is not None and case_updates:
                for name in ("domain", "type", "department", "status"):
                    if case_updates.get(name) is not None:
                        setattr(case, name, case_updates[name])
                if case_updates.get("merged_into"):
                    case.extra = {**(case.extra or {}), "merged_into": case_updates["merged_into"]}
            s.flush()
            if audit:
                s.add(AuditEvent(actor=audit["actor"], role=audit["role"], action=audit["action"],
                                 target=audit.get("target"), model_version=model_version,
                                 detail={**(audit.get("detail") or {}), "decision_ids": [d.id for d in rows]}))
            return [_decision_record(d) for d in rows]

    def decisions_for(self, case_pk: int) -> list[dict]:
        with self.session() as s:
            return [_decision_record(d) for d in
                    s.scalars(select(Decision).where(Decision.case_pk == case_pk).order_by(Decision.id))]

    def identity_matches(self, hashes: list[tuple[str, str]], limit: int = 50) -> dict[int, set[str]]:
        """Cases sharing any of these (kind, keyed hash) identities → the kinds that matched, newest case first."""
        if not hashes:
            return {}
        out: dict[int, set[str]] = {}
        with self.session() as s:
            for kind, h in hashes:
                q = (select(Identity.case_pk).join(Case, Case.pk == Identity.case_pk)
                     .where(Identity.kind == kind, Identity.hash == h, Case.deleted.is_(False))
                     .order_by(Identity.case_pk.desc()).limit(limit))
                for pk in s.scalars(q):
                    out.setdefault(pk, set()).add(kind)
        return dict(sorted(out.items(), key=lambda kv: -kv[0])[:limit])

    def list_cases(self, limit: int = 50, offset: int = 0, status: str | None = None,
                   domain: str | None = None) -> tuple[int, list[dict]]:
        """One page of cases, newest first, and the total matching."""
        conds = [Case.deleted.is_(False)]
        if status:
            conds.append(Case.status == status)
        if domain:
            conds.append(Case.domain == domain)
        with self.session() as s:
            total = int(s.scalar(select(func.count(Case.pk)).where(*conds)) or 0)
            rows = s.scalars(select(Case).where(*conds).order_by(Case.pk.desc()).offset(offset).limit(limit)).all()
        return total, [case_record(c, set()) for c in rows]

    def stats(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict:
        """Volumes (cases by channel, domain, status, month) and decisions per suggestion part."""
        when = func.coalesce(Case.received_at, Case.created_at)
        conds = [Case.deleted.is_(False)]
        if since:
            conds.append(when >= since)
        if until:
            conds.append(when <= until)
        if self.url.startswith("sqlite"):
            month = func.strftime("%Y-%m", when)
        else:
            month = func.to_char(when, "YYYY-MM")

        def grouped(s, col, top: int | None = None) -> dict:
            q = select(col, func.count(Case.pk)).where(*conds).group_by(col).order_by(func.count(Case.pk).desc())
            if top:
                q = q.limit(top)
            return {(k if k is not None else "unknown"): int(n) for k, n in s.execute(q).all()}

        dconds = []
        if since:
            dconds.append(Decision.created_at >= since)
        if until:
            dconds.append(Decision.created_at <= until)
        sconds = [c for c in ([Suggestion.created_at >= since] if since else []) + (
            [Suggestion.created_at <= until] if until else [])]
        with self.session() as s:
            total = int(s.scalar(select(func.count(Case.pk)).where(*conds)) or 0)
            open_n = int(s.scalar(select(func.count(Case.pk)).where(
                *conds, func.coalesce(Case.status, "open").not_in(list(CONCLUDED_STATUSES)))) or 0)
            by_month = {k: int(n) for k, n in s.execute(select(month, func.count(Case.pk)).where(*conds)
                                                           .group_by(month).order_by(month)).all() if k}
            out = {"cases": total, "open": open_n, "by_channel": grouped(s, Case.channel),
                   "by_domain": grouped(s, Case.domain, 30), "by_status": grouped(s, Case.status),
                   "by_month": by_month,
                   "suggestions": int(s.scalar(select(func.count(Suggestion.id)).where(*sconds)) or 0)}
            rows = s.execute(select(Decision.part, func.count(Decision.id),
                                    func.sum(sql_case((Decision.accepted.is_(True), 1), else_=0)))
                             .where(*dconds).group_by(Decision.part)).all()
        out["decisions"] = {part: {"decisions": int(n), "accepted": int(acc or 0),
                                   "acceptance_rate": round(int(acc or 0) / int(n), 4) if n else None}
                            for part, n, acc in rows}
        return out

    def add_audits(self, events: list[dict]) -> None:
        """Several audit events in one transaction (``actor, role, action, target, detail, model_version``)."""
        if not events:
            return
        with self.session() as s, s.begin():
            s.add_all([AuditEvent(**e) for e in events])

    def audit_events(self, action: str | None = None, actor: str | None = None, target: str | None = None,
                     since: dt.datetime | None = None, before_id: int | None = None, limit: int = 100) -> list[dict]:
        """Audit trail, newest first; page with ``before_id`` (the smallest id of the previous page)."""
        conds = []
        if action:
            conds.append(AuditEvent.action == action)
        if actor:
            conds.append(AuditEvent.actor == actor)
        if target:
            conds.append(AuditEvent.target == target)
        if since:
            conds.append(AuditEvent.at >= since)
        if before_id:
            conds.append(AuditEvent.id < before_id)
        with self.session() as s:
            rows = s.scalars(select(AuditEvent).where(*conds).order_by(AuditEvent.id.desc()).limit(limit)).all()
        return [{"id": e.id, "at": e.at.isoformat() if e.at else None, "actor": e.actor, "role": e.role,
                 "action": e.action, "target": e.target, "detail": e.detail, "model_version": e.model_version}
                for e in rows]

    def set_case_status(self, case_pk: int, status: str) -> None:
        with self.session() as s, s.begin():
            s.execute(update(Case).where(Case.pk == case_pk).values(status=status))

    # -- the service: background jobs ------------------------------------------------------------
    def create_job(self, job_id: str, kind: str, actor: str, role: str, params: dict | None = None,
                   items: list[tuple[str, dict]] | None = None) -> dict:
        """Create a job and its items in one transaction: once this returns, the letters are on disk."""
        items = items or []
        with self.session() as s, s.begin():
            job = Job(id=job_id, kind=kind, status="queued", actor=actor, role=role, params=params, total=len(items),
                      done=0, failed=0)
            s.add(job)
            s.flush()
            s.add_all([JobItem(job_id=job_id, seq=i, letter_id=letter_id, status="pending", letter=letter)
                       for i, (letter_id, letter) in enumerate(items)])
            s.flush()
            return _job_record(job)

    def get_job(self, job_id: str) -> dict | None:
        with self.session() as s:
            job = s.get(Job, job_id)
            return _job_record(job) if job else None

    def unfinished_jobs(self, kinds: tuple[str, ...]) -> list[dict]:
        with self.session() as s:
            rows = s.scalars(select(Job).where(Job.kind.in_(kinds), Job.status.in_(UNFINISHED_JOB_STATUSES))
                             .order_by(Job.created_at, Job.id)).all()
            return [_job_record(j) for j in rows]

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"status", "error", "result", "started_at", "finished_at", "total", "done", "failed"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}")
        with self.session() as s, s.begin():
            s.execute(update(Job).where(Job.id == job_id).values(**fields))

    def pending_items(self, job_id: str, limit: int) -> list[dict]:
        with self.session() as s:
            rows = s.scalars(select(JobItem).where(JobItem.job_id == job_id, JobItem.status == "pending")
                             .order_by(JobItem.seq).limit(limit)).all()
            return [{"seq": r.seq, "letter_id": r.letter_id, "letter": r.letter} for r in rows]

    def finish_item(self, job_id: str, seq: int, status: str, case_pk: int | None = None, created: bool | None = None,
                    suggestion_id: int | None = None, error: str | None = None) -> None:
        """Mark one item processed (its sealed letter is dropped) and count it on the job, in one transaction."""
        with self.session() as s, s.begin():
            item = s.get(JobItem, (job_id, seq))
            if item is None or item.status != "pending":
                return
            item.status, item.case_pk, item.created = status, case_pk, created
            item.suggestion_id, item.error, item.letter = suggestion_id, error, None
            counter = Job.done if status == "done" else Job.failed
            s.execute(update(Job).where(Job.id == job_id).values({counter: counter + 1}))

    def job_items(self, job_id: str, offset: int = 0, limit: int = 100) -> list[dict]:
        with self.session() as s:
            rows = s.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.seq)
                             .offset(offset).limit(limit)).all()
            return [{"seq": r.seq, "id": r.letter_id, "status": r.status, "created": r.created,
                     "suggestion_id": r.suggestion_id, "error": r.error} for r in rows]


_LABEL_FIELDS = {"department": Case.department, "type": Case.type}


def _vector(blob: bytes) -> np.ndarray:
    """A stored vector (float16 bytes, :class:`CaseVector`) as float32."""
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)

# What a stored case's record holds (:func:`case_record`), in this order in the request path's driver-level reads.
CASE_RECORD_COLUMNS = ("pk", "ext_id", "title", "content", "norm_hash", "channel", "received_at", "region", "domain",
                       "type", "department", "reply", "status", "petitioner_masked", "created_at", "extra")
_DRIVER_CASE_COLUMNS = ", ".join(f"c.{c}" for c in CASE_RECORD_COLUMNS)


def _identity_sets(rows) -> dict[int, set[str]]:
    """(case_pk, kind, hash) rows → case_pk → its hashed identity keys ("kind:hash")."""
    idents: dict[int, set[str]] = {}
    for case_pk, kind, h in rows:
        idents.setdefault(case_pk, set()).add(f"{kind}:{h}")
    return idents


def _driver_time(value) -> str | None:
    """A DateTime column as the driver gives it (SQLite: SQLAlchemy's text form; PostgreSQL, SQLAlchemy: a
    datetime) → ISO."""
    if value is None:
        return None
    return (dt.datetime.fromisoformat(value) if isinstance(value, str) else value).isoformat()


def _driver_json(value):
    """A JSON column as the driver gives it (SQLite: text; PostgreSQL, SQLAlchemy: already decoded)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


@functools.cache
def _read_pool() -> ThreadPoolExecutor:
    """The threads that read a SQLite store's pages ahead (shared by every store of the process; SQLite releases
    the GIL while it waits for the disk)."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-read")


_TOUCH = threading.local()


def _touch(path: str, sql: str, args: list) -> int | None:
    """Run a one-row count on this thread's own read-only connection to ``path`` (see ``_prefetch``)."""
    import sqlite3

    conns = _TOUCH.__dict__.setdefault("conns", {})   # path → connection, the few stores used last
    conn = conns.pop(path, None)
    try:
        if conn is None:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        count = conn.execute(sql, args).fetchone()[0]
    except sqlite3.Error:   # only a read-ahead: the statements that follow read (and report) for themselves
        return None
    conns[path] = conn
    while len(conns) > 4:
        conns.pop(next(iter(conns))).close()
    return count


def case_record(c: Case, identities: set[str]) -> dict:
    """A stored case as a plain dict (masked petitioner; identity hashes only for matching)."""
    return _record_of([getattr(c, name) for name in CASE_RECORD_COLUMNS], identities)


def _record_of(values, identities: set[str]) -> dict:
    """:func:`case_record` of a case's :data:`CASE_RECORD_COLUMNS` values, read by SQLAlchemy or by the driver
    (times and JSON as :func:`_driver_time` and :func:`_driver_json` take them; the JSON columns hold objects)."""
    (pk, ext_id, title, content, norm_hash, channel, received_at, region, domain, type_, department, reply, status,
     petitioner_masked, created_at, extra) = values
    return {"pk": pk, "id": ext_id, "title": title, "content": content, "norm_hash": norm_hash, "channel": channel,
            "received_at": _driver_time(received_at), "region": region, "domain": domain, "type": type_,
            "department": department, "reply": reply, "status": status,
            "petitioner_masked": _driver_json(petitioner_masked), "identities": identities,
            "created_at": _driver_time(created_at), "extra": _driver_json(extra)}


def _suggestion_record(sug: Suggestion) -> dict:
    return {"id": sug.id, "case_pk": sug.case_pk, "model_version": sug.model_version, "payload": sug.payload,
            "created_at": sug.created_at.isoformat() if sug.created_at else None}


def _decision_record(d: Decision) -> dict:
    return {"id": d.id, "suggestion_id": d.suggestion_id, "case_pk": d.case_pk, "part": d.part, "accepted": d.accepted,
            "suggested": d.suggested, "value": d.value, "handler": d.handler, "model_version": d.model_version,
            "created_at": d.created_at.isoformat() if d.created_at else None}


def _job_record(j: Job) -> dict:
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    return {"id": j.id, "kind": j.kind, "status": j.status, "actor": j.actor, "role": j.role, "params": j.params,
            "total": j.total or 0, "done": j.done or 0, "failed": j.failed or 0, "error": j.error, "result": j.result,
            "created_at": iso(j.created_at), "started_at": iso(j.started_at), "finished_at": iso(j.finished_at)}
