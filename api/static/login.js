/* Sign-in: the pasted key is checked against /ui/api/me, then kept in this tab's sessionStorage only. */
"use strict";
(() => {
  const { $, api, session } = T;
  const err = $("#login-error");
  const msg = sessionStorage.getItem("triage.msg");
  if (msg) { err.textContent = msg; err.hidden = false; sessionStorage.removeItem("triage.msg"); }

  function safeNext(me) {
    const next = new URLSearchParams(location.search).get("next") || "";
    // only a page of this site, never another origin
    return next.startsWith("/ui/") && !next.startsWith("//") && !next.startsWith("/ui/login") ? next : me.home;
  }

  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = $("#key").value.trim();
    err.hidden = true;
    if (!key) { err.textContent = "请粘贴角色密钥。"; err.hidden = false; return; }
    const button = $("#login-submit");
    button.disabled = true;
    session.clear();
    sessionStorage.setItem("triage.key", key);
    try {
      const me = await api("GET", "/ui/api/me");
      session.set(key, me);
      location.replace(safeNext(me));
    } catch (e) {
      session.clear();
      err.textContent = e.status === 401 ? "密钥无效，请核对后重新粘贴。" : e.message;
      err.hidden = false;
      button.disabled = false;
    }
  });
})();
