/* 历史导入 (admin): an office's export file (POST /v1/admin/imports/file, multipart), then the import job's
   progress (GET /v1/jobs/{id}) and the rows that could not be imported, with their reasons in Chinese. */
"use strict";
(async () => {
  const { $, h, words, ApiError, flash, showError } = T;
  await T.ready("import");

  // the library's reasons ("row 8: field 'content': is required …") in the words of the pages
  function reason(text) {
    const field = (/field '([^']+)'/.exec(text) || [])[1];
    const name = field ? (words.field[field] || field) : "";
    if (field && /is required|is empty/.test(text)) return `缺少${name}`;
    if (field && /limit|longer than/.test(text)) return `${name}过长`;
    if (field && /date/.test(text)) return `${name}不是有效日期`;
    if (/broken JSON/.test(text)) return "不是有效的 JSON";
    return field ? `${name}填写有误` : "内容有误";
  }

  function uploadError(status, detail) {
    const m = detail || "";
    if (status === 422 && /must end in/.test(m)) return "请上传 .xlsx、.xls、.csv 或 .jsonl 文件。";
    if (status === 422 && /no letter in the file/.test(m)) return "文件中没有可导入的工单：每行需有编号和诉求内容。";
    if (status === 422 && /more than/.test(m)) return "文件中的工单过多，请分批上传，或由管理员用命令行 triage import 导入。";
    if (status === 400 && /UTF-8/.test(m)) return "文件编码无法识别：请另存为 UTF-8 或 GBK 编码的 CSV，或 Excel 文件。";
    if (status === 400 && /no sheet/.test(m)) return "工作表中没有找到“诉求内容”等表头（应在前十行内）。";
    if (status === 400 && /xlsx|xls|zip/.test(m)) return "Excel 文件无法读取：请确认文件完好（.xlsx 或 .xls）后重新导出。";
    if (status === 413) return "文件过大，请分批上传，或由管理员用命令行 triage import 导入。";
    return null;
  }

  async function upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      return await T.api("POST", "/v1/admin/imports/file", form);
    } catch (e) {
      if (e instanceof ApiError) e.message = uploadError(e.status, e.detail) || e.message;
      throw e;
    }
  }

  function showJob(job) {
    const total = job.total || 0, done = job.done + job.failed;
    $("#job-fill").style.width = `${Math.round((job.status === "done" ? 1 : job.progress) * 100)}%`;
    const state = { queued: "排队中", running: "导入中", done: "导入完成", failed: "导入失败", interrupted: "已中断" }[job.status] || job.status;
    $("#job-status").textContent = `${state}：${done} / ${total} 件` + (job.failed ? `，失败 ${job.failed} 件` : "");
    $("#job-progress").dataset.status = job.status;
  }

  async function follow(jobId) {
    for (;;) {
      let job;
      try { job = await T.api("GET", `/v1/jobs/${encodeURIComponent(jobId)}`); } catch (e) { showError(e); return; }
      showJob(job);
      if (["done", "failed", "interrupted", "cancelled"].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  $("#import-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = $("#file").files[0];
    if (!file) { flash("请选择要导入的文件。"); return; }
    flash("");
    $("#upload-btn").disabled = true;
    $("#uploading").hidden = false;
    try {
      const out = await upload(file);
      $("#import-result").hidden = false;
      $("#import-summary").textContent = `已读取“${file.name}”：${out.letters} 件排队导入` +
        (out.skipped ? `，${out.skipped} 行未导入（见下表）` : "") + "。";
      // how the file's header row was read: the columns understood, and those kept as written
      const known = out.columns.filter((c) => c.field), kept = out.columns.filter((c) => !c.field);
      $("#import-columns").textContent = (known.length ? "已识别的列：" +
        known.map((c) => `${c.column}（${words.field[c.field] || c.field}）`).join("、") + "。" : "") +
        (kept.length ? `原样保留的列：${kept.map((c) => c.column).join("、")}。` : "");
      $("#import-columns").hidden = !out.columns.length;
      const body = $("#skipped-table tbody");
      body.replaceChildren(...out.errors.map((e) => h("tr", {}, h("td", { class: "num", text: e.line ?? "—" }),
                                                           h("td", { text: reason(e.error) }))));
      $("#skipped").hidden = !out.skipped;
      $("#skipped-more").hidden = out.skipped <= out.errors.length;
      $("#skipped-more").textContent = `仅列出前 ${out.errors.length} 行，共 ${out.skipped} 行未导入。`;
      showJob(out.job);
      await follow(out.job.id);
    } catch (e) {
      showError(e);
    } finally {
      $("#upload-btn").disabled = false;
      $("#uploading").hidden = true;
    }
  });
  document.body.dataset.ready = "1";
})();
