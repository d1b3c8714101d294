"""Persistence: cases, identities, vectors, suggestions, decisions and the audit trail, via SQLAlchemy.

SQLite (WAL) by default, PostgreSQL by URL, one schema. Identity fields are stored only as keyed
hashes (for matching) and a masked form (for display); the clear values never reach the database.
A model's suggestion and a person's decision are separate tables; neither overwrites the other.
The vector and MinHash indexes live beside the store and are rebuilt from it (see ``CaseIndex``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        create_engine, event, func, select)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .privacy import hashed_identities, masked_petitioner

DEFAULT_STORE_URL = "sqlite:///data/triage.db"


class Base(DeclarativeBase):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Case(Base):
    __tablename__ = "cases"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ext_id: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text)
    norm_hash: Mapped[str] = mapped_column(String(40), index=True)
    channel: Mapped[str | None] = mapped_column(String(20), nullable=True)
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    region: Mapped[str | None] = mapped_column(String(200), nullable=True)
    domain: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str | None] = mapped_column(String(50), nullable=True)
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


Index("ix_identity_kind_hash", Identity.kind, Identity.hash)


def index_dir_for(url: str) -> Path:
    """Where the indexes of a store live: beside a SQLite file, else under ``data/indexes/<hash>``."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
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

    def open(self, create: bool = True) -> "Store":
        if self.url.startswith("sqlite:///"):
            path = self.url[len("sqlite:///"):]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
        self.engine = create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _record):  # noqa: ANN001
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        if create:
            Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        return self

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
            for p in prepared:
                if p["id"] in existing:
                    out.append((existing[p["id"]], p["id"], False))
                    continue
                received = dt.datetime.fromisoformat(p["received_at"]) if p.get("received_at") else None
                if received is not None and received.tzinfo is not None:
                    received = received.astimezone(dt.timezone.utc).replace(tzinfo=None)
                case = Case(ext_id=p["id"], title=p.get("title") or "", content=p["content"], norm_hash=p["norm_hash"],
                            channel=p.get("channel"), received_at=received, region=p.get("region"),
                            domain=p.get("domain"), type=p.get("type"), department=p.get("department"),
                            reply=p.get("reply"), status=p.get("status") or "open",
                            petitioner_masked=masked_petitioner(p.get("petitioner")), extra=p.get("extra") or None)
                s.add(case)
                s.flush()
                for kind, h in hashed_identities(p.get("petitioner")):
                    s.add(Identity(case_pk=case.pk, kind=kind, hash=h))
                if p.get("vector") is not None:
                    s.add(CaseVector(case_pk=case.pk, model=model,
                                     vector=np.asarray(p["vector"], dtype=np.float16).tobytes()))
                existing[p["id"]] = case.pk
                out.append((case.pk, p["id"], True))
        return out

    def pk_for(self, ext_id: str) -> int | None:
        with self.session() as s:
            return s.scalar(select(Case.pk).where(Case.ext_id == ext_id, Case.deleted.is_(False)))

    def get_cases(self, pks: Iterable[int]) -> dict[int, dict]:
        pks = list(pks)
        if not pks:
            return {}
        with self.session() as s:
            rows = s.scalars(select(Case).where(Case.pk.in_(pks), Case.deleted.is_(False))).all()
            idents: dict[int, set[str]] = {}
            for case_pk, kind, h in s.execute(select(Identity.case_pk, Identity.kind, Identity.hash)
                                             .where(Identity.case_pk.in_(pks))).all():
                idents.setdefault(case_pk, set()).add(f"{kind}:{h}")
        return {c.pk: case_record(c, idents.get(c.pk, set())) for c in rows}

    def get_case(self, ext_id: str) -> dict | None:
        pk = self.pk_for(ext_id)
        return self.get_cases([pk]).get(pk) if pk else None

    def count(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count(Case.pk)).where(Case.deleted.is_(False))) or 0)

    def max_pk(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.max(Case.pk))) or 0)

    def get_vectors(self, pks: Iterable[int], model: str) -> dict[int, np.ndarray]:
        pks = list(pks)
        if not pks:
            return {}
        with self.session() as s:
            rows = s.execute(select(CaseVector.case_pk, CaseVector.vector)
                             .where(CaseVector.case_pk.in_(pks), CaseVector.model == model)).all()
        return {pk: np.frombuffer(v, dtype=np.float16).astype(np.float32) for pk, v in rows}

    def pks_by_hash(self, norm_hash: str) -> list[int]:
        with self.session() as s:
            return list(s.scalars(select(Case.pk).where(Case.norm_hash == norm_hash, Case.deleted.is_(False))))

    def pks_by_identity(self, hashes: list[tuple[str, str]], limit: int = 50) -> list[int]:
        if not hashes:
            return []
        with self.session() as s:
            q = select(Identity.case_pk).where(
                func.coalesce(Identity.kind, "").in_([k for k, _ in hashes]), Identity.hash.in_([h for _, h in hashes])
            ).order_by(Identity.case_pk.desc()).limit(limit)
            return list(dict.fromkeys(s.scalars(q)))

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
            vecs = np.stack([np.frombuffer(r[1], dtype=np.float16) for r in rows]).astype(np.float32)
            last = int(pks[-1])
            yield pks, vecs

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

    def routed_history(self, limit: int | None = None) -> list[dict]:
        """Stored cases that carry a department: the history the router learns from."""
        with self.session() as s:
            q = select(Case).where(Case.department.is_not(None), Case.deleted.is_(False)).order_by(Case.pk)
            if limit:
                q = q.limit(limit)
            return [case_record(c, set()) for c in s.scalars(q)]

    def routed_signature(self) -> str:
        with self.session() as s:
            n, mx = s.execute(select(func.count(Case.pk), func.max(Case.pk))
                              .where(Case.department.is_not(None), Case.deleted.is_(False))).one()
        return f"{n}:{mx}"

    def delete_case(self, ext_id: str) -> int | None:
        with self.session() as s, s.begin():
            case = s.scalar(select(Case).where(Case.ext_id == ext_id))
            if case is None:
                return None
            case.deleted = True
            return case.pk

    # -- suggestions, decisions, audit ----------------------------------------------------------
    def add_suggestion(self, case_pk: int | None, model_version: str, payload: dict) -> int:
        with self.session() as s, s.begin():
            sug = Suggestion(case_pk=case_pk, model_version=model_version, payload=payload)
            s.add(sug)
            s.flush()
            return sug.id

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


def case_record(c: Case, identities: set[str]) -> dict:
    """A stored case as a plain dict (masked petitioner; identity hashes only for matching)."""
    return {"pk": c.pk, "id": c.ext_id, "title": c.title, "content": c.content, "norm_hash": c.norm_hash,
            "channel": c.channel, "received_at": c.received_at.isoformat() if c.received_at else None,
            "region": c.region, "domain": c.domain, "type": c.type, "department": c.department, "reply": c.reply,
            "status": c.status, "petitioner_masked": c.petitioner_masked, "identities": identities,
            "created_at": c.created_at.isoformat() if c.created_at else None}

