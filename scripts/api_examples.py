"""Regenerate the examples of docs/api.md from a real server: every call is run with curl, its output pasted.

    .venv/bin/python scripts/api_examples.py            # models from TRIAGE_MODELS_DIR (default models/default)
    .venv/bin/python scripts/api_examples.py --check    # run the calls, print them, leave docs/api.md alone

Starts ``triage serve`` on a fresh SQLite store in a temporary folder, imports tests/fixtures/letters.jsonl as
history, then runs the calls below in order and replaces the text between the EXAMPLES markers of docs/api.md.
Long JSON answers are pretty-printed; lists longer than a few items are cut, and the cut is marked.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DOC = PROJECT / "docs" / "api.md"
BEGIN, END = "<!-- EXAMPLES:BEGIN (scripts/api_examples.py) -->", "<!-- EXAMPLES:END -->"
KEYS = "intake-key-7f3a:intake:clerk-li,reception-key-9c2e:reception:desk-wang,handler-key-4b8d:handler:handler-zhao," \
       "admin-key-1e6f:admin:admin-chen"
KEY = {"intake": "intake-key-7f3a", "reception": "reception-key-9c2e", "handler": "handler-key-4b8d",
       "admin": "admin-key-1e6f"}

NEW_LETTER = {"id": "2024-0601-0007", "title": "锦绣花园物业还在收停车费",
              "content": "我是锦绣花园小区业主，三月份反映过物业未经业主大会同意每月收取300元地面停车费的问题，至今物业仍在收费，请尽快查处。",
              "channel": "online", "received_at": "2024-06-01T10:12:00",
              "petitioner": {"name": "张三", "phone": "13812345678"}, "region": "A1区"}


def shorten(value, depth=0, keep=3):
    if isinstance(value, list):
        out = [shorten(v, depth + 1, keep) for v in value[:keep]]
        if len(value) > keep:
            out.append(f"… {len(value) - keep} more")
        return out
    if isinstance(value, dict):
        return {k: shorten(v, depth + 1, keep) for k, v in value.items()}
    if isinstance(value, str) and len(value) > 160:
        return value[:160] + "…"
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="triage-api-examples-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TRIAGE_API_KEYS": KEYS, "TRIAGE_ENV": "production",
           "TRIAGE_IDENTITY_KEY": "example-identity-key-please-change", "TRIAGE_DATA_DIR": str(tmp)}
    log = open(tmp / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "triage.cli", "serve", "--store", f"sqlite:///{tmp}/triage.db",
                               "--port", str(port)], cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    sections: list[str] = []

    def call(title: str, curl: list[str], note: str = "", keep: int = 3, show: bool = True) -> dict | None:
        shown = " ".join(shlex.quote(a) if i else a for i, a in enumerate(curl)).replace(f"127.0.0.1:{port}",
                                                                                        "127.0.0.1:8000")
        out = subprocess.run(curl, capture_output=True, text=True, cwd=tmp)
        text = out.stdout
        head, _, body = text.replace("\r\n", "\n").partition("\n\n") if "-i" in curl else ("", "", text)
        status = head.splitlines()[0] if head else ""
        try:
            data = json.loads(body)
            pretty = json.dumps(shorten(data, keep=keep), ensure_ascii=False, indent=2)
        except json.JSONDecodeError:
            data, pretty = None, body
        if show:
            block = [f"### {title}", ""]
            if note:
                block += [note, ""]
            block += ["```console", f"$ {shown}"]
            if status:
                block.append(status.strip())
            block += [pretty.rstrip(), "```", ""]
            sections.append("\n".join(block))
            print("\n".join(block))
        return data

    try:
        deadline = time.time() + 900
        while True:
            if server.poll() is not None:
                print((tmp / "server.log").read_text(), file=sys.stderr)
                return 1
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.5)
        H = lambda role: ["-H", f"X-API-Key: {KEY[role]}"]  # noqa: E731
        J = ["-H", "Content-Type: application/json"]
        history = [json.loads(line) for line in (PROJECT / "tests/fixtures/letters.jsonl").read_text().splitlines()
                   if line.strip()]
        for h in history:
            h["status"] = "办理中"
        (tmp / "history.json").write_text(json.dumps({"letters": history}, ensure_ascii=False))
        (tmp / "letter.json").write_text(json.dumps(NEW_LETTER, ensure_ascii=False))

        call("Health (no key)", ["curl", "-s", f"{base}/v1/health"])
        call("Model versions and their held-out metrics", ["curl", "-s", *H("handler"), f"{base}/v1/model"], keep=8)
        job = call("Import history (admin, background job)",
                   ["curl", "-s", *H("admin"), *J, "-d", "@history.json", f"{base}/v1/admin/imports"],
                   note="`history.json` holds `{\"letters\": [...]}`: the five letters of tests/fixtures/letters.jsonl "
                        "with their outcomes (domain, department, reply) and status 办理中.")
        for _ in range(600):
            state = json.loads(subprocess.run(["curl", "-s", *H("admin"), f"{base}/v1/jobs/{job['id']}"],
                                              capture_output=True, text=True).stdout)
            if state["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        call("Follow the job", ["curl", "-s", *H("admin"), f"{base}/v1/jobs/{job['id']}"])
        call("Submit a letter (intake)", ["curl", "-s", "-i", *H("intake"), *J, "-d", "@letter.json",
                                          f"{base}/v1/letters?k=3"],
             note="`letter.json` is the letter below; the answer is its suggestion, stored with the case.\n\n```json\n"
                  + json.dumps(NEW_LETTER, ensure_ascii=False, indent=2) + "\n```")
        call("Submitting the same letter again is idempotent (200, nothing stored twice)",
             ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", *H("intake"), *J, "-d", "@letter.json",
              f"{base}/v1/letters"])
        call("Dry run: triage without storing",
             ["curl", "-s", *H("handler"), *J, "-d", '{"content": "请问今年A2区小学入学需要准备哪些材料？随迁子女怎么登记？"}',
              f"{base}/v1/triage?k=1"])
        call("Compare two letters", ["curl", "-s", *H("handler"), *J, "-d", json.dumps(
            {"a": {"content": history[0]["content"]}, "b": {"content": NEW_LETTER["content"]}}, ensure_ascii=False),
            f"{base}/v1/compare"])
        call("Reception check: who is this visitor, is the matter already open?",
             ["curl", "-s", *H("reception"), *J, "-d", json.dumps(
                 {"phone": "138-1234-5678", "matter": "锦绣花园物业一直在收地面停车费，每月300元，上次反映了还没解决"},
                 ensure_ascii=False), f"{base}/v1/reception/check"],
             note="POST, so the identity never appears in a URL or an access log. The phone is matched as a keyed "
                  "hash; the answer shows masked forms only.", keep=4)
        call("Read a case (handler: no identity fields)", ["curl", "-s", *H("handler"),
                                                          f"{base}/v1/cases/2024-0601-0007"], keep=2)
        call("Read a case (reception: the masked petitioner)",
             ["curl", "-s", *H("reception"), f"{base}/v1/cases/fx-1"], keep=1)
        call("Similar past cases (类案推送)", ["curl", "-s", *H("handler"), f"{base}/v1/cases/fx-3/similar?k=2"])
        call("Duplicates of a case", ["curl", "-s", *H("handler"), f"{base}/v1/cases/fx-1/duplicates"])
        call("Record a decision: accept the domain, correct the department, confirm the duplicate and merge",
             ["curl", "-s", *H("handler"), *J, "-d", json.dumps(
                 {"domain": {"accepted": True}, "department": {"accepted": False, "value": "A1区住建局"},
                  "duplicate": {"accepted": False, "duplicate_of": "fx-1", "merge": True}}, ensure_ascii=False),
              f"{base}/v1/cases/2024-0601-0007/decisions"], keep=4)
        call("Set a case's status", ["curl", "-s", *H("handler"), "-X", "PUT", *J, "-d", '{"status": "已办结"}',
                                     f"{base}/v1/cases/fx-3/status"])
        batch = {"letters": [{"id": f"web-{i}", "content": c} for i, c in enumerate(
            ["A2区阳光小区电梯停运两周，老人上下楼困难，请督促物业维修。", "A3区宏达建筑有限公司拖欠农民工工资，老板联系不上。",
             "建议在A1区锦绣花园门口增设公交站。"])]}
        (tmp / "batch.json").write_text(json.dumps(batch, ensure_ascii=False))
        job = call("Batch pre-sorting (up to 500 letters, background job)",
                   ["curl", "-s", *H("intake"), *J, "-d", "@batch.json", f"{base}/v1/batches"])
        for _ in range(600):
            state = json.loads(subprocess.run(["curl", "-s", *H("intake"), f"{base}/v1/jobs/{job['id']}"],
                                              capture_output=True, text=True).stdout)
            if state["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        call("Batch results", ["curl", "-s", *H("intake"), f"{base}/v1/jobs/{job['id']}/results?limit=2"], keep=2)
        call("Stats: volumes and acceptance rate per suggestion part", ["curl", "-s", *H("admin"), f"{base}/v1/stats"],
             keep=6)
        call("Audit trail (admin)", ["curl", "-s", *H("admin"), f"{base}/v1/admin/audit?limit=3"])
        call("Errors: no key", ["curl", "-s", "-i", *J, "-d", '{"content": "x"}', f"{base}/v1/letters"])
        call("Errors: a role that may not", ["curl", "-s", "-i", *H("handler"), *J, "-d", '{"content": "x"}',
                                             f"{base}/v1/letters"])
        call("Errors: empty content", ["curl", "-s", "-i", *H("intake"), *J, "-d", '{"content": "  "}',
                                       f"{base}/v1/letters"])
        call("Errors: malformed JSON", ["curl", "-s", "-i", *H("intake"), *J, "-d", '{"content": ', f"{base}/v1/letters"])
        call("Errors: a bad letter in a batch names its index",
             ["curl", "-s", *H("intake"), *J, "-d", '{"letters": [{"content": "好"}, {"content": 5}]}',
              f"{base}/v1/batches"])
        call("Errors: unknown id", ["curl", "-s", "-i", *H("handler"), f"{base}/v1/cases/no-such-case"])
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    if args.check:
        return 0
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n\n" + "\n".join(sections) + "\n" + text[end:], encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
