/* A small text diff for two letters side by side: characters (Chinese has no spaces) by longest common
   subsequence, clauses when the texts are long; tiny common fragments between changes are folded into the
   change so the highlighting reads as phrases, not confetti. */
"use strict";
const Diff = (() => {
  const MAX_CELLS = 2500000;

  function tokens(text, byClause) {
    if (!byClause) return Array.from(text);
    return text.match(/[^。！？；，,.!?;\n]+[。！？；，,.!?;\n]*|[。！？；，,.!?;\n]+/g) || [];
  }

  function lcs(a, b) {
    const n = a.length, m = b.length;
    const w = m + 1;
    const dp = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        dp[i * w + j] = a[i] === b[j] ? dp[(i + 1) * w + j + 1] + 1 : Math.max(dp[(i + 1) * w + j], dp[i * w + j + 1]);
      }
    }
    const out = [];
    let i = 0, j = 0;
    const push = (type, t) => {
      const last = out[out.length - 1];
      if (last && last.type === type) last.text += t; else out.push({ type, text: t });
    };
    while (i < n && j < m) {
      if (a[i] === b[j]) { push("same", a[i]); i++; j++; }
      else if (dp[(i + 1) * w + j] >= dp[i * w + j + 1]) { push("del", a[i]); i++; }
      else { push("ins", b[j]); j++; }
    }
    while (i < n) push("del", a[i++]);
    while (j < m) push("ins", b[j++]);
    return out;
  }

  function cleanup(segs, minSame) {
    // a short common fragment between two changes becomes part of both sides' change
    const out = [];
    for (let k = 0; k < segs.length; k++) {
      const s = segs[k];
      const between = k > 0 && k < segs.length - 1 && segs[k - 1].type !== "same" && segs[k + 1].type !== "same";
      if (s.type === "same" && between && Array.from(s.text).length < minSame) {
        out.push({ type: "del", text: s.text }, { type: "ins", text: s.text });
      } else out.push({ ...s });
    }
    return out;
  }

  /** → {left: [{text, changed}], right: [{text, changed}], same: ratio of common characters} */
  function compare(a, b) {
    a = a || ""; b = b || "";
    // common prefix and suffix first: most repeats share long stretches
    let p = 0;
    while (p < a.length && p < b.length && a[p] === b[p]) p++;
    let s = 0;
    while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
    const midA = a.slice(p, a.length - s), midB = b.slice(p, b.length - s);
    const byClause = (midA.length + 1) * (midB.length + 1) > MAX_CELLS;
    let segs = lcs(tokens(midA, byClause), tokens(midB, byClause));
    segs = cleanup(segs, byClause ? 1 : 3);
    if (p) segs.unshift({ type: "same", text: a.slice(0, p) });
    if (s) segs.push({ type: "same", text: a.slice(a.length - s) });
    const left = [], right = [];
    let common = 0;
    for (const seg of segs) {
      if (seg.type === "same") { left.push({ text: seg.text, changed: false }); right.push({ text: seg.text, changed: false }); common += seg.text.length; }
      else if (seg.type === "del") left.push({ text: seg.text, changed: true });
      else right.push({ text: seg.text, changed: true });
    }
    const merge = (list) => list.reduce((acc, x) => {
      const last = acc[acc.length - 1];
      if (last && last.changed === x.changed) last.text += x.text; else acc.push({ ...x });
      return acc;
    }, []);
    return { left: merge(left), right: merge(right), same: common / Math.max(1, Math.max(a.length, b.length)) };
  }

  /** Fill a node with the segments; changed ones in <mark>. */
  function render(node, parts, cls) {
    node.replaceChildren(...parts.map((x) => {
      if (!x.changed) return document.createTextNode(x.text);
      const m = document.createElement("mark");
      m.className = cls;
      m.textContent = x.text;
      return m;
    }));
  }

  return { compare, render };
})();
