"""The static embedder: same interface as the other embedders, save→load round trip, and a tiny distillation.

Fast and offline: a small randomly initialised model (no trained artefact needed) and a toy teacher.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from triage.static_embed import StaticConfig, StaticEmbedder

LETTERS = ["A2区景蓉华苑物业乱收停车费，希望有关部门尽快处理。", "火炬路夜间施工噪音扰民，严重影响居民休息",
           "咨询公积金贷款额度", "", "我", "投诉某公司拖欠农民工工资三个月"]


@pytest.fixture()
def model() -> StaticEmbedder:
    m = StaticEmbedder(StaticConfig(dim=16, buckets=1 << 10, max_chars=64))
    m.init_weights(seed=3)
    return m


def test_shape_follows_input(model):
    one = model.encode(LETTERS[0])
    many = model.encode(LETTERS)
    assert one.shape == (16,) and one.dtype == np.float32
    assert many.shape == (len(LETTERS), 16) and many.dtype == np.float32
    assert model.encode([]).shape == (0, 16)
    np.testing.assert_allclose(one, many[0], rtol=1e-6, atol=1e-6)


def test_unit_norm_and_empty_text(model):
    v = model.encode(LETTERS)
    norms = np.linalg.norm(v, axis=1)
    nonempty = [i for i, t in enumerate(LETTERS) if t]
    np.testing.assert_allclose(norms[nonempty], 1.0, rtol=1e-5)
    assert np.all(v[LETTERS.index("")] == 0)  # no text, no direction (never NaN)


def test_deterministic_and_batch_independent(model):
    a = model.encode(LETTERS)
    b = model.encode(list(reversed(LETTERS)))[::-1]
    np.testing.assert_array_equal(a, model.encode(LETTERS))
    np.testing.assert_allclose(a, b, atol=1e-6)  # a text's vector does not depend on its neighbours in the batch
    small = StaticEmbedder(StaticConfig(dim=16, buckets=1 << 10, max_chars=64, batch_size=2))
    small.table = model.table
    np.testing.assert_allclose(small.encode(LETTERS), a, atol=1e-6)


def test_kind_is_accepted_and_ignored(model):
    np.testing.assert_array_equal(model.encode(LETTERS[0], kind="query"), model.encode(LETTERS[0], kind="passage"))


def test_reads_only_max_chars(model):
    text = LETTERS[1] * 20
    np.testing.assert_array_equal(model.encode(text), model.encode(text[:64]))


def test_save_load_round_trip(model, tmp_path):
    model.teacher = {"name": "toy", "mean": np.zeros(8, np.float32), "pca": np.eye(8, 16, dtype=np.float32)}
    manifest = model.save(tmp_path / "static", metrics={"holdout_cosine_to_teacher": 0.5})
    loaded = StaticEmbedder.load(tmp_path / "static")
    # the table is stored as float16: vectors agree to float16 precision, and exactly between two loads
    np.testing.assert_allclose(loaded.encode(LETTERS), model.encode(LETTERS), atol=2e-3)
    again = StaticEmbedder.load(tmp_path / "static")
    np.testing.assert_array_equal(again.encode(LETTERS), loaded.encode(LETTERS))
    assert loaded.name == manifest["name"] == model.name and loaded.name.startswith("static-")
    assert loaded.dim == 16 and loaded.config == model.config
    on_disk = json.loads((tmp_path / "static" / "manifest.json").read_text())
    assert on_disk["kind"] == "static-embedder" and "libraries" in on_disk
    assert on_disk["metrics"]["holdout_cosine_to_teacher"] == 0.5
    assert (tmp_path / "static" / "weights.safetensors").exists()


def test_load_refuses_other_artefacts(tmp_path):
    from triage.artefact import write_manifest
    from triage.errors import ModelMissing

    write_manifest(tmp_path, "pair-model")
    with pytest.raises(ModelMissing):
        StaticEmbedder.load(tmp_path)


def test_config_is_validated():
    with pytest.raises(ValueError, match="power of two"):
        StaticConfig(buckets=1000)
    with pytest.raises(ValueError, match="ngrams"):
        StaticConfig(ngrams=(0, 2))


def test_untrained_model_says_what_to_do():
    with pytest.raises(RuntimeError, match="distill"):
        StaticEmbedder(StaticConfig(dim=16, buckets=1 << 10)).encode("x")


def test_ngrams_do_not_cross_letters(model):
    ids_ab, off_ab = model.bags(["物业收费", "噪音扰民"])
    ids_a, _ = model.bags(["物业收费"])
    ids_b, _ = model.bags(["噪音扰民"])
    np.testing.assert_array_equal(np.sort(ids_ab[: off_ab[1]]), np.sort(ids_a))
    np.testing.assert_array_equal(np.sort(ids_ab[off_ab[1]:]), np.sort(ids_b))


def test_distillation_moves_towards_the_teacher():
    """A toy teacher (two topics): after a few epochs the student separates them like the teacher does."""
    from training.distill import DistillConfig, train_static

    rng = np.random.default_rng(0)
    topic = {"物业": rng.standard_normal(24), "噪音": rng.standard_normal(24)}
    texts, teacher = [], []
    for i in range(80):
        key = "物业" if i % 2 else "噪音"
        texts.append(f"{key}问题{'收费停车' if key == '物业' else '施工扰民'}第{i}号")
        v = topic[key] + 0.3 * rng.standard_normal(24)
        teacher.append(v / np.linalg.norm(v))
    cfg = StaticConfig(dim=8, buckets=1 << 12, max_chars=32)
    model, history = train_static(texts, np.array(teacher, np.float32), cfg,
                                  DistillConfig(epochs=4, batch_size=16, lr=0.02, threads=1),
                                  holdout=(texts[:10], np.array(teacher[:10], np.float32)), log=lambda _: None)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    v = model.encode(["物业问题收费停车", "噪音问题施工扰民", "物业问题收费停车第999号"])
    assert v[0] @ v[2] > v[0] @ v[1]


def test_get_embedder_builds_a_saved_static_model_by_name(model, tmp_path):
    from triage.embed import get_embedder
    from triage.errors import ModelMissing

    model.save(tmp_path / "static", metrics={})
    emb = get_embedder(f"static:{tmp_path / 'static'}")
    text = "小区门口垃圾堆放多日无人清理"
    saved = StaticEmbedder.load(tmp_path / "static")   # saving folds the training state into the table: compare to a load
    assert emb.name == saved.name and emb.dim == 16
    np.testing.assert_allclose(emb.encode([text]), saved.encode([text]), atol=1e-6)
    with pytest.raises(ModelMissing, match="no static embedder"):
        get_embedder(f"static:{tmp_path / 'missing'}")
