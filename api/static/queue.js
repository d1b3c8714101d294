/* 预分拣: new letters with their top suggestions (GET /ui/api/queue), sortable, filterable, paginated;
   bulk-accept the confident ones (one POST /v1/cases/{id}/decisions per letter, with progress). */
"use strict";
(async () => {
  const { $, $$, h, api, words, day, score, badge, flash, showError } = T;
  const me = await T.ready("queue");
  const params = new URLSearchParams(location.search);
  const state = {
    state: params.get("state") || "todo", domain: params.get("domain") || "", verdict: params.get("verdict") || "",
    q: params.get("q") || "", limit: Number(params.get("limit")) || 20, offset: Number(params.get("offset")) || 0,
    sort: params.get("sort") || "received", order: params.get("order") || "desc",
  };
  let page = null;
  let cursor = -1;
  const selected = new Set();
  const canDecide = ["intake", "handler", "admin"].includes(me.role);

  for (const k of ["state", "verdict", "limit"]) $("#f-" + k).value = String(state[k]);
  $("#f-q").value = state.q;
  if (!canDecide) { $(".bulkbar").hidden = true; }

  function query() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v !== "" && v !== null) p.set(k, v);
    return p;
  }

  async function load(keepMessage) {
    history.replaceState(null, "", "/ui/queue?" + query().toString());
    $("#queue-loading").hidden = false;
    $("#queue-empty").hidden = true;
    $("#queue-table").setAttribute("aria-busy", "true");
    try {
      page = await api("GET", "/ui/api/queue?" + query().toString());
      if (!keepMessage) flash("");
      render();
    } catch (e) {
      showError(e);
      $("#queue-table tbody").replaceChildren();
    } finally {
      $("#queue-loading").hidden = true;
      $("#queue-table").setAttribute("aria-busy", "false");
    }
  }

  function render() {
    const domainSel = $("#f-domain");
    const domains = Array.from(new Set([...page.domains, state.domain].filter(Boolean))).sort();
    domainSel.replaceChildren(h("option", { value: "", text: "全部领域" }), ...domains.map((d) => h("option", { value: d, text: d })));
    domainSel.value = state.domain;
    for (const b of $$("button.sort")) {
      b.classList.toggle("active", b.dataset.sort === state.sort);
      b.classList.toggle("asc", state.order === "asc");
    }
    selected.clear();
    cursor = -1;
    $("#queue-table tbody").replaceChildren(...page.items.map(row));
    $("#queue-empty").hidden = page.items.length > 0;
    const pages = Math.max(1, Math.ceil(page.total / page.limit));
    const at = Math.floor(page.offset / page.limit) + 1;
    $("#page-info").textContent = `第 ${at} / ${pages} 页，共 ${page.total} 件`;
    $("#prev").disabled = page.offset <= 0;
    $("#next").disabled = page.offset + page.limit >= page.total;
    updateSelection();
  }

  function row(item, i) {
    const href = `/ui/cases/${encodeURIComponent(item.id)}`;
    const scored = (label, s) => label ? [label, h("span", { class: "score", text: score(s) })] : "—";
    const box = h("input", { type: "checkbox", class: "pick", "aria-label": "选中", dataset: { id: item.id },
                             disabled: !canDecide || item.state === "done",
                             onchange: (ev) => { ev.target.checked ? selected.add(item.id) : selected.delete(item.id); updateSelection(); } });
    const verdict = [badge(words.verdict[item.verdict] || item.verdict, item.verdict)];
    if (item.duplicate_of && item.verdict !== "new") verdict.push(h("span", { class: "score", text: item.duplicate_of }));
    return h("tr", { dataset: { id: item.id, index: String(i) } },
      h("td", {}, box),
      h("td", { text: day(item.received_at) }),
      h("td", { class: "title" }, h("a", { href, text: item.title }), h("span", { class: "excerpt", text: item.excerpt }),
        item.litigation_related ? badge("涉法涉诉", "lit") : ""),
      h("td", {}, scored(item.domain, item.domain_score)),
      h("td", {}, scored(item.type, item.type_score)),
      h("td", {}, scored(item.department, item.department_score)),
      h("td", {}, verdict),
      h("td", {}, h("span", { class: "conf" }, h("span", { class: "bar" }, bar(item.confidence)), score(item.confidence))),
      h("td", { text: item.decided.length ? item.decided.map((p) => words.part[p]).join("、") : "—" }));
  }

  function bar(x) { const s = h("span"); s.style.width = `${Math.round((x || 0) * 100)}%`; return s; }

  function updateSelection() {
    $("#selected-count").textContent = String(selected.size);
    $("#bulk-accept").disabled = selected.size === 0;
    for (const box of $$("input.pick")) box.checked = selected.has(box.dataset.id);
    const boxes = $$("input.pick:not(:disabled)");
    $("#select-all").checked = boxes.length > 0 && boxes.every((b) => b.checked);
  }

  // -- bulk accept -----------------------------------------------------------------------------------------------
  function confident(item, threshold) {
    return item.state !== "done" && item.verdict !== "duplicate" && item.confidence >= threshold;
  }

  function decisionFor(item) {
    const body = { suggestion_id: item.suggestion_id };
    for (const part of ["domain", "type", "department"]) {
      if (item[part] && !item.decided.includes(part)) body[part] = { accepted: true };
    }
    if (item.verdict !== "duplicate" && !item.decided.includes("duplicate")) body.duplicate = { accepted: true };
    return body;
  }

  async function bulkAccept() {
    const items = page.items.filter((i) => selected.has(i.id));
    const dups = items.filter((i) => i.verdict === "duplicate");
    const todo = items.filter((i) => i.verdict !== "duplicate");
    if (!todo.length) { flash("所选来件均为疑似重复件，请逐件打开核对。"); return; }
    const bar = $("#bulk-fill"), text = $("#bulk-text");
    $("#bulk-progress").hidden = false;
    $("#bulk-accept").disabled = true;
    let done = 0, failed = 0, lastError = null;
    for (const item of todo) {
      text.textContent = `正在采纳 ${done + failed + 1} / ${todo.length} …`;
      try {
        await api("POST", `/v1/cases/${encodeURIComponent(item.id)}/decisions`, decisionFor(item));
        done += 1;
      } catch (e) {
        failed += 1; lastError = e;
        if (e.status === 401 || e.status === 403) break;
      }
      bar.style.width = `${Math.round(((done + failed) / todo.length) * 100)}%`;
    }
    text.textContent = `已采纳 ${done} 件` + (failed ? `，失败 ${failed} 件` : "") + (dups.length ? `，跳过疑似重复 ${dups.length} 件` : "") + "。";
    if (failed) flash(`有 ${failed} 件未能采纳：${lastError.message}`);
    else flash(`已批量采纳 ${done} 件的分拣建议。`, "ok");
    await load(true);
  }

  // -- events ---------------------------------------------------------------------------------------------------
  $("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.state = $("#f-state").value; state.domain = $("#f-domain").value; state.verdict = $("#f-verdict").value;
    state.q = $("#f-q").value.trim(); state.limit = Number($("#f-limit").value); state.offset = 0;
    load();
  });
  for (const id of ["f-state", "f-domain", "f-verdict", "f-limit"]) $("#" + id).addEventListener("change", () => $("#filters").requestSubmit());
  for (const b of $$("button.sort")) {
    b.addEventListener("click", () => {
      if (state.sort === b.dataset.sort) state.order = state.order === "desc" ? "asc" : "desc";
      else { state.sort = b.dataset.sort; state.order = b.dataset.sort === "confidence" || b.dataset.sort === "received" ? "desc" : "asc"; }
      state.offset = 0;
      load();
    });
  }
  $("#prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  $("#next").addEventListener("click", () => { state.offset += state.limit; load(); });
  $("#select-all").addEventListener("change", (ev) => {
    for (const box of $$("input.pick:not(:disabled)")) ev.target.checked ? selected.add(box.dataset.id) : selected.delete(box.dataset.id);
    updateSelection();
  });
  $("#select-confident").addEventListener("click", () => {
    const t = Number($("#threshold").value);
    selected.clear();
    for (const item of page.items) if (confident(item, t)) selected.add(item.id);
    updateSelection();
    if (!selected.size) flash(`本页没有置信度不低于 ${t} 的待分拣新件。`); else flash("");
  });
  $("#bulk-accept").addEventListener("click", bulkAccept);

  document.addEventListener("keydown", (ev) => {
    if (T.isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey || !page) return;
    const rows = $$("#queue-table tbody tr");
    const move = (to) => {
      if (!rows.length) return;
      cursor = Math.max(0, Math.min(rows.length - 1, to));
      rows.forEach((r, i) => r.classList.toggle("current", i === cursor));
      rows[cursor].scrollIntoView({ block: "nearest" });
    };
    if (ev.key === "j" || ev.key === "ArrowDown") { move(cursor + 1); ev.preventDefault(); }
    else if (ev.key === "k" || ev.key === "ArrowUp") { move(cursor - 1); ev.preventDefault(); }
    else if (ev.key === "x" && cursor >= 0) { const box = $("input.pick", rows[cursor]); if (!box.disabled) { box.checked = !box.checked; box.dispatchEvent(new Event("change")); } }
    else if ((ev.key === "Enter" || ev.key === "o") && cursor >= 0) { location.href = $("a", rows[cursor]).href; }
    else if (ev.key === "]" && !$("#next").disabled) $("#next").click();
    else if (ev.key === "[" && !$("#prev").disabled) $("#prev").click();
  });

  load();
})();
