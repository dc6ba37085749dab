// The operations page: the network on a US map coloured by capacity score
// (live over server-sent events), per-node utilization and backlog, a form
// to inject capacity events (needs the API key), the latest allocation run.
// A server run with `--operator-reads key` shows all of it only with the
// key: the page sends the key typed in the event form on its reads too.
"use strict";

(() => {
  const { el, svg, api, money, instant, withInstants, pct, num, title, scoreColor, barChart } = tf;
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
        text: `${n.node_id} (${n.name}, ${n.kind}): ` +
          (n.outage ? "closed" : `score ${n.score.toFixed(2)}, utilization ${pct(n.utilization)}, backlog ${num(n.backlog)}`) +
          (lanesText(n) === "none" ? "" : `; ${lanesText(n)}`),
      }),
    );
    return shape;
  }

  // Map units per screen pixel of the drawn map (labels keep a fixed pixel size).
  function unitsPerPixel() {
    const map = $("map");
    const box = map.viewBox.baseVal;
    const width = map.getBoundingClientRect().width;
    return box && box.width && width ? box.width / width : 0.06;
  }

  // Node ids placed without overlapping each other or another node's mark:
  // warehouses and 3PLs first, then stores; each tries 8 spots around its
  // node; a label that fits nowhere is left out (the node keeps its tooltip
  // and its row in the table).
  function placeLabels(nodes) {
    const u = unitsPerPixel();
    const box = $("map").viewBox.baseVal;
    const size = 11 * u; // 11 px text
    const pad = 2 * u;
    const marks = nodes.map((n) => ({ x0: px(n.lon) - 0.45, y0: py(n.lat) - 0.55, x1: px(n.lon) + 0.5, y1: py(n.lat) + 0.45 }));
    const placed = [];
    const leaders = []; // points along the leader lines drawn so far
    const inside = (p, r) => p[0] > r.x0 && p[0] < r.x1 && p[1] > r.y0 && p[1] < r.y1;
    const hits = (r) =>
      placed.some((q) => r.x0 < q.x1 && q.x0 < r.x1 && r.y0 < q.y1 && q.y0 < r.y1) ||
      leaders.some((p) => inside(p, r));
    const along = (x0, y0, x1, y1) => [0.2, 0.35, 0.5, 0.65, 0.8].map((t) => [x0 + t * (x1 - x0), y0 + t * (y1 - y0)]);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = `600 11px ${getComputedStyle(document.body).fontFamily}`;
    const onMark = (r, self) => marks.some((m, i) => i !== self && r.x0 < m.x1 && m.x0 < r.x1 && r.y0 < m.y1 && m.y0 < r.y1);
    const order = nodes.map((n, i) => i).sort((a, b) => (nodes[a].kind === "store") - (nodes[b].kind === "store"));
    const labels = [];
    let hidden = 0;
    const dirs = [
      [1, 0], [-1, 0], [0, -1], [0, 1], [1, -1], [-1, -1], [1, 1], [-1, 1],
      [2, -1], [-2, -1], [2, 1], [-2, 1],
    ];
    for (const i of order) {
      const n = nodes[i];
      const x = px(n.lon);
      const y = py(n.lat);
      const w = ctx.measureText(n.node_id).width * u;
      let spot = null;
      // next to the mark first, then further out with a leader line
      for (const reach of [0.55 + pad, 0.55 + 2.5 * size, 0.55 + 4.5 * size]) {
        for (const [dx, dy] of dirs) {
          const len = Math.hypot(dx, dy);
          const cx = x + (dx / len) * reach;
          const cy = y + (dy / len) * reach;
          const anchor = dx > 0 ? "start" : dx < 0 ? "end" : "middle";
          const left = anchor === "start" ? cx : anchor === "end" ? cx - w : cx - w / 2;
          const top = dy < 0 ? cy - size : dy > 0 ? cy : cy - size / 2;
          const r = { x0: left - pad, y0: top - pad, x1: left + w + pad, y1: top + size + pad };
          const out = r.x0 < 0 || r.y0 < 0 || r.x1 > box.width || r.y1 > box.height;
          if (out || hits(r) || onMark(r, i)) continue;
          const line = reach > 1 ? along(x, y, cx, cy) : [];
          if (line.some((p) => placed.some((q) => inside(p, q)))) continue;
          spot = { r, anchor, tx: anchor === "middle" ? cx : cx, ty: top + size * 0.82, cx, cy, far: reach > 1 };
          break;
        }
        if (spot) break;
      }
      if (!spot) {
        hidden += 1;
        continue;
      }
      placed.push(spot.r);
      if (spot.far) {
        leaders.push(...along(x, y, spot.cx, spot.cy));
        labels.push(svg("line", {
          class: "leader", x1: x.toFixed(2), y1: y.toFixed(2), x2: spot.cx.toFixed(2), y2: spot.cy.toFixed(2),
          "stroke-width": (size * 0.09).toFixed(3),
        }));
      }
      labels.push(svg("text", {
        class: "node-label" + (n.outage ? " closed" : ""),
        x: spot.tx.toFixed(2), y: spot.ty.toFixed(2), "text-anchor": spot.anchor,
        "font-size": size.toFixed(3), "stroke-width": (size * 0.28).toFixed(3),
        dataset: { label: n.node_id }, text: n.node_id,
      }));
    }
    $("map-labels").replaceChildren(...labels);
    $("map").dataset.labelled = String(Math.round($("map").getBoundingClientRect().width));
    $("map-labels-note").textContent = hidden
      ? `${nodes.length - hidden} of ${nodes.length} nodes labelled (the rest would overlap): hover a node for its name, or see the table.`
      : `All ${nodes.length} nodes labelled.`;
  }

  function drawNodes(cap) {
    const nodes = $("map-nodes");
    if (!nodes) return;
    // stores under warehouses and 3PLs
    const order = [...cap.nodes].sort((a, b) => (a.kind === "store" ? 0 : 1) - (b.kind === "store" ? 0 : 1));
    nodes.replaceChildren(...order.map(nodeShape));
    placeLabels(cap.nodes);
  }

  // ------------------------------------------------------------------ table
  const table = { nodes: [], threshold: 0, key: "score", dir: 1 };

  function status(n) {
    if (n.outage) return "closed";
    if (n.free_capacity < 0) return "overbooked";
    if (n.score < table.threshold) return "busy";
    return "open";
  }

  function statusText(n) {
    const s = status(n);
    if (s === "overbooked") {
      // under one unit, a whole number read "overbooked by 0"
      const over = -n.free_capacity;
      return `overbooked by ${over < 1 ? "under 1" : num(over)}`;
    }
    if (s === "busy") return "busy (overflow offered)";
    // since when: the outage event's time (null: closed by no event we know
    // of), and which event it was (null: one whose id the map does not know)
    const since = s === "closed" && n.changed_at.outage;
    const by = n.changed_by && n.changed_by.outage;
    if (since) return `closed since ${instant(since)}${by ? ` by event ${by}` : ""}`;
    return s;
  }

  // the delayed lanes of a node with the room each leaves ("two_day ×3.00",
  // "room 200", "score 0.20": each lane's phrases): what an order shipped by
  // it is priced and refused by, which the node's own score (an on-time
  // lane's) does not say
  function delayedLanes(n) {
    const room = (s) => {
      const lane = (n.lanes || {})[s];
      return lane ? [`room ${num(Math.max(0, lane.free_capacity))}`, `score ${lane.score.toFixed(2)}`] : [];
    };
    return Object.entries(n.congestion)
      .filter(([, f]) => f > 1)
      .map(([s, f]) => [`${s} ×${f.toFixed(2)}`, ...room(s)]);
  }

  const lanesText = (n) => delayedLanes(n).map((p) => p.join(", ")).join("; ") || "none";

  // one line per delayed lane (they ran off the table's side on one), which
  // wraps between its phrases, never inside one ("score" / "0.25")
  function lanesCell(n) {
    const lanes = delayedLanes(n);
    const lines = lanes.map((phrases, k) => {
      const end = k < lanes.length - 1 ? ";" : "";
      const spans = phrases.map((p, i) => el("span", { text: i < phrases.length - 1 ? `${p},` : `${p}${end}` }));
      return el("div", {}, spans.flatMap((span, i) => (i ? [" ", span] : [span])));
    });
    return el("td", { dataset: { field: "congestion" } }, lanes.length ? lines : "none");
  }

  function sortValue(n, key) {
    if (key === "status") return ["closed", "overbooked", "busy", "open"].indexOf(status(n));
    return n[key];
  }

  function visibleNodes() {
    const text = $("node-filter").value.trim().toLowerCase();
    const kind = $("kind-filter").value;
    const want = $("status-filter").value;
    const rows = table.nodes.filter(
      (n) =>
        (!kind || n.kind === kind) &&
        (!want || status(n) === want) &&
        (!text || `${n.node_id} ${n.name} ${n.region}`.toLowerCase().includes(text)),
    );
    const { key, dir } = table;
    return rows.sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      const c = typeof x === "string" ? x.localeCompare(y) : x - y;
      return dir * c || a.node_id.localeCompare(b.node_id);
    });
  }

  function row(n) {
    const closed = n.outage;
    return el(
      "tr",
      { class: status(n), dataset: { nodeId: n.node_id, status: status(n) } },
      el("td", { text: n.node_id }, el("div", { class: "note", text: n.name })),
      el("td", { text: n.kind === "3pl" ? "3PL" : n.kind }),
      el("td", { text: title(n.region) }),
      el(
        "td",
        { class: "num", dataset: { field: "score" } },
        el("span", { class: "bar", style: { width: `${Math.round(40 * n.score)}px`, background: scoreColor(n.score) } }),
        n.score.toFixed(2),
      ),
      el("td", { class: "num", dataset: { field: "utilization" }, text: closed ? "closed" : pct(n.utilization) }),
      el("td", { class: "num", dataset: { field: "backlog" }, text: num(n.backlog) }),
      el("td", { class: "num", text: num(n.forecast_rest_of_day) }),
      // a closed node keeps its staffing (the API's and `capacity show`'s):
      // a staffing drop posted before or during an outage stands at its reopening
      el("td", { class: "num", dataset: { field: "staffing" }, text: num(n.staffing_pct) + "%" }),
      el("td", { class: "num", dataset: { field: "free" }, text: num(Math.max(0, n.free_capacity)) }),
      lanesCell(n),
      el("td", { dataset: { field: "status" }, text: statusText(n) }),
    );
  }

  function drawRows() {
    const rows = visibleNodes();
    $("nodes").querySelector("tbody").replaceChildren(...rows.map(row));
    $("nodes-count").textContent = `${rows.length} of ${table.nodes.length} nodes`;
    for (const th of $("nodes").querySelectorAll("th[data-sort]")) {
      const on = th.dataset.sort === table.key;
      th.setAttribute("aria-sort", on ? (table.dir > 0 ? "ascending" : "descending") : "none");
    }
  }

  function sortBy(key) {
    table.dir = table.key === key ? -table.dir : 1;
    table.key = key;
    drawRows();
  }

  function drawTable(cap) {
    table.nodes = cap.nodes;
    table.threshold = cap.overflow_threshold;
    drawRows();
    // with no event, no instant: it read "Capacity as of no events yet."
    const as = cap.as_of ? `Capacity as of ${instant(cap.as_of)}.` : "Capacity: no events yet.";
    $("capacity-asof").textContent =
      `${as} Overflow (ship later, discounted) is offered when every node ` +
      `that could serve an order scores below ${cap.overflow_threshold}.` +
      (cap.degraded ? ` Degraded: ${withInstants((cap.notes || []).join(" "))}` : "");
    $("capacity-asof").classList.toggle("degraded", Boolean(cap.degraded));
    document.body.dataset.capacityDegraded = cap.degraded ? "true" : "false";
    drawForecast(cap.demand_forecast);
  }

  function drawForecast(fc) {
    const box = $("demand-forecast");
    if (!fc) {
      box.textContent = "Rest-of-day forecast: none (set by forecast events).";
      return;
    }
    const when = instant(fc.as_of);
    const pace = fc.multiplier === null ? "" : ` The day runs at ${fc.multiplier.toFixed(2)}× its usual profile.`;
    box.textContent =
      `Rest-of-day forecast (${fc.source}, as of ${when}): ` +
      `${Math.round(fc.expected_orders).toLocaleString("en-US")} more orders expected after ` +
      `${fc.observed_orders.toLocaleString("en-US")} so far, ` +
      `${Math.round(fc.work).toLocaleString("en-US")} units of work.` + pace;
    document.body.dataset.forecastSource = fc.source;
  }

  function showCapacity(cap) {
    shown.capacity = cap;
    watchDegraded(cap);
    drawNodes(cap);
    drawTable(cap);
    document.body.dataset.capacityVersion = cap.version.join(".");
    const select = $("event-node");
    if (!select.options.length) {
      select.replaceChildren(
        ...cap.nodes.map((n) => el("option", { value: n.node_id, text: `${n.node_id} · ${n.name}` })),
      );
    }
    syncServices();
  }

  // A congestion is offered for the lanes the chosen node ships by only:
  // every service was, and a delay on one it does not ship (ST-BKN's
  // next_day) read "Applied" and changed nothing, the map listing no such
  // lane (the API takes it, as a carrier's feed may post it for every node)
  function syncServices() {
    const node = shown.capacity && shown.capacity.nodes.find((n) => n.node_id === $("event-node").value);
    if (!node || !node.lanes) return;
    const select = $("event-service");
    for (const option of select.options) option.disabled = option.hidden = !(option.value in node.lanes);
    const first = [...select.options].find((o) => !o.disabled);
    if (select.selectedOptions[0].disabled && first) select.value = first.value;
  }

  // ----------------------------------------------------------------- events
  // The server's clock less this browser's (ms): events are stamped with the
  // server's clock, which refuses one dated minutes ahead of it (a browser's
  // clock may be off by more). Taken when the answer arrived, so a stamp errs
  // early, never late.
  let serverClockOffset = 0;

  function learnServerClock(cap) {
    const server = cap.server_time ? Date.parse(cap.server_time) : NaN;
    if (Number.isFinite(server)) serverClockOffset = server - Date.now();
  }

  // The workers the answering server's supervisor started again: that one
  // server's count (a balancer may send the next read to another replica),
  // read with GET /v1/capacity (the stream's updates do not carry it).
  function showRestarts(cap) {
    const box = $("worker-restarts");
    if (!("worker_restarts" in cap)) return;
    const n = cap.worker_restarts;
    const read = instant(new Date().toISOString());
    box.hidden = false;
    box.dataset.count = n === null ? "" : String(n);
    box.textContent = n === null
      ? "Worker restarts: not counted on this server (its metrics are off)."
      : `Worker restarts: ${n.toLocaleString("en-US")} on this server since it started ` +
        `(read ${read} from the server that answered this page; each replica counts its own, ` +
        "so this is not the fleet's).";
  }

  // What is suspicious about the network served (a node whose lat and lon
  // look swapped, ...), read with GET /v1/capacity: the warnings
  // `tierflow network validate` prints and `tierflow serve` logs at start-up.
  function showNetworkWarnings(cap) {
    const box = $("network-warnings");
    const said = cap.network_warnings;
    if (!Array.isArray(said)) return;
    box.hidden = said.length === 0;
    box.dataset.count = String(said.length);
    box.textContent = said.length === 0 ? ""
      : `Network warning${said.length > 1 ? "s" : ""}: ${said.join("; ")}`;
  }

  function eventFromForm() {
    const kind = $("event-kind").value;
    const node = $("event-node").value;
    const id = `ops-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const ts = new Date(Date.now() + serverClockOffset).toISOString();
    const base = { event_id: id, ts, node_id: node };
    if (kind === "outage") return { ...base, type: "outage", value: true };
    if (kind === "reopen") return { ...base, type: "outage", value: false };
    const value = Number($("event-value").value);
    if (kind === "congestion") return { ...base, type: kind, value, service: $("event-service").value };
    return { ...base, type: kind, value };
  }

  async function inject(ev) {
    ev.preventDefault();
    const result = $("inject-result");
    result.className = "";
    result.textContent = "Sending…";
    result.dataset.status = "";
    const needs = !$("event-value").disabled;
    if (needs && $("event-value").value.trim() === "") {
      result.className = "fail";
      result.textContent = "Refused: enter a value for this event.";
      result.dataset.status = "0";
      return;
    }
    const key = $("api-key").value.trim();
    sessionStorage.setItem("tierflow-api-key", key);
    const event = eventFromForm();
    const res = await api("POST", "/v1/capacity/events", { events: [event] }, key ? { "X-API-Key": key } : {});
    if (res.ok && res.body.stale) {
      // logged, but the node had a later event of its kind (a feed's, stamped
      // ahead within the server's 5 minutes): the map kept that one's value,
      // and the page said "Applied"
      result.className = "fail";
      result.textContent =
        `Logged, but it changed nothing: ${event.node_id} has a later ${event.type} event` +
        ` (log seq ${res.body.last_seq}).`;
    } else if (res.ok) {
      result.className = "ok";
      result.textContent =
        `Applied: ${event.node_id} ${event.type} ${event.value}` +
        (event.service ? ` on ${event.service}` : "") +
        (res.body.duplicates ? " (duplicate, ignored)" : "") + ` (log seq ${res.body.last_seq}).`;
    } else {
      result.className = "fail";
      result.textContent = injectFailure(res);
    }
    result.dataset.status = String(res.status);
  }

  // An event not applied, in words: no answer is not a refusal (a server
  // down read "Refused (0): network error: TypeError: Failed to fetch").
  function injectFailure(res) {
    const b = res.body || {};
    if (res.status === 0 && b.error === "timeout") {
      return `No answer: the server did not respond within ${tf.API_TIMEOUT_MS / 1000} s; ` +
        "check the map before sending the event again.";
    }
    if (res.status === 0) return "Not sent: the server could not be reached.";
    return `Refused (${res.status}): ${b.message}`;
  }

  // The range of each kind's value, as the API takes it (EVENT_BOUNDS in
  // capacity/events.py): the browser refuses one outside before it is sent.
  // (A backlog had no upper bound here: 1e300 was sent, and refused 422.)
  // The value each kind's field starts with (an example the operator edits).
  const VALUE_PRESETS = { staffing: "60", congestion: "2" };
  const VALUE_BOUNDS = { staffing: ["0", "300"], backlog: ["0", "1000000000"], congestion: ["1", "100"] };

  // A staffing strictly between 0 and 1 is a share of the staff written as
  // a fraction (0.5 for half), which the API refuses (422) as 0.5 %: refused
  // here before it is sent, beside the field, in the API's own words
  // (_staffing_fraction in capacity/events.py; "" for a value it takes).
  function staffingFraction(value) {
    if (!(value > 0 && value < 1)) return "";
    // Python's repr: 1e-05, not JavaScript's 0.00001
    const [m, e] = value.toExponential().split("e");
    const said = value < 1e-4 ? `${m}e-${e.slice(1).padStart(2, "0")}` : String(value);
    // round(value * 100, 9), then printed as %.12g
    const share = Math.round(value * 100 * 1e9) / 1e9;
    const g = String(Number(share.toPrecision(12)));
    const send = share >= 1 ? `for ${g} % of the staff send ${g}` : "send the percent (1-300), or 0 for no staff";
    return `staffing is a percent of planned staff (0-300): ${said} means ${said} %; ${send}`;
  }

  // The value's own check beyond its range: a staffing fraction blocks the
  // form (the browser's "invalid", so "Not sent: …") and is said beside it.
  function checkValue() {
    const input = $("event-value");
    const why = $("event-kind").value === "staffing" && input.value !== ""
      ? staffingFraction(Number(input.value)) : "";
    input.setCustomValidity(why);
    $("event-value-note").textContent = why;
    $("event-value-note").hidden = !why;
  }

  function syncValueField() {
    const kind = $("event-kind").value;
    const bounds = VALUE_BOUNDS[kind];
    const needs = bounds !== undefined;
    $("event-value-field").hidden = !needs;
    // a hidden value must not block an outage or a reopen (the browser
    // refused to submit a form with a hidden invalid field, silently); a
    // shown one must be given (inject says so: empty was sent as 0)
    $("event-value").disabled = !needs;
    if (needs) {
      $("event-value").min = bounds[0];
      if (bounds[1]) $("event-value").max = bounds[1];
      else $("event-value").removeAttribute("max");
    }
    // a congestion is a lane's: its service is asked for it alone
    $("event-service-field").hidden = kind !== "congestion";
    $("event-service").disabled = kind !== "congestion";
    // a kind's example value replaces the one the page put for another
    // kind, never the operator's: staffing's 60 stayed for a congestion
    // chosen next, and Apply event sent a delay of x60 on the lane
    const input = $("event-value");
    if (!input.value || input.dataset.preset === "1") {
      input.value = VALUE_PRESETS[kind] || "";
      input.dataset.preset = input.value ? "1" : "";
    }
    checkValue();
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

  // ------------------------------------------------------------------- load
  // What the page has loaded; a part that failed is asked for again, after
  // 2, 4, 8, 15 s, then every 30 s, its error said meanwhile (the page was
  // left blank, with no word, when /v1/capacity and the stream failed).
  const shown = { outline: false, capacity: null, clock: false, allocation: false };
  const RETRY_S = [2, 4, 8, 15, 30];
  const retryIn = (attempt) => RETRY_S[Math.min(attempt, RETRY_S.length - 1)];

  function failure(res) {
    const b = res.body || {};
    if (res.status === 0 && b.error === "timeout") return "the server did not answer in time";
    if (res.status === 0) return "the server could not be reached";
    return `${res.status}: ${b.message || b.error || "error"}`;
  }

  // The key typed in the event form, sent on the page's reads too: a server
  // run with `--operator-reads key` answers them only with it (401 without,
  // 403 for a wrong one), as it does the event form's writes.
  const typedKey = () => $("api-key").value.trim();
  const withKey = () => (typedKey() ? { "X-API-Key": typedKey() } : {});
  const refused = (res) => res && (res.status === 401 || res.status === 403);
  // The reads were refused for want of the key: the page waits for it (a
  // new key loads them again), and says so where each part would show.
  let keyAsked = false;

  function askForKey(res) {
    keyAsked = true;
    const why = res.status === 401
      ? "This server shows its operator data only with the API key: enter it in “Inject a capacity event”."
      : "The API key was refused (403): enter the right one in “Inject a capacity event”.";
    $("capacity-asof").textContent = why;
    $("capacity-asof").classList.add("degraded");
    $("alloc-note").textContent = why;
    document.body.dataset.key = res.status === 401 ? "needed" : "refused";
  }

  async function load(attempt = 0) {
    const headers = withKey();
    const [outline, cap, alloc] = await Promise.all([
      shown.outline ? null : api("GET", "/v1/map", undefined, headers),
      shown.clock ? null : api("GET", "/v1/capacity", undefined, headers),
      shown.allocation ? null : api("GET", "/v1/allocation", undefined, headers),
    ]);
    const denied = [outline, cap, alloc].find(refused);
    if (denied) return askForKey(denied);
    if (keyAsked) {
      keyAsked = false;
      document.body.dataset.key = "accepted";
      $("capacity-asof").classList.remove("degraded");
    }
    const wait = retryIn(attempt);
    if (outline && outline.ok) {
      drawOutline(outline.body);
      shown.outline = true;
      if (shown.capacity) showCapacity(shown.capacity); // the stream's came first
    }
    if (cap && cap.ok) {
      learnServerClock(cap.body);
      showRestarts(cap.body);
      showNetworkWarnings(cap.body);
      shown.clock = true;
      showCapacity(cap.body);
    }
    // the capacity line says what failed (a map the stream sent will do)
    const failed = outline && !outline.ok ? ["The map", outline]
      : cap && !cap.ok && !shown.capacity ? ["Capacity", cap] : null;
    if (failed) {
      $("capacity-asof").textContent =
        `${failed[0]} could not be loaded (${failure(failed[1])}): trying again in ${wait} s.`;
      $("capacity-asof").classList.add("degraded");
    }
    if (alloc && alloc.ok) {
      showAllocation(alloc.body);
      shown.allocation = true;
    } else if (alloc) {
      $("alloc-note").textContent =
        `The latest allocation could not be loaded (${failure(alloc)}): trying again in ${wait} s.`;
    }
    if (!shown.outline || !shown.clock || !shown.allocation) {
      setTimeout(() => load(attempt + 1), wait * 1000);
    }
  }

  // While the map is degraded its note ages with the clock ("capacity map
  // is stale: its newest event … is 5 s old"), which sends no event: the
  // page kept the note's first age. It reads the map again every few
  // seconds until the map is fine; an answer older than the map shown (a
  // stream event came meanwhile) is dropped.
  const DEGRADED_POLL_S = 5;
  let degradedPoll = null;
  const older = (a, b) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
    }
    return false;
  };

  function watchDegraded(cap) {
    if (!cap.degraded || degradedPoll !== null) return;
    degradedPoll = setTimeout(async () => {
      const res = await api("GET", "/v1/capacity", undefined, withKey());
      degradedPoll = null;
      if (res.ok) showRestarts(res.body);
      if (!res.ok || older(res.body.version, shown.capacity.version)) {
        watchDegraded(shown.capacity);
      } else {
        showCapacity(res.body);
      }
    }, DEGRADED_POLL_S * 1000);
  }

  // ------------------------------------------------------------------- live
  // A stream refused (a 503: the browser does not retry an answer that is
  // not a stream) is opened again after a while; a dropped one the browser
  // reconnects itself.
  let stream = null; // the open stream: its close()
  // The key the stream was opened with ("": none), null once it was
  // refused for want of the right one: a key typed that is not it opens
  // the stream again (a server restarted with a key of its own refused
  // the stream, and the new key typed did nothing).
  let streamKey = null;
  // Seconds between a dropped stream's tries (an EventSource's own, which
  // it keeps to while the server is away).
  const RECONNECT_S = 3;

  function openStream(attempt = 0) {
    if (stream) stream.close();
    stream = null;
    const key = typedKey();
    streamKey = key;
    if (key) return openKeyedStream(key, attempt);
    if (keyAsked) return keyRefused(401);
    const es = new EventSource("/v1/stream");
    stream = es;
    const status = $("live-status");
    es.onopen = () => {
      attempt = 0;
      status.dataset.state = "live";
      status.textContent = "live updates on";
    };
    es.onerror = () => {
      if (stream !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        streamRefused(es, attempt);
        return;
      }
      status.dataset.state = "reconnecting";
      status.textContent = "reconnecting…";
    };
    es.addEventListener("capacity", (ev) => showCapacity(JSON.parse(ev.data)));
  }

  // A stream the browser gave up on (an answer that is no stream: it does
  // not retry, nor say the status) is asked once more, by fetch, for it: a
  // 401 or 403 (a server run with `--operator-reads key`) waits for the key
  // (it was asked again for ever), anything else is opened again later.
  async function streamRefused(es, attempt) {
    const abort = new AbortController();
    let code = 0;
    try {
      code = (await fetch("/v1/stream", { signal: abort.signal })).status;
    } catch (err) {
      code = 0; // unreachable: try again later
    } finally {
      abort.abort(); // a stream that now opens is not read here
    }
    if (stream !== es) return;
    if (code === 401 || code === 403) return keyRefused(code);
    const wait = retryIn(attempt);
    const status = $("live-status");
    status.dataset.state = "off";
    status.textContent = `live updates off: trying again in ${wait} s`;
    setTimeout(() => stream === es && openStream(attempt + 1), wait * 1000);
  }

  // The stream refused for want of the key (401) or for a wrong one (403):
  // it waits for a key typed (keyChanged), asking nothing meanwhile.
  function keyRefused(code) {
    if (stream) stream.close();
    stream = null;
    streamKey = null;
    $("live-status").dataset.state = "off";
    $("live-status").textContent = code === 401
      ? "live updates off: they need the API key"
      : `live updates off: the API key was refused (${code})`;
  }

  // The stream with the key: an EventSource sends no header of its own, so
  // it is read with fetch (the same events; a dropped one is opened again).
  function openKeyedStream(key, attempt) {
    const status = $("live-status");
    const abort = new AbortController();
    const mine = { close: () => abort.abort() };
    stream = mine;
    const again = (wait, state, text) => {
      if (stream !== mine) return;
      status.dataset.state = state;
      status.textContent = text;
      setTimeout(() => stream === mine && openStream(attempt + 1), wait * 1000);
    };
    (async () => {
      let resp;
      try {
        resp = await fetch("/v1/stream", { headers: { Accept: "text/event-stream", "X-API-Key": key }, signal: abort.signal });
      } catch (err) {
        // the server away (stopped, restarting): tried again as an
        // EventSource does, every few seconds (it backed off to 30 s)
        if (!abort.signal.aborted) again(RECONNECT_S, "reconnecting", "reconnecting…");
        return;
      }
      if (refused(resp)) {
        abort.abort();
        return keyRefused(resp.status);
      }
      if (!resp.ok) {
        abort.abort();
        const wait = retryIn(attempt);
        return again(wait, "off", `live updates off: trying again in ${wait} s`);
      }
      attempt = 0;
      status.dataset.state = "live";
      status.textContent = "live updates on";
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
          // events end at a blank line (a line ends at \n, \r\n or \r; a
          // \r last may be the first half of a \r\n)
          const whole = text.endsWith("\r") ? text.length - 1 : text.length;
          const lines = text.slice(0, whole).replace(/\r\n?/g, "\n");
          const end = lines.lastIndexOf("\n\n");
          if (end < 0) continue;
          for (const block of lines.slice(0, end).split("\n\n")) dispatch(block);
          text = lines.slice(end + 2) + text.slice(whole);
        }
      } catch (err) {
        if (abort.signal.aborted) return;
      }
      again(RECONNECT_S, "reconnecting", "reconnecting…");
    })();
  }

  // One server-sent event's lines: its `capacity` map is shown.
  function dispatch(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const name = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (name === "event") event = value;
      else if (name === "data") data.push(value);
    }
    if (event === "capacity" && data.length) showCapacity(JSON.parse(data.join("\n")));
  }

  // A key typed (or changed) after the server asked for one loads what was
  // refused; the stream is opened again with a key that is not its own.
  function keyChanged() {
    sessionStorage.setItem("tierflow-api-key", typedKey());
    if (keyAsked) load();
    if (typedKey() !== streamKey) openStream();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("api-key").value = sessionStorage.getItem("tierflow-api-key") || "";
    for (const th of document.querySelectorAll("#nodes th[data-sort]")) {
      th.tabIndex = 0;
      th.addEventListener("click", () => sortBy(th.dataset.sort));
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sortBy(th.dataset.sort);
        }
      });
    }
    for (const id of ["node-filter", "kind-filter", "status-filter"]) $(id).addEventListener("input", drawRows);
    let resize = null;
    window.addEventListener("resize", () => {
      clearTimeout(resize);
      resize = setTimeout(() => table.nodes.length && placeLabels(table.nodes), 150);
    });
    $("event-form").addEventListener("submit", inject);
    // a value the browser's own check blocks never reaches inject: the line
    // of the last event sent ("Applied: …") stayed, as if this one had been
    $("event-form").addEventListener("invalid", (ev) => {
      const result = $("inject-result");
      result.className = "fail";
      result.textContent = `Not sent: ${ev.target.validationMessage}`;
      result.dataset.status = "invalid";
    }, true);
    $("event-kind").addEventListener("change", syncValueField);
    $("event-node").addEventListener("change", syncServices);
    $("event-value").addEventListener("input", () => {
      $("event-value").dataset.preset = "";
      checkValue();
    });
    $("api-key").addEventListener("change", keyChanged);
    // Enter in the key field applies the key, and sends no event: it
    // submitted the form with what it showed, the first node and "Outage"
    // by default, and an operator who typed the key and pressed Enter
    // closed a fulfillment center to every checkout
    $("api-key").addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" || ev.isComposing) return;
      ev.preventDefault();
      keyChanged();
    });
    syncValueField();
    await load();
    openStream();
    document.body.dataset.ready = "1";
  });
})();
