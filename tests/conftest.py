"""Shared fixtures. Unit tests use the deterministic hashing embedder and small models trained once per
session; integration tests use the real rebuilt e5 and the default models (``make test`` builds both)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_DIR / "tests" / "fixtures"
REQUIRE = os.environ.get("TRIAGE_REQUIRE_MODELS") == "1"  # set by `make test`: missing artefacts fail, not skip


def _missing(reason: str):
    if REQUIRE:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    from training.datasets import datasets_dir

    path = datasets_dir()
    if not (path / "teddy2020").exists():
        _missing(f"the shared datasets are not at {path} (set TRIAGE_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def small_models(tmp_path_factory, shared_datasets) -> Path:
    """Small models on the hashing embedder (fast, deterministic; for plumbing tests, not for quality)."""
    from training.train import train

    out = tmp_path_factory.mktemp("models") / "small"
    train(out_dir=out, embedder="hashing-256", small=True)
    return out


@pytest.fixture(scope="session")
def small_triage(small_models):
    from triage.pipeline import Triage, TriageConfig

    return Triage(TriageConfig(models_dir=small_models)).load()


@pytest.fixture(scope="session")
def real_models() -> Path:
    from triage.pipeline import default_models_dir

    folder = default_models_dir()
    if not (folder / "manifest.json").exists():
        _missing(f"no trained models at {folder}; run `make models`")
    return folder


@pytest.fixture(scope="session")
def real_triage(real_models):
    from triage.pipeline import Triage, TriageConfig

    # vectors computed at training time are reused (same embedder, same texts)
    return Triage(TriageConfig(models_dir=real_models, vector_cache=PROJECT_DIR / ".cache" / "vectors")).load()


@pytest.fixture
def fixture_letters():
    from triage.records import read_letters

    return [p.letter for p in read_letters(FIXTURES / "letters.jsonl")]
