"""A deployment's department directory: who handles what, where.

Each deployment brings its own directory in a profile folder (``corpora/profiles/<name>/directory.csv``
or ``directory.yaml``; the format is documented in ``corpora/profiles/README.md``). A unit has

* ``name`` — what suggestions call it (unique);
* ``level`` — 省 / 市 / 区 / 县 / 旗 / 街道 / 镇 / 乡 / 村 / 社区: the level of government it belongs to;
* ``places`` — the places it covers (属地), e.g. a district centre covers its district and streets;
* ``domains`` / ``types`` / ``keywords`` — its duties (谁主管、谁负责): matters of these domains, these
  petition types, or mentioning these words go to it;
* ``aliases`` — other names the unit goes by in history records (市住建局 for A市住房和城乡建设局);
* ``parent`` — the unit it belongs to (a street office's district), optional.

The directory is validated when loaded; every error names the file, the row and the field.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import ConfigError
from .places import Gazetteer, place_of_name

__all__ = ["Unit", "Directory", "UNIT_LEVELS", "PETITION_TYPES", "DirectoryError", "DutyMatch"]

UNIT_LEVELS = ("省", "市", "区", "县", "旗", "街道", "镇", "乡", "村", "社区")
PETITION_TYPES = ("咨询", "求助", "建议", "投诉", "举报", "意见建议", "检举控告", "申诉求决")
COLUMNS = ("name", "level", "places", "domains", "types", "keywords", "aliases", "parent")
REQUIRED = ("name", "level")
_LIST_FIELDS = ("places", "domains", "types", "keywords", "aliases")
FILE_NAMES = ("directory.csv", "directory.yaml", "directory.yml")


class DirectoryError(ConfigError):
    """The directory file cannot be used; the message names the file, row and field."""

    code = "invalid_directory"


@dataclass(frozen=True)
class Unit:
    """One handling unit of a deployment's directory."""

    name: str
    level: str
    places: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in _LIST_FIELDS:
            out[key] = list(out[key])
        return out


@dataclass(frozen=True)
class DutyMatch:
    """Why a unit's duties fit a letter: the keywords found, and whether domain/type are among its duties."""

    keywords: tuple[str, ...] = ()
    domain: str | None = None
    type: str | None = None

    @property
    def empty(self) -> bool:
        return not self.keywords and self.domain is None and self.type is None


@dataclass
class Directory:
    """The units of one deployment, with look-ups by name, alias and place."""

    units: list[Unit]
    name: str = ""
    source: str = ""
    lines: list[int] | None = None   # where each unit was defined (CSV line / YAML item), for error messages
    _by_name: dict[str, Unit] = field(default_factory=dict, init=False, repr=False)
    _alias: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _covering: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._validate()

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> "Directory":
        """Load ``directory.csv`` / ``directory.yaml`` from a profile folder, or a given file."""
        p = Path(path)
        if p.is_dir():
            found = [p / n for n in FILE_NAMES if (p / n).exists()]
            if not found:
                raise DirectoryError(f"no directory file in {p}: expected one of {', '.join(FILE_NAMES)}")
            if len(found) > 1:
                raise DirectoryError(f"{p} holds both {found[0].name} and {found[1].name}; keep one")
            p = found[0]
        if not p.exists():
            raise DirectoryError(f"directory file not found: {p}")
        name = p.parent.name if p.name in FILE_NAMES else p.stem
        text = p.read_text(encoding="utf-8-sig")
        if p.suffix.lower() == ".csv":
            records = _records_from_csv(text, str(p))
        elif p.suffix.lower() in (".yaml", ".yml"):
            records = _records_from_yaml(text, str(p))
        elif p.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DirectoryError(f"{p}: broken JSON ({exc.msg}, line {exc.lineno})") from None
            records = [(i + 1, r) for i, r in enumerate(data.get("units", data) if isinstance(data, dict) else data)]
        else:
            raise DirectoryError(f"{p}: unknown directory format '{p.suffix}' (use .csv or .yaml)")
        return cls.from_records(records, name=name, source=str(p))

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any] | tuple[int, dict[str, Any]]], *, name: str = "",
                     source: str = "<records>") -> "Directory":
        """Units from plain dicts (lists or ``|``-separated strings); ``(row, dict)`` pairs keep row numbers."""
        units, lines = [], []
        for i, item in enumerate(records, start=1):
            row, rec = item if isinstance(item, tuple) else (i, item)
            units.append(_unit_from_record(rec, row, source))
            lines.append(row)
        return cls(units=units, name=name, source=source, lines=lines)

    def to_records(self) -> list[dict[str, Any]]:
        return [u.to_dict() for u in self.units]

    # -- validation ------------------------------------------------------------------------------

    def _validate(self) -> None:
        src = self.source or "<directory>"
        if not self.units:
            raise DirectoryError(f"{src}: the directory has no units")
        lines = self.lines or list(range(1, len(self.units) + 1))
        rows: dict[str, int] = {}
        for row, unit in zip(lines, self.units):
            if unit.name in rows:
                raise DirectoryError(f"{src}: unit '{unit.name}' appears twice (rows {rows[unit.name]} and {row}); "
                                     "names must be unique — merge the rows or rename one", field="name", line=row)
            rows[unit.name] = row
            self._by_name[unit.name] = unit
        for row, unit in zip(lines, self.units):
            if unit.parent and unit.parent not in self._by_name:
                raise DirectoryError(f"{src}: parent '{unit.parent}' of '{unit.name}' is not a unit of this directory",
                                     field="parent", line=row)
            for alias in unit.aliases:
                if alias in self._by_name and alias != unit.name:
                    raise DirectoryError(f"{src}: alias '{alias}' of '{unit.name}' is the name of another unit",
                                         field="aliases", line=row)
                other = self._alias.get(alias)
                if other is not None and other != unit.name:
                    raise DirectoryError(f"{src}: alias '{alias}' is given to both '{other}' and '{unit.name}'",
                                         field="aliases", line=row)
                self._alias[alias] = unit.name
            for place in unit.places:
                canon = place_of_name(place)[0]
                for key in {place, canon}:
                    self._covering.setdefault(key, [])
                    if unit.name not in self._covering[key]:
                        self._covering[key].append(unit.name)

    # -- look-ups --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.units)

    def __iter__(self):
        return iter(self.units)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Unit | None:
        return self._by_name.get(self.canonical(name) or "")

    def canonical(self, name: str | None) -> str | None:
        """The unit name for a name or alias (exact, then ignoring spaces); None if unknown."""
        if not name:
            return None
        name = name.strip()
        if name in self._by_name:
            return name
        if name in self._alias:
            return self._alias[name]
        squashed = "".join(name.split())
        if squashed in self._by_name:
            return squashed
        return self._alias.get(squashed)

    def covering(self, place: str) -> list[Unit]:
        """Units whose ``places`` include ``place`` (or its normalised form, 街道办事处 → 街道)."""
        names = self._covering.get(place) or self._covering.get(place_of_name(place)[0]) or []
        return [self._by_name[n] for n in names]

    def gazetteer(self) -> Gazetteer:
        """Every place the directory names, with its level, as a :class:`~triage.places.Gazetteer`."""
        gaz = Gazetteer()
        for unit in self.units:
            for place in unit.places:
                canon, level = place_of_name(place)
                gaz.add(canon, level)
                if canon != place:
                    gaz.add_alias(place, canon)
        return gaz

    def duties(self, text: str, *, domain: str | None = None, type: str | None = None) -> dict[str, DutyMatch]:
        """Units whose duties fit: keywords found in ``text``, the letter's domain or type among theirs."""
        out: dict[str, DutyMatch] = {}
        for unit in self.units:
            kws = tuple(k for k in unit.keywords if k and k in text)
            dom = domain if domain and domain in unit.domains else None
            typ = type if type and type in unit.types else None
            match = DutyMatch(kws, dom, typ)
            if not match.empty:
                out[unit.name] = match
        return out


# ------------------------------------------------------------------------------------------------

def _split(value: Any, field_name: str, row: int, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split("|")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise DirectoryError(f"{source}: must be a list or a '|'-separated string, got {type(value).__name__}",
                             field=field_name, line=row)
    out = []
    for item in items:
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise DirectoryError(f"{source}: entries must be strings, got {type(item).__name__}",
                                 field=field_name, line=row)
        item = str(item).strip()
        if item and item not in out:
            out.append(item)
    if isinstance(value, str) and value.strip() and any(not s.strip() for s in value.split("|")):
        raise DirectoryError(f"{source}: '{value}' has an empty entry between '|' separators",
                             field=field_name, line=row)
    return tuple(out)


def _unit_from_record(rec: Any, row: int, source: str) -> Unit:
    if not isinstance(rec, dict):
        raise DirectoryError(f"{source}: a unit must be a mapping of fields, got {type(rec).__name__}", line=row)
    unknown = set(rec) - set(COLUMNS)
    if unknown:
        raise DirectoryError(f"{source}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                             f"the fields are {', '.join(COLUMNS)}", line=row)
    for req in REQUIRED:
        value = rec.get(req)
        if value is None or not str(value).strip():
            raise DirectoryError(f"{source}: '{req}' is required", field=req, line=row)
    name = str(rec["name"]).strip()
    level = str(rec["level"]).strip()
    if level not in UNIT_LEVELS:
        raise DirectoryError(f"{source}: level '{level}' of '{name}' is not one of {' '.join(UNIT_LEVELS)} "
                             "(a municipal bureau has level 市)", field="level", line=row)
    lists = {f: _split(rec.get(f), f, row, source) for f in _LIST_FIELDS}
    bad_types = [t for t in lists["types"] if t not in PETITION_TYPES]
    if bad_types:
        raise DirectoryError(f"{source}: type(s) {', '.join(bad_types)} of '{name}' unknown; "
                             f"use {' '.join(PETITION_TYPES)}", field="types", line=row)
    short = [k for k in lists["keywords"] if len(k) < 2]
    if short:
        raise DirectoryError(f"{source}: keyword(s) {', '.join(short)} of '{name}' are one character; "
                             "use words of two characters or more", field="keywords", line=row)
    parent = rec.get("parent")
    parent = str(parent).strip() if parent is not None and str(parent).strip() else None
    if parent == name:
        raise DirectoryError(f"{source}: '{name}' is its own parent", field="parent", line=row)
    return Unit(name=name, level=level, parent=parent, **lists)


def _records_from_csv(text: str, source: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise DirectoryError(f"{source}: empty file; the header row must name the columns {', '.join(COLUMNS)}")
    header = [h.strip() for h in reader.fieldnames]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DirectoryError(f"{source}: the header lacks column(s) {', '.join(missing)} "
                             f"(found {', '.join(header)}; expected {', '.join(COLUMNS)})", line=1)
    out = []
    for rec in reader:
        if None in rec:
            raise DirectoryError(f"{source}: more values than columns (is a '|' list written with commas?)",
                                 line=reader.line_num)
        clean = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in rec.items()}
        if not any(clean.values()):
            continue
        out.append((reader.line_num, {k: v for k, v in clean.items() if v not in (None, "")}))
    return out


def _records_from_yaml(text: str, source: str) -> list[tuple[int, dict]]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency, this is a hint for broken installs
        raise DirectoryError(f"{source}: reading YAML needs PyYAML (pip install pyyaml), "
                             "or use directory.csv") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DirectoryError(f"{source}: broken YAML ({exc})") from None
    units = data.get("units") if isinstance(data, dict) else data
    if not isinstance(units, list):
        raise DirectoryError(f"{source}: expected a list of units under 'units:'")
    return [(i + 1, u) for i, u in enumerate(units)]
