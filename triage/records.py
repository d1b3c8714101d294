"""The public records: a letter in, parsed and validated early.

A letter is a plain dict on the wire (see ``../shared/docs/contract.md``); inside the library it is a
:class:`Letter`. Unknown fields are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from .errors import InvalidInput, InvalidLetter

MAX_CONTENT_CHARS = 20_000
"""Documented size limit of ``content``; longer letters are refused with a clear error."""
MAX_TITLE_CHARS = 500
FIELD_LIMITS = {"id": 200, "region": 200, "domain": 200, "department": 200, "type": 50, "status": 50}
"""Longest value of the short fields, in characters (the store's columns; the HTTP API holds letters to the same)."""

CHANNELS = ("letter", "visit", "online", "phone", "other")
# What offices write for a letter's channel, tried in order: the online ones first, so that 微信, 市长信箱 and
# 12345app are not read as a paper letter (信) or a call (12345); 短信 and 传真 are neither a letter nor online.
_CHANNEL_ALIASES = {
    "微信": "online", "qq": "online", "微博": "online", "邮件": "online", "email": "online", "e-mail": "online",
    "信箱": "online", "留言": "online", "app": "online", "小程序": "online", "客户端": "online", "网": "online",
    "平台": "online", "短信": "other", "传真": "other",
    "来电": "phone", "电话": "phone", "热线": "phone", "12345": "phone",
    "来访": "visit", "走访": "visit", "接访": "visit", "上访": "visit", "访": "visit",
    "来信": "letter", "信": "letter", "邮寄": "letter",
}
PETITIONER_FIELDS = ("name", "id_number", "phone", "address", "account")
STRING_FIELDS = ("title", "region", "domain", "type", "department", "reply", "status")
LETTER_FIELDS = frozenset(("id", "content", "channel", "received_at", "petitioner", *STRING_FIELDS))
"""The contract's fields of a letter; any other is kept in ``extra``."""
LOCATION_FIELD = "location"
"""Where the matter is, when an export gives it a column of its own (事发地址, 问题地点, 诉求地址): an extension of
the contract, kept in ``extra`` like any other field, and read by the router as a place of the letter beside
``region``. The petitioner's own address (``petitioner.address``) is a different thing and is never read for routing."""

# Column names accepted in CSV files as aliases of the contract's names: the public datasets' and the usual
# headers of a 12345 / 信访 system's export. A contract name in the file wins over its aliases; among aliases of
# one field, the leftmost non-empty column wins.
COLUMN_ALIASES = {
    # the public datasets
    "留言编号": "id", "留言主题": "title", "标题": "title", "留言详情": "content", "投诉件内容": "content",
    "留言时间": "received_at", "时间": "received_at", "一级标签": "domain", "性质": "type",
    "答复意见": "reply", "回复1": "reply", "区": "region", "信息来源": "channel", "留言用户": "petitioner.account",
    # hotline and petition exports
    "工单编号": "id", "工单号": "id", "信件编号": "id", "信访编号": "id", "编号": "id",
    "诉求标题": "title", "信件标题": "title", "工单标题": "title", "主题": "title",
    "诉求内容": "content", "反映内容": "content", "来信内容": "content", "工单内容": "content", "信件内容": "content",
    "问题描述": "content", "内容": "content",
    "来电时间": "received_at", "受理时间": "received_at", "登记时间": "received_at", "来信时间": "received_at",
    "创建时间": "received_at", "日期": "received_at",
    "所属区县": "region", "所属区域": "region", "区县": "region", "区域": "region", "行政区划": "region",
    "承办单位": "department", "主办单位": "department", "办理单位": "department", "处理部门": "department",
    "责任单位": "department", "承办部门": "department",
    "诉求类型": "type", "工单类型": "type", "信件类型": "type", "问题性质": "type", "类型": "type",
    "问题分类": "domain", "一级分类": "domain", "业务分类": "domain",
    "答复内容": "reply", "回复内容": "reply", "办理结果": "reply", "处理结果": "reply",
    "办理状态": "status", "工单状态": "status", "状态": "status",
    "来源渠道": "channel", "渠道": "channel", "来源": "channel", "信访形式": "channel",
    "诉求人": "petitioner.name", "来电人": "petitioner.name", "信访人": "petitioner.name", "姓名": "petitioner.name",
    "联系电话": "petitioner.phone", "来电号码": "petitioner.phone", "手机号码": "petitioner.phone",
    "身份证号": "petitioner.id_number", "身份证号码": "petitioner.id_number",
    "联系地址": "petitioner.address", "住址": "petitioner.address",
}


# Headers no alias lists, read by what they say: an export's own wording varies (承办单位名称, 诉求描述, 受理日期,
# 事发区域). Tried in order, after the exact names; each names the kind of column and ends where such a header
# ends, so that 处理部门意见 (a reply) is no department and 序号 (a row count) no id.
_PERSON = "联系人|诉求人|来电人|来信人|信访人|反映人|投诉人|举报人|当事人|申请人|求助人|来访人|市民"
_HEADER_RULES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), f) for p, f in (
    (r"^(?:答复|回复|反馈|办理结果|处理结果|办结|办理情况|处理情况|处理意见|办理意见)", "reply"),
    (r"(?:承办|办理|主办|责任|处置|交办|转办|处理|派单|流转)(?:单位|部门|机构)(?:名称)?$", "department"),
    (r"^(?:诉求|反映|来信|来电|工单|信件|问题|事项|事件|留言|投诉|信访)(?:内容|描述|详情|正文|事项)$", "content"),
    (r"^(?:工单|信件|信访件?|留言|事项|案件|诉求|来电|来信)(?:编号|编码|单号|号码?)$", "id"),
    (r"^(?:来电|受理|登记|创建|来信|来访|反映|留言|提交|诉求|派单|接收)(?:时间|日期)$", "received_at"),
    (r"^(?:诉求|工单|信件|问题|事项|信访|来电)(?:类型|性质|类别)$", "type"),
    (r"^(?:所属|所在|事发|发生|归属)(?:区县|区域|地区|行政区|区划|辖区|区)$", "region"),
    # the petitioner's identity: read into ``petitioner`` (hashed for matching, shown masked), never left as a
    # column of its own, which would be kept and shown as written
    (rf"^(?:联系|来电|手机|{_PERSON})?的?(?:电话|号码|手机|手机号码?|联系方式|联系电话)$", "petitioner.phone"),
    (rf"^(?:{_PERSON})?的?(?:身份证|证件|身份证件|公民身份)(?:号码?|编号)?$", "petitioner.id_number"),
    (rf"^(?:{_PERSON})(?:姓名|名称)?$", "petitioner.name"),
    # a person's address (来电人地址, 反映人住址) or a home's; a bare 地址 is the matter's (below)
    (rf"^(?:(?:{_PERSON})的?(?:联系|家庭|通讯|通信|居住|现|户籍)?|(?:联系|家庭|通讯|通信|居住|现|户籍))(?:地址|住址)$",
     "petitioner.address"),
    # where the matter is (a 12345 ticket's 事发地址); a bare 地址 beside the petitioner's columns is the matter's
    (r"^(?:事发|发生|问题|诉求|事件|案发|事项|反映|投诉|举报|工单|详细|具体)?(?:地址|地点|位置|所在地|所在位置)$",
     LOCATION_FIELD),
))
_HEADER_MARKS = re.compile(r"^[\ufeff*＊\s]+|[*＊:：\s]+$")
_HEADER_NOTE = re.compile(r"[（(][^（()）]{0,12}[）)]$")   # (必填), （选填）, (yyyy-mm-dd)
_CONTRACT_COLUMNS = LETTER_FIELDS | {LOCATION_FIELD} | {f"petitioner.{f}" for f in PETITIONER_FIELDS}


def header_field(header: str) -> str:
    """The contract field a column header stands for: the contract's own name, an alias of
    :data:`COLUMN_ALIASES`, or a header saying what it holds in an export's own words (承办单位名称 → department,
    诉求描述 → content); marks of a form are read past (``*诉求内容``, ``来电时间(必填)``). A header saying none of
    these is returned as written (trimmed): the column is kept under its own name."""
    name = _HEADER_MARKS.sub("", header or "")
    bare = _HEADER_NOTE.sub("", name).strip() or name
    for candidate in (name, bare):
        if candidate in _CONTRACT_COLUMNS:
            return candidate
        if candidate in COLUMN_ALIASES:
            return COLUMN_ALIASES[candidate]
    for rule, field in _HEADER_RULES:
        if rule.search(bare):
            return field
    return name


HeaderHook = Optional[Callable[[list], None]]


def _names_content(cells: Iterable[str | None]) -> bool:
    """Whether a row of a table is its header row: one of its cells names the letters' content."""
    return any(cell and cell.strip() and header_field(cell) == "content" for cell in cells)


def column_fields(header: Iterable[str | None]) -> list[tuple[str, str | None]]:
    """What each column of a header row is read as: ``(header, contract field)``, or ``(header, None)`` for a
    column kept under its own name (an unknown field); blank headers are left out."""
    out = []
    for cell in header:
        name = str(cell).strip() if cell is not None else ""
        if name:
            field = header_field(name)
            out.append((name, field if field in _CONTRACT_COLUMNS else None))
    return out


# What offices write for the five hotline types (咨询 / 求助 / 建议 / 投诉 / 举报): a type history learns under the
# hotline's names, so that "投诉类" and "投诉" are one type and the 信访 category can be read off the label.
_TYPE_ALIASES = (("咨询", "咨询"), ("询问", "咨询"), ("求助", "求助"), ("建议", "建议"), ("投诉", "投诉"), ("举报", "举报"),
                 ("检举", "举报"), ("控告", "举报"))


def hotline_type(label: str | None) -> str | None:
    """An office's type label under the hotline's five names when it names exactly one of them: "投诉类", "投诉件"
    → 投诉; "意见建议" → 建议; "检举控告" → 举报; "政策咨询", "询问" → 咨询. A label naming none (表扬, 其他, the category
    申诉求决, which is 投诉 or 求助) or two (投诉举报) is kept as written."""
    if label is None:
        return None
    text = label.strip()
    named = {name for alias, name in _TYPE_ALIASES if alias in text}
    return named.pop() if len(named) == 1 else text


@functools.lru_cache(maxsize=1024)
def _names_location(key: str) -> bool:
    return header_field(key) == LOCATION_FIELD


def letter_location(letter: dict) -> str:
    """Where the matter is, as the letter's own fields say (:data:`LOCATION_FIELD`), or "": a letter as read
    (``location`` among its fields) or a stored case (in its ``extra``); a JSON letter may also name it by an
    export's header (``事发地址``) or as a top-level ``address`` (the petitioner's address sits in ``petitioner``)."""
    sources = [letter]
    if isinstance(letter.get("extra"), dict):
        sources.append(letter["extra"])
    for source in sources:
        for key, value in source.items():
            if key in LETTER_FIELDS or key == "extra" or value is None or isinstance(value, (dict, list, bool)):
                continue
            if key in (LOCATION_FIELD, "address") or _names_location(str(key)):
                text = str(value).strip()
                if text:
                    return text
    return ""


def letter_text(title: str | None, content: str) -> str:
    """The text every step reads of a letter or stored case: the title, a line break, the content (no title: the
    content alone)."""
    return f"{title}\n{content}" if title else content


@dataclass
class Letter:
    """One letter, visit, call or web message."""

    id: str | None
    content: str
    title: str = ""
    channel: str | None = None
    received_at: str | None = None  # ISO 8601
    petitioner: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    domain: str | None = None
    type: str | None = None
    department: str | None = None
    reply: str | None = None
    status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Title and content, the text every step reads."""
        return letter_text(self.title, self.content)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title, "content": self.content}
        for name in ("channel", "received_at", "region", "domain", "type", "department", "reply", "status"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.petitioner:
            out["petitioner"] = dict(self.petitioner)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: Any, *, require_id: bool = False) -> "Letter":
        return parse_letter(data, require_id=require_id)


# control characters (NUL above all, which PostgreSQL refuses in text) are no part of a letter: exports carry them
# from old systems' fields; tab, newline and carriage return stay
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _without_controls(value: Any) -> Any:
    """``value`` with control characters removed from every string in it (dicts and lists walked)."""
    if isinstance(value, str):
        return _CONTROL_CHARS.sub("", value)
    if isinstance(value, dict):
        return {_without_controls(k): _without_controls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_controls(v) for v in value]
    return value


def _as_str(data: dict, name: str, *, max_len: int | None = None) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidLetter(f"must be a string, got {type(value).__name__}", field=name)
    text = str(value).strip()
    if max_len is not None and len(text) > max_len:
        raise InvalidLetter(f"is {len(text)} characters; the limit is {max_len}", field=name)
    return text or None


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T](\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:\.\d+)?秒?)?)?"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
# what follows a date: a time of day as offices write it (9:12, 9时12分, 上午9:12, 下午3点, 3:12:05 PM)
_DATE_HEAD = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]*(.*)$")
_TIME_OF_DAY = re.compile(r"(上午|下午|凌晨|早上|中午|晚上|AM|PM)?\s*(\d{1,2})(?:[:时点](?:(\d{1,2})分?)?"
                          r"(?:[:](\d{1,2})(?:\.\d+)?|(\d{1,2})秒)?)?\s*(AM|PM)?", re.IGNORECASE)
_AFTERNOON = ("下午", "晚上", "PM")
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")   # a spreadsheet's date cell exported as its number (45415.39)


def _with_time(year: int, month: int, day: int, rest: str) -> str | None:
    """A day and what follows it as ISO: None when what follows is no time of day, "" when the day or the time
    cannot be (2024-02-30, 下午25:00)."""
    rest = rest.strip()
    hh = mm = ss = 0
    if rest:
        t = _TIME_OF_DAY.fullmatch(rest)
        if not t:
            return None
        marker = (t.group(1) or t.group(6) or "").upper()
        hh, mm, ss = int(t.group(2)), int(t.group(3) or 0), int(t.group(4) or t.group(5) or 0)
        if marker in _AFTERNOON and hh < 12:
            hh += 12
        elif marker == "中午" and hh < 11:
            hh += 12
        elif marker in ("上午", "凌晨", "早上", "AM") and hh == 12:
            hh = 0
    try:
        return dt.datetime(year, month, day, hh, mm, ss).isoformat()
    except ValueError:
        return ""


def _chinese_datetime(text: str) -> str | None:
    """2024/3/5 上午9:12, 2024年3月5日9时12分, 2024-03-05 3:12:05 PM, or as spreadsheets export it month first
    (12/31/2016 3:12 PM; day first when the first part > 12) → ISO; None when the text is no such date, "" when it
    is one that cannot be (2024-02-30, 下午25:00)."""
    m = _DATE_HEAD.match(text)
    if m:
        return _with_time(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
    m = _US_DATE_HEAD.match(text)
    if m:
        first, second, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        month, day = (first, second) if first <= 12 else (second, first)
        return _with_time(year, month, day, m.group(4))
    return None


_US_DATE_HEAD = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})[ T]*(.*)$")


def parse_date(value: Any, *, field_name: str = "received_at") -> str | None:
    """ISO 8601 date/datetime, or common Chinese formats (2019/2/28 11:25:05, 2019年4月24日) → ISO string."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidLetter(f"must be a date string, got {type(value).__name__}", field=field_name)
    text = value.strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    iso = _chinese_datetime(text)
    if iso:
        return iso
    if iso == "":
        raise InvalidLetter(f"'{text[:40]}' is not a date: no such day or time", field=field_name)
    if _EXCEL_SERIAL.match(text) and 25569 <= float(text) < 73051:   # 1970 … 2100
        return (dt.datetime(1899, 12, 30) + dt.timedelta(days=float(text))).replace(microsecond=0).isoformat()
    for pattern in _DATE_PATTERNS:   # a date with something after it that is no time: the date, as before
        m = pattern.match(text)
        if m:
            parts = [int(p) if p else 0 for p in m.groups()] + [0] * (6 - len(m.groups()))
            try:
                return dt.datetime(*parts[:6]).isoformat()
            except ValueError:
                break
    raise InvalidLetter(f"'{text[:40]}' is not a date (use ISO 8601, e.g. 2024-05-01 or 2024-05-01T09:30)",
                        field=field_name)


def _channel(value: str | None) -> str | None:
    if value is None:
        return None
    low = value.lower()
    if low in CHANNELS:
        return low
    for alias, channel in _CHANNEL_ALIASES.items():
        if alias in low:
            return channel
    return "other"


def parse_letter(data: Any, *, require_id: bool = False) -> Letter:
    """Validate one letter dict and return a :class:`Letter`; raise :class:`InvalidLetter` naming the field."""
    if not isinstance(data, dict):
        raise InvalidLetter(f"a letter must be a JSON object, got {type(data).__name__}")
    data = _without_controls(dict(data))
    raw_content = data.get("content")
    if raw_content is None:
        raise InvalidLetter("is required (the text of the letter)", field="content")
    content = _as_str(data, "content", max_len=MAX_CONTENT_CHARS)
    if not content:
        raise InvalidLetter("is empty; a letter needs some text", field="content")
    raw_id = data.get("id")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, (str, int))):
        raise InvalidLetter(f"must be a string, got {type(raw_id).__name__}", field="id")
    letter_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else None
    if letter_id is not None and len(letter_id) > FIELD_LIMITS["id"]:
        raise InvalidLetter(f"is {len(letter_id)} characters; the limit is {FIELD_LIMITS['id']}", field="id")
    if require_id and letter_id is None:
        raise InvalidLetter("is required in files (the caller's id of the letter)", field="id")
    petitioner_raw = data.get("petitioner") or {}
    if isinstance(petitioner_raw, str):
        try:
            petitioner_raw = json.loads(petitioner_raw)
        except json.JSONDecodeError:
            raise InvalidLetter("must be an object with name, id_number, phone, address, account",
                                field="petitioner") from None
    if not isinstance(petitioner_raw, dict):
        raise InvalidLetter("must be an object with name, id_number, phone, address, account", field="petitioner")
    petitioner: dict[str, str] = {}
    for key, value in petitioner_raw.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidLetter(f"must be a string, got {type(value).__name__}", field=f"petitioner.{key}")
        petitioner[key] = str(value).strip()
    letter = Letter(
        id=letter_id,
        content=content,
        title=_as_str(data, "title", max_len=MAX_TITLE_CHARS) or "",
        channel=_channel(_as_str(data, "channel")),
        received_at=parse_date(data.get("received_at")),
        petitioner=petitioner,
        region=_as_str(data, "region", max_len=FIELD_LIMITS["region"]),
        domain=_as_str(data, "domain", max_len=FIELD_LIMITS["domain"]),
        type=_as_str(data, "type", max_len=FIELD_LIMITS["type"]),
        department=_as_str(data, "department", max_len=FIELD_LIMITS["department"]),
        reply=_as_str(data, "reply", max_len=MAX_CONTENT_CHARS),
        status=_as_str(data, "status", max_len=FIELD_LIMITS["status"]),
        extra={k: v for k, v in data.items() if k not in LETTER_FIELDS},
    )
    return letter


@dataclass
class Parsed:
    """One line of an input file: a letter, or the error that line produced."""

    line: int
    letter: Letter | None = None
    error: str | None = None


def _rows_from_csv(handle: io.TextIOBase, on_header: HeaderHook = None) -> Iterator[tuple[int, dict]]:
    """The rows of a CSV table, numbered by the line they end on. The header row is the first of the first ten
    naming the letters' content (a sheet saved as CSV keeps the title row above its table), else the first."""
    reader = csv.reader(handle)
    head: list[tuple[int, list[str]]] = []
    for values in reader:
        if values:
            head.append((reader.line_num, values))
            if len(head) == 10:
                break
    if not head:
        raise InvalidInput("the CSV file has no header row")
    at = next((i for i, (_, values) in enumerate(head) if _names_content(values)), 0)
    header = head[at][1]
    if on_header:
        on_header(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        yield from head[at + 1:]
        for values in reader:
            if values:
                yield reader.line_num, values

    for line, values in rows():
        yield line, _record_of_row(dict(zip(header, values)))


# A column saying whether the writer stayed anonymous (匿名, 是否匿名) holds a flag, or, in some offices' exports,
# the name the writer chose to give (陈先生, a nickname, a full name): a person's name, read as such.
_ANONYMITY_HEADER = re.compile(r"^(?:是否)?匿名(?:标[志识]|情况|与否)?$")
_ANONYMITY_FLAGS = frozenset(("0", "1", "是", "否", "y", "n", "yes", "no", "true", "false", "t", "f", "匿名", "实名",
                              "非匿名", "不匿名"))


def _record_of_row(row: dict[str | None, Any]) -> dict[str, Any]:
    """One table row (header → cell text) as a letter record: headers read by :func:`header_field`."""
    record: dict[str, Any] = {}
    petitioner: dict[str, str] = {}
    own: set[str] = set()    # fields the file names in the contract's words: no alias overrides them
    chosen_name = None       # a name given in the anonymity column: a name column of the file's own wins over it
    for key, value in row.items():
        if key is None:
            continue
        name = key.strip()
        if (_ANONYMITY_HEADER.match(name) and isinstance(value, str) and value.strip()
                and value.strip().lower() not in _ANONYMITY_FLAGS):
            chosen_name = chosen_name or value.strip()
            continue
        key = header_field(name)
        if value is None or value == "" or (key in own and name != key):
            continue
        target, field = (petitioner, key.split(".", 1)[1]) if key.startswith("petitioner.") else (record, key)
        if name == key:
            own.add(key)
        elif field in target:
            continue   # an earlier alias of the same field already gave it
        target[field] = value
    if chosen_name and "name" not in petitioner:
        petitioner["name"] = chosen_name
    if petitioner and "petitioner" not in record:   # a petitioner column of the contract's own wins
        record["petitioner"] = petitioner
    return record


def _cell_text(value: Any) -> str | None:
    """A spreadsheet cell as the text a CSV export would hold: dates in ISO form, whole numbers without ".0"
    (a phone or ticket number typed as a number), blanks as ``None``."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    text = str(value).strip()
    return text or None


def _rows_from_sheets(name: str, sheets: Iterable[Iterable[Sequence[Any]]],
                      on_header: HeaderHook = None) -> Iterator[tuple[int, dict]]:
    """The rows of a workbook's sheet of letters (each sheet given as its rows of cell values), numbered as Excel
    numbers them.

    The sheet is the first whose header row names a letter field (``content`` or one of its aliases, such as
    诉求内容); the header row is the first of its first ten rows naming it, so that a title row above the table
    ("12345 工单导出 2024年5月") is passed over."""
    for rows in sheets:
        header: list[str | None] | None = None
        for number, values in enumerate(rows, start=1):
            cells = [_cell_text(v) for v in values]
            if header is None:
                if number > 10:
                    break
                if _names_content(cells):
                    header = cells
                    if on_header:
                        on_header(header)
                continue
            if not any(cells):
                continue
            yield number, _record_of_row(dict(zip(header, cells)))
        if header is not None:
            return
    raise InvalidInput(f"no sheet of {name} has a header row naming the letters' content "
                       f"(content, 诉求内容, 来信内容, …) in its first ten rows")


def _rows_from_xlsx(path: Path, on_header: HeaderHook = None) -> Iterator[tuple[int, dict]]:
    """The rows of an Excel workbook's (.xlsx / .xlsm) sheet of letters: see :func:`_rows_from_sheets`."""
    import zipfile

    from openpyxl import load_workbook

    handle = open(path, "rb")   # a handle, not the name: openpyxl refuses a workbook named .xls by its name
    try:
        try:
            book = load_workbook(handle, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise InvalidInput(f"{path.name} is not a readable .xlsx workbook ({exc})") from None
        try:
            yield from _rows_from_sheets(path.name, (sheet.iter_rows(values_only=True) for sheet in book.worksheets),
                                         on_header)
        finally:
            book.close()
    finally:
        handle.close()


def _rows_from_xls(path: Path, on_header: HeaderHook = None) -> Iterator[tuple[int, dict]]:
    """The rows of an Excel 97-2003 workbook's (.xls, what many 信访 and 12345 systems still export) sheet of
    letters: see :func:`_rows_from_sheets`. Date cells become dates, as in a .xlsx.

    Many systems' "export to Excel" writes something else under the name: a web page holding a table, tab- or
    comma-separated text (Excel's "Unicode text" is UTF-16), or an .xlsx. Each is read as what it is."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PK\x03\x04":
        yield from _rows_from_xlsx(path, on_header)
        return
    if magic != b"\xd0\xcf\x11\xe0":
        yield from _rows_from_sheets(path.name, _exported_text_tables(path), on_header)
        return
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, AssertionError, IndexError, KeyError) as exc:
        raise InvalidInput(f"{path.name} is not a readable .xls workbook ({exc})") from None

    def values(cell) -> Any:
        if cell.ctype == xlrd.XL_CELL_DATE:
            try:
                return xlrd.xldate.xldate_as_datetime(cell.value, book.datemode)
            except (xlrd.xldate.XLDateError, OverflowError, ValueError):
                return cell.value
        if cell.ctype == xlrd.XL_CELL_BOOLEAN:
            return bool(cell.value)
        if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
            return None
        return cell.value

    def sheets():
        for i in range(book.nsheets):
            sheet = book.sheet_by_index(i)
            yield ([values(c) for c in sheet.row(r)] for r in range(sheet.nrows))
            book.unload_sheet(i)

    try:
        yield from _rows_from_sheets(path.name, sheets(), on_header)
    finally:
        book.release_resources()


class _HtmlTables(HTMLParser):
    """The tables of a web page as lists of rows of cell texts (what a system's "Excel" export often is)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def _end_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is not None and self.tables:
            self.tables[-1].append(self._row)
        self._row = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self._end_row()
            self.tables.append([])
        elif tag == "tr":
            self._end_row()
            self._row = [] if self.tables else None
        elif tag in ("td", "th"):
            self._end_cell()
            if self._row is not None:
                self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._end_cell()
        elif tag in ("tr", "table"):
            self._end_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _exported_text_tables(path: Path) -> list[list[list[str]]]:
    """A file named .xls that is no workbook: a web page's tables, or one table of tab- (else comma-) separated
    text; UTF-16 with its byte-order mark, UTF-8 or GB 18030."""
    raw = path.read_bytes()
    utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
    try:
        text = raw.decode("utf-16" if utf16 else _text_encoding_of(raw[:_ENCODING_SAMPLE]))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is neither an Excel workbook nor UTF-8 / GB 18030 / UTF-16 text") from None
    if text.lstrip()[:1] == "<":
        parser = _HtmlTables()
        parser.feed(text)
        parser.close()
        return parser.tables
    first = text.split("\n", 1)[0]
    return [list(csv.reader(io.StringIO(text, newline=""), delimiter="\t" if "\t" in first else ","))]


FILE_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".jsonl": "jsonl"}
"""The file names :func:`read_letters` reads by their suffix; any other name is read as JSONL."""


def file_format(path: str | Path) -> str:
    """How :func:`read_letters` reads a file it is given by name: "csv" for ``.csv``, "xlsx" for an Excel
    workbook (``.xlsx`` / ``.xlsm``), "xls" for an Excel 97-2003 one, else "jsonl" (:data:`FILE_FORMATS`)."""
    return FILE_FORMATS.get(Path(path).suffix.lower(), "jsonl")


def text_encoding(p: Path) -> str:
    """UTF-8 (with or without a byte-order mark) or, for a file that is not UTF-8 but reads as GB 18030, that:
    what Excel writes as "CSV" on a Chinese Windows. Judged on the first megabyte. Workbooks given a text file's
    name are refused with what they are."""
    with open(p, "rb") as fh:
        head = fh.read(_ENCODING_SAMPLE)
    if head.startswith(b"PK\x03\x04"):
        raise InvalidInput(f"{p.name} is a zip archive (an Excel .xlsx workbook?); name it .xlsx to read it as one")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidInput(f"{p.name} is an Excel 97-2003 workbook; name it .xls to read it as one")
    return _text_encoding_of(head)


_ENCODING_SAMPLE = 1 << 20   # bytes an encoding is judged on


def _text_encoding_of(head: bytes) -> str:
    """UTF-8 (a byte-order mark or none) if ``head`` reads as it, else GB 18030 if it reads as that, else UTF-8."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    return "utf-8-sig"


def read_letters(path: str | Path | None = None, *, stream: io.TextIOBase | None = None,
                 fmt: str | None = None, require_id: bool = True, on_header: HeaderHook = None) -> Iterator[Parsed]:
    """Read letters from a JSONL, CSV or Excel (.xlsx, .xls) file (or a JSONL / CSV text stream) and yield one
    :class:`Parsed` per record.

    A text file is UTF-8 or, if it is not, GB 18030 (a Chinese Excel's CSV). Bad lines are yielded with their
    error and line number, never silently dropped. Raises :class:`InvalidInput` only when the input as a whole is
    unusable (missing file, not text, a workbook without a sheet of letters). ``on_header(cells)`` is told the
    header row a table is read under (CSV and workbooks; :func:`column_fields` says what each column was read as).
    """
    if stream is None:
        if path is None:
            raise InvalidInput("no input file given")
        p = Path(path)
        if not p.exists():
            raise InvalidInput(f"file not found: {p}")
        if p.is_dir():
            raise InvalidInput(f"{p} is a directory, expected a JSONL, CSV or Excel file")
        fmt = fmt or file_format(p)
        if fmt in ("xlsx", "xls"):
            rows = _rows_from_xlsx(p, on_header) if fmt == "xlsx" else _rows_from_xls(p, on_header)
            yield from _parse_rows(rows, require_id, row_word="row")
            return
        try:
            stream = open(p, encoding=text_encoding(p), newline="" if fmt == "csv" else None)
        except OSError as exc:
            raise InvalidInput(f"cannot open {p}: {exc.strerror}") from None
    fmt = fmt or "jsonl"
    try:
        if fmt == "csv":
            yield from _parse_rows(_rows_from_csv(stream, on_header), require_id)
        else:
            yield from _parse_rows(_rows_from_jsonl(stream), require_id)
    except UnicodeDecodeError:
        raise InvalidInput("the input is not UTF-8 (nor GB 18030) text") from None
    finally:
        if path is not None:
            stream.close()


class _BadLine(Exception):
    pass


def _rows_from_jsonl(handle: Iterable[str]) -> Iterator[tuple[int, Any]]:
    for number, raw in enumerate(handle, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, _BadLine(f"broken JSON ({exc.msg} at column {exc.colno})")


def _parse_rows(rows: Iterable[tuple[int, Any]], require_id: bool, row_word: str = "line") -> Iterator[Parsed]:
    """Records → :class:`Parsed`; errors name their place as "line N" (a text file) or "row N" (a sheet)."""
    for number, record in rows:
        if isinstance(record, _BadLine):
            yield Parsed(line=number, error=f"{row_word} {number}: {record}")
            continue
        try:
            yield Parsed(line=number, letter=parse_letter(record, require_id=require_id))
        except InvalidLetter as exc:
            if row_word == "line":
                exc.line = number
                yield Parsed(line=number, error=str(exc))
            else:
                yield Parsed(line=number, error=f"{row_word} {number}: {exc}")
