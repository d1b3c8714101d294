/* 办理: the letter, each part of its suggestion with score and evidence, duplicates side by side with the
   differences marked, similar past cases with their replies; accept or correct each part with one or two
   keystrokes, recorded as decisions (POST /v1/cases/{id}/decisions). */
"use strict";
(async () => {
  const { $, $$, h, api, words, day, pct, score, badge, statusWord, flash, showError } = T;
  const me = await T.ready("case");
  const caseId = document.body.dataset.caseId;
  const canDecide = ["intake", "handler", "admin"].includes(me.role);
  const enc = encodeURIComponent;
  let detail = null, labels = null, parts = [], focus = 0, merge = false, correcting = null, similarK = 5;
  const cases = {};      // other cases read for the side-by-side view

  // -- the service's English evidence, said in Chinese -------------------------------------------------------------
  const PHRASES = [
    [/^identical text after normalisation$/, () => "规范化后文字完全相同"],
    [/^near-identical wording \(shingle Jaccard ([\d.]+)\)$/, (m) => `措辞高度相近（片段重合度 ${m[1]}）`],
    [/^semantic similarity ([\d.]+)$/, (m) => `语义相似度 ${m[1]}`],
    [/^same object: (.+)$/, (m) => `同一对象：${m[1]}`],
    [/^same demand: (.+)$/, (m) => `同一诉求：${m[1]}`],
    [/^different or unclear demands$/, () => "诉求不同或不明确"],
    [/^same petitioner \(matched on hashed identity\)$/, () => "同一来访人（按加密身份比对）"],
    [/^(-?[\d.]+) days apart$/, (m) => `相隔 ${m[1]} 天`],
    [/^mentions (.+) → (.+) \(directory\)$/, (m) => `提到“${m[1]}”→ ${m[2]}（单位目录）`],
    [/^mentions (.+) → (.+)$/, (m) => `提到“${m[1]}”→ ${m[2]}`],
    [/^(\d+) of (\d+) earlier cases mentioning (.+) went to (.+)$/, (m) => `提到“${m[3]}”的 ${m[2]} 件既往案件中，${m[1]} 件由 ${m[4]} 办理`],
    [/^keywords (.+) → (.+) \(duty\)$/, (m) => `关键词 ${m[1]} → ${m[2]}（职责）`],
    [/^domain (.+) is a duty of (.+)$/, (m) => `“${m[1]}”领域属 ${m[2]} 职责`],
    [/^type (.+) is a duty of (.+)$/, (m) => `“${m[1]}”类事项属 ${m[2]} 职责`],
    [/^wording resembles earlier cases of (.+) \(text model rank (\d+)\)$/, (m) => `措辞与 ${m[1]} 办理过的案件相近（文本模型第 ${m[2]} 位）`],
    [/^text model's first choice: (.+)$/, (m) => `文本模型首选：${m[1]}`],
    [/^matter of the kind (.+) handles, at a named place$/, (m) => `属“${m[1]}”类单位的职责，且提到了具体地点`],
    [/^(\d+) of (\d+) similar cases went to (.+)$/, (m) => `${m[2]} 件相似案件中，${m[1]} 件由 ${m[3]} 办理`],
    [/^(\d+) of (\d+) earlier cases went to (.+)$/, (m) => `${m[2]} 件既往案件中，${m[1]} 件由 ${m[3]} 办理`],
    [/^known department (.+)$/, (m) => `已知单位 ${m[1]}`],
    [/^the clerk's opening says (.+)$/, (m) => `受理记录开头记为“${m[1]}”`],
    [/^says (.+)$/, (m) => `文中说“${m[1]}”`],
    [/^words for it: (.+)$/, (m) => `指向此项的词：${m[1]}`],
    [/^learnt from this office's (\d+) typed letters$/, (m) => `依据本单位 ${m[1]} 件已分类来信学得`],
  ];
  const zh = (text) => {
    for (const [re, f] of PHRASES) { const m = re.exec(text); if (m) return f(m); }
    return text;
  };

  // -- loading -------------------------------------------------------------------------------------------------------
  async function load() {
    try {
      [detail, labels] = await Promise.all([api("GET", `/v1/cases/${enc(caseId)}`),
                                            labels ? Promise.resolve(labels) : api("GET", "/ui/api/labels")]);
    } catch (e) {
      $("#case-loading").hidden = true;
      showError(e);
      return;
    }
    $("#case-loading").hidden = true;
    $("#case-root").hidden = false;
    renderLetter();
    buildParts();
    renderParts();
    renderDecisions();
    loadDuplicates();
    loadSimilar();
  }

  function renderLetter() {
    const c = detail.case, s = detail.suggestion;
    // a ticket without a title (12345 tickets have none) is headed by its first words
    const heading = c.title || (c.content.length > 40 ? `${c.content.slice(0, 40)}…` : c.content);
    document.title = `${c.title || c.id} · 办理`;
    $("#case-title").textContent = heading;
    const meta = [["编号", c.id], ["受理日期", day(c.received_at || c.created_at)], ["渠道", words.channel[c.channel] || c.channel || "—"],
                  ["地区", c.region || "—"]];
    if (c.extra && typeof c.extra.location === "string") meta.push(["事发地点", c.extra.location]);
    $("#case-meta").replaceChildren(...meta.map(([k, v]) => h("span", {}, `${k}：`, h("b", { text: v }))),
      h("span", {}, "状态：", badge(statusWord(c.status), c.status === "merged" ? "closed" : "open")),
      c.merged_into ? h("span", {}, "已并入：", h("a", { href: `/ui/cases/${enc(c.merged_into)}`, text: c.merged_into })) : "");
    $("#case-content").textContent = c.content;
    const reply = $("#case-reply");
    reply.hidden = !c.reply;
    if (c.reply) reply.replaceChildren(h("b", { text: "答复：" }), c.reply);
    const pet = $("#petitioner");
    pet.hidden = !c.petitioner;
    if (c.petitioner) {
      const p = c.petitioner;
      pet.replaceChildren(h("b", { text: "来访人（已脱敏）：" }),
        [p.name, p.phone && `手机 ${p.phone}`, p.id_number && `证件 ${p.id_number}`].filter(Boolean).join("，") || "—");
    }
    const lit = $("#litigation");
    lit.hidden = !(s && s.litigation_related);
    if (s && s.litigation_related) {
      lit.textContent = `涉法涉诉（诉访分离）：文中出现 ${s.litigation_triggers.join("、")}。请引导通过诉讼、仲裁、行政复议等法定途径解决。`;
    }
    $("#model-version").textContent = s ? `模型 ${s.model_version}` : "";
    $("#no-suggestion").hidden = !!s;
    $("#readonly-note").hidden = canDecide || !s;
    $("#keys-help").hidden = !canDecide || !s;
    $("#next-case").hidden = !canDecide;
    if (!me.pages.includes("queue")) {           // reception: back to the desk, not to a queue it may not read
      $("#back-link").href = "/ui/reception";
      $("#back-link").textContent = "返回接待";
    }
  }

  // -- parts and their options ------------------------------------------------------------------------------------------
  function lastDecision(part) {
    const list = detail.decisions.filter((d) => d.part === part);
    return list.length ? list[list.length - 1] : null;
  }

  function buildParts() {
    parts = [];
    const s = detail.suggestion;
    if (!s) return;
    const labelled = (part, key) => (s[part] || []).slice(0, 5).map((x, i) => ({
      text: x[key], score: x.score, evidence: (x.evidence || []).map(zh),
      body: i === 0 ? { accepted: true } : { accepted: false, value: x[key] }, value: x[key] }));
    parts.push({ part: "domain", options: labelled("domain", "label"), top: s.domain[0] ? s.domain[0].label : null });
    parts.push({ part: "type", options: labelled("type", "label"), top: s.type[0] ? s.type[0].label : null,
                 note: s.category ? `归类：${s.category}` : null });
    parts.push({ part: "department", options: labelled("department", "name"), top: s.department[0] ? s.department[0].name : null });
    const dups = s.duplicates.matches || [];
    const topDup = (dups.find((m) => m.verdict === "duplicate") || {}).case_id || null;
    const dupOptions = [];
    const caseOption = (m, accepted) => ({ text: `与 ${m.case_id} 为同一事项`, score: m.score, caseId: m.case_id, value: m.case_id,
      evidence: (m.reasons || []).map(zh), body: accepted ? { accepted: true } : { accepted: false, duplicate_of: m.case_id } });
    const noneOption = (accepted) => ({ text: "不是重复件（新事项）", score: null, value: null,
      body: accepted ? { accepted: true } : { accepted: false, duplicate_of: null } });
    if (topDup) {
      dupOptions.push(caseOption(dups.find((m) => m.case_id === topDup), true), noneOption(false));
      dups.filter((m) => m.case_id !== topDup).slice(0, 3).forEach((m) => dupOptions.push(caseOption(m, false)));
    } else {
      dupOptions.push(noneOption(true));
      dups.slice(0, 4).forEach((m) => dupOptions.push(caseOption(m, false)));
    }
    parts.push({ part: "duplicate", options: dupOptions, top: topDup, verdict: s.duplicates.verdict });
    const firstOpen = parts.findIndex((p) => !lastDecision(p.part));
    focus = firstOpen >= 0 ? firstOpen : 0;
  }

  function renderParts() {
    const root = $("#parts");
    root.replaceChildren(...parts.map((p, index) => {
      const d = lastDecision(p.part);
      const head = h("div", { class: "part-head" },
        h("span", { class: "part-name" }, words.part[p.part],
          p.part === "duplicate" ? h("span", { class: "score" }, badge(words.verdict[p.verdict], p.verdict)) : ""),
        d ? h("span", { class: "part-state " + (d.accepted ? "accepted" : "corrected"),
                        text: (d.accepted ? "✓ 已采纳" : "✎ 已更正为 " + (d.value === null ? "不是重复件" : d.value)) + `（${d.handler}）` })
          : h("span", { class: "part-state muted", text: "待定" }));
      const options = h("ul", { class: "options" }, p.options.map((o, i) => {
        const chosen = d && (d.accepted ? i === 0 : i > 0 && o.value === d.value);
        const li = h("li", { class: (i === 0 ? "top " : "") + (chosen ? "chosen" : ""),
                             title: canDecide ? (i === 0 ? "采纳" : "改为此项") : "" },
          h("kbd", { class: "key", text: String(i + 1) }),
          h("span", { class: "label", text: o.text }),
          o.score !== null && o.score !== undefined ? h("span", { class: "sbar" }, bar(o.score)) : "",
          o.score !== null && o.score !== undefined ? h("span", { class: "score", text: score(o.score) }) : "");
        if (canDecide) li.addEventListener("click", (ev) => { ev.stopPropagation(); focus = index; choose(i); });
        return li;
      }));
      const top = p.options[0];
      const evidence = top && top.evidence && top.evidence.length
        ? h("ul", { class: "evidence" }, top.evidence.slice(0, 4).map((e) => h("li", { text: e }))) : "";
      const empty = p.options.length === 0 ? h("p", { class: "muted", text: "没有可用的建议（可直接输入更正）。" }) : "";
      const actions = canDecide ? h("div", { class: "part-actions" },
        p.options.length ? h("button", { type: "button", class: "secondary", onclick: (ev) => { ev.stopPropagation(); focus = index; choose(0); } }, "采纳 ", h("kbd", { text: "a" })) : "",
        h("button", { type: "button", class: "secondary", onclick: (ev) => { ev.stopPropagation(); focus = index; openCorrect(); } }, "更正 ", h("kbd", { text: "c" })),
        p.part === "duplicate" ? h("label", {}, h("input", { type: "checkbox", id: "merge", checked: merge,
          onchange: (ev) => { merge = ev.target.checked; } }), "同时并入原案 ", h("kbd", { text: "m" })) : "") : "";
      return h("div", { class: "part" + (index === focus ? " focused" : "") + (d ? " decided" : ""), dataset: { part: p.part },
                        onclick: () => { focus = index; renderParts(); } },
        head, p.note ? h("div", { class: "muted", text: p.note }) : "", options, evidence, empty, actions);
    }));
  }

  function bar(x) { const s = h("span"); s.style.width = `${Math.round((x || 0) * 100)}%`; return s; }

  // -- deciding ---------------------------------------------------------------------------------------------------------
  async function decide(body, summary) {
    if (!canDecide) { toast("当前角色只能查看，不能记录决定。", true); return false; }
    try {
      const out = await api("POST", `/v1/cases/${enc(caseId)}/decisions`, { suggestion_id: detail.suggestion.suggestion_id, ...body });
      detail.decisions.push(...out.decisions);
      if (body.duplicate && body.duplicate.merge) {   // the case's status changed: read it again
        try { detail.case = (await api("GET", `/v1/cases/${enc(caseId)}`)).case; renderLetter(); } catch (e) { /* shown next load */ }
      }
      const next = parts.findIndex((p, i) => i > focus && !lastDecision(p.part));
      const anyOpen = parts.findIndex((p) => !lastDecision(p.part));
      focus = next >= 0 ? next : (anyOpen >= 0 ? anyOpen : focus);
      renderParts();
      renderDecisions();
      toast(`已记录：${summary}`);
      return true;
    } catch (e) {
      toast(e.message, true);
      return false;
    }
  }

  function choose(i) {
    const p = parts[focus];
    const o = p && p.options[i];
    if (!o) return;
    let body = { ...o.body };
    if (p.part === "duplicate") {
      const into = o.body.accepted ? p.top : o.body.duplicate_of;
      if (merge && into) body.merge = true;
    }
    const what = i === 0 ? `${words.part[p.part]} 采纳“${o.text}”` : `${words.part[p.part]} 更正为“${o.text}”`;
    decide({ [p.part]: body }, what + (body.merge ? "，并入原案" : ""));
  }

  function acceptAll() {
    const body = {};
    const names = [];
    for (const p of parts) {
      if (lastDecision(p.part) || !p.options.length) continue;
      body[p.part] = { accepted: true };
      if (p.part === "duplicate" && merge && p.top) body.duplicate.merge = true;
      names.push(words.part[p.part]);
    }
    if (!names.length) { toast("各项均已决定。"); return; }
    decide(body, `采纳 ${names.join("、")}`);
  }

  function openCorrect() {
    if (!canDecide) return;
    const p = parts[focus];
    correcting = p;
    const list = p.part === "domain" ? labels.domain : p.part === "type" ? labels.type : p.part === "department"
      ? Array.from(new Set([...p.options.map((o) => o.text), ...labels.department])) : p.options.filter((o) => o.caseId).map((o) => o.caseId);
    $("#correct-list").replaceChildren(...list.map((x) => h("option", { value: x })));
    $("#correct-label").textContent = p.part === "duplicate" ? "与此案为同一事项（填写原案编号，留空表示不是重复件）" : `${words.part[p.part]}更正为`;
    const input = $("#correct-input");
    input.value = "";
    $("#correct-box").hidden = false;
    input.focus();
  }

  function closeCorrect() { $("#correct-box").hidden = true; correcting = null; }

  async function saveCorrect() {
    const p = correcting;
    if (!p) return;
    const value = $("#correct-input").value.trim();
    let body;
    if (p.part === "duplicate") {
      if (value === (p.top || "")) body = { accepted: true };
      else body = { accepted: false, duplicate_of: value || null };
      const into = body.accepted ? p.top : body.duplicate_of;
      if (merge && into) body.merge = true;
    } else {
      if (!value) { toast(`请填写${words.part[p.part]}。`, true); return; }
      if ((p.part === "domain" && !labels.domain.includes(value)) || (p.part === "type" && !labels.type.includes(value))) {
        toast(`“${value}”不是可选的${words.part[p.part]}，请从列表中选择。`, true); return;
      }
      body = value === p.top ? { accepted: true } : { accepted: false, value };
    }
    const ok = await decide({ [p.part]: body }, `${words.part[p.part]} ${body.accepted ? "采纳" : "更正为"}“${value || "不是重复件"}”`);
    if (ok) closeCorrect();
  }

  // the store keeps UTC without a zone: shown in the browser's local time
  function localTime(iso) {
    if (!iso) return "—";
    const t = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    if (Number.isNaN(t.getTime())) return iso;
    const p = (n) => String(n).padStart(2, "0");
    return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}`;
  }

  function renderDecisions() {
    const rows = detail.decisions.slice().reverse();
    $("#decisions-empty").hidden = rows.length > 0;
    $("#decisions-table").hidden = rows.length === 0;
    const v = (x, part) => (x === null || x === undefined ? (part === "duplicate" ? "不是重复件" : "—") : String(x));
    $("#decisions-table tbody").replaceChildren(...rows.map((d) => h("tr", {},
      h("td", { class: "nowrap", text: localTime(d.created_at) }),
      h("td", { text: words.part[d.part] || d.part }),
      h("td", {}, badge(d.accepted ? "采纳" : "更正", d.accepted ? "new" : "related")),
      h("td", { text: v(d.suggested, d.part) }),
      h("td", { text: v(d.value, d.part) }),
      h("td", { text: d.handler }),
      h("td", { class: "muted", text: d.model_version }))));
  }

  // -- duplicates side by side -------------------------------------------------------------------------------------------
  async function loadDuplicates() {
    const stored = detail.suggestion ? detail.suggestion.duplicates : { verdict: "new", matches: [] };
    let matches = stored.matches.slice();
    let verdict = stored.verdict;
    try {
      const live = (await api("GET", `/v1/cases/${enc(caseId)}/duplicates`)).duplicates;
      const known = new Set(matches.map((m) => m.case_id));
      for (const m of live.matches) if (!known.has(m.case_id)) matches.push({ ...m, later: true });
      if (!detail.suggestion) verdict = live.verdict;
    } catch (e) { /* the stored verdict is enough */ }
    $("#dup-verdict").replaceChildren(badge(words.verdict[verdict] || verdict, verdict));
    $("#dup-none").hidden = matches.length > 0;
    $("#side-by-side").hidden = matches.length === 0;
    $("#diff-legend").hidden = matches.length === 0;
    const tabs = $("#dup-tabs");
    tabs.replaceChildren(...matches.map((m, i) => h("button", { type: "button", class: "secondary" + (i === 0 ? " active" : ""), dataset: { caseId: m.case_id },
      onclick: (ev) => { $$("#dup-tabs button").forEach((b) => b.classList.toggle("active", b === ev.currentTarget)); showPair(m); } },
      `${m.case_id}　${words.verdict[m.verdict] || m.verdict} ${pct(m.score)}${m.later ? "（后来件）" : ""}`)));
    if (matches.length) showPair(matches[0]);
  }

  async function showPair(m) {
    const c = detail.case;
    $("#left-meta").textContent = `${day(c.received_at || c.created_at)}`;
    const link = $("#right-link");
    link.href = `/ui/cases/${enc(m.case_id)}`;
    link.textContent = m.case_id;
    $("#dup-reasons").replaceChildren(...(m.reasons || []).map((r) => h("li", { text: zh(r) })));
    $("#right-text").textContent = "正在加载…";
    try {
      if (!cases[m.case_id]) cases[m.case_id] = (await api("GET", `/v1/cases/${enc(m.case_id)}`)).case;
    } catch (e) {
      $("#right-text").textContent = e.message;
      return;
    }
    const other = cases[m.case_id];
    $("#right-meta").textContent = `${day(other.received_at || other.created_at)} · ${statusWord(other.status)} · ${other.department || "承办单位未定"}`;
    const a = `${c.title ? c.title + "\n" : ""}${c.content}`, b = `${other.title ? other.title + "\n" : ""}${other.content}`;
    const d = Diff.compare(a, b);
    Diff.render($("#left-text"), d.left, "del");
    Diff.render($("#right-text"), d.right, "ins");
  }

  // -- similar cases (类案推送) -------------------------------------------------------------------------------------------------
  async function loadSimilar() {
    $("#similar-loading").hidden = false;
    try {
      const out = await api("GET", `/v1/cases/${enc(caseId)}/similar?k=${similarK}`);
      $("#similar-list").replaceChildren(...out.similar.map((s) => h("li", {},
        h("div", { class: "s-head" },
          h("a", { href: `/ui/cases/${enc(s.case_id)}`, text: s.title || s.opening || s.case_id }),
          h("span", { class: "score", text: `相似度 ${pct(Math.max(0, Math.min(1, s.score)))}` }),
          s.domain ? badge(s.domain) : "",
          h("span", { class: "muted", text: `承办：${s.department || "—"}` }),
          h("span", { class: "muted", text: day(s.received_at) })),
        s.reply_excerpt ? h("div", { class: "s-reply" }, h("b", { text: "答复摘要：" }), s.reply_excerpt)
          : h("div", { class: "muted", text: "（无答复记录）" }))));
      if (!out.similar.length) $("#similar-list").replaceChildren(h("li", { class: "muted", text: "没有找到相似的既往案件。" }));
      $("#similar-more").hidden = out.similar.length < similarK || similarK >= 50;
    } catch (e) {
      $("#similar-list").replaceChildren(h("li", { class: "notice error", text: e.message }));
    } finally {
      $("#similar-loading").hidden = true;
    }
  }

  // -- next case, toast, keys --------------------------------------------------------------------------------------------------
  async function nextCase() {
    try {
      const q = await api("GET", "/ui/api/queue?state=todo&limit=5");
      const next = q.items.find((i) => i.id !== caseId);
      if (next) location.href = `/ui/cases/${enc(next.id)}`; else toast("没有待分拣的来件了。");
    } catch (e) { toast(e.message, true); }
  }

  let toastTimer = null;
  function toast(message, error) {
    const t = $("#toast");
    t.textContent = message;
    t.className = "toast" + (error ? " error" : "");
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, error ? 6000 : 2500);
  }

  $("#next-case").addEventListener("click", nextCase);
  $("#similar-more").addEventListener("click", () => { similarK = Math.min(50, similarK + 5); loadSimilar(); });
  $("#correct-save").addEventListener("click", saveCorrect);
  $("#correct-cancel").addEventListener("click", closeCorrect);
  $("#correct-input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); saveCorrect(); }
    else if (ev.key === "Escape") { ev.preventDefault(); closeCorrect(); }
  });

  document.addEventListener("keydown", (ev) => {
    if (T.isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey || !detail) return;
    if (ev.key === "n") { if (canDecide) nextCase(); return; }
    if (!parts.length) return;
    const k = ev.key;
    if (k === "j" || k === "ArrowDown") { focus = Math.min(parts.length - 1, focus + 1); renderParts(); ev.preventDefault(); }
    else if (k === "k" || k === "ArrowUp") { focus = Math.max(0, focus - 1); renderParts(); ev.preventDefault(); }
    else if (k === "a" || k === "1") { choose(0); ev.preventDefault(); }
    else if (k >= "2" && k <= "5") { choose(Number(k) - 1); ev.preventDefault(); }
    else if (k === "c") { openCorrect(); ev.preventDefault(); }
    else if (k === "A") { acceptAll(); ev.preventDefault(); }
    else if (k === "m") { merge = !merge; renderParts(); toast(merge ? "重复件决定将同时并入原案" : "不并入原案"); }
    else if (k === "Escape") closeCorrect();
  });

  load();
  void flash;
})();
