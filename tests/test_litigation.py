"""涉法涉诉 flag: triggers and non-triggers, on hand-written phrases and on real letters of the shared data."""

import csv

import pytest

from training.datasets import datasets_dir
from triage.litigation import flag_litigation


@pytest.mark.parametrize("text, triggers", [
    ("去年法院判决后对方一直不履行，申请强制执行也没结果", ["法院", "判决", "强制执行"]),
    ("劳动仲裁裁决已生效，公司仍拒不支付", ["仲裁"]),
    ("对征收决定不服，已申请行政复议", ["行政复议"]),
    ("对方收到律师函后仍不退款", ["律师函"]),
    ("我们不想打官司，只想拿回工资", ["打官司"]),   # negation does not cancel: the matter is a legal dispute
    ("检察院已经受理我的控告", ["检察院"]),
    ("区检察院批捕了他，我想了解案件进展", ["检察院"]),   # the procuratorate's own act
    ("法官当庭宣布休庭", ["法官"]),
    ("多次交涉未果，只能走法律程序了", ["法律途径"]),
    ("房子是在司法拍卖网竞得的", ["司法拍卖"]),
    ("不服一审判决，上诉至市中级人民法院", ["一审/二审", "判决", "上诉", "法院"]),
    ("法院送达了《民事判决书》", ["法院", "判决"]),      # a proceeding's own papers are no citation
])
def test_triggers(text, triggers):
    assert flag_litigation(text) == {"litigation_related": True, "triggers": triggers}


@pytest.mark.parametrize("text", [
    "法院路口红绿灯时间太短",          # a road
    "请把法院对面的公厕开放",          # a place
    "住在法院宿舍，楼道灯坏了",
    "市人社局执行政策不到位",          # 执行 in its everyday sense
    "我要申诉，请领导主持公道",        # petition vocabulary
    "被告知需要本人到场办理",          # 被告知 = was told
    "12345发起诉求后一直没人处理",     # 发起 + 诉求
    "已经投诉至少3次了",               # 投诉 + 至少, not 诉至
    "依法依规处理违章建筑",
    "以上诉求恳请领导为民作主",                   # 以上 + 诉求
    "我们将上诉到市纪委",                         # 上诉 said of a petition
    "从三年前上诉到现在，一直没有结果",
    "如不解决，我们保留上访或上诉的权力",             # 上诉 paired with 上访: petition vocabulary
    "根据《中华人民共和国劳动争议调解仲裁法》的规定", # a law cited by its title
    "依照《最高人民法院关于审理物业服务纠纷案件具体应用法律若干问题的解释》",
    "参照最高人民法院发布的典型案例",
    "我是省检察院东来苑住宅区业主",                # the procuratorate as the name of an estate
    "对区人民法院审判庭施工建设项目评标结果提出质疑",  # the court as a client of a building project
    "检察院对面的路灯坏了",
    "企业暴力抵抗环保厅的执法官员",                  # 法官 inside 执法官员
    "材料请寄到县人民检察院生活区3栋",              # a procuratorate's staff estate as an address
    "恳请市纪委、市检察院介入调查此事",              # a 检举 to the procuratorate, no proceeding of the writer's
])
def test_non_triggers(text):
    assert flag_litigation(text) == {"litigation_related": False, "triggers": []}


# ---- real letters (read at test time from ../shared/datasets; never copied into the project) --------

REAL = {  # 留言编号 → expected triggers (checked by reading each letter)
    ("messages_labeled.csv", "24083"): ["法院", "仲裁", "起诉", "上诉", "行政复议", "裁定", "检察院"],
    ("messages_labeled.csv", "97270"): ["行政复议", "法院", "诉讼"],
    ("messages_labeled.csv", "136857"): [],   # 《…劳动争议调解仲裁法》 cited: a request for paid leave, no proceeding
    ("messages_labeled.csv", "82249"): [],    # 以上诉求
    ("messages_labeled.csv", "160816"): [],   # 最高人民法院发布的《…案例》 cited as law
    ("replies.csv", "18755"): [],             # 《最高人民法院关于…的解释》 cited
    ("replies.csv", "145294"): [],            # 上诉到…纪委
    ("replies.csv", "4325"): ["法律途径"],     # 期间走过法律途径
    ("replies.csv", "163493"): ["司法拍卖"],
    ("messages_labeled.csv", "160838"): [],   # 省检察院东来苑, an estate
    ("replies.csv", "116223"): [],            # 人民法院审判庭施工建设项目
    ("replies.csv", "7582"): ["法院", "起诉"],
    ("messages_labeled.csv", "160228"): [],   # 被告知
    ("messages_labeled.csv", "149985"): [],   # 法院对面 as a landmark
    ("replies.csv", "37662"): [],             # 法院对面 / 法院一带
    ("replies.csv", "119181"): [],            # 法院路口
    ("messages_labeled.csv", "161565"): [],   # 执法官员 (session 19's census, sample D)
    ("messages_labeled.csv", "298335"): [],   # 检察院生活区 as a postal address
    ("replies.csv", "23084"): [],             # 市检察院介入调查: a 检举
    ("replies.csv", "144862"): ["检察院", "起诉"],   # the procuratorate prosecutes the writer's father
}


@pytest.fixture(scope="module")
def teddy():
    folder = datasets_dir() / "teddy2020"
    if not folder.exists():
        pytest.skip(f"shared datasets not found at {folder} (set TRIAGE_SHARED_DIR or put shared/ beside the project)")
    wanted = {}
    for fname in {f for f, _ in REAL}:
        with open(folder / fname, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                key = (fname, row["留言编号"])
                if key in REAL:
                    wanted[key] = row["留言主题"] + "\n" + row["留言详情"]
    return wanted


@pytest.mark.parametrize("key", list(REAL))
def test_real_letters(teddy, key):
    assert key in teddy, f"letter {key} not found in the dataset"
    got = flag_litigation(teddy[key])
    assert got["triggers"] == REAL[key]
    assert got["litigation_related"] == bool(REAL[key])


def test_real_rate_on_fuzhou_is_low():
    path = datasets_dir() / "fuzhou_water" / "appeals.csv"
    if not path.exists():
        pytest.skip(f"shared datasets not found at {path}")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    flagged = sum(flag_litigation(r["标题"] + "\n" + r["投诉件内容"])["litigation_related"] for r in rows)
    assert flagged / len(rows) < 0.02   # river complaints rarely involve courts (measured: 0 of 878)


def test_hand_check_file_reads_and_every_letter_is_found():
    """corpora/litigation_check.csv (the hand-read verdicts) names real letters, each with a yes/no verdict and,
    for a no, what the trigger was instead; `python -m training.litigation_check` scores the rules on them."""
    if not (datasets_dir() / "teddy2020").exists():
        pytest.skip("shared datasets not found")
    from training.litigation_check import CHECK_FILE, check

    with open(CHECK_FILE, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["verdict"] in ("yes", "no") for r in rows)
    assert all(r["note"] for r in rows if r["verdict"] == "no")
    res = check()   # raises if a checked letter is missing from the dataset
    assert res["letters"] == len(rows)
    assert sum(t["letters"] for t in res["per_sample"].values()) == len(rows)
    # no rule un-flags a letter read as litigation (the samples were drawn from flagged letters; a false friend
    # dropped must not take a real proceeding with it)
    assert [w for w in res["disagreements"] if not w["flagged"]] == []
