"""Request and response bodies. ``…Create`` is what a client sends, ``…Public`` what the service answers.

Letters follow the public contract (``shared/docs/contract.md``): unknown fields are kept, ``content`` is
required and limited to :data:`~triage.records.MAX_CONTENT_CHARS` characters. Strings must be valid text
(no NUL characters, no lone surrogates) so that both SQLite and PostgreSQL can store them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from triage.records import FIELD_LIMITS, MAX_CONTENT_CHARS, MAX_TITLE_CHARS

from .settings import MAX_BATCH_LETTERS


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (lone surrogate)") from None
    return value


def Str(max_length: int | None = None, **kw) -> Any:  # noqa: N802 — a type factory
    return Annotated[str, Field(max_length=max_length, **kw), AfterValidator(_clean_text)]


def _check_json(value: Any, path: str, depth: int = 0) -> None:
    if depth > 20:
        raise ValueError(f"{path} is nested too deeply (limit 20)")
    if isinstance(value, str):
        try:
            _clean_text(value)
        except ValueError as exc:
            raise ValueError(f"{path} {exc}") from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path} must be a finite number")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_json(k, f"{path} key", depth + 1)
            _check_json(v, f"{path}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]", depth + 1)


ERROR_EXAMPLE = {"error": {"code": "invalid_letter", "message": "is empty; a letter needs some text",
                           "field": "content", "request_id": "3f2a9c1e0b7d4e21"}}

LETTER_EXAMPLE = {
    "id": "2024-0513-0001",
    "title": "锦绣花园小区物业乱收停车费",
    "content": "A市A1区锦绣花园小区物业公司未经业主大会同意，从三月起对地面停车位每月收取300元停车费，业主多次反映无果，请相关部门查处。",
    "channel": "online",
    "received_at": "2024-05-13T09:30:00",
    "petitioner": {"name": "张三", "phone": "13812345678", "id_number": "110101199003071234"},
    "region": "A1区",
}


# -- letters ----------------------------------------------------------------------------------------

class PetitionerCreate(BaseModel):
    """Identity of the petitioner: used for matching as keyed hashes, shown only masked, never stored in clear."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: Str(100) | None = None
    id_number: Str(40) | None = None
    phone: Str(40) | None = None
    address: Str(500) | None = None
    account: Str(200) | None = Field(None, description="online account id")

    @model_validator(mode="after")
    def _extra_are_strings(self) -> "PetitionerCreate":
        for key, value in (self.model_extra or {}).items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"petitioner.{key} must be a string")
            _check_json(value, f"petitioner.{key}")
            _check_json(key, "petitioner key")
        return self


class LetterCreate(BaseModel):
    """A letter, visit, call or web message (the public letter record). Unknown fields are kept."""

    model_config = ConfigDict(extra="allow", strict=True, json_schema_extra={"examples": [LETTER_EXAMPLE]})
    id: Str(FIELD_LIMITS["id"], min_length=1) | None = Field(
        None, description="your id; assigned when absent; submitting an id again returns that case")
    title: Str(MAX_TITLE_CHARS) | None = None
    content: Str(MAX_CONTENT_CHARS) = Field(..., description=f"the text; required, at most {MAX_CONTENT_CHARS} characters")
    channel: Str(50) | None = Field(None, description="letter, visit, online, phone, other (或 来信/来访/网上/来电/12345)")
    received_at: Str(64) | None = Field(None, description="ISO 8601 date or datetime (2024-05-13, 2024-05-13T09:30)")
    petitioner: PetitionerCreate | None = None
    region: Str(FIELD_LIMITS["region"]) | None = Field(None, description="free-text place, e.g. 朝阳区")
    location: Str(MAX_TITLE_CHARS) | None = Field(
        None, description="where the matter is (事发地址), e.g. 朝阳区建国路88号; read for routing beside region, "
                          "kept with the case's other fields")
    domain: Str(FIELD_LIMITS["domain"]) | None = Field(None, description="known outcome (history)")
    type: Str(FIELD_LIMITS["type"]) | None = Field(None,
                                                   description="known outcome (history): 咨询/求助/建议/投诉/举报")
    department: Str(FIELD_LIMITS["department"]) | None = Field(
        None, description="known outcome (history): the unit that handled it")
    reply: Str(MAX_CONTENT_CHARS) | None = Field(None, description="known outcome (history): the reply")
    status: Str(FIELD_LIMITS["status"]) | None = Field(None, description="case status; default open")

    @model_validator(mode="after")
    def _extra_is_storable(self) -> "LetterCreate":
        for key, value in (self.model_extra or {}).items():
            _check_json(key, "field name")
            _check_json(value, key)
        return self

    def as_record(self) -> dict:
        return self.model_dump(exclude_none=True)


class BatchCreate(BaseModel):
    """Batch pre-sorting: up to 500 letters, stored and triaged in the background; follow the job for progress."""

    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"letters": [LETTER_EXAMPLE], "k": 5}]})
    letters: list[LetterCreate] = Field(..., min_length=1, max_length=MAX_BATCH_LETTERS,
                                        description=f"at most {MAX_BATCH_LETTERS} letters per batch")
    k: int = Field(5, ge=0, le=50, description="similar cases per suggestion")


class ImportCreate(BaseModel):
    """History letters (with their known outcomes) to add to the store and indexes, up to 500 per request."""

    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"letters": [{
        **LETTER_EXAMPLE, "id": "hist-2023-0001", "domain": "城乡建设", "department": "A1区住建局", "status": "已办结",
        "reply": "经调查，已责令物业停止收费并退还。"}]}]})
    letters: list[LetterCreate] = Field(..., min_length=1, max_length=MAX_BATCH_LETTERS,
                                        description=f"at most {MAX_BATCH_LETTERS} letters per request")


class CompareCreate(BaseModel):
    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{
        "a": {"content": "锦绣花园小区物业从三月起每月收取地面停车费300元，未经业主大会同意，请查处。"},
        "b": {"content": "我上月反映过锦绣花园物业违规收取停车费，至今仍在收，请尽快处理。"}}]})
    a: LetterCreate
    b: LetterCreate


# -- suggestions --------------------------------------------------------------------------------------

class ScoredLabel(BaseModel):
    label: str
    score: float = Field(..., ge=0, le=1)


class LabelWithEvidence(ScoredLabel):
    evidence: list[str] = Field([], description="why. A type: the type a clerk's opening stated, the type's words "
                                                "the letter says (\"says 请问、是否\"), on the first type whether this office's typed letters "
                                                "taught it. The first domain: the letter's "
                                                "words that weigh most for it (\"words for it: 物业、停车费\")")


class DepartmentPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    score: float
    evidence: list[str] = []


class DuplicateMatchPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    case_id: str
    score: float
    verdict: str | None = None
    same_petitioner: bool = False
    reasons: list[str] = []
    received_at: str | None = None
    status: str | None = None
    department: str | None = None


class DuplicatesPublic(BaseModel):
    verdict: Literal["duplicate", "related", "new"]
    matches: list[DuplicateMatchPublic] = []


class SimilarCasePublic(BaseModel):
    """A similar past case: no identity of anyone, free text masked."""

    model_config = ConfigDict(extra="allow")
    case_id: str
    score: float
    title: str = ""
    opening: str = Field("", description="the case's first words (masked), to tell it by when it has no title")
    domain: str | None = None
    department: str | None = None
    received_at: str | None = None
    verdict: str | None = None
    reply_excerpt: str | None = None


class SuggestionPublic(BaseModel):
    """What the service suggests for one letter, stamped with the model version that made it."""

    model_config = ConfigDict(extra="allow")
    id: str | None = Field(None, description="the letter's id")
    suggestion_id: int | None = Field(None, description="cite it when recording a decision")
    model_version: str
    domain: list[LabelWithEvidence]
    type: list[LabelWithEvidence]
    category: str | None = None
    litigation_related: bool = False
    litigation_triggers: list[str] = []
    department: list[DepartmentPublic]
    duplicates: DuplicatesPublic
    similar: list[SimilarCasePublic]


class LetterSuggestionPublic(SuggestionPublic):
    created: bool = Field(..., description="false when the id was already stored: its suggestion is returned, "
                                           "nothing is stored twice")


class ComparePublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    verdict: Literal["duplicate", "related", "unrelated"]
    score: float
    probabilities: dict[str, float] = {}
    reasons: list[str] = []


# -- cases ------------------------------------------------------------------------------------------

class PetitionerMasked(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    id_number: str | None = None
    phone: str | None = None
    account: str | None = None
    address: str | None = None


class CasePublic(BaseModel):
    """A stored case. Text is masked; ``petitioner`` (masked) only for the reception and admin roles."""

    id: str
    title: str
    content: str
    channel: str | None = None
    received_at: str | None = None
    created_at: str | None = None
    region: str | None = None
    domain: str | None = None
    type: str | None = None
    department: str | None = None
    status: str | None = None
    reply: str | None = None
    merged_into: str | None = None
    petitioner: PetitionerMasked | None = None
    extra: dict | None = Field(None, description="fields of the letter the contract does not name, kept as sent "
                                                 "(free text masked)")


class DecisionPublic(BaseModel):
    id: int
    suggestion_id: int
    part: Literal["domain", "type", "department", "duplicate"]
    accepted: bool
    suggested: Any = None
    value: Any = None
    handler: str
    model_version: str
    created_at: str | None = None


class CaseDetailPublic(BaseModel):
    case: CasePublic
    suggestion: SuggestionPublic | None = Field(None, description="the latest suggestion (never overwritten)")
    decisions: list[DecisionPublic] = Field([], description="every decision on this case, oldest first")


class CaseListPublic(BaseModel):
    total: int
    offset: int
    limit: int
    cases: list[CasePublic]


class SimilarPublic(BaseModel):
    case_id: str
    similar: list[SimilarCasePublic]


class CaseDuplicatesPublic(BaseModel):
    case_id: str
    duplicates: DuplicatesPublic


class StatusCreate(BaseModel):
    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"status": "concluded"}]})
    status: Str(50, min_length=1) = Field(..., description="e.g. open, processing, concluded (办结), merged")


# -- decisions ----------------------------------------------------------------------------------------

class PartDecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    accepted: bool = Field(..., description="true: the top suggestion is right; false: correct it with value")
    value: Str(200, min_length=1) | None = Field(None, description="the right label/department when correcting")


class DuplicateDecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    accepted: bool = Field(..., description="true: the suggested verdict is right (duplicate of its top match, or new)")
    duplicate_of: Str(200, min_length=1) | None = Field(None, description="when correcting: the case it repeats "
                                                                          "(null: it is not a duplicate)")
    merge: bool = Field(False, description="merge this case into duplicate_of (status becomes merged)")


class DecisionCreate(BaseModel):
    """A person's decision on a suggestion, part by part; each part given becomes its own record."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"domain": {"accepted": True}, "type": {"accepted": False, "value": "投诉"},
         "department": {"accepted": False, "value": "A1区住建局"}, "duplicate": {"accepted": True}}]})
    suggestion_id: int | None = Field(None, ge=1, le=2**31 - 1, description="default: the case's latest suggestion")
    domain: PartDecisionCreate | None = None
    type: PartDecisionCreate | None = None
    department: PartDecisionCreate | None = None
    duplicate: DuplicateDecisionCreate | None = None


class DecisionsPublic(BaseModel):
    case_id: str
    decisions: list[DecisionPublic]


# -- reception --------------------------------------------------------------------------------------

class ReceptionCheckCreate(BaseModel):
    """A visitor's identity (any of these) and, optionally, the matter in their words."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"id_number": "110101199003071234", "phone": "13812345678", "name": "张三",
         "matter": "锦绣花园物业还在收停车费，上次反映了没有解决"}]})
    id_number: Str(40, min_length=1) | None = None
    phone: Str(40, min_length=1) | None = None
    name: Str(100, min_length=1) | None = None
    account: Str(200, min_length=1) | None = None
    matter: Str(MAX_CONTENT_CHARS) | None = Field(None, description="what the visitor says the matter is")
    limit: int = Field(20, ge=1, le=100, description="at most this many earlier cases per list")

    @model_validator(mode="after")
    def _something_given(self) -> "ReceptionCheckCreate":
        if self.matter is not None and not self.matter.strip():
            raise ValueError("matter is empty")
        if not any(v and v.strip() for v in (self.id_number, self.phone, self.name, self.account, self.matter)):
            raise ValueError("give at least one of id_number, phone, name, account, matter")
        return self

    def identity(self) -> dict[str, str]:
        return {k: v.strip() for k, v in (("id_number", self.id_number), ("phone", self.phone), ("name", self.name),
                                          ("account", self.account)) if v and v.strip()}


class ReceptionCasePublic(BaseModel):
    case_id: str
    title: str
    received_at: str | None = None
    created_at: str | None = None
    status: str | None = None
    open: bool
    department: str | None = None
    domain: str | None = None
    channel: str | None = None
    matched_on: list[str] = Field([], description="identity fields that matched (hash comparison)")
    petitioner: PetitionerMasked | None = None


class ReceptionMatterCasePublic(ReceptionCasePublic):
    verdict: str
    score: float
    same_petitioner: bool
    reasons: list[str] = []


class ReceptionPersonPublic(BaseModel):
    cases: list[ReceptionCasePublic]
    total: int
    open: int
    matched_on_name_only: bool = Field(..., description="only the name matched: many people share a name")


class ReceptionMatterPublic(BaseModel):
    verdict: Literal["duplicate", "related", "new"]
    cases: list[ReceptionMatterCasePublic]


class AlertPublic(BaseModel):
    level: Literal["duplicate_visit", "repeat_after_conclusion", "person_has_open_cases", "none"]
    label: str
    message: str
    case_ids: list[str]


class ReceptionPublic(BaseModel):
    person: ReceptionPersonPublic
    matter: ReceptionMatterPublic | None
    alert: AlertPublic = Field(..., description="the duplicate-visit alert (重复访提醒)")


# -- jobs ---------------------------------------------------------------------------------------------

class JobPublic(BaseModel):
    id: str
    kind: Literal["presort", "import", "retrain"]
    status: Literal["queued", "running", "done", "failed", "interrupted", "cancelled"]
    total: int
    done: int
    failed: int
    progress: float = Field(..., ge=0, le=1)
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    result: dict | None = None
    params: dict | None = None
    results_url: str | None = None


class SkippedRow(BaseModel):
    line: int | None = Field(None, description="line (CSV, JSONL) or row (Excel) of the file")
    error: str


class ColumnPublic(BaseModel):
    column: str = Field(..., description="a header of the file, as written")
    field: str | None = Field(..., description="the letter field it was read as (id, content, department, "
                                               "petitioner.phone …); null: kept under its own name")


class FileImportPublic(BaseModel):
    """An export file read and its letters queued for import; what could not be read is listed, not dropped."""

    job: JobPublic
    letters: int = Field(..., ge=1, description="letters queued")
    skipped: int = Field(..., ge=0, description="lines or rows not imported, each with its reason")
    errors: list[SkippedRow] = Field(..., description="the first 100 of them")
    columns: list[ColumnPublic] = Field(default_factory=list, description="how the header row of a CSV or a sheet "
                                                                          "was read, column by column (empty for JSONL)")


class JobItemPublic(BaseModel):
    seq: int
    id: str
    status: Literal["pending", "done", "failed", "conflict"]
    created: bool | None = None
    suggestion_id: int | None = None
    error: str | None = None
    suggestion: SuggestionPublic | None = None


class JobResultsPublic(BaseModel):
    job: JobPublic
    offset: int
    limit: int
    items: list[JobItemPublic]


class RetrainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [{"include_decisions": True}]})
    include_decisions: bool = Field(True, description="learn from handlers' confirmed decisions in this store")
    embedder: Str(100, min_length=1) | None = Field(None, description="default: the embedder of the loaded models")
    small: bool = Field(False, description="small training sets (smoke test)")


# -- stats, health, model, audit ------------------------------------------------------------------------

class PartStatsPublic(BaseModel):
    decisions: int
    accepted: int
    acceptance_rate: float | None


class StatsPublic(BaseModel):
    cases: int
    open: int
    by_channel: dict[str, int]
    by_domain: dict[str, int]
    by_status: dict[str, int]
    by_month: dict[str, int]
    suggestions: int
    decisions: dict[str, PartStatsPublic] = Field(..., description="per suggestion part: how often handlers "
                                                                   "accepted the top suggestion")
    since: str | None = None
    until: str | None = None


class IndexPublic(BaseModel):
    vectors: int
    high_water: int


class WorkerPublic(BaseModel):
    """The serving process that answered (`triage serve --workers N` runs several on one store)."""

    pid: int
    leader: bool = Field(description="runs the job queue and saves the index for all workers")


class StorePagesPublic(BaseModel):
    """Whether the leader has read the SQLite store's file into the page cache at start (``TRIAGE_WARM_STORE``)."""

    state: Literal["warming", "done", "skipped", "stopped", "failed"]
    bytes: int | None = None
    seconds: float | None = None
    reason: str | None = None


class HealthPublic(BaseModel):
    status: Literal["ok"]
    api_version: str
    model_version: str
    store: str
    schema_revision: str | None
    cases: int
    index: IndexPublic
    worker: WorkerPublic
    store_pages: StorePagesPublic
    uptime_seconds: float


class ModelPublic(BaseModel):
    version: str
    embedder: dict
    components: list[str]
    created: str | None = None
    metrics: dict
    libraries: dict
    decisions_used: int | None = None
    router: bool
    labels: dict[str, list[str]]
    type_history: dict | None = Field(None, description="the store's type history, when it answers the type: "
                                                        "letters, per type, out-of-fold macro-F1 against the shipped model")


class AuditEventPublic(BaseModel):
    id: int
    at: str | None
    actor: str
    role: str
    action: str
    target: str | None = None
    detail: dict | None = None
    model_version: str | None = None


class AuditPagePublic(BaseModel):
    events: list[AuditEventPublic]
    next_before_id: int | None = Field(None, description="pass as before_id for the next (older) page")


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None
    request_id: str | None = None
    errors: list[dict] | None = None


class ErrorPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ERROR_EXAMPLE]})
    error: ErrorBody
