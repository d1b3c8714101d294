/* 概览: volumes by day and domain (GET /ui/api/volumes), acceptance rate per suggestion part and the
   distributions (GET /v1/stats), as SVG charts. */
"use strict";
(async () => {
  const { $, api, words, pct, statusWord, showError } = T;
  await T.ready("overview");
  const days = $("#days"), until = $("#until");
  const params = new URLSearchParams(location.search);
  days.value = params.get("days") || "30";
  until.value = /^\d{4}-\d{2}-\d{2}$/.test(params.get("until") || "") ? params.get("until") : "";

  async function loadVolumes() {
    try {
      const q = new URLSearchParams({ days: days.value });
      if (until.value) q.set("until", until.value);
      const v = await api("GET", `/ui/api/volumes?${q}`);
      $("#days-range").textContent = `${v.since} 至 ${v.until}，共 ${v.total} 件，其中在办 ${v.open} 件`;
      Charts.stackedColumns($("#chart-days"), v.days, v.domains.map((d) => ({ name: d, values: v.counts[d], color: Charts.domainColor(d) })),
                            { label: "每日来件量（按领域）" });
    } catch (e) {
      showError(e);
      $("#chart-days").replaceChildren();
    }
  }

  async function loadStats() {
    let s;
    try { s = await api("GET", "/v1/stats"); } catch (e) { showError(e); return; }
    $("#t-cases").textContent = s.cases;
    $("#t-open").textContent = s.open;
    $("#t-suggestions").textContent = s.suggestions;
    $("#t-decisions").textContent = Object.values(s.decisions).reduce((a, p) => a + p.decisions, 0);
    const rateColor = (r) => (r === null ? "#d3d9df" : r >= 0.8 ? "#3a9a5b" : r >= 0.5 ? "#e0a030" : "#c2405c");
    Charts.bars($("#chart-acceptance"), ["domain", "type", "department", "duplicate"].map((part) => {
      const p = s.decisions[part] || { decisions: 0, accepted: 0, acceptance_rate: null };
      return { label: words.part[part], value: p.acceptance_rate || 0, text: p.decisions ? pct(p.acceptance_rate) : "暂无决定",
               note: p.decisions ? `${p.accepted}/${p.decisions}` : "", color: rateColor(p.acceptance_rate) };
    }), { max: 1, label: "建议采纳率" });
    const dist = (obj, name) => Object.entries(obj).sort((a, b) => b[1] - a[1]).slice(0, 12)
      .map(([k, n], i) => ({ label: name(k), value: n, color: Charts.colorOf(name(k), i) }));
    Charts.bars($("#chart-domains"), dist(s.by_domain, (k) => (k === "unknown" ? "未分类" : k))
      .map((it) => ({ ...it, color: Charts.domainColor(it.label) })), { label: "领域分布" });
    Charts.bars($("#chart-channels"), dist(s.by_channel, (k) => (k === "unknown" ? "未注明" : words.channel[k] || k)), { label: "来件渠道" });
    Charts.bars($("#chart-status"), dist(s.by_status, (k) => (k === "unknown" ? "待处理" : statusWord(k))), { label: "办理状态" });
  }

  const reload = () => {
    const q = new URLSearchParams({ days: days.value });
    if (until.value) q.set("until", until.value);
    history.replaceState(null, "", `/ui/overview?${q}`);
    loadVolumes();
  };
  days.addEventListener("change", reload);
  until.addEventListener("change", reload);
  await loadStats();      // first: it names the domains largest first, which fixes their colours
  await loadVolumes();
  document.body.dataset.ready = "1";
})();
