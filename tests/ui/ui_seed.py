"""Data of the browser tests: a month of history (outcomes, replies, statuses) imported by the admin, then
new letters submitted by the intake clerk so that the queue, the case view and the charts have something
to show. Deterministic; the five letters of ``tests/fixtures/letters.jsonl`` are part of the history."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import httpx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# (domain, department, title, content, reply)
MATTERS = [
    ("城乡建设", "A1区住建局", "{p}电梯长期停运", "{p}{n}号楼电梯已经停运{d}天，老人上下楼非常困难，物业一直推脱，请住建部门督促维修。",
     "经核查，已责令物业公司限期维修电梯，目前电梯已恢复运行。"),
    ("城乡建设", "A1区住建局", "{p}物业乱收费", "{p}物业公司擅自提高物业费标准，每平方米多收0.5元，没有经过业主大会同意，请查处。",
     "经调查，物业公司调价程序不合规，已责令其恢复原收费标准。"),
    ("环境保护", "A1区城管局", "{p}夜间施工噪音", "{p}附近工地每天夜里十一点后仍在施工，噪音很大，严重影响居民休息，请城管部门处理。",
     "已对施工单位进行约谈并依法处罚，要求其夜间22时后停止施工。"),
    ("环境保护", "A1区城管局", "{p}垃圾清运不及时", "{p}垃圾站的垃圾已经{d}天没有清运，气味难闻，蚊蝇很多，请尽快处理。",
     "已协调环卫部门增加清运频次，垃圾站已清理完毕。"),
    ("教育文体", "A2区教育局", "{p}附近小学入学咨询", "请问{p}附近的小学今年招生范围怎么划分？孩子户口在本区，需要准备哪些材料？",
     "您好，今年招生范围已在区教育局网站公布，需准备户口簿、房产证明等材料。"),
    ("教育文体", "A2区教育局", "{p}培训机构退费难", "孩子在{p}的一家培训机构报了课，机构突然停课，{d}天了还不退费，请教育局处理。",
     "已责令培训机构制定退费方案，目前已退还学费。"),
    ("劳动和社会保障", "A3区人社局", "{p}公司拖欠工资", "我在{p}的一家公司上班，公司已经拖欠工资{d}天，老板一直找借口不发，请人社局帮忙追讨。",
     "经劳动监察大队调查，已责令公司支付拖欠工资。"),
    ("劳动和社会保障", "A3区人社局", "{p}社保断缴问题", "{p}一家企业没有给员工缴纳社保，已经{d}天了，员工多次要求无果，请核查。",
     "经核查，该企业已补缴员工社会保险。"),
    ("交通运输", "A4区交通局", "{p}公交线路调整", "{p}的公交线路调整后，居民出行很不方便，最近的站点要走{d}分钟，请恢复原线路。",
     "已组织公交公司调研，将在高峰时段增开接驳线路。"),
    ("卫生计生", "A5区卫健委", "{p}诊所无证行医", "{p}有一家诊所没有执业许可证，给病人打针输液，存在安全隐患，请卫健委查处。",
     "经卫生监督所现场检查，已依法取缔该无证诊所。"),
    ("商贸旅游", "A市市场监管局", "{p}超市销售过期食品", "在{p}的超市买到过期{d}天的牛奶，商家拒绝退换，请市场监管部门处理。",
     "经调查属实，已对超市立案处罚，并督促其退换商品。"),
]
PLACES = ["A1区锦绣花园", "A2区阳光小区", "A3区和平里", "A4区新村", "A5区东湖苑", "A1区滨江苑"]
HISTORY_START = dt.date(2024, 5, 6)

# New letters, submitted through the intake clerk's key: they have suggestions and make up the queue.
NEW_LETTERS = [
    {"id": "new-repeat-1", "title": "锦绣花园停车费问题第三次反映", "channel": "online", "received_at": "2024-06-04T09:10:00",
     "content": "锦绣花园小区物业从三月起对地面停车位每月收取300元停车费，没有业主大会决议，我已经反映过两次，至今仍在收费，请尽快处理。",
     "petitioner": {"name": "张三", "phone": "13812345678"}, "region": "A1区"},
    {"id": "new-school-1", "title": "A2区翠湖湾一所幼儿园乱收费", "channel": "online", "received_at": "2024-06-04T10:20:00",
     "content": "A2区翠湖湾的一所民办幼儿园开学时另收每人两千元的赞助费，家长不交就不给报名，请教育局核查收费是否合规。",
     "petitioner": {"name": "赵六", "phone": "13611112222"}, "region": "A2区"},
    {"id": "new-wage-1", "title": "A3区金桥工业园工厂不签劳动合同", "channel": "phone", "received_at": "2024-06-05T08:30:00",
     "content": "我在A3区金桥工业园的一家电子厂上班半年，工厂一直不和工人签劳动合同，加班也不给加班费，请人社局依法查处。",
     "petitioner": {"name": "钱七", "phone": "13522223333"}, "region": "A3区"},
    {"id": "new-noise-1", "title": "A1区北辰花园广场舞音响扰民", "channel": "online", "received_at": "2024-06-05T09:00:00",
     "content": "A1区北辰花园小区广场每天晚上有人跳广场舞，音响开得很大，一直到十点多，影响学生学习和老人休息，请有关部门管理。",
     "petitioner": {"phone": "13733334444"}, "region": "A1区"},
    {"id": "new-food-1", "title": "A5区南湖新城餐馆卫生差", "channel": "letter", "received_at": "2024-06-05T11:00:00",
     "content": "A5区南湖新城一家餐馆后厨脏乱，我和家人吃完饭后腹泻，餐馆没有营业执照公示，请市场监管部门检查。",
     "petitioner": {"name": "孙八", "phone": "13944445555"}, "region": "A5区"},
    {"id": "new-bus-1", "title": "A4区西山村道路破损", "channel": "online", "received_at": "2024-06-05T14:00:00",
     "content": "A4区西山村通往镇上的道路坑洼不平，下雨天积水很深，电动车经常摔倒，请交通部门尽快修路。",
     "petitioner": {"account": "wx-4455"}, "region": "A4区"},
]


def history() -> list[dict]:
    letters = [json.loads(line) for line in (FIXTURES / "letters.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    for i in range(44):
        domain, dept, title, content, reply = MATTERS[i % len(MATTERS)]
        place = PLACES[(i * 5) % len(PLACES)]
        day = HISTORY_START + dt.timedelta(days=(i * 7) % 30)
        fill = {"p": place, "n": 3 + i % 17, "d": 5 + (i * 3) % 40}
        concluded = i % 4 != 0
        letters.append({"id": f"hist-{i:03d}", "title": title.format(**fill), "content": content.format(**fill),
                        "channel": ["online", "letter", "visit", "phone"][i % 4], "received_at": day.isoformat(),
                        "region": place[:3], "domain": domain, "department": dept,
                        "reply": reply if concluded else None, "status": "已办结" if concluded else "processing",
                        "petitioner": {"phone": f"1590000{i:04d}"}})
    return [{k: v for k, v in letter.items() if v is not None} for letter in letters]


def seed(base_url: str, keys: dict[str, str], timeout: float = 120) -> dict:
    """Import the history (admin), wait for the job, submit the new letters (intake). → what was stored."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        admin = {"X-API-Key": keys["admin"]}
        r = client.post("/v1/admin/imports", json={"letters": history()}, headers=admin)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.time() + timeout
        while True:
            job = client.get(f"/v1/jobs/{job_id}", headers=admin).json()
            if job["status"] in ("done", "failed", "interrupted"):
                break
            assert time.time() < deadline, f"history import did not finish: {job}"
            time.sleep(0.2)
        assert job["status"] == "done" and job["failed"] == 0, job
        suggestions = {}
        for letter in NEW_LETTERS:
            r = client.post("/v1/letters", json=letter, headers={"X-API-Key": keys["intake"]})
            assert r.status_code in (200, 201), r.text
            suggestions[letter["id"]] = r.json()
    return {"history": len(history()), "suggestions": suggestions}
