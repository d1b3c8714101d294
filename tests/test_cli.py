"""The command line as users and the hidden measurement drive it: clear errors, no tracebacks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_cli(args, models, stdin=None, cwd=None):
    env = {**os.environ, "TRIAGE_MODELS_DIR": str(models)}
    return subprocess.run([sys.executable, "-m", "triage.cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_import_run_compare_end_to_end(small_models, tmp_path):
    store = f"sqlite:///{tmp_path}/cli.db"
    r = run_cli(["import", "--store", store, str(FIXTURES / "letters.jsonl")], small_models)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["imported"] == 5 and summary["stored_cases"] == 5
    letters = [json.loads(l) for l in (FIXTURES / "letters.jsonl").read_text(encoding="utf-8").splitlines()]
    query = {**letters[1], "id": "q-1"}
    r = run_cli(["run", "--store", store, "--k", "3"], small_models, stdin=json.dumps(query, ensure_ascii=False) + "\n")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["id"] == "q-1" and len(out["similar"]) <= 3
    assert {"domain", "type", "category", "department", "duplicates", "similar", "model_version"} <= set(out)
    # the same letter, already stored, never reports itself
    r = run_cli(["run", "--store", store], small_models, stdin=json.dumps(letters[1], ensure_ascii=False) + "\n")
    out = json.loads(r.stdout)
    assert "fx-2" not in [m["case_id"] for m in out["duplicates"]["matches"]] + [s["case_id"] for s in out["similar"]]
    pair = {"a": letters[0], "b": letters[0]}
    r = run_cli(["compare"], small_models, stdin=json.dumps(pair, ensure_ascii=False) + "\n")
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"] == "duplicate"
    # run --ingest stores
    r = run_cli(["run", "--store", store, "--ingest"], small_models,
                stdin=json.dumps({"id": "q-2", "content": "新的来信内容：路灯坏了"}, ensure_ascii=False) + "\n")
    assert r.returncode == 0 and "1 stored" in r.stderr


def test_run_reads_a_hotline_export_as_csv(small_models, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("工单编号,来电时间,联系电话,所属区县,诉求内容\n"
                    "GD-7,2024-03-05 09:12,13800138000,鼓楼区,小区门口路灯不亮已经一周了\n"
                    "GD-8,2024-03-05 10:00,,,\n", encoding="utf-8")
    r = run_cli(["run", "--store", f"sqlite:///{tmp_path}/t.db", str(path)], small_models)
    assert r.returncode == 0, r.stderr
    [out] = [json.loads(line) for line in r.stdout.splitlines()]
    assert out["id"] == "GD-7" and out["domain"] and out["type"]
    assert "line 3" in r.stderr and "content" in r.stderr          # the empty ticket is reported, not dropped
    assert "13800138000" not in r.stdout + r.stderr


def test_import_and_run_read_excel_workbooks_and_gbk_csv(small_models, tmp_path):
    from openpyxl import Workbook

    letters = [json.loads(l) for l in (FIXTURES / "letters.jsonl").read_text(encoding="utf-8").splitlines()]
    history = tmp_path / "history.xlsx"
    book = Workbook()
    book.active.append(["工单编号", "诉求内容", "承办单位"])
    for letter in letters:
        book.active.append([letter["id"], letter["content"], letter.get("department")])
    book.save(history)
    store = f"sqlite:///{tmp_path}/x.db"
    r = run_cli(["import", "--store", store, "--quiet", str(history)], small_models)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["imported"] == len(letters)
    assert "columns read as 工单编号 → id、诉求内容 → content、承办单位 → department" in r.stderr
    queries = tmp_path / "tickets.csv"
    queries.write_bytes(("工单编号,诉求内容\nQ-1," + letters[1]["content"] + "\nQ-2,\n").encode("gb18030"))
    r = run_cli(["run", "--store", store, str(queries)], small_models)
    assert r.returncode == 0, r.stderr
    [out] = [json.loads(line) for line in r.stdout.splitlines()]
    assert out["id"] == "Q-1" and letters[1]["id"] in [m["case_id"] for m in out["duplicates"]["matches"]]
    assert "line 3" in r.stderr and "content" in r.stderr
    from workbooks import write_xls   # an Excel 97-2003 export, as many 信访 systems write them

    old = tmp_path / "tickets.xls"
    write_xls(old, [[["信件编号", "来信内容"], ["Q-3", letters[2]["content"]], ["Q-4", None]]])
    r = run_cli(["run", "--store", store, str(old)], small_models)
    assert r.returncode == 0, r.stderr
    [out] = [json.loads(line) for line in r.stdout.splitlines()]
    assert out["id"] == "Q-3" and letters[2]["id"] in [m["case_id"] for m in out["duplicates"]["matches"]]
    assert "row 3" in r.stderr and "content" in r.stderr


def test_bad_lines_are_reported_and_skipped(small_models, tmp_path):
    store = f"sqlite:///{tmp_path}/bad.db"
    lines = ['{"id": "ok-1", "content": "小区路灯不亮"}', "{not json", '{"id": "e-1", "content": "  "}',
             '{"id": "e-2", "content": ["x"]}', '{"id": "e-3"}']
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_cli(["import", "--store", store, "--quiet", str(path)], small_models)
    assert r.returncode == 0
    assert "line 2" in r.stderr and "broken JSON" in r.stderr
    assert "line 3" in r.stderr and "line 4" in r.stderr and "line 5" in r.stderr and "content" in r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["imported"] == 1
    r = run_cli(["run", "--store", store], small_models, stdin="\n".join(lines) + "\n")
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 1 and "line 2" in r.stderr


@pytest.mark.parametrize("args, stdin, message", [
    (["import", "--store", "sqlite:///{tmp}/x.db", "{tmp}/missing.jsonl"], None, "file not found"),
    (["run", "--store", "sqlite:///{tmp}/x.db"], "{broken\n", "no valid letter"),
    (["run", "--store", "sqlite:///{tmp}/x.db", "{tmp}/missing.jsonl"], None, "file not found"),
    (["compare"], '{"a": {"content": "x"}}\n', "no valid pair"),
    (["compare"], '{"a": {"content": ""}, "b": {"content": "y"}}\n', "letter 'a'"),
])
def test_unusable_input_exits_non_zero_with_one_line(small_models, tmp_path, args, stdin, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = run_cli(args, small_models, stdin=stdin)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr


def test_missing_models_is_a_clear_error(tmp_path):
    r = run_cli(["compare"], tmp_path / "nowhere", stdin='{"a": {"content": "x"}, "b": {"content": "y"}}\n')
    assert r.returncode == 2 and "triage train" in r.stderr and "Traceback" not in r.stderr


def test_import_with_worker_processes_stores_what_one_process_stores(small_models, small_triage, tmp_path):
    """`--workers 2` prepares batches in two processes; the store ends up with the same cases, in the same order,
    with the same hashes, vectors and matters as a plain import."""
    from triage.store import Store

    letters = [json.loads(line) for line in (FIXTURES / "letters.jsonl").read_text(encoding="utf-8").splitlines()]
    path = tmp_path / "many.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(12):
            for letter in letters:
                f.write(json.dumps({**letter, "id": f"{letter['id']}-{i}",
                                    "content": letter["content"] + f"（第{i}次）"}, ensure_ascii=False) + "\n")
    stores = {}
    for workers in (1, 2):
        url = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        r = run_cli(["import", "--store", url, "--quiet", "--batch", "7", "--workers", str(workers), str(path)],
                    small_models)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["imported"] == 12 * len(letters)
        stores[workers] = Store(url).open()
    one, two = stores[1], stores[2]
    pks = list(range(1, 12 * len(letters) + 1))
    a = one.get_candidates(pks, small_triage.embedder_key, "1")
    b = two.get_candidates(pks, small_triage.embedder_key, "1")
    assert [a[pk][0]["id"] for pk in pks] == [b[pk][0]["id"] for pk in pks]
    for pk in pks:
        assert a[pk][0]["norm_hash"] == b[pk][0]["norm_hash"] and a[pk][2] == b[pk][2]
        assert a[pk][1] is not None
        np.testing.assert_array_equal(a[pk][1], b[pk][1])
    r = run_cli(["import", "--store", "sqlite:///x.db", "--workers", "0", str(path)], small_models, cwd=tmp_path)
    assert r.returncode != 0 and "workers" in r.stderr


def test_a_tickets_address_column_routes_it(small_models, tmp_path):
    """A 12345 export gives where the matter is in a column of its own (事发地址): the history imported with it
    teaches the router its streets, and a ticket whose text names no place is routed by that column."""
    import random

    rng = random.Random(5)
    streets = {"东城区分中心": ["青石街道", "桂园社区", "松林小区"], "西城区分中心": ["白沙街道", "柳岸社区", "湖光小区"],
               "南湖区分中心": ["月亮湾街道", "渔村社区", "翠湖小区"]}
    matters = ["门口垃圾堆积很久无人清理", "楼下餐馆油烟扰民", "道路井盖破损存在隐患", "夜间施工噪音扰民", "路灯不亮"]
    lines = ["工单编号,诉求内容,事发地址,承办单位"]
    for i in range(90):
        dept = rng.choice(sorted(streets))
        lines.append(f"H-{i},来电人反映{rng.choice(matters)}，希望尽快处理。,{rng.choice(streets[dept])}{i % 20 + 1}号,{dept}")
    history = tmp_path / "history.csv"
    history.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = f"sqlite:///{tmp_path}/loc.db"
    r = run_cli(["import", "--store", store, "--quiet", str(history)], small_models)
    assert r.returncode == 0, r.stderr
    assert "事发地址 → location" in r.stderr
    tickets = tmp_path / "tickets.csv"
    tickets.write_text("工单编号,诉求内容,事发地址\nT-1,来电人反映路灯不亮，希望尽快处理。,柳岸社区3号\n"
                       "T-2,来电人反映路灯不亮，希望尽快处理。,\n", encoding="utf-8")
    r = run_cli(["run", "--store", store, str(tickets)], small_models)
    assert r.returncode == 0, r.stderr
    located, bare = [json.loads(line) for line in r.stdout.splitlines()]
    assert located["department"][0]["name"] == "西城区分中心"
    assert any("柳岸社区" in e for e in located["department"][0]["evidence"])
    assert not any("柳岸社区" in e for d in bare["department"] for e in d["evidence"])
