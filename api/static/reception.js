/* 来访接待: identity (+ matter) → POST /v1/reception/check → the duplicate-visit alert and earlier cases;
   then register the visit (POST /v1/letters, channel visit) or attach it to the open case (a duplicate
   decision with merge on the newly registered visit). The clear identity only travels in POST bodies. */
"use strict";
(async () => {
  const { $, h, api, words, day, pct, badge, statusWord, statusClass, flash, showError, busy } = T;
  const me = await T.ready("reception");
  const form = $("#check-form");
  let last = null;        // the last check's answer
  let limit = 20;
  let checking = null;

  const fields = () => {
    const v = (id) => $("#" + id).value.trim();
    return { id_number: v("id_number"), phone: v("phone"), name: v("name"), matter: v("matter"), region: v("region") };
  };
  const identity = (f) => Object.fromEntries(["id_number", "phone", "name"].filter((k) => f[k]).map((k) => [k, f[k]]));

  async function check() {
    const f = fields();
    const body = { ...identity(f), limit };
    if (f.matter) body.matter = f.matter;
    if (Object.keys(body).length === 1) { flash("请至少填写身份证号、手机号、姓名或诉求事项中的一项。"); return; }
    flash("");
    const token = {};
    checking = token;
    busy($("#check-busy"), true);
    $("#check-btn").disabled = true;
    try {
      const out = await api("POST", "/v1/reception/check", body);
      if (checking !== token) return;   // a newer check is under way
      last = { request: f, answer: out };
      render(out, f);
    } catch (e) {
      if (checking === token) showError(e);
    } finally {
      if (checking === token) { busy($("#check-busy"), false); $("#check-btn").disabled = false; }
    }
  }

  // -- the alert ----------------------------------------------------------------------------------------------
  function alertFor(out) {
    const person = out.person.cases, matter = out.matter ? out.matter.cases : [];
    const byId = Object.fromEntries([...person, ...matter].map((c) => [c.case_id, c]));
    const first = byId[out.alert.case_ids[0]];
    const facts = (c) => c ? [
      `受理日期：${day(c.received_at || c.created_at)}`, `状态：${statusWord(c.status)}`,
      `承办单位：${c.department || "尚未确定"}`, `案件编号：${c.case_id}`] : [];
    switch (out.alert.level) {
      case "duplicate_visit":
        return { level: "duplicate_visit", label: "重复访", title: "该事项已在办理中，属于重复来访",
                 text: "建议并入原案件，并告知来访人办理进度，不另立新件。", facts: facts(first) };
      case "repeat_after_conclusion":
        return { level: "repeat_after_conclusion", label: "重复信访", title: "该事项此前已办结",
                 text: "来访人再次反映已办结的事项。如对处理意见不服，请引导其申请复查。", facts: facts(first) };
      case "person_has_open_cases":
        return { level: "person_has_open_cases", label: "在办事项",
                 title: `该来访人有 ${out.alert.case_ids.length} 件在办事项`,
                 text: "请核对本次来访是否与在办事项为同一事项。", facts: facts(first) };
      default:
        if (person.length || matter.length) {
          return { level: "known", label: "有记录", title: person.length ? `该来访人有 ${out.person.total} 件既往记录，均已办结` : "有相关事项记录",
                   text: person.length ? "本次来访如为新的事项，可登记为新来访件。" : "其他人反映过相关事项，请参考下方列表。", facts: [] };
        }
        return { level: "none", label: "无既往记录", title: "系统中没有该来访人或该事项的记录",
                 text: "本次为初次来访，可登记为新来访件。", facts: [] };
    }
  }

  function render(out, f) {
    $("#result").hidden = false;
    const a = alertFor(out);
    const box = $("#alert");
    box.dataset.level = a.level;
    $("#alert-label").textContent = a.label;
    $("#alert-title").textContent = a.title;
    const text = $("#alert-text");
    text.replaceChildren(a.text, a.facts.length ? h("ul", { class: "facts" }, a.facts.map((x) => h("li", { text: x }))) : "");
    $("#name-only").hidden = !out.person.matched_on_name_only;
    const attach = $("#alert-attach");
    const target = out.alert.level === "duplicate_visit" ? out.alert.case_ids[0] : null;
    attach.hidden = !(target && f.matter);
    attach.disabled = false;
    attach.dataset.caseId = target || "";
    attach.textContent = target ? `登记本次来访并并入原案 ${target}` : "";

    const matterById = Object.fromEntries((out.matter ? out.matter.cases : []).map((c) => [c.case_id, c]));
    // earlier cases of this person
    const persons = out.person.cases;
    $("#person-section").hidden = persons.length === 0;
    $("#person-count").textContent = out.person.total > persons.length ? `共 ${out.person.total} 件，显示 ${persons.length} 件` : `共 ${persons.length} 件，在办 ${out.person.open} 件`;
    $("#person-table tbody").replaceChildren(...persons.map((c) => {
      const m = matterById[c.case_id];
      const same = !out.matter ? badge("未填事项", "no") : m ? (m.verdict === "duplicate" ? badge("是", "yes") : badge("相关", "maybe")) : badge("否", "no");
      return h("tr", { class: m && m.verdict === "duplicate" ? "same" : "" },
        h("td", { text: day(c.received_at || c.created_at) }),
        h("td", { class: "title" }, h("a", { href: `/ui/cases/${encodeURIComponent(c.case_id)}`, text: c.title || c.case_id })),
        h("td", { text: words.channel[c.channel] || c.channel || "—" }),
        h("td", {}, badge(statusWord(c.status), statusClass(c.status, c.open))),
        h("td", { text: c.department || "尚未确定" }),
        h("td", {}, same),
        h("td", { text: c.matched_on.map((k) => words.matched[k] || k).join("、") }),
        h("td", { text: maskedPerson(c.petitioner) }),
        h("td", {}, attachButton(c, m)));
    }));
    $("#person-more").hidden = !(out.person.total > persons.length && limit < 100);

    // the matter's cases that are not this person's
    const personIds = new Set(persons.map((c) => c.case_id));
    const others = (out.matter ? out.matter.cases : []).filter((c) => !personIds.has(c.case_id));
    $("#matter-section").hidden = others.length === 0;
    $("#matter-count").textContent = `共 ${others.length} 件`;
    $("#matter-table tbody").replaceChildren(...others.map((c) => h("tr", { class: c.verdict === "duplicate" ? "same" : "" },
      h("td", { text: day(c.received_at || c.created_at) }),
      h("td", { class: "title" }, h("a", { href: `/ui/cases/${encodeURIComponent(c.case_id)}`, text: c.title || c.case_id })),
      h("td", {}, badge(words.verdict[c.verdict] || c.verdict, c.verdict)),
      h("td", { class: "num", text: pct(c.score) }),
      h("td", {}, badge(statusWord(c.status), statusClass(c.status, c.open))),
      h("td", { text: c.department || "尚未确定" }),
      h("td", { text: c.same_petitioner ? "是" : "否" }),
      h("td", {}, attachButton(c, c)))));

    // registering
    $("#register-result").replaceChildren();
    const canRegister = !!f.matter;
    $("#register-new").disabled = !canRegister;
    $("#register-hint").textContent = canRegister
      ? (out.alert.level === "duplicate_visit" ? "该事项已在办理中：建议并入原案（见上方提醒），而不是登记新件。" : "确认后登记为新的来访件，系统将给出分拣建议。")
      : "请先填写诉求事项，才能登记本次来访。";
  }

  function localNow() {
    const d = new Date();
    d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
    return d.toISOString().slice(0, 19);
  }

  function maskedPerson(p) {
    if (!p) return "—";
    return [p.name, p.phone, p.id_number].filter(Boolean).join(" / ") || "—";
  }

  function attachButton(c, m) {
    if (!c.open || !m || m.verdict !== "duplicate") return "";
    return h("button", { type: "button", class: "secondary attach", dataset: { caseId: c.case_id },
                         onclick: () => register(c.case_id) , text: "并入此案" });
  }

  // -- registering the visit -------------------------------------------------------------------------------------
  async function register(attachTo) {
    clearTimeout(timer);
    checking = null;          // an answer still under way must not redraw over the registration
    busy($("#check-busy"), false);
    $("#check-btn").disabled = false;
    const f = fields();
    if (!f.matter) { flash("请先填写诉求事项，才能登记本次来访。"); return; }
    flash("");
    const buttons = [$("#register-new"), ...document.querySelectorAll("button.attach")];
    buttons.forEach((b) => { b.disabled = true; });
    busy($("#register-busy"), true);
    $("#register-busy-text").textContent = attachTo ? "正在登记并并入原案…（1/2）" : "正在登记并分拣…";
    const short = Array.from(f.matter.replace(/\s+/g, " ")).slice(0, 24).join("");
    const letter = { channel: "visit", title: `来访：${short}`, content: f.matter, received_at: localNow(),
                     petitioner: identity(f) };
    if (f.region) letter.region = f.region;
    if (attachTo) letter.visit_of = attachTo;
    const out = $("#register-result");
    try {
      const sug = await api("POST", "/v1/letters?k=5", letter);
      let merged = false, mergeError = null;
      if (attachTo) {
        $("#register-busy-text").textContent = "正在并入原案…（2/2）";
        const top = (sug.duplicates.matches.find((m) => m.verdict === "duplicate") || {}).case_id;
        const duplicate = top === attachTo ? { accepted: true, merge: true } : { accepted: false, duplicate_of: attachTo, merge: true };
        try {
          await api("POST", `/v1/cases/${encodeURIComponent(sug.id)}/decisions`, { suggestion_id: sug.suggestion_id, duplicate });
          merged = true;
        } catch (e) { mergeError = e; }
      }
      out.replaceChildren(registered(sug, attachTo, merged, mergeError));
      $("#register-new").disabled = true;
    } catch (e) {
      showError(e);
      buttons.forEach((b) => { b.disabled = false; });
    } finally {
      busy($("#register-busy"), false);
    }
  }

  function registered(sug, attachTo, merged, mergeError) {
    const link = h("a", { href: `/ui/cases/${encodeURIComponent(sug.id)}`, text: sug.id });
    const top = (list, key) => (list && list[0] ? list[0][key || "label"] : "—");
    let head;
    if (!attachTo) head = h("p", { class: "notice ok" }, "已登记为新来访件，编号 ", link, "。");
    else if (merged) head = h("p", { class: "notice ok" }, "已登记本次来访（编号 ", link, "）并并入原案 ", attachTo, "。请告知来访人原案的办理进度。");
    else head = h("p", { class: "notice warn" }, "已登记本次来访（编号 ", link, "），并标注为原案 ", attachTo, " 的重复来访；",
      mergeError && mergeError.status === 403 ? "并入原案须由承办人或预分拣人员确认（当前角色无权记录决定）。" : `并入未完成：${mergeError ? mergeError.message : ""}`);
    return h("div", { class: "registered" }, head,
      h("table", { class: "table" }, h("tbody", {},
        h("tr", {}, h("th", { text: "建议领域" }), h("td", { text: top(sug.domain) })),
        h("tr", {}, h("th", { text: "建议类型" }), h("td", { text: `${top(sug.type)}${sug.category ? "（" + sug.category + "）" : ""}` })),
        h("tr", {}, h("th", { text: "建议承办单位" }), h("td", { text: top(sug.department, "name") })),
        h("tr", {}, h("th", { text: "判重" }), h("td", {}, badge(words.verdict[sug.duplicates.verdict], sug.duplicates.verdict))))),
      sug.litigation_related ? h("p", { class: "notice warn", text: "涉法涉诉：该事项可能已进入或属于诉讼、仲裁、行政复议等法定途径，请引导来访人依法定途径解决。" }) : "");
  }

  // -- events ----------------------------------------------------------------------------------------------------
  let timer = null;
  form.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(timer); limit = 20; check(); });
  form.addEventListener("reset", () => { $("#result").hidden = true; last = null; flash(""); setTimeout(() => $("#id_number").focus(), 0); });
  $("#register-new").addEventListener("click", () => register(null));
  $("#alert-attach").addEventListener("click", (ev) => register(ev.currentTarget.dataset.caseId));
  $("#person-more").addEventListener("click", () => { limit = Math.min(100, limit + 20); check(); });
  $("#matter").addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); } });
  // answer at once: a complete ID number or phone number starts the check by itself
  for (const id of ["id_number", "phone"]) {
    $("#" + id).addEventListener("input", () => {
      clearTimeout(timer);
      const f = fields();
      const complete = /^\d{17}[\dXx]$/.test(f.id_number) || /^1\d{10}$/.test(f.phone.replace(/[\s-]/g, ""));
      if (complete) timer = setTimeout(() => { limit = 20; check(); }, 400);
    });
  }
  $("#id_number").focus();
  void me;
})();
