// The operations page: the network on a US map coloured by capacity score
// (live over server-sent events), per-node utilization and backlog, a form
// to inject capacity events (needs the API key), the latest allocation run.
"use strict";

(() => {
  const { el, svg, api, money, pct, num, title, scoreColor, barChart } = tf;
  const $ = (id) => document.getElementById(id);
  const K = Math.cos((38 * Math.PI) / 180); // equirectangular, true at 38°N
  const view = { lon0: -125, lon1: -66.5, lat0: 24.3, lat1: 49.5 };
  const px = (lon) => (lon - view.lon0) * K;
  const py = (lat) => view.lat1 - lat;

  // -------------------------------------------------------------------- map
  function drawOutline(outline) {
    Object.assign(view, {
      lon0: outline.bounds.lon[0], lon1: outline.bounds.lon[1],
      lat0: outline.bounds.lat[0], lat1: outline.bounds.lat[1],
    });
    const map = $("map");
    const w = (view.lon1 - view.lon0) * K;
    const h = view.lat1 - view.lat0;
    map.setAttribute("viewBox", `0 0 ${w.toFixed(2)} ${h.toFixed(2)}`);
    const g = svg("g", { class: "outline" });
    const r = (outline.cell * 0.3).toFixed(3);
    for (let i = 0; i < outline.lon.length; i++) {
      g.append(svg("circle", { cx: px(outline.lon[i]).toFixed(3), cy: py(outline.lat[i]).toFixed(3), r }));
    }
    map.replaceChildren(g, svg("g", { id: "map-nodes" }), svg("g", { id: "map-labels" }));
    $("map-credit").textContent = outline.attribution;
  }

  function nodeShape(n) {
    const x = px(n.lon);
    const y = py(n.lat);
    const common = {
      class: "node" + (n.outage ? " closed" : ""),
      fill: scoreColor(n.score),
      dataset: { nodeId: n.node_id, score: String(n.score), outage: String(n.outage) },
    };
    let shape;
    if (n.kind === "warehouse") shape = svg("rect", { ...common, x: x - 0.42, y: y - 0.42, width: 0.84, height: 0.84 });
    else if (n.kind === "3pl")
      shape = svg("polygon", { ...common, points: `${x},${y - 0.55} ${x + 0.5},${y + 0.35} ${x - 0.5},${y + 0.35}` });
    else shape = svg("circle", { ...common, cx: x, cy: y, r: 0.3 });
    shape.append(
      svg("title", {
        text: `${n.node_id} (${n.name}, ${n.kind}): score ${n.score.toFixed(2)}, utilization ${pct(n.utilization)}` +
          `, backlog ${num(n.backlog)}${n.outage ? ", CLOSED" : ""}`,
      }),
    );
    return shape;
  }

  function drawNodes(cap) {
    const nodes = $("map-nodes");
    const labels = $("map-labels");
    if (!nodes) return;
    // stores under warehouses and 3PLs
    const order = [...cap.nodes].sort((a, b) => (a.kind === "store" ? 0 : 1) - (b.kind === "store" ? 0 : 1));
    nodes.replaceChildren(...order.map(nodeShape));
    labels.replaceChildren(
      ...cap.nodes
        .filter((n) => n.kind !== "store")
        .map((n) =>
          svg("text", {
            class: "node-label",
            x: (px(n.lon) + 0.6).toFixed(2),
            y: (py(n.lat) - 0.45).toFixed(2),
            text: `${n.node_id} ${n.score.toFixed(2)}`,
          }),
        ),
    );
  }

  function drawTable(cap) {
    const body = $("nodes").querySelector("tbody");
    body.replaceChildren(
      ...cap.nodes.map((n) =>
        el(
          "tr",
          { class: n.outage ? "closed" : null, dataset: { nodeId: n.node_id } },
          el("td", { text: `${n.node_id}` }, el("div", { class: "note", text: n.name })),
          el("td", { text: n.kind }),
          el(
            "td",
            { dataset: { field: "score" } },
            el("span", { class: "bar", style: `width:${Math.round(40 * n.score)}px;background:${scoreColor(n.score)}` }),
            n.score.toFixed(2),
          ),
          el("td", { dataset: { field: "utilization" }, text: pct(n.utilization) }),
          el("td", { dataset: { field: "backlog" }, text: num(n.backlog) }),
          el("td", { text: num(n.forecast_rest_of_day) }),
          el("td", { text: num(n.staffing_pct) + "%" }),
          el("td", { text: num(n.free_capacity) }),
          el("td", { dataset: { field: "status" }, text: n.outage ? "closed" : "open" }),
        ),
      ),
    );
    const as = cap.as_of ? new Date(cap.as_of).toLocaleString("en-US") : "no events yet";
    $("capacity-asof").textContent =
      `Capacity as of ${as}. Overflow (ship later, discounted) is offered when every node ` +
      `that could serve an order scores below ${cap.overflow_threshold}.` +
      (cap.degraded ? ` Degraded: ${(cap.notes || []).join(" ")}` : "");
    $("capacity-asof").classList.toggle("degraded", Boolean(cap.degraded));
    document.body.dataset.capacityDegraded = cap.degraded ? "true" : "false";
  }

  function showCapacity(cap) {
    drawNodes(cap);
    drawTable(cap);
    document.body.dataset.capacityVersion = cap.version.join(".");
    const select = $("event-node");
    if (!select.options.length) {
      select.replaceChildren(
        ...cap.nodes.map((n) => el("option", { value: n.node_id, text: `${n.node_id} · ${n.name}` })),
      );
    }
  }

  // ----------------------------------------------------------------- events
  function eventFromForm() {
    const kind = $("event-kind").value;
    const node = $("event-node").value;
    const id = `ops-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const base = { event_id: id, ts: new Date().toISOString(), node_id: node };
    if (kind === "outage") return { ...base, type: "outage", value: true };
    if (kind === "reopen") return { ...base, type: "outage", value: false };
    return { ...base, type: kind, value: Number($("event-value").value) };
  }

  async function inject(ev) {
    ev.preventDefault();
    const result = $("inject-result");
    const key = $("api-key").value.trim();
    sessionStorage.setItem("tierflow-api-key", key);
    const event = eventFromForm();
    const res = await api("POST", "/v1/capacity/events", { events: [event] }, key ? { "X-API-Key": key } : {});
    if (res.ok) {
      result.className = "ok";
      result.textContent =
        `Applied: ${event.node_id} ${event.type} ${event.value}` +
        (res.body.duplicates ? " (duplicate, ignored)" : "") + ` (log seq ${res.body.last_seq}).`;
    } else {
      result.className = "fail";
      result.textContent = `Refused (${res.status}): ${res.body.message}`;
    }
    result.dataset.status = String(res.status);
  }

  function syncValueField() {
    const kind = $("event-kind").value;
    const needs = kind === "staffing" || kind === "backlog";
    $("event-value-field").hidden = !needs;
    if (kind === "staffing" && !$("event-value").value) $("event-value").value = "60";
  }

  // ------------------------------------------------------------- allocation
  function showAllocation(a) {
    $("alloc-note").textContent = a.note;
    const s = a.summary || {};
    const figures = [
      ["checkouts", s.checkouts, num],
      ["orders", s.n_orders, num],
      ["allocated", s.n_allocated, num],
      ["deferred", s.n_deferred, num],
      ["unfillable", s.n_unfillable, num],
      ["total cost", s.total_cost, money],
      ["Platinum on time", s.platinum_on_time_rate, pct],
      ["max node utilization", s.max_node_utilization, pct],
      ["split orders", s.split_orders, num],
      ["rerouted", s.rerouted, num],
      ["gap to LP bound", s.gap_to_bound_pct, (v) => `${Number(v).toFixed(2)} %`],
      ["engine", s.engine, String],
      ["runtime", s.runtime_s, (v) => `${Number(v).toFixed(1)} s`],
    ].filter(([, v]) => v !== undefined && v !== null);
    $("alloc-figures").replaceChildren(
      ...figures.map(([k, v, f]) => el("div", { class: "figure" }, el("div", { class: "v", text: f(v) }), el("div", { class: "k", text: k }))),
    );
    const plots = [];
    if (a.by_node.length) {
      const top = a.by_node.slice(0, 15);
      plots.push(barChart(top.map((n) => ({ label: n.node_id, value: n.units, text: `${num(n.units)} units` })), {
        title: "Units allocated per node (top 15)",
      }));
    }
    if (s.service_level_by_tier) {
      const rows = Object.entries(s.service_level_by_tier)
        .filter(([, v]) => v !== null)
        .map(([t, v]) => ({ label: title(t), value: v, text: pct(v) }));
      if (rows.length) plots.push(barChart(rows, { title: "On-time service level by tier", max: 1, color: "#1f7a45" }));
    }
    if (s.tier_mix && Object.keys(s.tier_mix).length) {
      const rows = Object.entries(s.tier_mix).map(([t, v]) => ({ label: title(t), value: v, text: num(v) }));
      plots.push(barChart(rows, { title: "Confirmed checkouts by tier", color: "#6b6f8a" }));
    }
    const parts = ["shipping_cost", "handling_cost", "penalty_cost"].filter((k) => typeof s[k] === "number");
    if (parts.length) {
      plots.push(barChart(parts.map((k) => ({ label: title(k.replace("_cost", "")), value: s[k], text: money(s[k]) })), {
        title: "Cost breakdown",
        color: "#a07800",
      }));
    }
    if (Object.keys(a.by_status).length) {
      plots.push(barChart(Object.entries(a.by_status).map(([k, v]) => ({ label: k, value: v, text: num(v) })), {
        title: "Order lines by status",
        color: "#6d7a86",
      }));
    }
    if (Object.keys(a.by_service).length) {
      plots.push(barChart(Object.entries(a.by_service).map(([k, v]) => ({ label: k.replace("_", "-"), value: v, text: num(v) })), {
        title: "Allocated lines by service",
        color: "#2c7a7b",
      }));
    }
    $("alloc-plots").replaceChildren(...plots);
  }

  // ------------------------------------------------------------------- live
  function openStream() {
    const es = new EventSource("/v1/stream");
    const status = $("live-status");
    es.onopen = () => {
      status.dataset.state = "live";
      status.textContent = "live updates on";
    };
    es.onerror = () => {
      status.dataset.state = "reconnecting";
      status.textContent = "reconnecting…";
    };
    es.addEventListener("capacity", (ev) => showCapacity(JSON.parse(ev.data)));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("api-key").value = sessionStorage.getItem("tierflow-api-key") || "";
    $("event-form").addEventListener("submit", inject);
    $("event-kind").addEventListener("change", syncValueField);
    syncValueField();
    const [outline, cap, alloc] = await Promise.all([
      api("GET", "/v1/map"),
      api("GET", "/v1/capacity"),
      api("GET", "/v1/allocation"),
    ]);
    if (outline.ok) drawOutline(outline.body);
    if (cap.ok) showCapacity(cap.body);
    if (alloc.ok) showAllocation(alloc.body);
    openStream();
    document.body.dataset.ready = "1";
  });
})();
