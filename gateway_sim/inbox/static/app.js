// The gateway-sim inbox: reads the control API, listens to /_sim/events, and draws everything
// with createElement and textContent only (no HTML parsing): all that a client sent is
// untrusted.
"use strict";

const API = "/_sim";
const STATUS_NAMES = {
  0: "unknown", 1: "ok", 2: "queued", 3: "sent", 4: "delivered", 5: "request error",
  6: "undeliverable", 7: "routing error", 8: "expired", 11: "acknowledged", 12: "rejected",
};
const GOOD = new Set([1, 4, 11]);
const BAD = new Set([5, 6, 7, 8, 12]);
const INLINE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"]);
const KEEP_MESSAGES = 500;
const KEEP_REQUESTS = 200;
const KEEP_CALLBACKS = 100;
// Country codes of two digits in the ITU's E.164 plan; 1 and 7 are one digit, all others three.
const TWO_DIGIT_CODES = new Set(("20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 "
  + "54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98").split(" "));

const state = {
  messages: new Map(), // id -> message (newest last in insertion order is not assumed)
  requests: [],
  callbacks: [],
  accounts: [],
  rules: [],
  selected: null, // conversation key, or null for all messages
  search: "",
  token: sessionStorage.getItem("gateway-sim-token") || "",
  loaded: false, // until the first load answers the page says "loading", never "empty"
  source: null,
};
const blobs = new Map(); // part URL -> Promise<object URL>
const texts = new Map(); // part URL -> Promise<text>
let bubbles = new Map(); // message id, recipient, statuses -> its drawn node

// -- small helpers ------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function headers(extra = {}) {
  return state.token ? { ...extra, Authorization: `Bearer ${state.token}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(API + path, { ...options, headers: headers(options.headers) });
  if (response.status === 401) {
    askForToken();
    throw new Error("the control token is needed");
  }
  if (!response.ok && response.status !== 204) {
    let detail = `${response.status}`;
    try {
      const body = await response.json();
      detail = body.detail || body.error || detail;
    } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

function askForToken() {
  $("token-form").hidden = false;
  if (!state.loaded) $("loading").textContent = "Waiting for the control token…";
  $("token").focus();
  setLive("locked", "off");
}

function time(iso) {
  const at = new Date(iso);
  return at.toLocaleTimeString([], {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
}

function day(iso) {
  return new Date(iso).toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" });
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "dropped";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function mediaType(contentType) {
  return (contentType || "").split(";")[0].trim().toLowerCase();
}

// A number is shown grouped for reading and used raw everywhere else (hover title, copy, search,
// the reply form). The country code comes first (its length by E.164, see TWO_DIGIT_CODES),
// then: UK +44 7700 900123 (4 and 6 digits), NANP +1 202 555 0123 (3, 3, 4), any other country
// groups of three (a lone last digit joins the group before). What is not 8 to 15 digits in
// international form (a short code, a name, a national 0… number) is shown as it came.
function readable(raw) {
  const value = String(raw ?? "");
  const digits = value.startsWith("+") ? value.slice(1) : value;
  if (!/^[1-9][0-9]{7,14}$/.test(digits)) return value;
  const codeLength = "17".includes(digits[0]) ? 1 : TWO_DIGIT_CODES.has(digits.slice(0, 2)) ? 2 : 3;
  const code = digits.slice(0, codeLength);
  const rest = digits.slice(codeLength);
  let groups;
  if (code === "44" && rest.length === 10) groups = [rest.slice(0, 4), rest.slice(4)];
  else if (code === "1" && rest.length === 10) groups = [rest.slice(0, 3), rest.slice(3, 6), rest.slice(6)];
  else {
    groups = rest.match(/.{1,3}/g);
    if (groups.length > 1 && groups[groups.length - 1].length === 1) {
      const last = groups.pop();
      groups[groups.length - 1] += last;
    }
  }
  return `+${code} ${groups.join(" ")}`;
}

function numberView(raw, className = "number") {
  return el("span", { class: className, title: raw, "data-raw": raw, text: readable(raw) });
}

// Copying a selection that lies inside one shown number copies the raw number.
function copyRaw(event) {
  const selection = document.getSelection();
  if (!selection || selection.isCollapsed) return;
  const holder = (node) => {
    const element = node && (node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement);
    return element ? element.closest("[data-raw]") : null;
  };
  const start = holder(selection.anchorNode);
  if (!start || start !== holder(selection.focusNode)) return;
  event.clipboardData.setData("text/plain", start.dataset.raw);
  event.preventDefault();
}

async function copyNumber() {
  const button = $("copy-number");
  try {
    await navigator.clipboard.writeText(button.dataset.raw);
    button.textContent = "Copied";
  } catch (_) {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

function setLive(text, mode) {
  const live = $("live");
  live.textContent = text;
  live.dataset.mode = mode;
}

// -- conversations ----------------------------------------------------------------------------

// A conversation is one account talking with one handset number.
function keysOf(message) {
  if (message.direction === "inbound") return [`${message.account}\n${message.from}`];
  return message.to.map((to) => `${message.account}\n${to}`);
}

function matchesSearch(message) {
  const needle = state.search;
  if (!needle) return true;
  const digits = needle.replace(/[^0-9]/g, "");
  const numbers = [message.from, ...message.to];
  if (digits && numbers.some((n) => (n || "").replace(/[^0-9]/g, "").includes(digits))) return true;
  const haystack = [message.text, message.from, message.id, message.account, ...message.to,
    ...message.content.map((p) => p.filename)].join("\n").toLowerCase();
  return haystack.includes(needle.toLowerCase());
}

function newestFirst(a, b) {
  return b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);
}

function conversations() {
  const found = new Map();
  for (const message of state.messages.values()) {
    if (!matchesSearch(message)) continue;
    for (const key of keysOf(message)) {
      const entry = found.get(key) || { key, messages: [] };
      entry.messages.push(message);
      found.set(key, entry);
    }
  }
  const list = [...found.values()];
  for (const entry of list) entry.messages.sort(newestFirst);
  list.sort((a, b) => newestFirst(a.messages[0], b.messages[0]));
  return list;
}

function preview(message) {
  if (message.kind === "mms") {
    const subject = message.text ? `${message.text} · ` : "";
    return `${subject}${message.content.length} attachment${message.content.length === 1 ? "" : "s"}`;
  }
  if (message.kind === "binary") return `binary ${message.ud || ""}`;
  return message.text || message.href || `(${message.kind})`;
}

function renderConversations() {
  const list = $("conversation-list");
  const entries = conversations();
  const total = entries.reduce((n, entry) => n + entry.messages.length, 0);
  const items = [conversationItem(null, "All messages", "every account and number", total)];
  for (const entry of entries) {
    const [account, number] = entry.key.split("\n");
    const last = entry.messages[0];
    const inbound = last.direction === "inbound" ? "↩ " : "";
    items.push(conversationItem(entry.key, number, `${inbound}${preview(last)}`,
      entry.messages.length, account, last.created_at));
  }
  list.replaceChildren(...items);
  $("loading").hidden = state.loaded;
  $("no-conversations").hidden = !state.loaded || state.messages.size > 0;
}

function conversationItem(key, title, line, count, account, at) {
  const selected = state.selected === key;
  const button = el("button", {
    type: "button", class: "conversation", "aria-current": selected ? "true" : "false",
    onclick: () => select(key),
  },
  el("span", { class: "avatar", "aria-hidden": "true", text: key ? initials(title) : "✱" }),
  el("span", { class: "who" },
    key ? numberView(title) : el("span", { class: "number", text: title }),
    account ? el("span", { class: "account", text: account }) : null,
    el("span", { class: "line", text: line })),
  el("span", { class: "when" },
    at ? el("time", { datetime: at, text: time(at) }) : null,
    el("span", { class: "count", text: String(count), title: `${count} message(s)` })));
  return el("li", {}, button);
}

function initials(number) {
  const digits = (number || "").replace(/[^0-9]/g, "");
  return digits.slice(-2) || "?";
}

function select(key) {
  state.selected = key;
  renderConversations();
  renderThread();
  if (key) {
    const [account, number] = key.split("\n");
    $("reply-account").value = account;
    $("reply-from").value = number;
  }
  if (window.matchMedia("(max-width: 760px)").matches) showPanel("thread-pane");
  $("thread").focus();
}

// -- the thread -------------------------------------------------------------------------------

function renderThread() {
  let messages;
  if (state.selected) {
    const entry = conversations().find((c) => c.key === state.selected);
    messages = entry ? entry.messages : [];
    const [account, number] = state.selected.split("\n");
    $("thread-title").replaceChildren(numberView(number));
    $("copy-number").dataset.raw = number;
    $("copy-number").setAttribute("aria-label", `Copy number ${number}`);
    $("copy-number").hidden = false;
    $("thread-sub").textContent = `with account ${account} · ${messages.length} message(s)`;
  } else {
    messages = [...state.messages.values()].filter(matchesSearch).sort(newestFirst);
    $("thread-title").textContent = "All messages";
    $("copy-number").hidden = true;
    $("thread-sub").textContent = state.search
      ? `${messages.length} matching “${state.search}”` : "every account, newest first";
  }
  const recipient = state.selected ? state.selected.split("\n")[1] : null;
  // A message already drawn keeps its node (a playing video plays on, focus stays put) until
  // its status history grows.
  const drawn = new Map();
  const nodes = messages.slice(0, 200).map((message) => {
    const key = `${message.id}\n${recipient}\n${message.statuses.length}`;
    const node = bubbles.get(key) || bubble(message, recipient);
    drawn.set(key, node);
    return node;
  });
  bubbles = drawn;
  if (!nodes.length) {
    const hint = !state.loaded ? "Loading messages…"
      : state.search ? `Nothing matches “${state.search}”.`
        : "Nothing here yet: send a message to the simulator and it appears at once.";
    nodes.push(el("li", { class: "empty", text: hint }));
  }
  $("thread").replaceChildren(...nodes);
}

function bubble(message, recipient) {
  const inbound = message.direction === "inbound";
  const head = el("div", { class: "bubble-head" },
    el("span", { class: `kind kind-${message.kind}`, text: message.kind.replace("_", " ") }),
    ...(message.truncated ? [el("span", {
      class: "truncated",
      text: "truncated",
      title: `cut to ${message.parts} part${message.parts > 1 ? "s" : ""} by maxconcat; the journal says how much was dropped`,
    })] : []),
    el("span", { class: "from" }, ...route(message)));
  const body = el("div", { class: "bubble-body" }, ...content(message));
  const facts = el("dl", { class: "facts" },
    ...fact("parts", String(message.parts)),
    ...fact("cost", message.cost),
    ...fact("id", message.id),
    ...fact("time", `${day(message.created_at)} ${time(message.created_at)}`),
    ...(message.rule ? fact("rule", message.rule) : []),
    ...(message.user_context ? fact("context", message.user_context) : []),
    ...(message.rejected.length ? fact("rejected", message.rejected.join(", ")) : []));
  return el("li", { class: `message ${inbound ? "in" : "out"}`, "data-id": message.id, tabindex: "0" },
    el("article", { class: "bubble" }, head, body, facts), timeline(message, recipient));
}

function route(message) {
  if (message.direction === "inbound") return ["from ", numberView(message.from, "num")];
  const to = message.to.flatMap((n, i) => (i ? [", ", numberView(n, "num")] : [numberView(n, "num")]));
  return message.from ? [numberView(message.from, "num"), " → ", ...to] : ["to ", ...to];
}

function fact(name, value) {
  return [el("div", {}, el("dt", { text: name }), el("dd", { text: value }))];
}

function content(message) {
  const shown = [];
  if (message.kind === "mms") {
    if (message.text) shown.push(el("p", { class: "subject", text: message.text }));
    message.content.forEach((part, n) => shown.push(partView(message, part, n)));
    if (!message.content.length) shown.push(el("p", { class: "muted", text: "(no content parts)" }));
    return shown;
  }
  if (message.text !== null && message.text !== undefined) {
    shown.push(el("p", { class: "text", text: message.text }));
  }
  if (message.href) shown.push(el("p", { class: "href", text: `🔗 ${message.href}` }));
  if (message.kind === "binary") {
    shown.push(el("p", { class: "hex", text: `udh ${message.udh || "—"} · ud ${message.ud || ""}` }));
  }
  return shown;
}

function partUrl(message, n) {
  return `${API}/messages/${encodeURIComponent(message.id)}/parts/${n}`;
}

// Parts are fetched with the token header and shown from blob URLs, so that they also work when
// a control token is set (an <img src> cannot carry a header).
function partBlob(url, type) {
  if (!blobs.has(url)) {
    blobs.set(url, fetch(url, { headers: headers() }).then(async (response) => {
      if (!response.ok) throw new Error(`part: ${response.status}`);
      return URL.createObjectURL(new Blob([await response.arrayBuffer()], { type }));
    }));
  }
  return blobs.get(url);
}

function partView(message, part, n) {
  const type = mediaType(part.content_type);
  const url = partUrl(message, n);
  const label = `${part.filename || `part ${n}`} · ${type || "unknown type"} · ${size(part.size)}`;
  if (part.dropped) return el("p", { class: "muted", text: `${label} (bytes dropped by retention)` });
  if (INLINE_IMAGES.has(type)) {
    const img = el("img", { class: "media", alt: part.filename || `image ${n}` });
    partBlob(url, type).then((src) => { img.src = src; }, () => { img.alt = `${label} (could not load)`; });
    return el("figure", {}, img, el("figcaption", { text: label }));
  }
  if (type === "text/plain") {
    const text = el("p", { class: "text part-text loading", text: "…" });
    if (!texts.has(url)) {
      texts.set(url, fetch(url, { headers: headers() })
        .then((response) => (response.ok ? response.text() : Promise.reject(new Error("part")))));
    }
    texts.get(url)
      .then((value) => { text.textContent = value; }, () => { text.textContent = `${label} (could not load)`; })
      .finally(() => text.classList.remove("loading"));
    return text;
  }
  if (type.startsWith("audio/") || type.startsWith("video/")) {
    const player = el(type.startsWith("audio/") ? "audio" : "video",
      { class: "media", controls: true, preload: "metadata", "aria-label": label });
    partBlob(url, type).then((src) => { player.src = src; }, () => {});
    return el("figure", {}, player, el("figcaption", { text: label }));
  }
  // Anything else (SVG and HTML included) is a download, never rendered: the blob is typed
  // application/octet-stream so that opening it cannot run what it holds.
  return el("button", {
    type: "button", class: "download", text: `⬇ ${label}`,
    onclick: () => download(url, part.filename || `part-${n}`),
  });
}

async function download(url, filename) {
  const src = await partBlob(url, "application/octet-stream");
  const link = el("a", { href: src, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
}

function timeline(message, recipient) {
  const steps = message.statuses.filter((s) => !recipient || s.to === recipient);
  if (!steps.length) {
    if (message.direction === "inbound") return el("p", { class: "timeline muted", text: "received" });
    const asked = message.delivery_report ? "report asked, none yet" : "no report asked";
    return el("p", { class: "timeline muted", text: `accepted · ${asked}` });
  }
  return el("ol", { class: "timeline", "aria-label": "delivery status" },
    ...steps.map((step) => el("li", {
      class: GOOD.has(step.status) ? "good" : BAD.has(step.status) ? "bad" : "",
      title: `${step.to}: status ${step.status} at ${step.at}`,
    },
    el("span", { class: "status", text: STATUS_NAMES[step.status] || `status ${step.status}` }),
    el("time", { datetime: step.at, text: time(step.at) }),
    recipient ? null : el("span", { class: "to", text: step.to }))));
}

// -- journal, accounts, rules -----------------------------------------------------------------

function renderJournal() {
  const refusedOnly = $("refused-only").checked;
  const shown = state.requests.filter((r) =>
    !refusedOnly || r.outcome === "refused" || r.outcome === "http_error" || r.outcome === "partial");
  $("journal").replaceChildren(...shown.slice(0, KEEP_REQUESTS).map((entry) => {
    const refused = entry.outcome !== "accepted" && entry.outcome !== "answered";
    return el("li", { class: `entry ${entry.outcome}${refused ? " refused" : ""}` },
      el("div", { class: "entry-head" },
        el("span", { class: "outcome", text: entry.outcome }),
        el("span", { class: "path", text: `${entry.method} ${entry.path}`, title: `${entry.method} ${entry.path}` }),
        el("time", { datetime: entry.at, text: time(entry.at) })),
      el("p", { class: "answer", text: `${entry.status} ${entry.answer}` }),
      el("p", { class: "reason", text: entry.reason }),
      entry.account ? el("p", { class: "muted", text: `account ${entry.account}${entry.rule ? ` · rule ${entry.rule}` : ""}` }) : null);
  }));
}

function renderCallbacks() {
  $("callbacks").replaceChildren(...state.callbacks.map((attempt) => {
    const failed = attempt.outcome !== "delivered";
    const answer = attempt.status === null ? attempt.error || "no answer" : `HTTP ${attempt.status}`;
    return el("li", { class: `entry ${failed ? "refused" : "accepted"}` },
      el("div", { class: "entry-head" },
        el("span", { class: "outcome", text: attempt.outcome }),
        el("span", { class: "path", text: attempt.url, title: attempt.url }),
        el("time", { datetime: attempt.at, text: time(attempt.at) })),
      el("p", { class: "answer", text: `${attempt.kind} #${attempt.attempt} · ${answer} · ${Math.round(attempt.latency_ms)} ms` }),
      attempt.message_id ? el("p", { class: "muted", text: `message ${attempt.message_id}` }) : null);
  }));
  $("no-callbacks").hidden = state.callbacks.length > 0;
  $("callbacks-count").textContent = state.callbacks.length ? String(state.callbacks.length) : "";
}

function renderAccounts() {
  $("accounts").replaceChildren(...state.accounts.map((account) => {
    const amount = el("input", {
      type: "number", min: "1", step: "1", value: "100", class: "amount",
      "aria-label": `Credit to add to ${account.username}`,
    });
    const form = el("form", {
      class: "topup",
      onsubmit: (event) => { event.preventDefault(); topUp(account, amount.value); },
    }, amount, el("button", { type: "submit", text: "Top up" }));
    return el("li", { class: "card" },
      el("div", { class: "card-head" },
        el("span", { class: "username", text: account.username }),
        el("span", { class: "credit", text: account.credit, title: "credit" })),
      el("p", { class: "muted", text: accountLine(account) }),
      form);
  }));
  const select = $("reply-account");
  const chosen = select.value;
  select.replaceChildren(...state.accounts.map((a) => el("option", { value: a.username, text: a.username })));
  if (chosen && state.accounts.some((a) => a.username === chosen)) select.value = chosen;
}

function accountLine(account) {
  return [
    account.parent ? `sub-account of ${account.parent}` : null,
    account.default_sender ? `sender ${readable(account.default_sender)}` : null,
    account.default_country,
    account.status_url || account.inbound_url ? "callbacks on" : null,
  ].filter(Boolean).join(" · ") || "no defaults";
}

function renderRules() {
  $("rules").replaceChildren(...state.rules.map((rule) => {
    const toggle = el("input", {
      type: "checkbox", checked: rule.enabled,
      onchange: () => switchRule(rule.name, toggle.checked),
    });
    const what = Object.keys(rule.match || {}).join(", ") || "every request";
    return el("li", { class: rule.enabled ? "rule" : "rule off" },
      el("label", {}, toggle, el("span", { class: "rule-name", text: rule.name })),
      el("span", { class: "rule-meta", text: `${what} · fired ${rule.fired}${rule.retired ? " · retired" : ""}` }));
  }));
  $("no-rules").hidden = state.rules.length > 0;
  $("rules-count").textContent = state.rules.length ? String(state.rules.length) : "";
}

async function topUp(account, amount) {
  const added = Number(amount);
  if (!Number.isFinite(added) || added <= 0) return;
  // One step on the server: sends that land meanwhile are never lost (a PUT would race them).
  await api(`/accounts/${encodeURIComponent(account.username)}/topup`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ credit: String(amount).trim() }),
  });
  await loadAccounts();
}

async function switchRule(name, enabled) {
  await api(`/rules/${encodeURIComponent(name)}`, {
    method: "PATCH", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ enabled }),
  });
  await loadRules();
}

async function sendReply(event) {
  event.preventDefault();
  const result = $("reply-result");
  const body = {
    account: $("reply-account").value, from: $("reply-from").value.trim(), text: $("reply-text").value,
  };
  try {
    const message = await api("/inbound", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    addMessage(message);
    $("reply-text").value = "";
    result.textContent = `Delivered as message ${message.id}.`;
    result.dataset.mode = "ok";
  } catch (error) {
    result.textContent = `Refused: ${error.message}`;
    result.dataset.mode = "error";
  }
}

// -- loading and live events ------------------------------------------------------------------

function addMessage(message) {
  const known = state.messages.get(message.id);
  state.messages.set(message.id, known ? { ...message, statuses: known.statuses } : message);
  while (state.messages.size > KEEP_MESSAGES) state.messages.delete(state.messages.keys().next().value);
  scheduleRender();
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderConversations();
    renderThread();
    renderJournal();
    renderCallbacks();
  });
}

let accountsTimer = null;
function refreshAccountsSoon() {
  clearTimeout(accountsTimer);
  accountsTimer = setTimeout(loadAccounts, 300);
}

async function loadAccounts() {
  state.accounts = (await api("/accounts")).accounts;
  renderAccounts();
}

async function loadRules() {
  state.rules = (await api("/rules")).rules;
  renderRules();
}

async function loadAll() {
  const [messages, requests, callbacks] = await Promise.all([
    api(`/messages?limit=${KEEP_MESSAGES}`), api(`/requests?limit=${KEEP_REQUESTS}`),
    api(`/callbacks?limit=${KEEP_CALLBACKS}`),
  ]);
  state.callbacks = callbacks.callbacks;
  state.messages = new Map(messages.messages.reverse().map((m) => [m.id, m]));
  for (const url of blobs.values()) url.then((src) => URL.revokeObjectURL(src), () => {});
  blobs.clear(); // ids start over after a reset: a cached part could be another message's
  texts.clear();
  bubbles = new Map();
  state.requests = requests.requests;
  state.loaded = true;
  await Promise.all([loadAccounts(), loadRules()]);
  scheduleRender();
}

function listen() {
  if (state.source) state.source.close();
  const query = state.token ? `?token=${encodeURIComponent(state.token)}` : "";
  const source = new EventSource(`${API}/events${query}`);
  state.source = source;
  source.addEventListener("hello", () => {
    setLive("live", "on");
    loadAll().catch(() => {});
  });
  source.addEventListener("message", (event) => {
    addMessage(JSON.parse(event.data));
    refreshAccountsSoon();
  });
  source.addEventListener("status", (event) => {
    const step = JSON.parse(event.data);
    const message = state.messages.get(step.id);
    if (!message) return;
    message.statuses = [...message.statuses, { to: step.to, status: step.status, at: step.at }];
    scheduleRender();
  });
  source.addEventListener("request", (event) => {
    state.requests = [JSON.parse(event.data), ...state.requests].slice(0, KEEP_REQUESTS);
    scheduleRender();
  });
  source.addEventListener("callback", (event) => {
    state.callbacks = [JSON.parse(event.data), ...state.callbacks].slice(0, KEEP_CALLBACKS);
    scheduleRender();
  });
  source.addEventListener("reset", () => loadAll().catch(() => {}));
  source.addEventListener("lagged", () => loadAll().catch(() => {}));
  source.addEventListener("error", () => {
    setLive(source.readyState === EventSource.CLOSED ? "offline" : "reconnecting…", "off");
    if (source.readyState === EventSource.CLOSED) {
      // A 401 closes the stream for good: ask the API, which tells whether a token is needed.
      api("/health").then(() => setTimeout(listen, 2000), () => {});
    }
  });
}

// -- panels on small screens, keyboard --------------------------------------------------------

function showPanel(id) {
  for (const button of document.querySelectorAll(".tabs button")) {
    const on = button.dataset.panel === id;
    button.setAttribute("aria-pressed", on ? "true" : "false");
    $(button.dataset.panel).classList.toggle("shown", on);
  }
}

// The activity tabs (journal, callbacks, rules) follow the WAI-ARIA tabs pattern: one tab in the
// Tab order, arrows and Home/End move between them.
function showSideTab(tab) {
  for (const each of document.querySelectorAll("#side [role='tab']")) {
    const on = each === tab;
    each.setAttribute("aria-selected", on ? "true" : "false");
    each.tabIndex = on ? 0 : -1;
    $(each.getAttribute("aria-controls")).hidden = !on;
  }
}

function sideTabKeys(event) {
  const tabs = [...document.querySelectorAll("#side [role='tab']")];
  const at = tabs.indexOf(document.activeElement);
  const moves = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: tabs.length - 1 };
  if (at < 0 || !(event.key in moves)) return;
  event.preventDefault();
  const tab = tabs[(moves[event.key] + tabs.length) % tabs.length];
  showSideTab(tab);
  tab.focus();
}

function resetAfterConfirm() {
  $("reset-dialog").close();
  api("/reset", { method: "POST" }).then(loadAll).catch(() => {});
}

function start() {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => showPanel(button.dataset.panel));
  }
  showPanel("conversations");
  let searchTimer = null;
  $("search").addEventListener("input", (event) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = event.target.value.trim();
      scheduleRender();
    }, 120);
  });
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      $("search").focus();
    } else if (event.key === "Escape" && document.activeElement === $("search")) {
      $("search").value = "";
      state.search = "";
      scheduleRender();
    }
  });
  $("refused-only").addEventListener("change", renderJournal);
  $("reply-form").addEventListener("submit", sendReply);
  for (const tab of document.querySelectorAll("#side [role='tab']")) {
    tab.addEventListener("click", () => showSideTab(tab));
  }
  document.querySelector("#side [role='tablist']").addEventListener("keydown", sideTabKeys);
  $("copy-number").addEventListener("click", copyNumber);
  document.addEventListener("copy", copyRaw);
  // Reset drops everything shown: it asks first (Escape or "Keep everything" leaves it be).
  $("reset").addEventListener("click", () => $("reset-dialog").showModal());
  $("reset-cancel").addEventListener("click", () => $("reset-dialog").close());
  $("reset-confirm").addEventListener("click", resetAfterConfirm);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value;
    sessionStorage.setItem("gateway-sim-token", state.token);
    $("token-form").hidden = true;
    listen();
  });
  listen();
}

start();
