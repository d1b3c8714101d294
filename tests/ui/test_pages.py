"""The pages in a real Chromium against a real server: sign-in by role, the reception desk's alert for a
returning visitor and a new one, the intake queue, accepting and correcting a suggestion in the case view
with the keyboard, the overview charts, and errors in plain Chinese. Screenshots: test-output/screenshots/."""

from __future__ import annotations

import re

import httpx
from apitest import KEYS
from ui_helpers import shot, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails under TRIAGE_REQUIRE_BROWSER=1) and says what to install
    expect = None


def api(ui_server, role: str) -> httpx.Client:
    return httpx.Client(base_url=ui_server.url, headers={"X-API-Key": KEYS[role]}, timeout=60)


def test_sign_in_by_role_and_unknown_key(page, ui_server):
    page.goto(f"{ui_server.url}/ui/reception")           # not signed in: sent to sign-in
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.fill("#key", "not-a-key")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("密钥无效，请核对后重新粘贴。")
    page.fill("#key", KEYS["reception"])
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/ui/reception$"))  # back where the user wanted to go
    expect(page.locator("#who-role")).to_have_text("来访接待")
    expect(page.locator("[data-nav=reception]")).to_be_visible()
    expect(page.locator("[data-nav=queue]")).to_be_hidden()   # the reception desk has no queue


def test_reception_alert_for_a_returning_visitor(page, ui_server):
    sign_in(page, ui_server.url, "reception")
    page.fill("#phone", "13812345678")
    page.fill("#matter", "锦绣花园小区物业还在每月收300元地面停车费，上次反映了到现在没有解决。")
    page.click("#check-btn")
    alert = page.locator("#alert")
    expect(alert).to_have_attribute("data-level", "duplicate_visit")
    expect(page.locator("#alert-label")).to_have_text("重复访")
    expect(page.locator("#alert-title")).to_have_text("该事项已在办理中，属于重复来访")
    expect(alert).to_contain_text("受理日期：")
    expect(alert).to_contain_text("承办单位：")
    rows = page.locator("#person-table tbody tr")
    expect(rows).to_have_count(3)                          # fx-1, fx-2 and the new repeat, matched on the phone
    table = page.locator("#person-table")
    for title in ("锦绣花园小区物业乱收停车费", "锦绣花园停车收费问题再次反映"):
        expect(table).to_contain_text(title)
    expect(table).to_contain_text("2024-03-05")
    expect(table).to_contain_text("A1区住建局")
    expect(table).to_contain_text("138****5678")            # masked: reception sees whom it matched
    assert page.locator("#person-table .badge.yes").count() >= 1   # same matter: 是
    assert "13812345678" not in page.locator("#result").inner_text()
    shot(page, "reception-alert")
    # the visit joins the open case instead of opening a new one
    page.click("#alert-attach")
    notice = page.locator("#register-result .notice")
    expect(notice).to_contain_text("已登记本次来访")
    expect(notice).not_to_contain_text("无权")   # reception may record the merge (the duplicate part only)
    shot(page, "reception-attached")


def test_reception_new_visitor_has_no_record(page, ui_server):
    sign_in(page, ui_server.url, "reception")
    page.fill("#id_number", "110101198001010011")
    page.fill("#name", "王五")
    page.fill("#matter", "我家楼下青松路的路灯坏了一个多月，晚上很黑，请尽快修理。")
    page.click("#check-btn")
    expect(page.locator("#alert")).to_have_attribute("data-level", "none")
    expect(page.locator("#alert-label")).to_have_text("无既往记录")
    expect(page.locator("#person-section")).to_be_hidden()
    page.click("#register-new")
    expect(page.locator("#register-busy")).to_be_hidden()
    notice = page.locator("#register-result .notice.ok")
    expect(notice).to_contain_text("已登记为新来访件")
    expect(page.locator("#register-result")).to_contain_text("建议领域")
    shot(page, "reception-new-visitor")
    case_id = notice.locator("a").inner_text()
    with api(ui_server, "admin") as admin:
        case = admin.get(f"/v1/cases/{case_id}").json()["case"]
    assert case["channel"] == "visit" and case["petitioner"]["name"] == "王*"
    # checked again, the same visitor is now known
    page.click("#check-btn")
    expect(page.locator("#alert")).not_to_have_attribute("data-level", "none")
    expect(page.locator(f'#person-table a[href="/ui/cases/{case_id}"]')).to_be_visible()


def test_intake_queue_sorts_filters_and_bulk_accepts(page, ui_server):
    sign_in(page, ui_server.url, "intake")
    expect(page).to_have_url(re.compile(r"/ui/queue"))
    table = page.locator("#queue-table")
    rows = page.locator("#queue-table tbody tr")

    def loaded():
        expect(table).to_have_attribute("aria-busy", "false")

    loaded()
    assert rows.count() >= 6
    expect(table).to_contain_text("锦绣花园停车费问题第三次反映")
    page.click("button.sort[data-sort=confidence]")
    loaded()
    expect(page.locator("button.sort[data-sort=confidence]")).to_have_class(re.compile("active"))
    confidences = [float(t) for t in page.locator("#queue-table tbody .conf").all_inner_texts()]
    assert confidences == sorted(confidences, reverse=True)
    page.select_option("#f-verdict", "duplicate")
    loaded()
    assert rows.count() >= 1 and rows.count() == page.locator("#queue-table tbody .badge.duplicate").count()
    expect(page).to_have_url(re.compile(r"verdict=duplicate"))
    page.select_option("#f-verdict", "")
    loaded()
    page.fill("#threshold", "0")
    page.click("#select-confident")
    selected = int(page.locator("#selected-count").inner_text())
    assert selected >= 1                                   # every letter but the suspected duplicates
    page.click("#bulk-accept")
    expect(page.locator("#bulk-text")).to_contain_text(f"已采纳 {selected} 件")
    expect(page.locator("#flash")).to_contain_text("已批量采纳")
    loaded()
    shot(page, "queue")
    page.select_option("#f-state", "done")
    loaded()
    assert rows.count() >= selected


def test_case_view_accept_and_correct_with_the_keyboard(page, ui_server):
    letter = {"id": "ui-case-1", "title": "锦绣花园旁工地夜间施工噪音再次反映", "channel": "online",
              "received_at": "2024-06-05T16:00:00", "region": "A1区", "location": "A1区锦绣花园东门工地",
              "content": "A1区锦绣花园小区旁边的工地晚上十一点以后还在施工，噪音扰民，上个月反映后没有任何改善，"
                         "请城管部门再次查处。",
              "petitioner": {"name": "李四", "phone": "13900001111"}}
    with api(ui_server, "intake") as intake:
        suggestion = intake.post("/v1/letters", json=letter).json()
    domains = [d["label"] for d in suggestion["domain"]]
    types = [t["label"] for t in suggestion["type"]]
    sign_in(page, ui_server.url, "handler")
    page.goto(f"{ui_server.url}/ui/cases/ui-case-1")
    expect(page.locator("#case-title")).to_have_text(letter["title"])
    expect(page.locator("#case-meta")).to_contain_text("事发地点：A1区锦绣花园东门工地")
    expect(page.locator("#parts .part")).to_have_count(4)
    expect(page.locator("#parts .part.focused")).to_have_attribute("data-part", "domain")
    expect(page.locator("#parts [data-part=department] .evidence")).to_contain_text("→")   # evidence, in Chinese
    # the type says which of its words the letter says (噪音、扰民 / 查处), the domain which words point to it
    assert suggestion["type"][0]["evidence"] and suggestion["domain"][0]["evidence"], suggestion
    expect(page.locator("#parts [data-part=type] .evidence")).to_contain_text("文中说“")
    expect(page.locator("#parts [data-part=domain] .evidence")).to_contain_text("指向此项的词：")
    # duplicates side by side, the differences marked
    expect(page.locator("#dup-tabs button").first).to_be_visible()
    expect(page.locator("#right-text mark").first).to_be_visible()
    expect(page.locator("#similar-list li").first).to_be_visible()
    # the handler never sees the petitioner: neither the masked identity nor the clear one
    expect(page.locator("#petitioner")).to_be_hidden()
    text = page.locator("body").inner_text()
    assert "139****1111" not in text and "13900001111" not in text and "李*" not in text

    page.keyboard.press("2")                     # domain: the second candidate
    expect(page.locator("#parts [data-part=domain] .part-state")).to_contain_text(f"已更正为 {domains[1]}")
    expect(page.locator("#parts .part.focused")).to_have_attribute("data-part", "type")
    page.keyboard.press("a")                     # type: accept
    expect(page.locator("#parts [data-part=type] .part-state")).to_contain_text("已采纳")
    page.keyboard.press("c")                     # department: type a correction
    expect(page.locator("#correct-box")).to_be_visible()
    page.fill("#correct-input", "A1区生态环境局")
    page.keyboard.press("Enter")
    expect(page.locator("#parts [data-part=department] .part-state")).to_contain_text("已更正为 A1区生态环境局")
    expect(page.locator("#decisions-table tbody tr")).to_have_count(3)
    page.mouse.move(0, 0)
    page.wait_for_timeout(2600)                  # let the confirmation toast go
    shot(page, "case-view")
    shot(page, "case-view-top", height=1560)    # the letter, the four parts, the duplicates side by side

    with api(ui_server, "handler") as handler:
        decisions = {d["part"]: d for d in handler.get("/v1/cases/ui-case-1/decisions").json()["decisions"]}
        case = handler.get("/v1/cases/ui-case-1").json()["case"]
    assert decisions["domain"]["accepted"] is False and decisions["domain"]["value"] == domains[1]
    assert decisions["domain"]["suggested"] == domains[0]
    assert decisions["type"]["accepted"] is True and decisions["type"]["value"] == types[0]
    assert decisions["department"]["accepted"] is False and decisions["department"]["value"] == "A1区生态环境局"
    assert all(d["handler"] == "handler-tester" for d in decisions.values())
    assert (case["domain"], case["department"]) == (domains[1], "A1区生态环境局")


def test_overview_charts(page, ui_server):
    with api(ui_server, "handler") as handler:   # at least one decision of each kind to chart
        r = handler.post("/v1/cases/new-wage-1/decisions", json={"domain": {"accepted": True},
                                                                 "type": {"accepted": True}})
        assert r.status_code == 201, r.text
    sign_in(page, ui_server.url, "admin")
    page.goto(f"{ui_server.url}/ui/overview?until=2024-06-05")   # visits registered today are months later
    expect(page.locator("body[data-ready]")).to_be_attached()
    days = page.locator("#chart-days svg")
    expect(days).to_be_visible()
    assert page.locator("#chart-days svg g.day rect").count() >= 20   # a month of history, bars per day and domain
    legend = page.locator("#chart-days .legend")
    expect(legend).to_contain_text("城乡建设")
    expect(page.locator("#days-range")).to_contain_text("2024-06-05")
    bars = page.locator("#chart-acceptance svg g.bar")
    expect(bars).to_have_count(4)
    expect(page.locator("#chart-acceptance")).to_contain_text("领域")
    expect(page.locator("#chart-acceptance")).to_contain_text("%")
    assert int(page.locator("#t-cases").inner_text()) >= 55
    expect(page.locator("#chart-domains svg g.bar").first).to_be_visible()
    shot(page, "overview")
    page.select_option("#days", "90")
    expect(page.locator("#days-range")).to_contain_text("2024-03-08 至 2024-06-05")


def test_errors_are_plain_chinese(page, ui_server):
    sign_in(page, ui_server.url, "handler")
    page.goto(f"{ui_server.url}/ui/cases/no-such-case")
    expect(page.locator("#flash")).to_have_text("未找到该案件。")
    page.goto(f"{ui_server.url}/ui/reception")    # a page this role is not offered: the API refuses, in Chinese
    page.fill("#phone", "13812345678")
    page.click("#check-btn")
    expect(page.locator("#flash")).to_have_text("当前角色无权进行此操作。")
    response = page.goto(f"{ui_server.url}/ui/no-such-page")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("页面不存在")
    body = page.content()
    assert "Traceback" not in body and '"error"' not in body


def test_admin_imports_an_excel_export_from_the_page(page, ui_server, tmp_path):
    """The administrator uploads a 12345 export as it comes (a title row, the office's own headers, a phone typed
    as a number, one ticket without content): the tickets are imported with progress, the bad row is listed with
    its reason in Chinese, the phone never reaches the page or the log; a file of another kind is refused in
    Chinese. Other roles are not offered the page."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["12345热线工单导出（2024年6月）"])
    book.active.append(["工单编号", "来电时间", "诉求内容", "联系电话", "承办单位名称", "备注"])
    for i, matter in enumerate(["桂园社区门口垃圾站每天清运不及时，气味很大", "银杏路路灯连续一周不亮，晚上出行不安全",
                                "松林小区旁工地夜间施工到凌晨，噪音扰民"]):
        book.active.append([f"UP-{i}", f"2024-06-0{i + 1} 09:30", matter, 13712340000 + i, "A1区", "已回访"])
    book.active.append(["UP-9", "2024-06-05", None, None, None])
    export = tmp_path / "工单导出.xlsx"
    book.save(export)
    sign_in(page, ui_server.url, "admin")
    page.click("[data-nav=import]")
    expect(page).to_have_url(re.compile(r"/ui/import$"))
    page.set_input_files("#file", str(export))
    page.click("#upload-btn")
    expect(page.locator("#import-summary")).to_have_text("已读取“工单导出.xlsx”：3 件排队导入，1 行未导入（见下表）。")
    expect(page.locator("#import-columns")).to_have_text(   # how the header row was read, the unknown column kept
        "已识别的列：工单编号（编号）、来电时间（受理日期）、诉求内容（诉求内容）、联系电话（手机号）、承办单位名称（承办单位）。"
        "原样保留的列：备注。")
    expect(page.locator("#job-progress")).to_have_attribute("data-status", "done", timeout=60_000)
    expect(page.locator("#job-status")).to_have_text("导入完成：3 / 3 件")
    rows = page.locator("#skipped-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("6")
    expect(rows.first).to_contain_text("缺少诉求内容")
    shot(page, "import")
    with api(ui_server, "admin") as client:
        case = client.get("/v1/cases/UP-1").json()["case"]
    assert case["department"] == "A1区" and case["petitioner"]["phone"] == "137****0001"
    assert "13712340001" not in page.content() and "13712340001" not in ui_server.server.log_text()
    # a file of another kind: refused, in Chinese
    other = tmp_path / "notes.txt"
    other.write_text("工单编号,诉求内容\nUP-7,路灯不亮\n", encoding="utf-8")
    page.set_input_files("#file", str(other))
    page.click("#upload-btn")
    expect(page.locator("#flash")).to_have_text("请上传 .xlsx、.xls、.csv 或 .jsonl 文件。")
    sign_in(page, ui_server.url, "intake")
    expect(page.locator("[data-nav=import]")).to_be_hidden()
