import io
import json

import pytest

from triage.errors import InvalidInput, InvalidLetter
from triage.records import MAX_CONTENT_CHARS, parse_date, parse_letter, read_letters


def csv_letters(tmp_path, text: str, name: str = "export.csv") -> list:
    """The letters of a UTF-8 CSV file holding ``text`` (a line that does not parse gives None)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return [p.letter for p in read_letters(path)]


def test_parse_letter_keeps_unknown_fields_and_normalises_channel():
    letter = parse_letter({"id": 7, "content": " 小区停车难 ", "channel": "来电", "x_source": "hotline"})
    assert letter.id == "7" and letter.content == "小区停车难" and letter.channel == "phone"
    assert letter.to_dict()["x_source"] == "hotline"


@pytest.mark.parametrize("record, field", [
    ({"title": "无内容"}, "content"),
    ({"content": "   "}, "content"),
    ({"content": 12.5j if False else ["列表"]}, "content"),
    ({"content": "x" * (MAX_CONTENT_CHARS + 1)}, "content"),
    ({"content": "正文", "received_at": "昨天"}, "received_at"),
    ({"content": "正文", "petitioner": "张三"}, "petitioner"),
    ({"content": "正文", "petitioner": {"phone": ["138"]}}, "petitioner.phone"),
    ({"content": "正文", "id": {"a": 1}}, "id"),
])
def test_parse_letter_names_the_bad_field(record, field):
    with pytest.raises(InvalidLetter) as exc:
        parse_letter(record)
    assert exc.value.field == field
    assert field in str(exc.value)


def test_not_an_object():
    with pytest.raises(InvalidLetter):
        parse_letter(["content"])


@pytest.mark.parametrize("raw, iso", [
    ("2019/2/28 11:25:05", "2019-02-28T11:25:05"),
    ("2019年4月24日", "2019-04-24T00:00:00"),
    ("2020-09-03 00:00:00", "2020-09-03T00:00:00"),
    ("2024-05-01", "2024-05-01T00:00:00"),
    ("20240501", "2024-05-01T00:00:00"),
    ("12/31/2016", "2016-12-31T00:00:00"),
    ("05/03/2016 08:10", "2016-05-03T08:10:00"),
    # times as offices write them: kept, not dropped
    ("2024/3/5 上午9:12", "2024-03-05T09:12:00"),
    ("2024/3/5 下午3:12:05", "2024-03-05T15:12:05"),
    ("2024年3月5日9:12", "2024-03-05T09:12:00"),
    ("2024年3月5日下午3点", "2024-03-05T15:00:00"),
    ("2024年3月5日 9时12分", "2024-03-05T09:12:00"),
    ("2024-03-05 03:12:05 PM", "2024-03-05T15:12:05"),
    ("2024/3/5 中午12:30", "2024-03-05T12:30:00"),
    ("2024/3/5 凌晨12:10", "2024-03-05T00:10:00"),
    ("3/5/2024 下午3:12", "2024-03-05T15:12:00"),
    ("12/31/2016 3:12 PM", "2016-12-31T15:12:00"),
    ("45415.39", "2024-05-03T09:21:36"),          # a spreadsheet's date cell exported as its serial number
    ("2024-03-05 备注", "2024-03-05T00:00:00"),    # no time after the date: the date, as before
])
def test_dates(raw, iso):
    assert parse_date(raw) == iso


@pytest.mark.parametrize("raw", ["2024-02-30", "2024/3/5 下午25:00", "2/30/2016", "12345", "99999.5"])
def test_impossible_dates_are_refused(raw):
    from triage.errors import InvalidLetter

    with pytest.raises(InvalidLetter, match="not a date"):
        parse_date(raw)


def test_read_jsonl_reports_bad_lines_with_numbers():
    text = "\n".join([json.dumps({"id": "a", "content": "正文一"}, ensure_ascii=False), "{broken",
                      json.dumps({"id": "b", "content": ""}), json.dumps({"content": "没有编号"}, ensure_ascii=False)])
    parsed = list(read_letters(stream=io.StringIO(text), fmt="jsonl"))
    assert [p.line for p in parsed] == [1, 2, 3, 4]
    assert parsed[0].letter.id == "a"
    assert "line 2" in parsed[1].error and "broken JSON" in parsed[1].error
    assert "line 3" in parsed[2].error and "content" in parsed[2].error
    assert "line 4" in parsed[3].error and "id" in parsed[3].error


def test_read_csv_with_dataset_column_aliases(tmp_path):
    [letter] = csv_letters(tmp_path, "留言编号,留言用户,留言主题,留言时间,留言详情\n1,U1,标题,2019/2/28 11:25:05,详情内容\n")
    assert letter.id == "1" and letter.title == "标题" and letter.petitioner == {"account": "U1"}
    assert letter.received_at == "2019-02-28T11:25:05"


def test_read_a_hotline_export_with_its_own_headers(tmp_path):
    [letter] = csv_letters(tmp_path, "工单编号,来电时间,诉求人,联系电话,所属区县,诉求内容,诉求类型,承办单位,办理结果,备注\n"
                                     "GD001,2024-03-05 09:12,张三,13800138000,鼓楼区,小区门口路灯不亮,投诉,鼓楼区,已修复,夜间\n")
    assert (letter.id, letter.content, letter.region, letter.type, letter.department, letter.reply) == \
        ("GD001", "小区门口路灯不亮", "鼓楼区", "投诉", "鼓楼区", "已修复")
    assert letter.received_at.startswith("2024-03-05T09:12")
    # the caller's name and phone are the petitioner's (matching only), not free fields shown with the case
    assert letter.petitioner == {"name": "张三", "phone": "13800138000"}
    assert letter.extra == {"备注": "夜间"}


def test_a_contract_column_wins_over_its_aliases_and_the_leftmost_alias_over_the_others(tmp_path):
    [letter] = csv_letters(tmp_path, "标题,content,诉求标题,内容,title,编号,工单编号\n甲,正文,乙,别的正文,丙,,W9\n")
    assert (letter.title, letter.content, letter.id) == ("丙", "正文", "W9")


def test_a_csv_saved_by_a_chinese_excel_reads_as_gb18030(tmp_path):
    # Excel's plain "CSV" on a Chinese Windows is GBK / GB 18030, not UTF-8
    path = tmp_path / "export.csv"
    path.write_bytes("工单编号,诉求内容,所属区县\nGD-1,镕基路口的路灯不亮（已一周）,鼓楼区\n".encode("gb18030"))
    [p] = list(read_letters(path))
    assert (p.letter.id, p.letter.content, p.letter.region) == ("GD-1", "镕基路口的路灯不亮（已一周）", "鼓楼区")


def test_neither_utf8_nor_gb18030_is_refused_with_its_reason(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"id,content\n1,\x80\xff\xfe\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        list(read_letters(path))


def _workbook(path, rows):
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def test_read_an_excel_export_below_its_title_row(tmp_path):
    import datetime as dt

    path = tmp_path / "tickets.xlsx"
    _workbook(path, [["12345 工单导出 2024年3月"], [],
                     ["工单编号", "来电时间", "诉求内容", "所属区县", "联系电话", "承办单位"],
                     [20240305001, dt.datetime(2024, 3, 5, 9, 12), "小区门口路灯不亮", "鼓楼区", 13800138000, "鼓楼区"],
                     [None, None, None, None, None, None],
                     ["GD-9", dt.date(2024, 3, 6), None, "台江区", None, None],
                     ["GD-10", "2024/3/7", "垃圾清运不及时", None, None, "市城管委"]])
    parsed = list(read_letters(path))
    assert len(parsed) == 3                      # the blank row is no letter; the one without content is reported
    first, bad, last = parsed
    assert first.letter.id == "20240305001" and first.letter.received_at.startswith("2024-03-05T09:12")
    assert first.letter.petitioner == {"phone": "13800138000"}     # a number cell, read as the digits typed
    assert (first.letter.region, first.letter.department) == ("鼓楼区", "鼓楼区")
    assert bad.letter is None and bad.error.startswith("row 6") and "content" in bad.error
    assert last.letter.id == "GD-10" and last.letter.received_at.startswith("2024-03-07")


def test_the_sheet_of_letters_is_found_behind_a_summary_sheet(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["月份", "件数"])
    book.active.append(["3月", 2])
    tickets = book.create_sheet("工单明细")
    tickets.append(["信件编号", "来信内容", "所属区域"])
    tickets.append(["X-1", "路灯不亮", "鼓楼区"])
    path = tmp_path / "report.xlsx"
    book.save(path)
    [p] = list(read_letters(path))
    assert (p.letter.id, p.letter.content, p.letter.region) == ("X-1", "路灯不亮", "鼓楼区") and p.line == 2


def test_read_an_excel_97_export_as_an_xlsx_is_read(tmp_path):
    import datetime as dt

    from workbooks import write_xls

    path = tmp_path / "信访件导出.xls"
    write_xls(path, [[["月份", "件数"], ["3月", 2]],      # a summary sheet first
                [["信访件导出 2024年3月"], [],
                 ["信访编号", "登记时间", "来信内容", "所属区县", "联系电话", "办理单位", "是否公开"],
                 ["XF-1", dt.datetime(2024, 3, 5, 9, 12), "小区门口路灯不亮", "鼓楼区", 13800138000, "鼓楼区", True],
                 [],
                 ["XF-2", dt.datetime(2024, 3, 6), "", "台江区", None, None, False],
                 [20240307, "2024/3/7", "垃圾清运不及时", None, None, "市城管委", None]]])
    parsed = list(read_letters(path))
    assert len(parsed) == 3
    first, bad, last = parsed
    assert first.line == 4 and first.letter.id == "XF-1" and first.letter.received_at.startswith("2024-03-05T09:12")
    assert first.letter.petitioner == {"phone": "13800138000"}     # a number cell, read as the digits typed
    assert (first.letter.region, first.letter.department) == ("鼓楼区", "鼓楼区")
    assert bad.letter is None and bad.error.startswith("row 6") and "content" in bad.error
    assert last.letter.id == "20240307" and last.letter.department == "市城管委"


def test_what_systems_export_as_xls_without_being_one_is_read_as_what_it_is(tmp_path):
    """A web page holding a table (here GBK, as its meta tag says), Excel's "Unicode text" (UTF-16, tabs) and an
    .xlsx, each under the name .xls."""
    page = tmp_path / "导出.xls"
    page.write_bytes(("<html><head><meta http-equiv='Content-Type' content='text/html; charset=gb2312'></head>"
                      "<body><table><tr><td colspan=3>信访件导出 2024年3月</td></tr>"
                      "<tr><th>信访编号</th><th>来信内容</th><th>所属区县</th></tr>"
                      "<tr><td>XF-1</td><td>小区门口路灯不亮<br>已反映多次</td><td>鼓楼区</td></tr>"
                      "<tr><td>XF-2</td><td>&nbsp;</td><td>台江区</td></tr>"
                      "<tr><td>XF-3<td>垃圾清运不及时<td></table></body></html>").encode("gb18030"))
    first, empty, last = list(read_letters(page))
    assert (first.line, first.letter.id, first.letter.region) == (3, "XF-1", "鼓楼区")
    assert first.letter.content == "小区门口路灯不亮\n已反映多次"
    assert empty.letter is None and empty.error.startswith("row 4") and "content" in empty.error
    assert (last.letter.id, last.letter.content) == ("XF-3", "垃圾清运不及时")      # cells left unclosed, as HTML allows

    text = tmp_path / "unicode.xls"
    text.write_bytes("信件编号\t来信内容\r\nQ-1\t路灯不亮\r\n".encode("utf-16"))
    [p] = list(read_letters(text))
    assert (p.letter.id, p.letter.content) == ("Q-1", "路灯不亮")

    renamed = tmp_path / "new.xls"
    _workbook(renamed, [["工单编号", "诉求内容"], ["GD-1", "噪音扰民"]])
    [p] = list(read_letters(renamed))
    assert (p.letter.id, p.letter.content) == ("GD-1", "噪音扰民")


def test_a_workbook_without_a_sheet_of_letters_is_refused(tmp_path):
    path = tmp_path / "other.xlsx"
    _workbook(path, [["月份", "件数"], ["1月", 12]])
    with pytest.raises(InvalidInput, match="no sheet"):
        list(read_letters(path))


@pytest.mark.parametrize("name, magic, message", [
    ("export.csv", b"PK\x03\x04rest-of-a-zip", "name it .xlsx"),
    ("export.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "name it .xls"),
    ("broken.xlsx", b"not a workbook", "not a readable .xlsx"),
    ("broken.xls", b"\xd0\xcf\x11\xe0 not a workbook", "not a readable .xls "),
    ("broken.xls", b"\x80\xff\xfe\x00\x81", "neither an Excel workbook nor"),
])
def test_workbooks_under_the_wrong_name_or_broken_are_refused_with_what_they_are(tmp_path, name, magic, message):
    path = tmp_path / name
    path.write_bytes(magic)
    with pytest.raises(InvalidInput, match=message):
        list(read_letters(path))


def test_missing_file_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput, match="not found"):
        list(read_letters(tmp_path / "nope.jsonl"))


def test_office_type_labels_read_as_the_five_hotline_types():
    from triage.records import hotline_type

    assert [hotline_type(t) for t in ("投诉类", " 投诉件 ", "意见建议", "检举控告", "政策咨询", "询问", "求助", "举报")] == \
        ["投诉", "投诉", "建议", "举报", "咨询", "咨询", "求助", "举报"]
    # a label naming no type or two is the office's own and kept
    assert [hotline_type(t) for t in ("表扬", "申诉求决", "投诉举报", "其他")] == ["表扬", "申诉求决", "投诉举报", "其他"]
    assert hotline_type(None) is None


@pytest.mark.parametrize("header, field", [
    ("content", "content"), ("工单编号", "id"),                          # the contract's name, an alias
    ("*诉求内容", "content"), ("来电时间(必填)", "received_at"), ("诉求内容：", "content"),   # a form's marks
    ("承办单位名称", "department"), ("诉求描述", "content"), ("受理日期", "received_at"),    # an export's own words
    ("事发区域", "region"), ("信访件编号", "id"), ("问题类型", "type"), ("答复内容摘要", "reply"),
    ("联系人手机", "petitioner.phone"), ("诉求人姓名", "petitioner.name"),
    # the petitioner's identity is read into petitioner (hashed, shown masked), never kept as a column shown as written
    ("联系人", "petitioner.name"), ("投诉人姓名", "petitioner.name"), ("证件号码", "petitioner.id_number"),
    ("身份证", "petitioner.id_number"), ("联系方式", "petitioner.phone"), ("手机号", "petitioner.phone"),
    ("家庭住址", "petitioner.address"), ("来电人地址", "petitioner.address"), ("反映人住址", "petitioner.address"),
    ("诉求人联系地址", "petitioner.address"), ("来电人身份证号", "petitioner.id_number"),
    ("诉求人证件号码", "petitioner.id_number"), ("投诉人的电话", "petitioner.phone"),
    # where the matter is, not who wrote: the extension field ``location``, read by the router beside region
    ("地址", "location"), ("事发地址", "location"), ("问题地点", "location"), ("诉求地址", "location"),
    ("处理部门意见", "处理部门意见"), ("序号", "序号"), ("备注", "备注"),  # a reply's heading, a row count: kept as written
])
def test_headers_are_read_by_what_they_say(header, field):
    from triage.records import header_field

    assert header_field(header) == field


def test_an_export_under_unlisted_headers_is_read(tmp_path):
    """A system whose headers no alias lists: the row count is not the id, the reply's heading is no department."""
    [letter] = csv_letters(tmp_path, "序号,信访件编号,*诉求描述,受理日期(必填),承办单位名称,处理部门意见,联系人手机\n"
                                     "1,XF-77,楼上漏水多次协调未果,2024-05-06,鼓楼区,已转鼓楼区处理,13800138000\n")
    assert (letter.id, letter.content, letter.department) == ("XF-77", "楼上漏水多次协调未果", "鼓楼区")
    assert letter.received_at.startswith("2024-05-06") and letter.petitioner == {"phone": "13800138000"}


@pytest.mark.parametrize("raw, channel", [
    ("微信", "online"), ("市长信箱", "online"), ("12345app", "online"), ("e福州app", "online"), ("QQ", "online"),
    ("人民网留言板", "online"), ("网站", "online"), ("邮件", "online"),
    ("电话", "phone"), ("12345热线", "phone"), ("来电", "phone"),
    ("来访", "visit"), ("走访", "visit"), ("来信", "letter"), ("信件", "letter"),
    ("短信", "other"), ("传真", "other"), ("窗口", "other"), ("letter", "letter"),
])
def test_channels_as_offices_write_them(raw, channel):
    """微信 and 市长信箱 hold the character 信 and are no paper letter; 12345app is an app, not a call."""
    assert parse_letter({"content": "路灯不亮", "channel": raw}).channel == channel


def test_a_sheet_saved_as_csv_keeps_its_title_row_and_is_read_below_it(tmp_path):
    path = tmp_path / "saved.csv"
    path.write_bytes("12345工单导出 2024年3月,,\n工单编号,诉求内容,承办单位\nGD-1,\"路灯不亮\n已多次反映\",鼓楼区\n,,\nGD-2,,\n"
                     .encode("gb18030"))
    first, comma_row, missing = list(read_letters(path))
    assert (first.line, first.letter.id, first.letter.content, first.letter.department) == \
        (4, "GD-1", "路灯不亮\n已多次反映", "鼓楼区")       # numbered by the line the row ends on
    assert comma_row.letter is None and comma_row.error.startswith("line 5")   # as before: reported, not dropped
    assert missing.letter is None and missing.error.startswith("line 6") and "content" in missing.error


@pytest.mark.parametrize("field, limit", [("id", 200), ("region", 200), ("domain", 200), ("department", 200),
                                          ("type", 50), ("status", 50)])
def test_short_fields_longer_than_the_store_holds_are_refused_by_name(field, limit):
    """A file's over-long region or type is that line's error (reported, the rest imported), not a database error
    that stops the whole import on PostgreSQL (seen: varchar(200) overflow from `triage import`)."""
    from triage.errors import InvalidLetter
    from triage.records import FIELD_LIMITS

    assert FIELD_LIMITS[field] == limit
    assert getattr(parse_letter({"content": "路灯不亮", field: "区" * limit}), field) == "区" * limit
    with pytest.raises(InvalidLetter, match=f"the limit is {limit}") as err:
        parse_letter({"content": "路灯不亮", field: "区" * (limit + 1)})
    assert err.value.field == field


def test_control_characters_are_dropped_everywhere_in_a_letter():
    letter = parse_letter({"id": "c\u0000-1", "content": "路灯\u0000不亮\n第二行\t制表\u001f", "petitioner": {"name": "张\u0000三"},
                           "ticket": {"note": ["a\u0007b"]}})
    assert (letter.id, letter.content, letter.petitioner) == ("c-1", "路灯不亮\n第二行\t制表", {"name": "张三"})
    assert letter.extra == {"ticket": {"note": ["ab"]}}


def test_where_the_matter_is_is_kept_as_location_and_read_from_letters_and_stored_cases(tmp_path):
    from triage.records import letter_location

    [letter] = csv_letters(tmp_path, "工单编号,诉求内容,事发地址,联系地址,联系电话\n"
                                     "T-1,门口路灯不亮,鼓楼区五四路12号,台江区某小区,13800138000\n")
    assert letter.extra == {"location": "鼓楼区五四路12号"}
    assert letter.petitioner == {"address": "台江区某小区", "phone": "13800138000"}
    assert letter_location(letter.to_dict()) == "鼓楼区五四路12号"
    assert letter_location({"content": "x", "extra": {"location": "仓山区"}}) == "仓山区"    # a stored case
    assert letter_location({"content": "x", "事发地点": "晋安区"}) == "晋安区"               # JSON under a header
    assert letter_location({"content": "x", "address": "马尾区"}) == "马尾区"
    assert letter_location({"content": "x", "petitioner": {"address": "台江区"}}) == ""    # whose home, not where
    assert letter_location({"content": "x", "location": "  "}) == ""


def test_a_name_given_in_the_anonymity_column_is_the_petitioners_name(tmp_path):
    """fuzhou's 匿名 column holds 1/0 and, in its older letters, the name the writer gave (陈先生, a full name):
    a name is read into petitioner (hashed, shown masked), never kept as a column shown as written."""
    letters = csv_letters(tmp_path, "id,投诉件内容,匿名,联系人\n1,河水发黑,1,\n2,河水发臭,林誉,\n3,河道垃圾,陈先生,陈某某\n"
                                    "4,内河黑臭,否,\n")
    assert [(l.petitioner, l.extra) for l in letters] == [
        ({}, {"匿名": "1"}), ({"name": "林誉"}, {}), ({"name": "陈某某"}, {}), ({}, {"匿名": "否"})]
