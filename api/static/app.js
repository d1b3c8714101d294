/* Shared by every page: the signed-in key (sessionStorage), calls to the /v1 API, errors in plain Chinese,
   a small DOM builder (text is always set as text, never parsed as HTML), and Chinese words for codes. */
"use strict";

const T = (() => {
  const KEY = "triage.key", ME = "triage.me";

  // -- session -----------------------------------------------------------------------------------------
  const session = {
    key: () => sessionStorage.getItem(KEY),
    me: () => { try { return JSON.parse(sessionStorage.getItem(ME) || "null"); } catch (e) { return null; } },
    set(key, me) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ME, JSON.stringify(me)); },
    clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ME); },
  };

  // -- words -----------------------------------------------------------------------------------------------
  const words = {
    part: { domain: "领域", type: "类型", department: "承办单位", duplicate: "重复件" },
    verdict: { duplicate: "疑似重复", related: "相关", new: "新件", unrelated: "无关" },
    channel: { letter: "来信", visit: "来访", online: "网上", phone: "来电", other: "其他", app: "App", wechat: "微信", "12345": "12345" },
    status: { open: "待处理", processing: "办理中", pending: "待处理", concluded: "已办结", closed: "已办结", resolved: "已办结",
              done: "已办结", replied: "已答复", merged: "已合并", overdue: "超期" },
    matched: { id_number: "身份证号", phone: "手机号", name: "姓名", account: "账号" },
    field: { content: "诉求内容", title: "标题", id: "编号", received_at: "受理日期", region: "地区", domain: "领域",
             type: "类型", department: "承办单位", status: "状态", matter: "诉求事项", "petitioner.phone": "手机号",
             "petitioner.id_number": "身份证号", "petitioner.name": "姓名", id_number: "身份证号", phone: "手机号",
             name: "姓名", "X-API-Key": "角色密钥", case_id: "案件编号", "duplicate.duplicate_of": "原案件编号",
             "duplicate.merge": "并入原案", "domain.value": "领域", "type.value": "类型", "department.value": "承办单位",
             suggestion_id: "建议编号", body: "请求内容", until: "截止日期", since: "起始日期", reply: "答复",
             channel: "渠道", "petitioner.address": "住址", "petitioner.account": "账号", location: "事发地点" },
  };
  const statusWord = (s) => (s ? (words.status[s] || s) : "待处理");
  const statusClass = (s, open) => (s === "overdue" ? "overdue" : (open === false ? "closed" : "open"));

  // -- errors ---------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(chineseMessage(status, err));
      this.status = status; this.code = err.code || null; this.field = err.field || null; this.requestId = err.request_id || null;
      this.detail = err.message || "";   // the API's own words, for a page that says more than the general sentence
    }
  }

  function chineseMessage(status, err) {
    const field = err.field ? (words.field[err.field] || words.field[String(err.field).replace(/^letters\[\d+\]\./, "")] || err.field) : "";
    const ref = err.request_id ? `（请求编号 ${err.request_id}）` : "";
    switch (status) {
      case 0: return "无法连接服务器，请检查网络后重试。";
      case 400: return "提交的内容格式有误，请刷新页面后重试。";
      case 401: return "登录已失效或密钥无效，请重新登录。";
      case 403: return "当前角色无权进行此操作。";
      case 404: return err.field === "case_id" || err.field === "duplicate.duplicate_of" ? "未找到该案件。" : "未找到所请求的内容。";
      case 409:
        if (err.field === "suggestion_id") return "该案件没有分拣建议（导入的历史件），无法记录决定。";
        if (err.field === "id") return "该编号已被其他来件使用。";
        return "操作与已有记录冲突，请刷新后重试。";
      case 413: return "提交的内容过大，请缩短后重试。";
      case 422:
        if (err.field && /value$/.test(err.field) && /not a/.test(err.message || "")) return `“${field}”不是本系统的可选值，请从列表中选择。`;
        if (/required|is empty|too short|at least one/.test(err.message || "")) return field ? `请填写${field}。` : "请至少填写一项。";
        if (/too long|limit/.test(err.message || "")) return `${field || "内容"}过长，请缩短。`;
        return field ? `“${field}”填写有误，请检查。` : "填写的内容有误，请检查。";
      case 429: return "请求过于频繁，请稍后再试。";
      case 503: return "服务正在启动或暂不可用，请稍后重试。";
      default: return status >= 500 ? `服务器处理出错，请稍后重试${ref}。` : `请求未能完成（${status}）${ref}。`;
    }
  }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    const key = session.key();
    if (key) headers["X-API-Key"] = key;
    const form = body instanceof FormData;   // a file upload goes as multipart, its boundary set by the browser
    if (body !== undefined && !form) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined || form ? body : JSON.stringify(body), cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, null);
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const error = new ApiError(res.status, data);
      if (res.status === 401 && !path.startsWith("/ui/api/me")) signOut("登录已失效或密钥无效，请重新登录。");
      throw error;
    }
    return data;
  }

  // -- DOM ------------------------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function flash(message, kind) {
    const box = $("#flash");
    box.textContent = message;
    box.className = "flash" + (kind ? " " + kind : "");
    box.hidden = !message;
    if (message) window.scrollTo({ top: 0, behavior: "smooth" });
  }
  const showError = (e) => flash(e instanceof ApiError ? e.message : "页面出错，请刷新后重试。");

  function busy(node, on) { if (node) node.hidden = !on; }

  // -- formatting -------------------------------------------------------------------------------------------
  const day = (iso) => (iso ? String(iso).slice(0, 10) : "—");
  const pct = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`);
  const score = (x) => (x === null || x === undefined ? "" : x.toFixed(2));
  const badge = (text, cls) => h("span", { class: "badge " + (cls || ""), text });

  // -- sign-in guard and menu ------------------------------------------------------------------------------------
  function signOut(message) {
    session.clear();
    const next = encodeURIComponent(location.pathname + location.search);
    if (message) sessionStorage.setItem("triage.msg", message);
    location.replace(`/ui/login?next=${next}`);
  }

  async function ready(page) {
    if (page === "login") return null;
    if (!session.key()) { signOut(); return new Promise(() => {}); }
    let me = session.me();
    if (!me) {
      try { me = await api("GET", "/ui/api/me"); session.set(session.key(), me); }
      catch (e) { signOut(e.message); return new Promise(() => {}); }
    }
    $("#nav").hidden = false;
    $("#who").hidden = false;
    $("#who-role").textContent = me.role_name;
    $("#who-name").textContent = me.name;
    for (const a of $$("[data-nav]")) {
      a.hidden = !me.pages.includes(a.dataset.nav);
      a.classList.toggle("active", a.dataset.nav === page || (page === "case" && a.dataset.nav === "queue"));
    }
    return me;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const out = $("#signout");
    if (out) out.addEventListener("click", () => { session.clear(); location.replace("/ui/login"); });
    const page = document.body.dataset.page;
    if (page === "home" || page === "notfound") {
      ready(page).then((me) => { if (page === "home" && me) location.replace(me.home); });
    }
  });

  const isTyping = (ev) => {
    const t = ev.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  };

  return { session, words, statusWord, statusClass, ApiError, api, h, $, $$, flash, showError, busy, day, pct, score,
           badge, ready, signOut, isTyping };
})();
