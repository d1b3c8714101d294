"""Identity fields are for matching only: keyed hashes to compare, masked forms to show."""

from __future__ import annotations

import os

from .normalise import identity_hash, mask_identity

IDENTITY_KINDS = ("account", "id_number", "phone", "name")


def identity_key() -> bytes:
    """The HMAC key for identity hashes: ``TRIAGE_IDENTITY_KEY`` (the service refuses a default in production)."""
    return os.environ.get("TRIAGE_IDENTITY_KEY", "triage-development-identity-key").encode("utf-8")


def hashed_identities(petitioner: dict[str, str] | None) -> list[tuple[str, str]]:
    """(kind, keyed hash) for each identity field present."""
    key = identity_key()
    return [(kind, identity_hash(kind, (petitioner or {})[kind], key))
            for kind in IDENTITY_KINDS if (petitioner or {}).get(kind)]


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
