"""Identity fields are for matching only: keyed hashes to compare, masked forms to show."""

from __future__ import annotations

import os
import re

from .normalise import canonical_identity, identity_hash, mask_identity, mask_pii

IDENTITY_KINDS = ("account", "id_number", "phone", "name")


def identity_key() -> bytes:
    """The HMAC key for identity hashes: ``TRIAGE_IDENTITY_KEY`` (the service refuses a default in production)."""
    return os.environ.get("TRIAGE_IDENTITY_KEY", "triage-development-identity-key").encode("utf-8")


# what exports write where a petitioner gave nothing: no identity, and never one all such letters share
PLACEHOLDERS = frozenset({"无", "没有", "匿名", "匿名用户", "不详", "未知", "保密", "不便透露", "暂无", "空", "其他", "游客",
                          "先生", "女士", "小姐", "市民", "群众", "网友", "居民", "来电人", "-", "--", "—", "/", "\\",
                          "0", "1", "null", "none", "n/a", "na", "anonymous", "unknown"})


def usable_identity(kind: str, value: str | None) -> bool:
    """Whether an identity field can tell one person from another: a phone of at least 7 digits, an ID number of at
    least 6 letters or digits, a name or account that is no placeholder (无, 匿名, 不详, 先生 …)."""
    if not value or not str(value).strip():
        return False
    canon = canonical_identity(kind, str(value))
    if canon.lower() in PLACEHOLDERS or str(value).strip().lower() in PLACEHOLDERS:
        return False
    if kind == "phone":
        return len(canon) >= 7
    if kind == "id_number":
        return len(canon) >= 6 and canon.isalnum()
    return True


def hashed_identities(petitioner: dict[str, str] | None) -> list[tuple[str, str]]:
    """(kind, keyed hash) for each identity field present that can tell people apart (:func:`usable_identity`):
    two letters whose phone reads 无 are not one person's."""
    key = identity_key()
    return [(kind, identity_hash(kind, (petitioner or {})[kind], key))
            for kind in IDENTITY_KINDS if usable_identity(kind, (petitioner or {}).get(kind))]


def identity_keys(petitioner: dict[str, str] | None, kinds: tuple[str, ...] = ("account", "id_number", "phone")) -> set[str]:
    """``kind:hash`` strings used to decide "same petitioner" (names alone are too common to count)."""
    return {f"{k}:{h}" for k, h in hashed_identities(petitioner) if k in kinds}


def masked_petitioner(petitioner: dict[str, str] | None) -> dict[str, str] | None:
    if not petitioner:
        return None
    out = {k: mask_identity(k, v) for k, v in petitioner.items() if k in IDENTITY_KINDS and v}
    if petitioner.get("address"):
        out["address"] = petitioner["address"][:6] + "…"
    return out or None


def mask_own_name(text: str | None, petitioner_masked: dict | None, identities) -> str | None:
    """``text`` with its writer's own name masked wherever it is written, introduced or not ("张伟反映…",
    "张伟同志：您好" in a reply): the name is known from the letter's fields only as a keyed hash
    (``identities``: "name:<hash>" keys) and a masked form (张**: its first character and length), so each span
    of that first character and length is hashed and masked where the hash is the name's. Names a text merely
    introduces (我叫…) are :func:`~triage.normalise.mask_pii`'s."""
    masked_name = (petitioner_masked or {}).get("name") or ""
    hashes = {key[5:] for key in identities or () if key.startswith("name:")}
    if not text or not hashes or len(masked_name) < 2 or masked_name[0] == "*":
        return text
    key = identity_key()
    pattern = re.compile(rf"(?=({re.escape(masked_name[0])}[\u4e00-\u9fff]{{{len(masked_name) - 1}}}))")
    names = {m.group(1) for m in pattern.finditer(text)}
    for name in sorted(n for n in names if identity_hash("name", n, key) in hashes):
        text = text.replace(name, mask_identity("name", name))
    return text


def mask_shown(text: str | None, petitioner_masked: dict | None, identities) -> str | None:
    """A stored case's text as anyone is shown it: its writer's own name (:func:`mask_own_name`), then the names
    it introduces, ID numbers and phones (:func:`~triage.normalise.mask_pii`)."""
    return mask_pii(mask_own_name(text, petitioner_masked, identities))
