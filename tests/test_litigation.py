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
])
def test_non_triggers(text):
    assert flag_litigation(text) == {"litigation_related": False, "triggers": []}


# ---- real letters (read at test time from ../shared/datasets; never copied into the project) --------

REAL = {  # 留言编号 → expected triggers (checked by reading each letter)
    ("messages_labeled.csv", "24083"): ["法院", "仲裁", "起诉", "上诉", "行政复议", "裁定", "检察院"],
    ("messages_labeled.csv", "97270"): ["行政复议", "法院", "诉讼"],
    ("messages_labeled.csv", "136857"): ["仲裁"],
    ("replies.csv", "7582"): ["法院", "起诉"],
    ("messages_labeled.csv", "160228"): [],   # 被告知
    ("messages_labeled.csv", "149985"): [],   # 法院对面 as a landmark
    ("replies.csv", "37662"): [],             # 法院对面 / 法院一带
    ("replies.csv", "119181"): [],            # 法院路口
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
