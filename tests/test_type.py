"""Petition type: cue features, the weak-label prior block, title-stated weak labels, persistence."""

import numpy as np
import pytest

from training.train_type import type_from_title
from triage.classify import ClassifierConfig, TextClassifier
from triage.type_cues import CueFeatures, cue_features


def _column(cues: CueFeatures, label: str, pattern: str, where: str) -> int:
    return cues.names.index(f"{label}:{pattern}@{where}")


def test_cue_features_read_title_and_body_separately():
    cues = CueFeatures("petition-type")
    X = cues.transform([("请问泮洋河何时完工？", "施工很慢。"), ("", "举报某厂偷排污水，违法排放，偷排严重"),
                        ("建议河边多做绿化", "希望政府考虑")])
    assert X.shape == (3, len(cues.names))
    assert X[0, _column(cues, "咨询", "请问", "title")] == 1.0
    assert X[0, _column(cues, "咨询", "请问", "body")] == 0.0
    assert X[0, _column(cues, "咨询", "何时", "title")] == 1.0
    assert X[1, _column(cues, "举报", "偷排", "body")] == pytest.approx(np.log1p(2))
    assert X[1, _column(cues, "举报", "违法", "body")] == pytest.approx(np.log1p(1))
    assert X[1, _column(cues, "咨询", "请问", "title")] == 0.0
    assert X[2, _column(cues, "建议", "建议", "title")] == 1.0 and X[2, _column(cues, "建议", "希望", "body")] > 0
    assert X[2, [i for i, n in enumerate(cues.names) if n.startswith("举报:")]].sum() == 0.0
    with pytest.raises(ValueError, match="unknown cue set"):
        CueFeatures("petition-tpye")
    assert cue_features("petition-type") is cue_features("petition-type")   # built once per process
    with pytest.raises(ValueError, match="unknown cue set"):
        cue_features("petition-tpye")


def test_type_from_title():
    assert type_from_title("关于咨询公积金提取的问题") == "咨询"
    assert type_from_title("实名举报某小区违建") == "举报"
    assert type_from_title("对老旧小区改造的建议") == "建议"
    assert type_from_title("投诉噪音扰民") == "投诉"
    assert type_from_title("梅峰河很脏，异味重") is None
    # a title that ends by naming its kind, or opens with it after 再次/实名/强烈
    assert type_from_title("关于K市驾照问题的咨询") == "咨询"
    assert type_from_title("再次举报A2区某饭店油烟扰民") == "举报"
    assert type_from_title("关于A6区某路沿线架设高压电线杆的投诉") == "投诉"
    assert type_from_title("强烈建议将地铁7号线南延至生态动物园") == "建议"
    assert type_from_title("M7市七旬老人关于孙子读书问题的求助信") == "求助"
    assert type_from_title("关于A市地铁广播的投诉及建议") is None   # names two kinds
    assert type_from_title("A市庆和里路的问题何时能解决，投诉好多次了") is None   # a complaint's history, not its kind
    assert type_from_title("关于K市驾照问题的咨询", rules="head") is None
    assert type_from_title("希望A7县安沙镇双湾村的乡村道路能修好") is None   # a wish, not a kind
    assert type_from_title("呼吁停止在小塘路设置变电站") == "建议"


# Hand-written letters: the strong labels say the kind of letter; the weak texts are another corpus whose
# labels are stated by their wording (as the Teddy titles are).
_STRONG = [
    ("请问何时完工", "河道施工什么时候结束？", "咨询"), ("咨询施工方案", "是否改成步行道？", "咨询"),
    ("请问水质情况", "是否引入闽江水？", "咨询"), ("何时开始使用", "污水站何时使用？", "咨询"),
    ("建议放养鸭鹅", "建议在河里放养几只鸭鹅。", "建议"), ("建议保留大树", "希望保留两棵老树。", "建议"),
    ("建议做栏杆", "建议河边做石头栏杆。", "建议"), ("希望多做绿化", "希望政府考虑多种树。", "建议"),
    ("河水很臭", "河水发臭，严重影响生活。", "投诉"), ("施工噪音扰民", "夜间施工扰民。", "投诉"),
    ("内河恶臭", "恶臭难忍，影响居民。", "投诉"), ("围挡影响出行", "围挡严重影响出行。", "投诉"),
]
_WEAK = [("咨询社保缴费", "咨询"), ("请问如何办理", "咨询"), ("咨询落户政策", "咨询"),
         ("投诉物业收费", "投诉"), ("投诉噪音", "投诉"), ("投诉商家", "投诉"),
         ("关于小区绿化的建议", "建议"), ("建议增设公交", "建议"), ("建议延长营业", "建议")]


def _fit(config: ClassifierConfig) -> TextClassifier:
    texts = [f"{t} {b}" for t, b, _ in _STRONG]
    fields = [(t, b) for t, b, _ in _STRONG]
    labels = [lab for *_, lab in _STRONG]
    vectors = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)
    return TextClassifier(config, None).fit(texts, labels, vectors, fields=fields,
                                            prior=([t for t, _ in _WEAK], [lab for _, lab in _WEAK]))


_CONFIG = ClassifierConfig(class_weight="balanced", C=1.0, embedding_weight=0.5, use_words=False, min_df=1,
                           calibration_folds=2, cues="petition-type", prior_weight=1.0)


def test_cues_and_prior_block_predict_and_round_trip(tmp_path):
    clf = _fit(_CONFIG)
    assert clf.labels == ["咨询", "建议", "投诉"]
    letters = [("请问这条河什么时候治理好？", "是否有计划？"), ("建议河边增设垃圾桶", "希望政府考虑。"),
               ("河水发臭", "严重影响居民生活。")]
    texts = [f"{t} {b}" for t, b in letters]
    vectors = np.zeros((3, 8), np.float32)
    top = clf.predict(texts, vectors, k=1, fields=letters)
    assert [t[0]["label"] for t in top] == ["咨询", "建议", "投诉"]
    clf.save(tmp_path / "type", metrics={})
    again = TextClassifier.load(tmp_path / "type")
    assert again.config.cues == "petition-type" and again.config.prior_weight == 1.0
    np.testing.assert_allclose(again.predict_proba(texts, vectors, fields=letters),
                               clf.predict_proba(texts, vectors, fields=letters))


def test_prior_block_needs_weak_texts_and_stays_off_by_default():
    with pytest.raises(ValueError, match="prior=\\(texts, labels\\)"):
        TextClassifier(_CONFIG).fit(["请问何时", "建议放养", "河水很臭"] * 2, ["咨询", "建议", "投诉"] * 2,
                                    np.zeros((6, 8), np.float32))
    plain = ClassifierConfig()
    assert plain.cues is None and plain.prior_weight == 0.0


def test_label_offsets_follow_frequency_and_survive_save_load(tmp_path):
    from training.train_type import label_offsets

    offsets = label_offsets(["投诉"] * 8 + ["咨询"] * 2, alpha=0.5)
    assert offsets["咨询"] == pytest.approx(-0.5 * np.log(0.2), abs=1e-4)
    assert offsets["咨询"] > offsets["投诉"] > 0
    config = ClassifierConfig(class_weight="balanced", C=1.0, embedding_weight=0.5, use_words=False, min_df=1,
                              calibration_folds=2, cues="petition-type", prior_weight=1.0)
    plain = _fit(config)
    shifted = _fit(ClassifierConfig(**{**config.__dict__, "class_offsets": {"建议": 5.0}}))
    letters = [("河水发臭", "严重影响居民生活。")]
    vectors = np.zeros((1, 8), np.float32)
    p, q = plain.predict_proba(["河水发臭 严重影响居民生活。"], vectors, fields=letters)[0], \
        shifted.predict_proba(["河水发臭 严重影响居民生活。"], vectors, fields=letters)[0]
    j = shifted.labels.index("建议")
    assert q.sum() == pytest.approx(1.0) and q[j] > p[j] and shifted.labels[int(q.argmax())] == "建议"
    shifted.save(tmp_path / "t", metrics={})
    again = TextClassifier.load(tmp_path / "t")
    assert again.config.class_offsets == {"建议": 5.0}
    np.testing.assert_allclose(again.predict_proba(["河水发臭 严重影响居民生活。"], vectors, fields=letters)[0], q)


def test_the_shipped_recipe_learns_weak_labels_from_bodies_and_carries_to_their_source(shared_datasets):
    """``pooled-bodies`` trains on the Teddy messages' bodies (their titles gave the labels) beside the fuzhou
    letters; on Teddy bodies it never saw it classifies far better than the ``prior`` recipe, whose weak labels
    only reach the fuzhou classifier as four scores (docs/quality.md: CV 0.745 against 0.551)."""
    from sklearn.model_selection import train_test_split

    from training.common import fields_of, macro_f1, text_of
    from training.train_type import MAIN_TYPES, bodies, fit_recipe, type_data
    from triage.segment import Segmenter

    train, _ = type_data()
    fz = [r for r in train if not r.get("weak")]
    weak = [r for r in train if r.get("weak") and r["type"] in MAIN_TYPES]
    weak_tr, weak_te = train_test_split(weak, train_size=800, test_size=600, random_state=0,
                                        stratify=[r["type"] for r in weak])
    assert all(r["title"] == "" and r["content"] for r in bodies(weak_tr))
    zeros = lambda recs: np.zeros((len(recs), 8), np.float32)  # noqa: E731  (no sentence vectors here)
    seg = Segmenter().load()
    test = bodies(weak_te)
    truth = [r["type"] for r in test]
    scores = {}
    for recipe in ("pooled-bodies", "prior"):
        clf = fit_recipe(recipe, seg, fz, zeros(fz), weak_tr, zeros)
        proba = clf.predict_proba([text_of(r) for r in test], zeros(test), fields=[fields_of(r) for r in test])
        scores[recipe] = macro_f1(truth, [clf.labels[i] for i in proba.argmax(1)], labels=list(MAIN_TYPES))
    assert clf.config.prior_weight == 1.0
    assert scores["pooled-bodies"] > scores["prior"] + 0.1, scores
    with pytest.raises(ValueError, match="unknown type recipe"):
        fit_recipe("pooled-titles", seg, fz, zeros(fz), weak_tr, zeros)
