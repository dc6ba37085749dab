// The checkout page: pick a customer, cart and ZIP; see the tiered options;
// choose one (the recommended is pre-selected); prices and dates update live
// over server-sent events; placing the order holds the option's stock
// (select) and confirms it.
"use strict";

(() => {
  const { el, api, money, day, title } = tf;
  const $ = (id) => document.getElementById(id);
  const state = { samples: null, answer: null, chosen: null, stream: null, busy: false, done: false };

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }

  function errorText(res) {
    const b = res.body || {};
    return b.message || `request failed (${res.status})`;
  }

  // ----------------------------------------------------------------- inputs
  function parseItems(text) {
    const items = [];
    for (const token of text.split(",").map((t) => t.trim()).filter(Boolean)) {
      const at = token.lastIndexOf(":");
      const sku = at < 0 ? token : token.slice(0, at).trim();
      const qty = at < 0 ? 1 : Number(token.slice(at + 1));
      items.push({ sku, quantity: Number.isInteger(qty) ? qty : NaN });
    }
    return items;
  }
  const itemsText = (items) => items.map((i) => `${i.sku}:${i.quantity}`).join(", ");

  function showCustomer() {
    const c = state.samples.customers.find((x) => x.customer_id === $("customer").value);
    const info = $("customer-info");
    info.replaceChildren();
    if (!c) return;
    info.append(
      el("span", { class: `badge segment segment-${c.segment}`, id: "segment", text: c.segment }),
      " predicted spend ",
      el("strong", { text: money(c.predicted_spend) }),
      el("div", { class: "note", text: c.source }),
    );
  }

  async function loadSamples() {
    const res = await api("GET", "/v1/samples");
    if (!res.ok) return showError(errorText(res));
    state.samples = res.body;
    const s = res.body;
    $("customer").replaceChildren(
      ...s.customers.map((c) =>
        el("option", { value: c.customer_id, text: `${c.customer_id} · ${c.segment} (${money(c.predicted_spend)})` }),
      ),
    );
    $("cart-preset").replaceChildren(
      ...s.carts.map((c, i) => el("option", { value: String(i), text: c.label })),
    );
    $("zips").replaceChildren(...s.destinations.map((d) => el("option", { value: d.zip, label: d.label })));
    if (s.carts.length) $("items").value = itemsText(s.carts[0].items);
    if (s.destinations.length) $("zip").value = s.destinations[0].zip;
    $("samples-note").textContent = "Sample customers: " + s.note + ".";
    showCustomer();
  }

  // ---------------------------------------------------------------- options
  function describe(o) {
    const guaranteed = o.guaranteed ? "Guaranteed by" : "Arrives";
    return `${guaranteed} ${day(o.delivery_date)}`;
  }

  function render(answer, changes) {
    const moved = {};
    for (const c of changes || []) moved[c.option_id] = c;
    const list = $("options");
    list.replaceChildren();
    if (!answer.options.some((o) => o.option_id === state.chosen)) state.chosen = answer.recommended;
    answer.options.forEach((o, rank) => {
      const fields = (moved[o.option_id] && moved[o.option_id].fields) || {};
      const mark = (name) => (fields[name] || moved[o.option_id]?.change === "added" ? "changed" : null);
      const card = el(
        "label",
        {
          class: "option-card" + (o.option_id === state.chosen ? " selected" : ""),
          dataset: { optionId: o.option_id, tier: o.tier },
        },
        el("input", {
          type: "radio",
          name: "option",
          value: o.option_id,
          checked: o.option_id === state.chosen,
          disabled: state.done,
          onchange: () => choose(o.option_id),
        }),
        el(
          "div",
          {},
          el("span", { class: "tier", text: title(o.tier) }),
          " ",
          rank === 0 ? el("span", { class: "badge recommended", text: "Recommended" }) : null,
          el("div", { class: "benefit " + (mark("label") || ""), dataset: { field: "label" }, text: o.label }),
        ),
        el("div", { class: "price " + (mark("price") || ""), dataset: { field: "price" }, text: money(o.price) }),
        el(
          "div",
          { class: "when " + (mark("delivery_date") || ""), dataset: { field: "delivery_date", date: o.delivery_date } },
          describe(o),
        ),
        el("div", {
          class: "meta " + (mark("nodes") || mark("service") || ""),
          dataset: { field: "nodes" },
          text: `ships ${day(o.ship_date)} from ${o.nodes.join(" + ")} by ${o.service.replace("_", "-")}` +
            (o.discount > 0 ? ` · you save ${money(o.discount)}` : "") +
            (o.pricing === "upgrade" ? " · upgrade on us" : "") +
            (o.pricing === "priced" ? " · priced at the next-day rate" : ""),
        }),
      );
      list.append(card);
    });
    const missing = $("missing");
    missing.replaceChildren(
      ...Object.entries(answer.missing).map(([tier, why]) =>
        el("li", { dataset: { tier }, text: `${title(tier)} not offered: ${why}` }),
      ),
    );
    if (!answer.options.length) showError("No delivery option can be offered for this cart.");
    $("confirm").disabled = state.done || !answer.options.length;
    const c = answer.customer;
    $("options-intro").textContent =
      `${c.customer_id}: ${c.segment} customer, ` +
      (c.platinum_eligible ? "eligible for Platinum. " : "not eligible for Platinum. ") +
      "The recommended option is selected; any other may be chosen.";
  }

  function choose(optionId) {
    state.chosen = optionId;
    for (const card of document.querySelectorAll(".option-card")) {
      card.classList.toggle("selected", card.dataset.optionId === optionId);
    }
  }

  function closeStream() {
    if (state.stream) state.stream.close();
    state.stream = null;
    $("live-status").dataset.state = "off";
    $("live-status").textContent = "live updates off";
  }

  function summarize(changes, answer) {
    const byId = Object.fromEntries(answer.options.map((o) => [o.option_id, o]));
    const lines = [];
    for (const c of changes) {
      const name = title(c.option_id);
      if (c.change === "removed") lines.push(`${name} is no longer offered: ${c.reason}`);
      else if (c.change === "added") lines.push(`${name} is now offered (${byId[c.option_id].label})`);
      else {
        const f = c.fields;
        const parts = [];
        if (f.delivery_date) parts.push(`arrives ${day(f.delivery_date[1])} (was ${day(f.delivery_date[0])})`);
        if (f.price) parts.push(`costs ${money(f.price[1])} (was ${money(f.price[0])})`);
        if (f.nodes) parts.push(`ships from ${f.nodes[1].join(" + ")}`);
        if (f.label && !f.price) parts.push(`now "${f.label[1]}"`);
        if (parts.length) lines.push(`${name} ${parts.join(", ")}`);
      }
    }
    return lines;
  }

  function openStream(requestId) {
    closeStream();
    const es = new EventSource(`/v1/stream?request_id=${encodeURIComponent(requestId)}`);
    state.stream = es;
    const status = $("live-status");
    es.onopen = () => {
      status.dataset.state = "live";
      status.textContent = "live updates on";
    };
    es.onerror = () => {
      if (state.stream !== es) return;
      status.dataset.state = "reconnecting";
      status.textContent = "reconnecting…";
    };
    es.addEventListener("options", (ev) => {
      const data = JSON.parse(ev.data);
      if (!state.answer || data.request_id !== state.answer.request_id || state.done) return;
      if (data.revision <= state.answer.revision) return;
      state.answer = data.option_set;
      render(state.answer, data.changes);
      const time = new Date().toLocaleTimeString("en-US");
      for (const line of summarize(data.changes, state.answer)) {
        $("updates").prepend(el("li", { text: `${time}: capacity changed: ${line}` }));
      }
      document.body.dataset.revision = String(state.answer.revision);
    });
    es.addEventListener("closed", () => closeStream());
  }

  async function getOptions() {
    if (state.busy) return;
    state.busy = true;
    showError("");
    $("confirmation").hidden = true;
    $("updates").replaceChildren();
    const previous = state.answer && !state.done ? state.answer.request_id : null;
    state.done = false;
    closeStream();
    const body = {
      customer_id: $("customer").value,
      items: parseItems($("items").value),
      dest: $("zip").value.trim(),
    };
    const res = await api("POST", "/v1/options", body);
    state.busy = false;
    if (previous) api("POST", `/v1/checkouts/${previous}/cancel`); // drop the old quote
    if (!res.ok) {
      state.answer = null;
      $("options").replaceChildren();
      $("missing").replaceChildren();
      $("confirm").disabled = true;
      return showError(errorText(res));
    }
    state.answer = res.body;
    state.chosen = res.body.recommended;
    render(state.answer, []);
    document.body.dataset.requestId = state.answer.request_id;
    document.body.dataset.revision = String(state.answer.revision);
    openStream(state.answer.request_id);
  }

  // ------------------------------------------------------------------ order
  async function placeOrder() {
    if (!state.answer || !state.chosen || state.busy) return;
    state.busy = true;
    showError("");
    $("confirm").disabled = true;
    const id = state.answer.request_id;
    const option = state.answer.options.find((o) => o.option_id === state.chosen);
    const held = await api("POST", `/v1/checkouts/${id}/select`, { option_id: state.chosen });
    let done = held;
    if (held.ok) done = await api("POST", `/v1/checkouts/${id}/confirm`);
    state.busy = false;
    if (!done.ok) {
      $("confirm").disabled = false;
      return showError(errorText(done) + (done.status === 409 ? " Ask for options again." : ""));
    }
    state.done = true;
    closeStream();
    render(state.answer, []);
    const box = $("confirmation");
    box.replaceChildren(
      el("strong", { text: "Order confirmed. " }),
      `${title(option.tier)} (${option.label}): ${describe(option)}, ${money(option.price)}, ` +
        `shipping from ${done.body.nodes.join(" + ")}.`,
      el("div", { class: "note", text: `Order ${id}` }),
    );
    box.dataset.tier = option.tier;
    box.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("customer").addEventListener("change", showCustomer);
    $("cart-preset").addEventListener("change", () => {
      const cart = state.samples.carts[Number($("cart-preset").value)];
      if (cart) $("items").value = itemsText(cart.items);
    });
    $("get-options").addEventListener("click", getOptions);
    $("confirm").addEventListener("click", placeOrder);
    await loadSamples();
    document.body.dataset.ready = "1";
  });
})();
