// tierflow pages: small shared helpers (no framework, no build step).
"use strict";

const tf = (() => {
  // Create an element: el("div", {class: "x", dataset: {id: "1"}, style: {width: "4px"}}, child, "text").
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "text") node.textContent = v;
      // styles through the CSSOM: the pages' Content-Security-Policy refuses
      // a style attribute (style-src 'self')
      else if (k === "style") Object.assign(node.style, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c) node.append(c);
    return node;
  }

  // How long a call may take before the page gives up on it: a hung server
  // left "Finding delivery options…" or "Placing your order…" for ever.
  const API_TIMEOUT_MS = 15000;

  // JSON request; resolves {ok, status, body, date}; never throws on HTTP
  // errors. No answer at all is status 0, its body's `error` saying which:
  // "network" (the server could not be reached) or "timeout" (no answer
  // within `timeoutMs`, API_TIMEOUT_MS unless the caller has less time
  // left; the call is aborted). `date` is the answer's Date header (the
  // server's clock, to the second; null without one).
  async function api(method, url, body, headers, timeoutMs = API_TIMEOUT_MS) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    const init = {
      method,
      headers: { Accept: "application/json", ...(headers || {}) },
      signal: abort.signal,
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      let resp;
      try {
        resp = await fetch(url, init);
      } catch (err) {
        if (abort.signal.aborted) return timedOut(timeoutMs);
        return { ok: false, status: 0, body: { error: "network", message: "network error: " + err } };
      }
      let data = null;
      try {
        data = await resp.json(); // the body too may never come
      } catch (err) {
        if (abort.signal.aborted) return timedOut(timeoutMs);
        data = { message: "unexpected response (" + resp.status + ")" };
      }
      return { ok: resp.ok, status: resp.status, body: data, date: resp.headers.get("Date") };
    } finally {
      clearTimeout(timer);
    }
  }

  function timedOut(timeoutMs) {
    const message = `no answer within ${timeoutMs / 1000} s`;
    return { ok: false, status: 0, body: { error: "timeout", message } };
  }

  const money = (v) =>
    "$" + Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  // "2026-01-08" -> "Thu, Jan 8" (a calendar date: no timezone shift).
  function day(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(y, m - 1, d).toLocaleDateString("en-US", {
      weekday: "short",
      month: "short",
      day: "numeric",
    });
  }

  // An instant in the reader's time zone, which it names: "1/5/2026, 7:00:00 AM PST".
  const instant = (iso) => new Date(iso).toLocaleString("en-US", { timeZoneName: "short" });

  // A server's text with its ISO instants written by instant(): a degraded
  // note's "newest event (2026-01-05T13:00:00+00:00)" read in UTC beside
  // the page's own instants in the reader's zone.
  const ISO_INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g;
  const withInstants = (text) => text.replace(ISO_INSTANT, (iso) => instant(iso));

  // A share in whole percent, but one decimal where whole would say all or
  // none when it is not: Gold's 1,915 of 1,918 promises kept read "100%"
  // (the report's 99.8 %), a node at 99.8 % "100%" and not overbooked. The
  // decimal leans away from 0 and 100, so 99.96 % reads 99.9 %, never 100.0 %.
  const pct = (v) => {
    if (v === null || v === undefined) return "–";
    const p = 100 * v;
    const whole = Math.round(p);
    if (p === whole || (whole !== 0 && whole !== 100)) return whole + "%";
    const lean = p < whole ? Math.floor : Math.ceil;
    // tenths cut to 1e-6 first: 100 * 0.003 * 10 is 3.0000000000000004, not 4 tenths
    return (lean(Number((p * 10).toFixed(6))) / 10).toFixed(1) + "%";
  };
  const num = (v, digits) =>
    Number(v).toLocaleString("en-US", { maximumFractionDigits: digits ?? 0 });
  const title = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

  // Score in [0, 1] -> red .. yellow .. green (like matplotlib's RdYlGn).
  function scoreColor(s) {
    const stops = [
      [0.0, [165, 0, 38]],
      [0.25, [244, 109, 67]],
      [0.5, [254, 224, 139]],
      [0.75, [102, 189, 99]],
      [1.0, [0, 104, 55]],
    ];
    const x = Math.max(0, Math.min(1, Number(s)));
    for (let i = 1; i < stops.length; i++) {
      if (x <= stops[i][0]) {
        const [x0, c0] = stops[i - 1];
        const [x1, c1] = stops[i];
        const t = (x - x0) / (x1 - x0);
        const c = c0.map((v, k) => Math.round(v + t * (c1[k] - v)));
        return `rgb(${c[0]},${c[1]},${c[2]})`;
      }
    }
    return "rgb(0,104,55)";
  }

  // Horizontal bar chart into an <svg>: rows [{label, value, text}].
  function barChart(rows, opts) {
    const o = { width: 420, bar: 16, gap: 6, labelWidth: 110, color: "#3b6ea8", ...opts };
    const max = opts.max ?? Math.max(1e-9, ...rows.map((r) => r.value));
    const height = rows.length * (o.bar + o.gap) + o.gap + 20;
    const chart = svg("svg", {
      viewBox: `0 0 ${o.width} ${height}`,
      class: "chart",
      role: "img",
      "aria-label": o.title,
    });
    chart.append(svg("text", { x: 0, y: 12, class: "chart-title", text: o.title }));
    rows.forEach((r, i) => {
      const y = 20 + o.gap + i * (o.bar + o.gap);
      const w = ((o.width - o.labelWidth - 70) * Math.max(0, r.value)) / max;
      chart.append(
        svg("text", { x: o.labelWidth - 6, y: y + o.bar - 4, class: "chart-label", "text-anchor": "end", text: r.label }),
        svg("rect", { x: o.labelWidth, y, width: Math.max(w, 0.5), height: o.bar, fill: r.color || o.color, rx: 2 }),
        svg("text", { x: o.labelWidth + w + 4, y: y + o.bar - 4, class: "chart-value", text: r.text ?? String(r.value) }),
      );
    });
    return chart;
  }

  return { el, svg, api, API_TIMEOUT_MS, money, day, instant, withInstants, pct, num, title, scoreColor, barChart };
})();
