"""TextClassifier: lexical blocks, title/body fields, calibration, persistence."""

import numpy as np
import pytest

from triage.classify import ClassifierConfig, TextClassifier

# Hand-written: in the title the matter is named (学校 → education, 医院 → health); bodies share complaints.
_ROWS = [
    ("学校收费不合理", "孩子开学被要求交各种费用，请相关部门核查。", "教育"),
    ("学校食堂问题", "饭菜质量差，家长意见很大，请相关部门核查。", "教育"),
    ("学校放假安排", "放假时间变来变去，家长无法安排，希望回复。", "教育"),
    ("中学教师补课", "老师周末有偿补课，家长负担重，请查处。", "教育"),
    ("小学入学政策", "户口不在本区能否入学，希望尽快回复。", "教育"),
    ("幼儿园收费", "幼儿园乱收费，请相关部门核查。", "教育"),
    ("医院收费不合理", "住院被要求交各种费用，请相关部门核查。", "卫生"),
    ("医院服务态度", "护士态度差，病人意见很大，请相关部门核查。", "卫生"),
    ("医院挂号难", "挂号时间变来变去，病人无法安排，希望回复。", "卫生"),
    ("医生收红包", "医生收受红包，病人负担重，请查处。", "卫生"),
    ("疫苗接种政策", "户口不在本区能否接种疫苗，希望尽快回复。", "卫生"),
    ("诊所乱收费", "诊所乱收费，请相关部门核查。", "卫生"),
]


def _train(config: ClassifierConfig) -> TextClassifier:
    texts = [f"{t}\n{b}" for t, b, _ in _ROWS]
    fields = [(t, b) for t, b, _ in _ROWS]
    # titles alone and bodies alone, as the Teddy titles/details files provide them
    texts += [t for t, _, _ in _ROWS] + [b for _, b, _ in _ROWS]
    fields += [(t, "") for t, _, _ in _ROWS] + [("", b) for _, b, _ in _ROWS]
    labels = [lab for *_, lab in _ROWS] * 3
    return TextClassifier(config).fit(texts, labels, fields=fields if config.field_blocks else None)


def test_field_blocks_predict_from_title_and_round_trip(tmp_path):
    clf = _train(ClassifierConfig(embedding_weight=0.0, field_blocks=True, min_df=1, calibration_folds=2))
    title, body = "学校乱收费", "被要求交各种费用，请相关部门核查。"
    top = clf.predict(f"{title}\n{body}", fields=(title, body), k=2)
    assert top[0]["label"] == "教育" and top[0]["score"] > top[1]["score"]
    title = "医院乱收费"
    assert clf.predict(f"{title}\n{body}", fields=(title, body), k=1)[0]["label"] == "卫生"
    clf.save(tmp_path / "m", metrics={})
    again = TextClassifier.load(tmp_path / "m")
    assert again.config.field_blocks
    texts = ["学校食堂\n饭菜差", "医院挂号\n排队久"]
    fields = [("学校食堂", "饭菜差"), ("医院挂号", "排队久")]
    np.testing.assert_allclose(again.predict_proba(texts, fields=fields), clf.predict_proba(texts, fields=fields))


def test_the_tail_block_reads_a_letters_last_words_one_letter_as_a_batch_and_round_trips(tmp_path):
    """``tail_chars``: the last characters (what a letter asks for) are a block of their own, scaled by
    ``tail_weight``; one letter on the request path scores as in a batch, and a saved model reads them again."""
    matters = ["小区楼下烧烤摊油烟很大，每天营业到凌晨，", "公交站台的顶棚被风吹坏了好几个月，",
               "我家门口的路灯坏了一个多月，晚上出门很不方便，", "附近工地夜间施工，噪音很大，"]
    asks = {"咨询": ["请问这归哪个部门管？", "请问什么时候能修好？"],
            "投诉": ["强烈要求相关部门尽快处理！", "多次反映无人处理，请严肃处理！"]}
    texts, labels = [], []
    for m in matters:
        for label, endings in asks.items():
            for e in endings:
                texts.append(f"{m}{e}  ")
                labels.append(label)
    config = ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2, tail_chars=12, tail_weight=0.5)
    clf = TextClassifier(config).fit(texts, labels)
    tail_vocab = set(clf._tail_vec[0].vocabulary_)
    assert "请问" in tail_vocab and "烧烤" not in tail_vocab and "顶棚" not in tail_vocab
    letter = "小区门口垃圾堆了三天没人清运，请问这归哪个部门管？"
    assert clf.predict(letter, k=1)[0]["label"] == "咨询"
    one = clf.predict_proba([letter])
    batch = clf.predict_proba([letter, "附近工地夜间施工，强烈要求相关部门尽快处理！"])
    np.testing.assert_allclose(one[0], batch[0], rtol=1e-5)
    clf.save(tmp_path / "m", metrics={})
    again = TextClassifier.load(tmp_path / "m")
    assert again.config.tail_chars == 12 and again.config.tail_weight == 0.5
    np.testing.assert_allclose(again.predict_proba([letter]), one, rtol=1e-6)
    # off, the block is not built
    assert not hasattr(TextClassifier(ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2))
                       .fit(texts, labels), "_tail_vec")


def test_field_blocks_need_fields():
    clf = _train(ClassifierConfig(embedding_weight=0.0, field_blocks=True, min_df=1, calibration_folds=2))
    with pytest.raises(ValueError, match="title, body"):
        clf.predict("学校收费")
    with pytest.raises(ValueError, match="2 texts but 1"):
        clf.predict_proba(["a", "b"], fields=[("a", "")])


def test_plain_classifier_ignores_fields_and_drops_rare_labels():
    clf = _train(ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2))
    assert clf.predict("学校收费\n乱收费", fields=("学校收费", "乱收费"), k=1)[0]["label"] == "教育"
    rare = TextClassifier(ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2)).fit(
        [t for t, _, _ in _ROWS] + ["环境污染"], [lab for *_, lab in _ROWS] + ["环保"])
    assert rare.labels == ["卫生", "教育"] and rare.dropped_labels == ["环保"]


def test_temperature_calibration_keeps_the_svm_choice_and_round_trips(tmp_path):
    clf = _train(ClassifierConfig(embedding_weight=0.0, field_blocks=True, min_df=1, calibration_folds=2,
                                  calibration="temperature"))
    texts = ["学校乱收费\n请核查", "医院乱收费\n请核查", "疫苗接种\n能否入学"]
    fields = [("学校乱收费", "请核查"), ("医院乱收费", "请核查"), ("疫苗接种", "能否入学")]
    proba = clf.predict_proba(texts, fields=fields)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    X = clf._features(texts, None, fields=fields)
    scores = clf._model.svm.decision_function(X)
    svm_choice = np.where(scores > 0, 1, 0) if scores.ndim == 1 else scores.argmax(axis=1)
    assert list(proba.argmax(axis=1)) == list(svm_choice)
    for i in range(len(texts)):   # one letter (the request path's row of columns and values) as in the batch
        np.testing.assert_allclose(clf.predict_proba([texts[i]], fields=[fields[i]])[0], proba[i], rtol=1e-6)
    assert 0 < clf._model.temperature < np.exp(3)
    clf.save(tmp_path / "t", metrics={})
    np.testing.assert_allclose(TextClassifier.load(tmp_path / "t").predict_proba(texts, fields=fields), proba)


def test_unknown_calibration_is_refused():
    with pytest.raises(ValueError, match="calibration must be"):
        _train(ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2, calibration="isotonic"))


def test_one_letter_transform_equals_sklearn():
    """The request path's single-text TF-IDF (no sklearn validation) gives sklearn's values, and the same
    probabilities as the batch path."""
    from triage.classify import _one_text_tfidf

    clf = _train(ClassifierConfig(embedding_weight=0.0, field_blocks=True, min_df=1, calibration_folds=2))
    texts = ["学校乱收费\n被要求交各种费用，请相关部门核查。", "", "ABC 医院 医院 医院", "没有见过的字"]
    for vectorizer in (clf._char, clf._word, *clf._title_vec, *clf._body_vec):
        batch = vectorizer.transform(texts)
        for i, text in enumerate(texts):
            one = _one_text_tfidf(vectorizer, text)
            assert one.shape == batch[i].shape and one.dtype == batch[i].dtype
            np.testing.assert_allclose(one.toarray(), batch[i].toarray(), rtol=1e-6, atol=1e-7)
    fields = [("学校乱收费", "被要求交各种费用"), ("", "医院 医院")]
    both = clf.predict_proba([f"{t}\n{b}" for t, b in fields], fields=fields)
    for i, (t, b) in enumerate(fields):
        np.testing.assert_allclose(clf.predict_proba([f"{t}\n{b}"], fields=[(t, b)])[0], both[i], rtol=1e-5)


@pytest.mark.parametrize("calibration", ["sigmoid", "temperature"])
@pytest.mark.parametrize("n_labels", [2, 3])
def test_fast_probabilities_equal_sklearn(calibration, n_labels):
    """Probabilities computed from the fitted coefficients equal sklearn's predict_proba / decision_function."""
    from triage.classify import _calibrated_proba

    rows = _ROWS + [("路灯不亮", "小区路灯坏了很久，请相关部门核查。", "城建"), ("道路积水", "下雨道路积水，希望尽快回复。", "城建"),
                    ("井盖缺失", "路上井盖缺失，请查处。", "城建"), ("绿化带", "绿化带无人管理，希望回复。", "城建")]
    rows = [r for r in rows if r[2] in ("教育", "卫生", "城建")[:n_labels]]
    texts = [f"{t}\n{b}" for t, b, _ in rows]
    clf = TextClassifier(ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2,
                                          calibration=calibration)).fit(texts, [r[2] for r in rows])
    X = clf._features(texts + ["学校\n没有见过的字"], None)
    model = clf._model
    expected = model.predict_proba(X) if calibration == "sigmoid" else _softmax_of(model, X)
    np.testing.assert_allclose(_calibrated_proba(model, X), expected, rtol=1e-9, atol=1e-12)


def _softmax_of(model, X):
    d = model.svm.decision_function(X)
    d = np.column_stack([-d / 2, d / 2]) if d.ndim == 1 else d
    z = d / model.temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_char_ngrams_counted_in_numpy_equal_the_analyzer_path():
    """Char n-gram TF-IDF of one letter counted with packed integer keys gives bitwise what the analyzer's strings
    counted in Python give (whitespace runs, capitals, characters outside the BMP, texts shorter than 3)."""
    import triage.classify as C

    clf = _train(ClassifierConfig(embedding_weight=0.0, field_blocks=True, min_df=1, calibration_folds=2))
    texts = ["学校乱收费\n被要求交各种费用，请相关部门核查。", "", "医", "ABC  医院\t\t医院 \n\n医院 ", "İ𠀀𠀁费用",
             "没有见过的字", "学校" * 40]
    for vectorizer in (clf._char, clf._title_vec[0], clf._body_vec[0]):
        assert C._CharNgramVocabulary.applies(vectorizer)
        fast = [C._one_text_tfidf(vectorizer, t) for t in texts]
        entry = C._FAST_TFIDF[id(vectorizer)]
        C._FAST_TFIDF[id(vectorizer)] = (entry[0], entry[1][:-1] + (None,))   # the analyzer's strings instead
        try:
            slow = [C._one_text_tfidf(vectorizer, t) for t in texts]
        finally:
            C._FAST_TFIDF[id(vectorizer)] = entry
        for a, b, t in zip(fast, slow, texts):
            assert np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data), t
            np.testing.assert_allclose(a.toarray(), vectorizer.transform([t]).toarray(), rtol=1e-6, atol=1e-7)
    assert not C._CharNgramVocabulary.applies(clf._word)


@pytest.mark.parametrize("n_labels", [2, 3])
def test_one_row_margins_and_logistic_probabilities_equal_sklearn(n_labels):
    """The request path's one-text row (columns and values, no scipy) gives the CSR matrix's margins, and the
    logistic probabilities computed from the coefficients are scikit-learn's."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from triage.classify import _linear_decision, _logistic_proba, _one_text_row, _Row

    clf = _train(ClassifierConfig(embedding_weight=0.0, field_blocks=True, min_df=1, calibration_folds=2))
    texts = [f"{t}\n{b}" for t, b, _ in _ROWS]
    labels = [lab for *_, lab in _ROWS]
    labels = labels if n_labels == 2 else [lab if i % 3 else "其他" for i, lab in enumerate(labels)]
    dense = np.random.default_rng(0).normal(size=(len(texts), 4))
    X = np.hstack([clf._char.transform(texts).toarray(), clf._word.transform(texts).toarray(), dense])
    for model in (LinearSVC(C=0.5).fit(X, labels), LogisticRegression(C=2.0, max_iter=2000).fit(X, labels)):
        for i, text in enumerate(texts[:5] + ["没有见过的字"]):
            row = _Row.hstack([_one_text_row(clf._char, text), _one_text_row(clf._word, text),
                               _Row.dense(dense[i % len(texts)])])
            matrix = row.csr()
            assert matrix.shape == (1, X.shape[1])
            np.testing.assert_allclose(_linear_decision(model, row), model.decision_function(matrix),
                                       rtol=1e-9, atol=1e-12)
            if isinstance(model, LogisticRegression):
                np.testing.assert_allclose(_logistic_proba(model, row)[0], model.predict_proba(matrix)[0],
                                           rtol=1e-9, atol=1e-12)
    logistic = LogisticRegression(max_iter=2000).fit(X, labels)
    np.testing.assert_allclose(_logistic_proba(logistic, X), logistic.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("calibration", ["sigmoid", "temperature"])
def test_the_words_that_weigh_for_a_label_are_the_letters_own_and_tell_the_labels_apart(calibration, tmp_path):
    """Evidence for a domain: the letter's words that weigh most for it. A word every label's letters use alike
    (收费, 核查) does not tell one label from the other and is not given; two labels' lists differ; a word the
    letter does not contain is never given; a label the model does not know has none. The same after a reload."""
    clf = _train(ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2, calibration=calibration))
    text = "学校食堂收费不合理\n学校食堂乱收费，请相关部门核查。"
    edu, health = clf.weighing_words(text, "教育"), clf.weighing_words(text, "卫生")
    assert edu and edu[0] in ("学校", "学校食堂", "食堂"), edu
    assert all(w in text for w in edu + health)
    assert "收费" not in edu[:1] and "核查" not in edu[:1] and edu != health
    assert clf.weighing_words(text, "交通") == [] and clf.weighing_words("", "教育") == []
    clf.save(tmp_path / "m", metrics={})
    assert TextClassifier.load(tmp_path / "m").weighing_words(text, "教育") == edu
    # refitted on other letters, the words are the new model's
    clf.fit(["公交线路太少", "地铁站拥挤", "学校食堂差", "学校收费高"] * 2, ["交通", "交通", "教育", "教育"] * 2)
    assert "收费" in clf.weighing_words("学校食堂收费", "教育") and clf.weighing_words("学校食堂收费", "卫生") == []


def test_the_words_given_for_a_domain_name_a_topic_not_a_time_an_amount_or_a_place_code():
    """Words that only say when, how often or where (三月, 至今, 每月, A市, 西地省) can weigh for a label when its
    letters happen to use them; they tell a clerk nothing about what the letter is about, so they are not given."""
    from triage.segment import names_a_topic

    assert not any(names_a_topic(w) for w in ("三月", "至今", "每月", "目前", "周边", "A市", "A2区", "西地省", "我们"))
    assert all(names_a_topic(w) for w in ("学校", "污染", "社保", "停车位", "人社局", "劳动合同"))
    clf = _train(ClassifierConfig(embedding_weight=0.0, min_df=1, calibration_folds=2))
    clf.fit(["A市三月至今学校食堂差", "A市每月学校收费高", "西地省公交线路太少", "地铁站拥挤"] * 2,
            ["教育", "教育", "交通", "交通"] * 2)
    words = clf.weighing_words("A市三月至今每月学校收费", "教育")
    assert words and set(words) <= {"学校", "收费"}, words
