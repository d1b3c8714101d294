"""Step 1: normalise text, and mask personal identifiers in anything that is logged or shown.

``normalise`` is what every later step reads: NFKC (full-width → half-width), unified punctuation
and whitespace, and common boilerplate removed (来电反映 / 市民反映 / 尊敬的领导 …), so that two copies
of a letter taken down by different clerks hash alike.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata

import numpy as np

# Openings and closings that carry no matter: intake formulae of 12345 clerks and letter courtesies.
_BOILERPLATE = [
    r"^(?:[\s,，:：]*(?:来电人|来电|市民|群众|网友|信访人|来信人|来访人|诉求人|反映人)(?:来电)?(?:反映|反应|称|诉求|表示|咨询|投诉|举报|询问)[:：,，]?)+",
    r"^(?:尊敬的|敬爱的)?(?:各位|相关|有关)?(?:领导|书记|市长|县长|区长|局长|主任|同志|工作人员)(?:们)?(?:您好|你们好|你好)?[!！:：,，.。]*",
    r"^(?:您好|你好|你们好)[!！:：,，.。]*",
    r"(?:此致\s*敬礼|谢谢(?:领导|您|你们)?[!！.。]*|望(?:领导)?(?:给予)?(?:回复|答复|解决)[!！.。]*|盼复[!！.。]*)\s*$",
]
_BOILERPLATE_RE = [re.compile(p) for p in _BOILERPLATE]

ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")


def normalise(text: str) -> str:
    """Canonical form of a letter's text for hashing, shingling, segmenting and embedding."""
    if not text:
        return ""
    text = _nfkc(text)
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    # ``_WS_RE.sub(" ", text).strip()`` in one C pass: str.split() and the regex's \s are both Py_UNICODE_ISSPACE
    # (tested on every code point), and _nfkc already made every ideographic space a plain one
    text = " ".join(text.split())
    # until nothing more comes off (stacked openings: 您好您好…), so normalise(normalise(x)) == normalise(x)
    while True:
        before = text
        for pattern in _BOILERPLATE_RE:
            text = pattern.sub("", text).strip()
        if text == before:
            return text


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster for Chinese letters: the full-width ASCII forms (U+FF01–FF5E),
    the ideographic space, the no-break space and the ellipsis … are first replaced by what NFKC makes of them
    (their compatibility decompositions, so the normal form is unchanged); what is then already normal (the usual
    case) is not normalised again. Before the last two were mapped, one letter in six went through the full
    normalisation (~60 µs) for them alone. A text with none of these characters (found by one regex scan) goes
    straight to the check; in one with some, each distinct one is replaced (before: numpy over its code points)."""
    for ch in set(_WIDE_RE.findall(text)):   # a handful of distinct ones a letter (，：（）！？): replace each
        text = text.replace(ch, _WIDE_MAP[ch])
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


# what _nfkc maps before its check: each full-width ASCII form to its ASCII letter, the ideographic and the no-break
# space to a space, the ellipsis to three dots (all NFKC's own compatibility mappings)
_WIDE_MAP = {**{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}, "\u3000": " ", "\xa0": " ", "\u2026": "..."}
_WIDE_RE = re.compile("[\uff01-\uff5e\u3000\xa0\u2026]")


@functools.cache
def _drop_mask() -> np.ndarray:
    """One bool per code point: whitespace or punctuation, what compact() removes (built on first use)."""
    mask = np.zeros(0x110000, dtype=bool)
    category = unicodedata.category
    mask[[i for i in range(0x110000) if category(chr(i))[0] == "P" or chr(i).isspace()]] = True
    return mask


def compact_codes(text: str, *, normalised: bool = False) -> np.ndarray:
    """The code points (uint32 array) of :func:`compact`'s result: shingles are hashed from these directly."""
    if not normalised:
        text = normalise(text)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return codes[~_drop_mask()[codes]]


def compact(text: str, *, normalised: bool = False) -> str:
    """Normalised text with all whitespace and punctuation removed (for hashing and shingles); ``normalised``:
    the text already went through :func:`normalise` (which is idempotent), so it is not normalised again."""
    return compact_codes(text, normalised=normalised).tobytes().decode("utf-32-le")


def content_hash(text: str) -> str:
    """Exact-duplicate key: sha1 of the compact normalised text."""
    return compact_hash(compact(text))


def compact_hash(compacted: str) -> str:
    """:func:`content_hash` of a text already passed through :func:`compact`."""
    return hashlib.sha1(compacted.encode("utf-8")).hexdigest()


def mask_pii(text: str) -> str:
    """Replace ID numbers and phones by masked forms; safe to log or show."""
    if not text:
        return text
    text = ID_NUMBER_RE.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 5) + m.group(0)[-2:], text)
    return PHONE_RE.sub(lambda m: m.group(0)[:3] + "****" + m.group(0)[-4:], text)


def _phone_digits(value: str) -> str:
    """A phone's digits; a number cell a CSV export wrote as 13800138000.0 loses its ".0" first."""
    return re.sub(r"\D", "", re.sub(r"\.0+$", "", value))


def mask_identity(kind: str, value: str | None) -> str | None:
    """Display form of one identity field: ``name`` → 张*, ``phone`` → 138****5678, ``id_number`` → 110***********1234."""
    if not value:
        return None
    value = value.strip()
    if kind == "name":
        return value[0] + "*" * max(1, len(value) - 1)
    if kind == "phone":
        digits = _phone_digits(value)
        return (digits[:3] + "****" + digits[-4:]) if len(digits) >= 7 else "****"
    if kind == "id_number":
        return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "****"
    if kind == "account":
        return value[:2] + "***" + value[-2:] if len(value) > 4 else "***"
    return "***"


def canonical_identity(kind: str, value: str) -> str:
    """The form two spellings of the same identity share (digits only for phones, upper-case X for IDs)."""
    value = unicodedata.normalize("NFKC", value).strip()
    if kind == "phone":
        digits = _phone_digits(value)
        return digits[-11:] if len(digits) >= 11 else digits
    if kind == "id_number":
        return value.upper().replace(" ", "")
    if kind == "name":
        return re.sub(r"\s+", "", value)
    return value.lower()


def identity_hash(kind: str, value: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA256) of an identity field: stored for matching, never reversible without the key."""
    canon = canonical_identity(kind, value)
    return hmac.new(key, f"{kind}:{canon}".encode("utf-8"), hashlib.sha256).hexdigest()
