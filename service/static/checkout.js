// The checkout page, written for the shopper: each option's benefit, date
// and price; why a tier is not offered in the shopper's words (the answer's
// `unavailable`); the nodes, scores and operator reasons behind "Details"
// (none on a server that withholds them from a caller without the API key,
// `serve --operator-reads key`: those values are null, and no "Details").
// Prices and dates update live over server-sent events; placing the order
// holds the option's stock (select) and confirms it.
//
// Selection and the "Recommended" badge never contradict each other: the
// badge is on `answer.recommended`; the selection is the recommendation
// until the shopper picks an option, and after a live update it follows the
// new recommendation unless the shopper's own pick is still offered. The
// sentence under the options always says which of the two is selected.
"use strict";

(() => {
  const { el, api, money, day, instant, withInstants, title } = tf;
  const $ = (id) => document.getElementById(id);
  const state = {
    samples: null,
    samplesError: null, // the samples' load failed: what the error box says
    samplesOff: false, // the server serves no samples (404): the id is typed
    answer: null,
    chosen: null, // the selected option id
    picked: false, // the shopper picked `chosen` (else: it is the recommendation)
    stream: null,
    retry: null, // the timer that opens a refused stream again
    busy: false,
    placing: false, // this page's select and confirm are under way
    unsure: null, // the checkout whose confirm was sent with no answer
    closedMeanwhile: null, // its `closed` event, come while the order was placed
    done: false,
    placed: false, // the order is placed (`done` with an order)
    open: new Set(), // option ids whose details are open
    sent: null, // the order (customer, items, ZIP) the options shown answer
    sentCart: "", // the sample cart picked when `sent` was asked ("": none)
    unrefreshed: null, // the kept checkout a reload could not requote (still open)
    expiresAt: NaN, // when the options shown expire, on this page's clock (ms)
    expiry: null, // the timer that says so then
    serverOffset: 0, // the server's clock less this page's (ms), from its last Date header
    askRetry: null, // the timer that asks again for options the store did not answer
    retryAsk: null, // what that timer does (the `online` event does it at once)
    toCancel: new Set(), // checkouts this page left whose cancel the store has not answered
  };

  // The API's longest customer id (`_Id` in service/schemas.py).
  const MAX_ID_CHARS = 64;
  // The input an API error's field is about (`items[2].sku`: the items).
  const FIELD_INPUTS = { dest: "zip", items: "items", customer_id: "customer" };
  // What the error box says of a call with no answer: the server away, or hung.
  const UNREACHABLE = "The store could not be reached: check your connection and try again.";
  const NOT_RESPONDING = "The store is not responding: please try again.";
  // A confirm refused as its hold ended (checkouts.py's _hold_ended): it
  // lapsed before the confirm came, or a stock recount cut it. Shown as it
  // came, an ISO instant and a node id: "Hold cut at 2026-…: the stock of
  // TEE at ST-CHI was recounted …; select an option again".
  const HOLD_LAPSED = /: hold expired at [^;]*; select an option again$/;
  const HOLD_CUT = /: hold cut at .*; select an option again$/;
  // What the error box says of an answer with no option to offer.
  const NO_OPTIONS = "Sorry, no delivery option can be offered for this cart.";
  // Seconds between the tries of loading the samples (then it gives up).
  const SAMPLES_RETRY_S = [1, 2, 4, 8];
  // Seconds before each new try of an ask for options that did not reach
  // the store (then it gives up: about 45 s in all). An ask sent while the
  // server was down (a replica restarting) said "could not be reached" and
  // waited for a click once the store was back.
  const ASK_RETRY_S = [0.5, 1, 2, 4, 8, 10, 10, 10];
  // The tries stop this long after the ask's first failure, tries left or
  // not: each try could wait the page's 15 s (API_TIMEOUT_MS) for an answer
  // that never came (a hung server), and "trying again" stood about
  // 3 minutes. A try's timeout is cut to what is left; a wait is cut to
  // leave the try after it ASK_LAST_TRY_MS at least, and with less left
  // the page gives up at once.
  const ASK_RETRY_DEADLINE_MS = 60000;
  const ASK_LAST_TRY_MS = 1000;
  // Where the tab keeps its checkout across a reload or the back button
  // (sessionStorage: this tab's alone, gone with it).
  const SAVED = "tierflow.checkout";

  // `none`: the message says no option can be offered (options a live
  // update brings back take it away)
  function showError(message, none = false) {
    $("error").textContent = message;
    $("error").hidden = !message;
    $("error").dataset.none = none ? "1" : "";
  }

  // What the shopper reads: the cart's lines and the ZIP code in plain
  // words (the API's field paths and validator wording were shown as they
  // came: "field 'items[0].quantity': Input should be greater than or equal
  // to 1"), the store being unreachable, busy or failing, else the API's words
  function errorText(res, sent) {
    const b = res.body || {};
    if (res.status === 0 && b.error === "timeout") return NOT_RESPONDING;
    if (res.status === 0) return UNREACHABLE;
    if (res.status === 503) return "The store is busy right now: please try again in a moment.";
    if (res.status >= 500) return "Something went wrong on our side: please try again in a moment.";
    if (res.status === 429) return "Too many requests right now: please wait a moment and try again.";
    if (res.status === 413) return "Your order is too large to send: remove some items and try again.";
    if (b.field === "customer_id") {
      // the validator's words and the id itself were shown (a 5,000-character
      // one whole, the pattern as a regex)
      const id = (sent && sent.customer_id) || "";
      if (!id.trim()) return state.samplesOff ? "Enter your customer id." : "Choose a customer.";
      return `That customer id is not valid: letters A-Z a-z, digits 0-9 and _.:- only, up to ${MAX_ID_CHARS} characters.`;
    }
    if (b.field === "dest") {
      const zip = (sent && sent.dest) || "";
      return /^\d{3}(\d{2}(-\d{4})?)?$/.test(zip)
        ? `Sorry, we don't deliver to ZIP code ${zip}.`
        : "Please enter a US ZIP code (5 digits, or ZIP+4).";
    }
    if (b.field === "items") {
      // a cart over the line limit was told it was empty
      const max = /at most (\d+) item/.exec(b.message || "");
      if (max) return `Your cart has more lines than one order takes (at most ${max[1]}): place the rest as another order.`;
      // an example of the network served (its first sample cart's SKU):
      // the sample network's HOM-0575 was given on every network
      const cart = state.samples && state.samples.carts[0];
      const example = cart && cart.items.length ? `, for example ${skuText(cart.items[0].sku)}:2` : "";
      return `Your cart is empty: enter at least one item as SKU:QTY${example}.`;
    }
    const line = /^items\[(\d+)\]\.(sku|quantity)$/.exec(b.field || "");
    if (line) {
      const i = Number(line[1]);
      const item = (sent && sent.items && sent.items[i]) || {};
      const name = `Item ${i + 1}${item.sku ? ` (${item.sku})` : ""}`;
      if (line[2] === "sku") {
        return `${name}: we have no such product. Enter items as SKU:QTY, separated by commas.`;
      }
      // each line fits, but the lines of one SKU are one order line
      if (/ add up to /.test(b.message || "")) {
        return `${name}: together with the other ${item.sku || "such"} lines, that is more than one order can take.`;
      }
      const type = ((b.errors || [])[0] || {}).type;
      if (type === "greater_than_equal") return `${name}: the quantity must be at least 1.`;
      if (type === "less_than_equal") return `${name}: that is more than one order can take.`;
      return `${name}: the quantity must be a whole number, as in ${item.sku || "SKU"}:2.`;
    }
    if (b.status === "rejected" || HOLD_CUT.test(b.message || "")) {
      return "Sorry, part of your order sold out in the meantime.";
    }
    if (HOLD_LAPSED.test(b.message || "")) return "Your order did not reach us in time, and nothing is ordered.";
    if (res.status === 404 && b.field === "request_id") {
      return "This checkout is no longer known to the store: please show the delivery options again.";
    }
    if (res.status === 404) return "The store could not find what this page asked for: please reload the page.";
    const text = b.message || `request failed (${res.status})`;
    if (b.field !== "request_id") return text;
    if (/: options expired/.test(text)) return "These delivery options have expired.";
    const why = text.replace(/^field 'request_id': value '[^']*': /, "");
    return why.charAt(0).toUpperCase() + why.slice(1).replace(/([^.])$/, "$1.");
  }

  // ----------------------------------------------------------------- inputs
  // "SKU:QTY, SKU:QTY": a SKU id that holds a comma or a double quote, or
  // begins or ends with a space (a network may name one so), is written
  // between double quotes, a quote in it doubled (CSV's way): "TEE, red":2.
  // Split at the commas only, it was sent as two unknown SKUs.
  function parseItems(text) {
    const items = [];
    let i = 0;
    while (i <= text.length) {
      while (i < text.length && /\s/.test(text[i])) i++;
      let sku = null;
      if (text[i] === '"') {
        // a quoted id runs to the quote not doubled; what follows it to the
        // comma is ":QTY" (or nothing: one unit)
        let j = i + 1;
        sku = "";
        while (j < text.length && !(text[j] === '"' && text[j + 1] !== '"')) {
          sku += text[j];
          j += text[j] === '"' ? 2 : 1;
        }
        i = j + 1;
      }
      const comma = text.indexOf(",", i);
      const end = comma < 0 ? text.length : comma;
      const token = text.slice(i, end).trim();
      i = end + 1;
      if (sku === null && !token) continue;
      let digits = "1";
      if (sku !== null) {
        if (token) digits = token.startsWith(":") ? token.slice(1).trim() : token;
      } else {
        const at = token.lastIndexOf(":");
        sku = at < 0 ? token : token.slice(0, at).trim();
        if (at >= 0) digits = token.slice(at + 1).trim();
      }
      // whole numbers as written: Number() also took "1e3", "0x10" and ""
      items.push({ sku, quantity: /^\d+$/.test(digits) ? Number(digits) : null });
    }
    return items;
  }
  const skuText = (sku) => (/[",]|^\s|\s$/.test(sku) ? `"${sku.replaceAll('"', '""')}"` : sku);
  const itemsText = (items) => items.map((i) => `${skuText(i.sku)}:${i.quantity}`).join(", ");

  function showCustomer() {
    if (!state.samples) return;
    const c = state.samples.customers.find((x) => x.customer_id === $("customer").value);
    const info = $("customer-info");
    info.replaceChildren();
    if (!c) return;
    info.append(
      el("span", { class: `badge segment segment-${c.segment}`, id: "segment", text: c.segment }),
      " CLTV segment, predicted spend ",
      el("strong", { text: money(c.predicted_spend) }),
      el("div", { class: "note", text: c.source }),
    );
  }

  // The samples are tried again a few times, further apart each time, the
  // error shown meanwhile: one failed load left the customer and cart
  // lists empty for good, and "Show delivery options" then showed the
  // API's "field 'customer_id': value '': String should have at least 1
  // character".
  async function loadSamples(attempt = 0) {
    const res = await api("GET", "/v1/samples");
    if (res.status === 404) return samplesOff();
    if (!res.ok) {
      const wait = SAMPLES_RETRY_S[attempt];
      const why = errorText(res).replace(/[.:].*$/, "").toLowerCase();
      state.samplesError = wait === undefined
        ? `The sample customers and carts could not be loaded (${why}): please reload the page.`
        : `The sample customers and carts could not be loaded (${why}): trying again in ${wait} s.`;
      showError(state.samplesError);
      document.body.dataset.samples = wait === undefined ? "failed" : "retrying";
      if (wait !== undefined) setTimeout(() => loadSamples(attempt + 1), wait * 1000);
      return;
    }
    if (state.samplesError && $("error").textContent === state.samplesError) showError("");
    state.samplesError = null;
    document.body.dataset.samples = "loaded";
    state.samples = res.body;
    const s = res.body;
    $("customer").replaceChildren(
      ...s.customers.map((c) =>
        el("option", { value: c.customer_id, text: `${c.customer_id} (${c.segment} customer)` }),
      ),
    );
    $("cart-preset").replaceChildren(
      ...s.carts.map((c, i) => el("option", { value: String(i), text: c.label })),
    );
    $("zips").replaceChildren(...s.destinations.map((d) => el("option", { value: d.zip, label: d.label })));
    // a checkout brought back by a reload keeps its own fields
    if (s.carts.length && !state.sent) $("items").value = itemsText(s.carts[0].items);
    if (s.destinations.length && !state.sent) $("zip").value = s.destinations[0].zip;
    $("samples-note").textContent = "Sample customers: " + s.note + ".";
    showCustomer();
  }

  // A server that does not serve the sample customers (`serve --no-samples`:
  // they are customer ids with their predicted spend) asks the shopper for
  // the customer id, the items and the ZIP code instead of retrying; a
  // gateway in front of it may set the id from the shopper's login.
  function samplesOff() {
    state.samples = null;
    state.samplesOff = true;
    const input = el("input", { id: "customer", autocomplete: "off", spellcheck: "false", maxlength: String(MAX_ID_CHARS) });
    input.addEventListener("input", showEdited);
    $("customer").replaceWith(input);
    $("customer-label").textContent = "Your customer id";
    $("customer-details").hidden = true;
    $("cart-preset").closest("label").hidden = true;
    $("samples-note").textContent = "Enter your customer id, your items as SKU:QTY and your ZIP code.";
    document.body.dataset.samples = "off";
  }

  // ---------------------------------------------------------------- options
  const optionById = (answer, id) => answer.options.find((o) => o.option_id === id);

  function when(o) {
    return `${o.guaranteed ? "Guaranteed by" : "Arrives"} ${day(o.delivery_date)}`;
  }
  // the same inside a sentence: "Lowest price is now available (Arrives
  // Sat, Jan 10, $11.00)" capitalized it mid-sentence
  const whenInline = (o) => when(o).replace(/^./, (c) => c.toLowerCase());

  // What the shopper gets besides the date and price.
  function perks(o, answer) {
    const out = [];
    // the label says "save $X" already; the price is at least that below
    // every other option shown, each of which ships sooner (options.py);
    // shown alone (every node full today) it is off its own price: the
    // page compared it with options it did not show
    if (o.discount > 0) {
      const alone = answer.options.length === 1;
      out.push(
        alone
          ? `${money(o.discount)} off its own price for waiting`
          : `At least ${money(o.discount)} less than every option that ships sooner`,
      );
    }
    if (o.pricing === "upgrade") {
      const extra = o.standard_price === null ? 0 : o.price - o.standard_price;
      out.push(
        extra > 0.005
          ? `Upgrade for you: only ${money(extra)} more than standard shipping`
          : "Upgrade for you: next-day at the standard shipping price",
      );
    }
    if (o.eco) out.push("Fewer miles, lower emissions");
    return out;
  }

  function detailsOf(o) {
    const rows = [
      ["Tier", title(o.tier)],
      ["Ships from", o.shipments.map((s) => `${s.node_id} on ${day(s.ship_date)} by ${s.service.replace("_", "-")}` +
        ` (${Math.round(s.distance_mi)} mi)`).join("; ")],
      ["Satisfaction score", o.satisfaction_score.toFixed(3)],
      ["Cost to us", money(o.cost)],
      ["Capacity charge", money(o.capacity_cost)],
      ["Pricing", o.pricing + (o.upgrade_cost > 0 ? `, upgrade costs us ${money(o.upgrade_cost)}` : "")],
      ["Why", o.explanation],
    ];
    const box = el(
      "details",
      { class: "ops-details", dataset: { field: "details" }, open: state.open.has(o.option_id) },
      // named after its option: a screen reader heard "Details" once per
      // option, with nothing to tell them apart
      el("summary", { text: "Details", "aria-label": `Details of ${o.label}` }),
      el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
    );
    box.addEventListener("toggle", () => {
      if (box.open) state.open.add(o.option_id);
      else state.open.delete(o.option_id);
    });
    return box;
  }

  function card(o, answer, moved) {
    const fields = (moved && moved.fields) || {};
    const added = moved && moved.change === "added";
    const mark = (...names) => (added || names.some((n) => fields[n]) ? " changed" : "");
    const recommended = o.option_id === answer.recommended;
    const selected = o.option_id === state.chosen;
    const input = el("input", {
      type: "radio",
      name: "option",
      value: o.option_id,
      id: `option-${o.option_id}`,
      disabled: state.done || state.placing,
      onchange: () => choose(o.option_id),
    });
    input.checked = selected; // the property: what the radio shows
    const promo = perks(o, answer);
    return el(
      "div",
      {
        class: "option-card" + (selected ? " selected" : ""),
        dataset: { optionId: o.option_id, tier: o.tier, recommended: String(recommended) },
      },
      el(
        "label",
        { class: "option-main", for: input.id },
        input,
        el(
          "div",
          { class: "option-head" },
          el("span", { class: "benefit" + mark("label"), dataset: { field: "label" }, text: o.label }),
          recommended ? el("span", { class: "badge recommended", text: "Recommended" }) : null,
        ),
        el("div", { class: "price" + mark("price"), dataset: { field: "price" }, text: money(o.price) }),
        el(
          "div",
          { class: "when" + mark("delivery_date"), dataset: { field: "delivery_date", date: o.delivery_date } },
          when(o),
        ),
        promo.length ? el("div", { class: "perks", dataset: { field: "perks" }, text: promo.join(" · ") }) : null,
      ),
      operatorView(o) ? detailsOf(o) : null,
    );
  }

  // Whether an answer or option carries the operator's view: a server
  // with `--operator-reads key` withholds it from a caller without the key
  // (its values null: no node, cost, score, bid prices or CLTV figures)
  const operatorView = (o) => o.satisfaction_score !== null;
  const answerOperatorView = (answer) => answer.bid_prices !== null;

  function showSelection(answer) {
    const note = $("selection-note");
    const rec = optionById(answer, answer.recommended);
    const mine = optionById(answer, state.chosen);
    note.hidden = !mine || state.done;
    // a live update while the order is placed keeps "Placing your order…"
    if (!state.placing) $("confirm").textContent = mine ? `Place order · ${money(mine.price)}` : "Place order";
    if (!mine) return;
    if (mine.option_id === answer.recommended) {
      note.dataset.state = "recommended";
      // alone (the other tiers not offered) it has no other to choose from:
      // "You may choose any other option" stood under the only one
      note.textContent = answer.options.length === 1
        ? `Selected: ${mine.label}, the only delivery option for this order.`
        : `Selected: ${mine.label}, our recommendation. You may choose any other option.`;
    } else {
      note.dataset.state = "own";
      note.textContent = `Selected: ${mine.label}, your choice. We recommend ${rec.label}.`;
    }
  }

  function showMissing(answer) {
    const words = answer.unavailable || {};
    const tiers = Object.keys(answer.missing);
    $("missing").replaceChildren(
      ...tiers.map((tier) => el("li", { dataset: { tier }, text: words[tier] || `${title(tier)} is not available.` })),
    );
    $("missing-box").hidden = !tiers.length || state.done;
  }

  // Everything an operator may want about the whole answer.
  function showAnswerDetails(answer) {
    if (!answerOperatorView(answer)) {
      $("answer-details").hidden = true;
      return;
    }
    const c = answer.customer;
    const rows = [
      ["Request", `${answer.request_id} (revision ${answer.revision})`],
      ["Customer", `${c.customer_id}: ${c.segment}, predicted spend ${money(c.predicted_spend)}` +
        (c.platinum_threshold === null ? "" : `, Platinum threshold ${money(c.platinum_threshold)}`) +
        (c.platinum_eligible ? " (eligible)" : " (not eligible)")],
      ...Object.entries(answer.missing).map(([tier, why]) => [`${title(tier)} missing`, why]),
      ["Bid prices", withInstants(answer.bid_prices)],
      ["Capacity as of", answer.capacity_as_of ? instant(answer.capacity_as_of) : "no events"],
    ];
    if (answer.degraded) rows.push(["Degraded", withInstants(answer.notes.join(" "))]);
    $("answer-info").replaceChildren(
      el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
    );
    $("answer-details").hidden = false;
  }

  function render(answer, changes) {
    const moved = {};
    for (const c of changes || []) moved[c.option_id] = c;
    // the cards are rebuilt: a focused option keeps the focus (arrow keys
    // then go on through the options; the focus fell to the page's body),
    // and so does a focused "Details" (a live update sent it to the body,
    // and the next Tab started again from the first option); a focused
    // option the update dropped hands it to the option now selected
    const active = document.activeElement;
    const within = active && $("options").contains(active) ? active.closest(".option-card") : null;
    const focused = within && { id: within.dataset.optionId, details: active.tagName === "SUMMARY" };
    $("options").replaceChildren(...answer.options.map((o) => card(o, answer, moved[o.option_id])));
    const again = focused && document.getElementById(`option-${focused.id}`);
    if (again) (focused.details ? again.closest(".option-card").querySelector("summary") : again).focus();
    else if (focused) (document.getElementById(`option-${state.chosen}`) || $("options-heading")).focus();
    showSelection(answer);
    showMissing(answer);
    showAnswerDetails(answer);
    // options a live update brought back (stock freed, a node reopened)
    // take the "none" line away: it stayed above them and an enabled button
    if (!answer.options.length) {
      if (!$("error").dataset.none) showError(NO_OPTIONS, true);
    } else if ($("error").dataset.none) showError("");
    showEdited();
    document.body.dataset.selected = state.chosen || "";
    document.body.dataset.recommended = answer.recommended || "";
    watchExpiry(answer);
    remember();
  }

  // The checkout shown, kept for this tab: a reload or the back button
  // brought a blank page back (the first sample cart and ZIP code, no
  // options, no word of an order placed meanwhile), and a shopper who
  // ordered again ordered twice. An ended checkout with no order is not
  // kept.
  function remember() {
    try {
      if (!state.answer || (state.done && !state.placed)) sessionStorage.removeItem(SAVED);
      else {
        const { answer, sent, sentCart, chosen, picked } = state;
        sessionStorage.setItem(SAVED, JSON.stringify({ answer, sent, cart: sentCart, chosen, picked }));
      }
    } catch (err) {
      // storage off or full: a reload brings nothing back
    }
  }

  // The server's clock against this page's, from an answer's Date header
  // (whole seconds, so the offset errs early and an expiry is told late,
  // never early): the options' `expires_at` is on the server's clock, and
  // a browser's may be minutes off.
  function learnClock(res) {
    const server = res.date ? Date.parse(res.date) : NaN;
    if (Number.isFinite(server)) state.serverOffset = server - Date.now();
  }

  // The options shown expire at the answer's `expires_at`: the page says so
  // then and offers new ones (the Show new delivery options button). It
  // heard of it from the server alone, at its next re-answer of the
  // checkout (up to a minute late) or never (its stream away: a laptop
  // asleep), and meanwhile Place order was refused "options expired".
  function watchExpiry(answer) {
    clearTimeout(state.expiry);
    state.expiry = null;
    const at = answer && answer.expires_at ? Date.parse(answer.expires_at) - state.serverOffset : NaN;
    state.expiresAt = state.done ? NaN : at;
    if (!Number.isFinite(state.expiresAt)) return;
    // at most setTimeout's longest wait (24.8 days; a TTL may be 30)
    const wait = Math.min(Math.max(0, state.expiresAt - Date.now()), 2 ** 31 - 1);
    const due = () => {
      state.expiry = null;
      if (!state.answer || state.done) return;
      if (!expiredHere()) return watchExpiry(state.answer);
      // a call out (options asked, an order placed) tells first
      if (state.busy) return void (state.expiry = setTimeout(due, 1000));
      // the options and Place order go off: a focus on them goes to the offer
      const inPanel = $("options-panel").contains(document.activeElement);
      showClosed({ request_id: state.answer.request_id, why: "expired", reason: "" });
      if (inPanel) $("requote").focus();
    };
    state.expiry = setTimeout(due, wait + 50);
  }

  // The options shown are past their expiry by this page's clock (a timer
  // runs late after a laptop's sleep: Place order checks too).
  const expiredHere = () => Number.isFinite(state.expiresAt) && Date.now() >= state.expiresAt;

  // Offer new options for the order shown (or take the offer away).
  function offerRequote(on) {
    $("requote").hidden = !on;
  }

  // The kept checkout after a reload: its fields, then the store's word
  // on it. A requote answers an open one as it stands now (a hold taken
  // before the reload stands: Place order holds and confirms it); one
  // confirmed meanwhile (a reload while "Placing your order…") is refused
  // "checkout already confirmed", and a repeated confirm answers as the
  // first: the order is shown placed. Anything else (expired, cancelled,
  // unknown) leaves the fields for the shopper to ask again, and says the
  // options could not be refreshed (it said nothing, the options gone);
  // a requote that got no answer (unreachable, busy, failing) keeps the
  // checkout for the next reload (it is still open).
  async function restore() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(SAVED) || "null");
    } catch (err) {
      saved = null;
    }
    if (!saved || !saved.answer || !saved.sent) return;
    const { answer, sent } = saved;
    // the sample cart picked (it came back as the first one), if still served
    const cart = typeof saved.cart === "string" ? saved.cart : "";
    if ([...$("cart-preset").options].some((o) => o.value === cart)) $("cart-preset").value = cart;
    state.sentCart = cart;
    $("customer").value = sent.customer_id;
    $("items").value = itemsText(sent.items);
    $("zip").value = sent.dest;
    showCustomer();
    const id = answer.request_id;
    state.sent = sent;
    const res = await api("POST", `/v1/checkouts/${id}/requote`);
    learnClock(res);
    const confirmed = res.status === 409 && /checkout already confirmed/.test((res.body && res.body.message) || "");
    const done = confirmed ? await api("POST", `/v1/checkouts/${id}/confirm`) : null;
    if (done && done.ok) {
      state.answer = answer;
      return showPlaced(id, optionById(answer, done.body.option_id) || optionById(answer, saved.chosen));
    }
    if (!res.ok) {
      state.sent = null;
      const over = [404, 409, 410].includes(res.status);
      if (over) remember();
      else state.unrefreshed = id;
      showError(notRefreshedText(res, over));
      offerRequote(over && /options expired|already expired/.test((res.body && res.body.message) || ""));
      return;
    }
    state.answer = res.body;
    state.picked = Boolean(saved.picked) && Boolean(optionById(res.body, saved.chosen));
    state.chosen = state.picked ? saved.chosen : res.body.recommended;
    render(state.answer, []);
    document.body.dataset.requestId = id;
    document.body.dataset.revision = String(state.answer.revision);
    openStream(id);
  }

  // Why the kept checkout's options are not shown after a reload, as the
  // samples' failure says it: the checkout over (expired, cancelled,
  // unknown) is asked again; one the store did not answer for, reloaded.
  function notRefreshedText(res, over) {
    const text = (res.body && res.body.message) || "";
    let why;
    if (!over) why = errorText(res).replace(/[.:].*$/, "").toLowerCase();
    else if (/options expired|already expired/.test(text)) why = "they have expired";
    else why = "this checkout is no longer open";
    return `Your delivery options could not be refreshed (${why}): ` +
      (over ? "show the delivery options again." : "reload the page to try again.");
  }

  // The order fields as the options request sends them.
  function formOrder() {
    return {
      customer_id: $("customer").value,
      items: parseItems($("items").value),
      dest: $("zip").value.trim(),
    };
  }

  // The order fields no longer say what the options shown answer.
  function edited() {
    return Boolean(state.sent) && JSON.stringify(formOrder()) !== JSON.stringify(state.sent);
  }

  // Place order and the line above the options, as the fields stand: a
  // customer, cart or ZIP code changed after the options came was not
  // asked about, and Place order ordered the old cart to the old ZIP code
  // for the old customer, the new ones still on screen.
  function showEdited() {
    const answer = state.answer;
    if (!answer) return;
    const stale = !state.done && edited();
    document.body.dataset.edited = stale ? "1" : "";
    $("confirm").disabled = state.done || state.placing || stale || !answer.options.length;
    $("options-intro").textContent = stale
      ? "Your order changed since these options were shown: choose “Show delivery options” for options that match it."
      : answer.options.length ? "Choose how your order ships. Prices include delivery." : "";
  }

  // The options are off while an order is placed and once it is: a pick
  // made while the select was on its way was taken (checked, "your choice")
  // and the option placed before it was ordered.
  // "Show delivery options" is off meanwhile too: it looked ready and did
  // nothing (the page takes no new options while an order is placed).
  function lockOptions() {
    for (const input of $("options").querySelectorAll("input[name='option']")) {
      input.disabled = state.done || state.placing;
    }
    $("get-options").disabled = state.placing;
  }

  function choose(optionId) {
    if (state.placing || state.done) return;
    state.chosen = optionId;
    state.picked = true;
    render(state.answer, []);
  }

  // After a live update: keep the shopper's own pick while it is offered,
  // else select the (new) recommendation; says what happened, or null.
  function reselect(before, answer) {
    const had = before && optionById(before, state.chosen);
    if (state.picked && optionById(answer, state.chosen)) return null;
    const rec = optionById(answer, answer.recommended);
    const was = state.chosen;
    state.chosen = answer.recommended;
    state.picked = false;
    if (!rec || was === state.chosen) return null;
    if (had && !optionById(answer, was)) return `${had.label} is no longer available: ${rec.label} (recommended) is selected`;
    return `we now recommend ${rec.label} (${whenInline(rec)}, ${money(rec.price)}); it is selected`;
  }

  function closeStream() {
    if (state.stream) state.stream.close();
    state.stream = null;
    if (state.retry) clearTimeout(state.retry);
    state.retry = null;
    $("live-status").dataset.state = "off";
    $("live-status").textContent = "live updates off";
  }

  // What moved from the answer shown (`before`) to `answer`, as the stream's
  // `changes` list it (`option_changes`): one entry per option added,
  // removed, or changed in a watched field (`fields`: name -> [old, new]).
  // The page derives it from the two answers rather than reading the
  // event's: a server that no longer has the earlier answer (restarted,
  // or it was pushed out) sends `changes: []`, and the page changed prices
  // and dropped options without a word; and the server's list is against
  // its last answer, which a page whose stream was away never showed.
  const WATCHED = ["nodes", "service", "delivery_date", "price", "discount", "label"];
  function optionChanges(before, answer) {
    const was = new Map((before ? before.options : []).map((o) => [o.option_id, o]));
    const now = new Map(answer.options.map((o) => [o.option_id, o]));
    const out = [];
    for (const id of new Set([...was.keys(), ...now.keys()])) {
      const a = was.get(id);
      const b = now.get(id);
      if (a && !b) out.push({ option_id: id, change: "removed", reason: (answer.missing || {})[id] || "" });
      else if (!a && b) out.push({ option_id: id, change: "added", option: b });
      else {
        const fields = {};
        for (const f of WATCHED) {
          if (JSON.stringify(a[f]) !== JSON.stringify(b[f])) fields[f] = [a[f], b[f]];
        }
        if (Object.keys(fields).length) out.push({ option_id: id, change: "changed", fields });
      }
    }
    return out;
  }

  // The changes in the shopper's words (no node ids).
  function summarize(changes, before, answer) {
    const lines = [];
    for (const c of changes) {
      const now = optionById(answer, c.option_id);
      const was = before && optionById(before, c.option_id);
      const name = (now || was || { label: title(c.option_id) }).label;
      if (c.change === "removed") {
        const why = (answer.unavailable || {})[c.option_id];
        lines.push(why || `${name} is no longer available`);
      } else if (c.change === "added") lines.push(`${name} is now available (${whenInline(now)}, ${money(now.price)})`);
      else {
        const f = c.fields;
        const parts = [];
        if (f.delivery_date) parts.push(`now arrives ${day(f.delivery_date[1])} (was ${day(f.delivery_date[0])})`);
        if (f.price) parts.push(`costs ${money(f.price[1])} (was ${money(f.price[0])})`);
        if (parts.length) lines.push(`${name} ${parts.join(" and ")}`);
      }
    }
    return lines;
  }

  // The lines of what live updates changed that the page keeps, newest first.
  const UPDATE_LINES_KEPT = 5;

  // A newer answer of this checkout (a live update, or the page's own
  // requote): shown with what moved, the selection kept or moved as the
  // live rule says. An answer not newer than the one shown is dropped (the
  // stream also sends the page's own requote).
  function update(answer) {
    if (answer.revision <= state.answer.revision) return;
    const before = state.answer;
    state.answer = answer;
    const changes = optionChanges(before, answer);
    const moved = reselect(before, answer);
    render(answer, changes);
    const time = new Date().toLocaleTimeString("en-US", { hour: "numeric", minute: "2-digit" });
    const lines = summarize(changes, before, answer);
    if (moved) lines.push(moved);
    for (const line of lines) {
      $("updates").prepend(el("li", { text: `Updated ${time}: ${line.replace(/\.$/, "")}.` }));
    }
    // the newest lines only: every update added its lines above Place
    // order for as long as the page was open, and a node closed and
    // reopened ten times pushed the button 1,760 px down a phone's page
    const list = $("updates");
    while (list.children.length > UPDATE_LINES_KEPT) list.lastElementChild.remove();
    document.body.dataset.revision = String(answer.revision);
  }

  // the page shows no map: its stream sends only this checkout's events
  const streamUrl = (requestId) =>
    `/v1/stream?request_id=${encodeURIComponent(requestId)}&capacity=false`;

  // Seconds before a stream refused for now is opened again, when the
  // answer does not say (`Retry-After`), and the most the page waits.
  const STREAM_RETRY_S = 5;
  const STREAM_RETRY_MAX_S = 60;

  // A stream the browser gave up on (an answer that is no stream: it does
  // not retry) is asked once more, by fetch, for its status: a 404 (the
  // checkout is over) ends it and the checkout (streamOver), anything else
  // (a 503: the server has as many open streams as it takes; unreachable)
  // is opened again after the answer's Retry-After. The page said "live
  // updates off" for good after a 503, and its prices were no longer kept
  // up to date.
  async function streamRefused(requestId) {
    const abort = new AbortController();
    let status = 0;
    let retry = NaN;
    try {
      const resp = await fetch(streamUrl(requestId), { signal: abort.signal });
      status = resp.status;
      retry = Number(resp.headers.get("Retry-After"));
    } catch (err) {
      status = 0; // unreachable: try again later
    } finally {
      abort.abort(); // a stream that now opens is not read here
    }
    const current = () =>
      state.answer && state.answer.request_id === requestId && !state.done && !state.stream;
    if (!current()) return;
    if (status === 404 || status === 410) {
      document.body.dataset.streamEnded = "1";
      return streamOver(requestId);
    }
    if (status === 200) return openStream(requestId); // a place came free meanwhile
    const wait = Math.min(STREAM_RETRY_MAX_S, retry >= 1 ? retry : STREAM_RETRY_S);
    $("live-status").dataset.state = "paused";
    $("live-status").textContent = `live updates paused: trying again in ${wait} s`;
    document.body.dataset.streamRetry = String(wait);
    state.retry = setTimeout(() => {
      state.retry = null;
      if (current()) openStream(requestId);
    }, wait * 1000);
  }

  // The stream refused 404: the checkout is over, and no `closed` event
  // came to say so (it ended while the stream was away: confirmed or
  // cancelled in another tab or on another replica, or its options expired
  // while a laptop slept). The refusal does not say which. The page said
  // "live updates off" alone, and kept Place order on, which could only be
  // refused. As a `closed` event: kept for placeOrder while this page's
  // order is placed; a confirm of this page's that got no answer is asked
  // again (it may be what ended the checkout: the order is shown placed);
  // none new taken while new options are on their way.
  function streamOver(requestId) {
    const data = { request_id: requestId, why: "over", reason: "" };
    if (state.placing) {
      state.closedMeanwhile = state.closedMeanwhile || data;
      return;
    }
    if (state.busy) return;
    if (state.unsure === requestId) return void confirmOrClosed(requestId, data);
    showClosed(data);
  }

  // Ask again the confirm that got no answer; the checkout is shown over
  // when the store answers and no order came of it (the store still not
  // reached: Place order stays, to try again).
  async function confirmOrClosed(requestId, data) {
    await confirmAgain(requestId);
    const current = state.answer && state.answer.request_id === requestId;
    if (current && !state.done && !state.busy && state.unsure !== requestId) showClosed(data);
  }

  function openStream(requestId) {
    closeStream();
    const es = new EventSource(streamUrl(requestId));
    state.stream = es;
    delete document.body.dataset.streamEnded;
    delete document.body.dataset.streamRetry;
    const status = $("live-status");
    es.onopen = () => {
      status.dataset.state = "live";
      status.textContent = "live updates on";
      serverBack();
    };
    es.onerror = () => {
      if (state.stream !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // refused: for good (a 404: the checkout is over; "reconnecting…"
        // stayed for ever) or for now (a 503), which streamRefused tells
        closeStream();
        streamRefused(requestId);
        return;
      }
      status.dataset.state = "reconnecting";
      status.textContent = "reconnecting…";
    };
    es.addEventListener("options", (ev) => {
      const data = JSON.parse(ev.data);
      if (!state.answer || data.request_id !== state.answer.request_id || state.done) return;
      update(data.option_set);
    });
    es.addEventListener("closed", (ev) => {
      closeStream();
      const data = JSON.parse(ev.data);
      if (!state.answer || data.request_id !== state.answer.request_id || state.done) return;
      // this page's own order being placed: its confirm closes the checkout,
      // and the event may come before the confirm's answer, which tells;
      // kept for placeOrder, which shows it when no order came of it (it
      // was dropped: a select refused meanwhile asked for new options, and
      // the page showed them as the checkout's, live updates off)
      if (state.placing) {
        state.closedMeanwhile = data;
        return;
      }
      // this page's confirm whose answer was lost (a dropped connection)
      // placed the order: the event came after the page said the store
      // could not be reached, and the page said "no longer open … start a
      // new one", inviting the same order twice. A repeated confirm
      // answers as the first: the order is shown placed.
      if (data.why === "confirmed" && state.unsure === data.request_id) return void confirmAgain(data.request_id);
      // so is one placed elsewhere (a duplicated tab, the API): the page
      // said "no longer open … start a new one", inviting the same order
      // twice, where a reload of it showed the order placed; the repeated
      // confirm says which option was (the store's, not this page's pick)
      if (data.why === "confirmed") return void confirmOrClosed(data.request_id, data);
      showClosed(data);
    });
  }

  // The checkout's stream is open: the server answers again, and a line
  // saying it could not be reached (a Place order while it was away) no
  // longer holds. It stood under the options kept live again, as if the
  // store were still away; the focus it held goes to Place order, to try
  // again.
  function serverBack() {
    const box = $("error");
    if (box.hidden || ![UNREACHABLE, NOT_RESPONDING].includes(box.textContent)) return;
    const focused = document.activeElement === box;
    showError("");
    if (focused) $("confirm").focus();
  }

  // The checkout's `closed` event: confirmed or cancelled elsewhere (another
  // tab, the API), or its options expired: no order can be placed from
  // here, and nothing is left to cancel. The event's `why` says which (an
  // expiry was told "completed or closed elsewhere"); a server without it,
  // its reason; `over` (the page's own, streamOver) cannot tell, and says
  // both
  function showClosed(data) {
    const expired = data.why ? data.why === "expired" : /^options expired/.test(data.reason || "");
    state.done = true;
    closeStream();
    render(state.answer, []);
    lockOptions();
    $("confirm").disabled = true;
    showError(
      expired
        ? "These delivery options have expired: show the delivery options again."
        : data.why === "over"
          ? "This checkout is no longer open: it was completed or closed elsewhere (another tab or window), " +
            "or its delivery options expired. Show the delivery options again to start a new one."
          : "This checkout is no longer open (it was completed or closed elsewhere). Show the delivery options again to start a new one.",
    );
    offerRequote(expired);
    document.body.dataset.closedWhy = data.why || "";
    document.body.dataset.closed = "1";
  }

  // While a call is out the page says so and takes no order: Place order
  // clicked while slow options loaded did nothing, with nothing shown
  function loading(on) {
    const ask = $("get-options");
    ask.disabled = on;
    ask.textContent = on ? "Finding delivery options…" : "Show delivery options";
    if (on) {
      $("confirm").disabled = true;
      $("options").setAttribute("aria-busy", "true");
    } else {
      $("options").removeAttribute("aria-busy");
    }
  }

  // An ask is asked again when its answer did not come: the store
  // unreachable (the connection refused), a 503 (a gateway with no server
  // up; /v1/options itself answers degraded, not 503), a timeout or a 502.
  // Each try sends the ask's Idempotency-Key: a server that made the option
  // set already (the answer lost on its way) answers that set again, on
  // any replica, and makes none. Until 2026-12-07 a timeout or a 502 was
  // not asked again (a second ask made a second option set).
  const askRetries = (res) =>
    (res.status === 0 && ["network", "timeout"].includes((res.body || {}).error)) ||
    res.status === 503 ||
    res.status === 502;

  // A fresh key per ask (crypto.randomUUID needs a secure context: https or
  // localhost; elsewhere 16 random bytes in hex)
  const newAskKey = () =>
    crypto.randomUUID
      ? crypto.randomUUID()
      : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

  function stopAskRetry() {
    clearTimeout(state.askRetry);
    state.askRetry = null;
    state.retryAsk = null;
  }

  // Where the focus is, if the shopper put it there: a retry's answer or
  // error takes it only from the page's body (where a disabled button left
  // it), not from a field the shopper is typing in.
  const focusIsFree = () => [document.body, null, $("error"), $("get-options")].includes(document.activeElement);

  // Cancel the checkouts this page left (the one shown when options were
  // asked again). The cancel went once, after the ask: with the server down
  // it failed like the ask, and the old checkout stayed open until its
  // options expired, a hold taken on it (an option selected) keeping its
  // stock from other shoppers. One that got no answer (unreachable, timed
  // out, a 502 or 503) is sent again after the ask's next try, and after
  // the next ask (the server cancels a checkout once; a cancel again of it
  // is answered as the first).
  function cancelLeft() {
    for (const id of state.toCancel) {
      state.toCancel.delete(id);
      api("POST", `/v1/checkouts/${id}/cancel`).then((res) => {
        if (askRetries(res)) state.toCancel.add(id);
      });
    }
  }

  // `keepPick`: the shopper's own pick stays while offered (new options for
  // expired ones, asked with Show new delivery options). `attempt`, `asked`:
  // a try again (1, 2, …) of the ask of `asked` that did not reach the
  // store; it sends what was asked, not fields being typed in meanwhile,
  // under the ask's key (`key`: null, a new ask, a new key), until
  // `deadline` (this page's clock, ms: ASK_RETRY_DEADLINE_MS after the
  // ask's first failure)
  async function getOptions(keepPick = false, attempt = 0, asked = null, key = null, deadline = NaN) {
    if (state.busy) return;
    stopAskRetry();
    const pick = keepPick && state.picked && !edited() ? state.chosen : null;
    watchExpiry(null); // the options asked replace those shown
    state.busy = true;
    loading(true);
    // a try again leaves "trying again" up until it is answered
    if (!attempt) showError("");
    offerRequote(false);
    $("confirmation").hidden = true;
    $("updates").replaceChildren();
    const previous = (state.answer && !state.done ? state.answer.request_id : null) || state.unrefreshed;
    if (previous) state.toCancel.add(previous); // the old quote is dropped
    state.unrefreshed = null;
    state.done = false;
    state.placed = false;
    closeStream();
    const body = asked || formOrder();
    const askKey = key || newAskKey();
    // a try again has what is left before the deadline (a late timer, a
    // laptop asleep: ASK_LAST_TRY_MS)
    const timeout = attempt
      ? Math.max(ASK_LAST_TRY_MS, Math.min(tf.API_TIMEOUT_MS, deadline - Date.now()))
      : tf.API_TIMEOUT_MS;
    const res = await api("POST", "/v1/options", body, { "Idempotency-Key": askKey }, timeout);
    learnClock(res);
    state.busy = false;
    loading(false);
    cancelLeft();
    for (const id of Object.values(FIELD_INPUTS)) $(id).removeAttribute("aria-invalid");
    // the button was disabled meanwhile and the focus fell to the page's
    // body: it goes to the error (its field marked invalid), else to the
    // options' heading
    if (!res.ok) {
      state.answer = null;
      state.sent = null;
      remember();
      $("options").replaceChildren();
      $("missing-box").hidden = true;
      $("selection-note").hidden = true;
      $("answer-details").hidden = true;
      $("confirm").disabled = true;
      $("confirm").textContent = "Place order";
      // no options are shown: "Your order changed since these options were
      // shown" stayed above none, the error saying what to change
      $("options-intro").textContent = "";
      document.body.dataset.edited = "";
      const field = ((res.body && res.body.field) || "").replace(/\[.*$/, "");
      if (FIELD_INPUTS[field]) $(FIELD_INPUTS[field]).setAttribute("aria-invalid", "true");
      const until = attempt ? deadline : Date.now() + ASK_RETRY_DEADLINE_MS;
      const left = until - Date.now() - ASK_LAST_TRY_MS;
      const next = askRetries(res) ? ASK_RETRY_S[attempt] : undefined;
      const wait = next === undefined || left < 0 ? undefined : Math.min(next * 1000, left);
      document.body.dataset.askRetry = wait === undefined ? "" : String(attempt + 1);
      if (wait === undefined) showError(errorText(res, body));
      else {
        // "The store could not be reached: trying again in 2 s." (a wait
        // cut to the deadline: to the half second above)
        const said = Math.ceil(wait / 500) / 2;
        showError(`${errorText(res, body).replace(/:[^:]*$/, "")}: trying again in ${said} s.`);
        state.retryAsk = () => getOptions(keepPick, attempt + 1, body, askKey, until);
        state.askRetry = setTimeout(state.retryAsk, wait);
      }
      if (!attempt || focusIsFree()) $("error").focus();
      return;
    }
    if (attempt) showError("");
    document.body.dataset.askRetry = "";
    state.answer = res.body;
    state.sent = body;
    state.sentCart = $("cart-preset").value;
    state.picked = Boolean(pick) && Boolean(optionById(res.body, pick));
    state.chosen = state.picked ? pick : res.body.recommended;
    state.open.clear();
    render(state.answer, []);
    if (!attempt || focusIsFree()) $("options-heading").focus();
    document.body.dataset.requestId = state.answer.request_id;
    document.body.dataset.revision = String(state.answer.revision);
    openStream(state.answer.request_id);
  }

  // ------------------------------------------------------------------ order
  async function placeOrder() {
    if (!state.answer || !state.chosen || state.busy || edited()) return;
    if (expiredHere() && !state.done) {
      // past the options' expiry (a timer late after sleep): no select
      // sent to be refused
      showClosed({ request_id: state.answer.request_id, why: "expired", reason: "" });
      return $("error").focus();
    }
    state.busy = true;
    state.placing = true;
    state.closedMeanwhile = null;
    lockOptions();
    showError("");
    const label = $("confirm").textContent;
    $("confirm").disabled = true;
    $("confirm").textContent = "Placing your order…";
    const id = state.answer.request_id;
    const chosen = state.chosen;
    const option = optionById(state.answer, chosen);
    const held = await api("POST", `/v1/checkouts/${id}/select`, { option_id: chosen });
    // a live update during the select (a node closed: the server holds the
    // option's new plan) changed what the shopper agreed to: the page
    // confirmed it and told the old date and price
    const now = state.answer && state.answer.request_id === id ? optionById(state.answer, chosen) : null;
    const changed = !now || now.delivery_date !== option.delivery_date ||
      Math.abs(now.price - option.price) > 0.005 || now.guaranteed !== option.guaranteed;
    // this page's earlier confirm placed the order and its answer was lost
    // (a dropped connection, a timeout): the select is refused "checkout
    // already confirmed", and the page said "Please show the delivery
    // options again", inviting the same order twice. A repeated confirm
    // answers as the first: the order is shown placed.
    const placedBefore = !held.ok && held.status === 409 &&
      /checkout already confirmed/.test((held.body && held.body.message) || "");
    let done = held;
    if ((held.ok && !changed) || placedBefore) done = await api("POST", `/v1/checkouts/${id}/confirm`);
    // a confirm sent with no answer (unreachable, timed out) may have placed
    // the order: the stream's `closed` ("confirmed") then says it did
    state.unsure = done !== held && done.status === 0 ? id : null;
    // the select refused 409 (the stock gone, or the options expired: a
    // cutoff passed, a node closed, a requote dropped the option): the
    // checkout is still open, and the page asks for its new options itself.
    // It said "show the delivery options again" and kept Place order on the
    // refused option, which refused every click the same way.
    // (unless the stream said meanwhile that the checkout is over). So is a
    // confirm refused as expired: a node of the hold closed after its select.
    const confirmWhy = (done !== held && done.status === 409 && done.body && done.body.message) || "";
    const expiredAtConfirm = /options expired/.test(confirmWhy);
    // its hold ended before the confirm (lapsed, or cut by a stock recount):
    // nothing is ordered, the checkout is still open
    const lapsed = HOLD_LAPSED.test(confirmWhy);
    const holdEnded = lapsed || HOLD_CUT.test(confirmWhy);
    const refused = (!held.ok && held.status === 409 && !placedBefore) || expiredAtConfirm || holdEnded;
    const fresh = refused && !state.closedMeanwhile
      ? await api("POST", `/v1/checkouts/${id}/requote`)
      : null;
    state.busy = false;
    state.placing = false;
    lockOptions();
    // the checkout closed while the order was placed, and no order came of
    // it (the select or confirm refused, or the options changed under it):
    // the checkout is over, as the event says when nothing is being placed
    // (a requote's new options were shown as the checkout's, live updates
    // off, with Place order on them)
    const closed = state.closedMeanwhile;
    state.closedMeanwhile = null;
    const placed = done.ok && done !== held;
    if (closed && !placed && state.answer && state.answer.request_id === id && !state.done) {
      $("confirm").textContent = label;
      if (closed.why === "confirmed" && state.unsure === id) return void confirmAgain(id);
      if (closed.why === "over" && state.unsure === id) return void confirmOrClosed(id, closed);
      showClosed(closed);
      return $("error").focus();
    }
    if (held.ok && changed && !state.done) {
      // held, not ordered: the next Place order holds and confirms what is shown
      render(state.answer, []);
      showError(
        "Your delivery options changed as you placed your order: nothing is ordered yet. " +
          "Check them and place your order again.",
      );
      return $("error").focus();
    }
    if (!done.ok) {
      showEdited();
      $("confirm").textContent = label;
      let text = errorText(done);
      if (!/[.!?]$/.test(text)) text += ".";
      const current = state.answer && state.answer.request_id === id && !state.done;
      if (fresh && fresh.ok && current) {
        update(fresh.body); // unless the stream brought it first
        showSelection(state.answer);
        showEdited();
        const soldOut = (done.body && done.body.status === "rejected") || (holdEnded && !lapsed);
        if (!state.answer.options.length) {
          showError(`${text} No delivery option can be offered for this cart now.`, true);
        } else {
          showError(
            (soldOut
              ? "Sorry, part of your order sold out in the meantime: here are your delivery options now."
              : lapsed
                ? "Your order did not reach us in time, and nothing is ordered: here are your delivery options now."
                : "These delivery options have expired: here are the new ones.") +
              " Check your choice and place your order again.",
          );
        }
        return $("error").focus();
      }
      if (done.status === 409 && !/options again/i.test(text)) {
        text += " Please show the delivery options again.";
      }
      if (fresh && (fresh.status === 404 || fresh.status === 409) && current) {
        // the checkout is over (its options expired, or it ended elsewhere):
        // Place order stayed on, and refused every click alike
        state.done = true;
        closeStream();
        render(state.answer, []);
        offerRequote(/options expired|already expired/.test((fresh.body && fresh.body.message) || ""));
      }
      showError(text);
      // the button was disabled meanwhile, and the focus fell to the body
      return $("error").focus();
    }
    // the option the store confirmed (the one held by the try whose answer
    // was lost, when the shopper picked another since)
    showPlaced(id, (placedBefore && optionById(state.answer, done.body.option_id)) || option);
  }

  // Ask once more whether the order whose confirm got no answer is placed
  // (the stream said the checkout was confirmed): the answer shows it
  // placed; a failure leaves the page as it was, with Place order to try.
  async function confirmAgain(id) {
    state.unsure = null;
    if (state.busy) return;
    state.busy = true;
    state.placing = true;
    lockOptions();
    const done = await api("POST", `/v1/checkouts/${id}/confirm`);
    state.busy = false;
    state.placing = false;
    lockOptions();
    if (!state.answer || state.answer.request_id !== id || state.done) return;
    if (!done.ok) {
      state.unsure = done.status === 0 ? id : null;
      return;
    }
    showPlaced(id, optionById(state.answer, done.body.option_id) || optionById(state.answer, state.chosen));
  }

  function showPlaced(id, placed) {
    state.done = true;
    state.placed = true;
    closeStream();
    offerRequote(false);
    state.chosen = placed.option_id;
    render(state.answer, []);
    showError("");
    const box = $("confirmation");
    box.replaceChildren(
      el("strong", { text: "Thank you, your order is placed. " }),
      `${placed.label}, ${placed.guaranteed ? "guaranteed by" : "arriving"} ${day(placed.delivery_date)}, ${money(placed.price)}.`,
      el("div", { class: "note", text: `Order ${id}` }),
    );
    box.dataset.tier = placed.tier;
    box.hidden = false;
    // a live region, and the focus: Place order is disabled for good, and a
    // screen reader said nothing with the focus fallen to the body
    box.focus();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("customer").addEventListener("change", showCustomer);
    $("cart-preset").addEventListener("change", () => {
      const cart = state.samples && state.samples.carts[Number($("cart-preset").value)];
      if (cart) $("items").value = itemsText(cart.items);
      showEdited();
    });
    for (const id of ["customer", "items", "zip"]) $(id).addEventListener("input", showEdited);
    // a form: Enter in the ZIP or items field asks for options too
    $("order-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      getOptions();
    });
    $("confirm").addEventListener("click", placeOrder);
    $("requote").addEventListener("click", () => getOptions(true));
    // the browser back online: the ask waiting to be tried again goes now
    window.addEventListener("online", () => {
      if (state.retryAsk) state.retryAsk();
    });
    await loadSamples();
    await restore();
    document.body.dataset.ready = "1";
  });
})();
