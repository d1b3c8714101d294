/* Small SVG charts, no library: stacked columns (volumes by day and domain) and horizontal bars
   (acceptance rates, distributions). Every mark has a <title> so hovering shows the exact figure. */
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2f6fb3", "#e07b39", "#3a9a5b", "#c2405c", "#7a5bb5", "#c9a227", "#4aa3b5", "#9c6b4e", "#5b7083"];
  const GREY = { "其他": "#a7b1bb", "未分类": "#d3d9df", unknown: "#d3d9df" };

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const title = (text) => svg("title", {}, text);
  const colorOf = (name, i) => GREY[name] || PALETTE[i % PALETTE.length];
  // one colour per domain across every chart of the page, in the order the domains are first named
  const named = new Map();
  const domainColor = (name) => {
    if (GREY[name]) return GREY[name];
    if (!named.has(name)) named.set(name, PALETTE[named.size % PALETTE.length]);
    return named.get(name);
  };

  function niceMax(x) {
    if (x <= 5) return Math.max(1, Math.ceil(x));
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
    return 10 * p;
  }

  function legend(series) {
    const box = document.createElement("div");
    box.className = "legend";
    for (const s of series) {
      const item = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = s.color;
      item.append(sw, document.createTextNode(`${s.name}（${s.values.reduce((a, b) => a + b, 0)}）`));
      box.append(item);
    }
    return box;
  }

  /** days: ["2024-05-01", …]; series: [{name, values: [n per day]}] → stacked columns with a legend. */
  function stackedColumns(container, days, series, opts = {}) {
    const W = 960, H = opts.height || 280, L = 44, R = 12, T = 14, B = 34;
    const totals = days.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
    const max = niceMax(Math.max(1, ...totals));
    const plotW = W - L - R, plotH = H - T - B;
    const step = plotW / Math.max(1, days.length);
    const bw = Math.max(2, Math.min(28, step * 0.72));
    const y = (v) => T + plotH - (v / max) * plotH;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label || "柱状图" });
    const ticks = max <= 5 ? max : 5;   // counts: whole numbers on the axis (niceMax gives 10, 20, 25, 50…)
    for (let t = 0; t <= ticks; t++) {
      const v = (max / ticks) * t;
      root.append(svg("line", { class: "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
                  svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, Number.isInteger(v) ? v : v.toFixed(1)));
    }
    root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: y(0), y2: y(0) }));
    const every = Math.max(1, Math.ceil(days.length / 12));
    const colored = series.map((s, i) => ({ ...s, color: s.color || colorOf(s.name, i) }));
    days.forEach((d, i) => {
      const x = L + i * step + (step - bw) / 2;
      let acc = 0;
      const g = svg("g", { class: "day" }, title(`${d}：共 ${totals[i]} 件` + colored.filter((s) => s.values[i]).map((s) => `\n${s.name} ${s.values[i]}`).join("")));
      for (const s of colored) {
        const v = s.values[i] || 0;
        if (!v) continue;
        g.append(svg("rect", { x: x.toFixed(1), y: y(acc + v).toFixed(1), width: bw.toFixed(1), height: Math.max(0.5, y(acc) - y(acc + v)).toFixed(1), fill: s.color }));
        acc += v;
      }
      root.append(g);
      if (i % every === 0 || i === days.length - 1) {
        root.append(svg("text", { x: (x + bw / 2).toFixed(1), y: H - B + 16, "text-anchor": "middle" }, d.slice(5)));
      }
    });
    container.replaceChildren(root, legend(colored));
    return root;
  }

  /** items: [{label, value, text?, note?, color?}] → horizontal bars; opts.max (default: the largest value). */
  function bars(container, items, opts = {}) {
    if (!items.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = opts.empty || "暂无数据";
      container.replaceChildren(p);
      return null;
    }
    const W = 520, row = 28, L = opts.labelWidth || 112, R = 96, T = 6;
    const H = T * 2 + row * items.length;
    const max = opts.max || Math.max(1, ...items.map((i) => i.value || 0));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label || "条形图" });
    items.forEach((it, i) => {
      const yy = T + i * row;
      const w = Math.max(it.value ? 2 : 0, ((it.value || 0) / max) * (W - L - R));
      const label = it.label.length > 9 ? it.label.slice(0, 8) + "…" : it.label;
      root.append(svg("g", { class: "bar" }, title(`${it.label}：${it.text || it.value}${it.note ? "（" + it.note + "）" : ""}`),
        svg("text", { x: L - 8, y: yy + row / 2 + 4, "text-anchor": "end" }, label),
        svg("rect", { x: L, y: yy + 6, width: W - L - R, height: row - 12, fill: "#eef1f4", rx: 3 }),
        svg("rect", { x: L, y: yy + 6, width: w.toFixed(1), height: row - 12, fill: it.color || colorOf(it.label, i), rx: 3 }),
        svg("text", { class: "value", x: L + w + 6, y: yy + row / 2 + 4 }, `${it.text || it.value}${it.note ? "  " + it.note : ""}`)));
    });
    container.replaceChildren(root);
    return root;
  }

  return { stackedColumns, bars, colorOf, domainColor };
})();
