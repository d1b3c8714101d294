"""Every trained artefact is a folder with a ``manifest.json``.

The manifest records what was trained (kind, labels), on what (data hash), with what (library
versions), when, and how well it did on held-out data (metrics). ``load`` warns when the libraries
now installed differ from those that wrote the artefact.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TRACKED_LIBRARIES = ("triage", "scikit-learn", "numpy", "scipy", "jieba", "faiss-cpu", "sentence-transformers",
                     "torch", "transformers")
MANIFEST = "manifest.json"


def library_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def write_manifest(folder: Path, kind: str, **fields: Any) -> dict:
    """Write ``folder/manifest.json``: kind, created, library versions, plus the given fields."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"kind": kind, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "libraries": library_versions(), **fields}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    tmp.replace(folder / MANIFEST)
    return manifest


def read_manifest(folder: Path, kind: str | None = None) -> dict:
    """Read and check a manifest; warn if the installed libraries differ from the ones that wrote it."""
    from .errors import ModelMissing

    path = Path(folder) / MANIFEST
    if not path.exists():
        raise ModelMissing(f"no trained artefact at {folder} (missing {MANIFEST}); run `triage train`")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if kind is not None and manifest.get("kind") != kind:
        raise ModelMissing(f"{folder} holds a '{manifest.get('kind')}' artefact, expected '{kind}'")
    now = library_versions()
    changed = {k: (v, now.get(k)) for k, v in manifest.get("libraries", {}).items()
               if k != "triage" and now.get(k) and now.get(k) != v}
    if changed:
        warnings.warn(f"{folder}: trained with different library versions {changed}; retrain if results look off",
                      stacklevel=2)
    return manifest
