// api.js: what every page shares. The API key (sessionStorage only), fetch with error
// handling, the live event stream (SSE read with fetch, reconnect with backoff, resync),
// banners (each error shown once, cleared when the same source succeeds), and el(), the
// DOM builder that inserts data as text only.

const KEY = "wagate.apiKey", ROLE = "wagate.role", ACT = "wagate.actAs";

// auth is the signed-in key and its role. The admin may open a tenant's view
// read-only (actAs): every request then carries X-Wagate-Tenant, the pages are the
// tenant's (view is "tenant") and write controls are hidden (readOnly).
export const auth = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  get role() { return sessionStorage.getItem(ROLE) || ""; },
  get actAs() { return this.role === "admin" ? sessionStorage.getItem(ACT) || "" : ""; },
  get view() { return this.actAs ? "tenant" : this.role; },
  get readOnly() { return this.actAs !== ""; },
  set(key, role) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ROLE, role); sessionStorage.removeItem(ACT); },
  setActAs(id) { if (id) sessionStorage.setItem(ACT, id); else sessionStorage.removeItem(ACT); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ROLE); sessionStorage.removeItem(ACT); },
};

export const enc = encodeURIComponent;

// el builds an element. Attributes named on* become listeners; string children become
// text nodes, so data is never parsed as HTML.
export function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (k === "value") { n.defaultValue = v; n.value = v; }
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of kids.flat()) if (c != null && c !== false) n.append(c);
  return n;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function fmtTime(t) {
  const d = new Date(t);
  return isNaN(d) || d.getFullYear() < 2000 ? "" : d.toLocaleString();
}

// --- banners ---

const banners = new Map(); // source -> element

function bannerBox() { return document.getElementById("banners"); }

// showError shows msg for source, replacing that source's earlier message (an error
// repeated by a retry loop is shown once).
export function showError(source, msg) {
  let b = banners.get(source);
  if (!b) {
    b = el("div", { class: "banner err", role: "alert", "data-source": source },
      el("span", { class: "msg" }),
      el("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => clearBanner(source) }, "×"));
    banners.set(source, b);
    bannerBox().append(b);
  }
  b.querySelector(".msg").textContent = msg;
}

// showOK shows a success message that goes away by itself.
export function showOK(msg) {
  const source = "ok:" + Math.random();
  const b = el("div", { class: "banner ok", role: "status", "data-source": source }, el("span", { class: "msg" }, msg));
  banners.set(source, b);
  bannerBox().append(b);
  setTimeout(() => clearBanner(source), 4000);
}

export function clearBanner(source) {
  const b = banners.get(source);
  if (b) { b.remove(); banners.delete(source); }
}

export function clearAllBanners() { for (const s of [...banners.keys()]) clearBanner(s); }

// --- HTTP ---

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// request calls the API. opts: body (JSON unless raw is set), raw (a string body with
// opts.type), accept, signal, key (another key than the signed-in one), source (the
// banner source: an error is shown under it and a success clears it; "" shows nothing).
export async function request(method, path, opts = {}) {
  const key = opts.key ?? auth.key;
  const headers = {};
  if (key) headers["X-Api-Key"] = key;
  if (auth.actAs && !opts.key) headers["X-Wagate-Tenant"] = auth.actAs; // read-only view (admin routes ignore it)
  let body;
  if (opts.raw !== undefined) { body = opts.raw; headers["Content-Type"] = opts.type || "text/plain"; }
  else if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers["Content-Type"] = "application/json"; }
  if (opts.accept) headers.Accept = opts.accept;
  const source = opts.source ?? method + " " + path.split("?")[0];
  let res;
  try {
    res = await fetch(path, { method, headers, body, cache: "no-store", signal: opts.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    const err = new ApiError(0, "network", "the gateway cannot be reached (" + e.message + ")");
    if (source) showError(source, err.message);
    throw err;
  }
  if (!res.ok) {
    let code = "http_" + res.status, msg = res.status + " " + (res.statusText || "request failed");
    try { const e = (await res.json()).error; if (e) { code = e.code || code; msg = e.message || msg; } } catch (_) { /* not JSON */ }
    const err = new ApiError(res.status, code, msg);
    if (source) showError(source, msg + " (" + code + ")");
    if (res.status === 401 && !opts.key) window.dispatchEvent(new CustomEvent("wagate:unauthorized"));
    throw err;
  }
  if (source) clearBanner(source);
  return res;
}

export async function api(method, path, body, opts = {}) {
  const res = await request(method, path, { ...opts, body });
  if (res.status === 204) return null;
  const ct = res.headers.get("Content-Type") || "";
  return ct.includes("json") ? res.json() : res.text();
}

// --- live events ---

const listeners = new Set();
const stateListeners = new Set();
let ctrl = null, gen = 0, backoff = 1000, timer = 0;
export const stream = { state: "off", text: "Offline" };

// onEvent registers fn(envelope) for every event, and fn({event: "resync"}) after
// every (re)connect: a page reloads what it shows then, since events may have been
// missed. It returns the function that unregisters.
export function onEvent(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function onStreamState(fn) { stateListeners.add(fn); fn(stream); return () => stateListeners.delete(fn); }

function setState(state, text) {
  stream.state = state; stream.text = text;
  for (const fn of stateListeners) fn(stream);
}

function emit(env) {
  for (const fn of [...listeners]) {
    try { fn(env); } catch (e) { console.error(e); }
  }
}

export function stopStream() {
  gen++;
  clearTimeout(timer);
  if (ctrl) ctrl.abort();
  ctrl = null;
  setState("off", "Offline");
}

// startStream reads GET /api/events (EventSource cannot send X-Api-Key) and parses SSE.
export async function startStream() {
  stopStream();
  if (!auth.key || auth.view !== "tenant") return;
  const my = gen, c = new AbortController();
  ctrl = c;
  let watchdog = 0, opened = 0;
  const pet = () => { clearTimeout(watchdog); watchdog = setTimeout(() => c.abort(), 45000); };
  setState("wait", "Connecting…");
  try {
    const res = await request("GET", "/api/events", { accept: "text/event-stream", signal: c.signal, source: "" });
    opened = Date.now();
    clearBanner("stream");
    setState("on", "Live");
    emit({ event: "resync" });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "", data = [], name = "";
    pet();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || my !== gen) break;
      pet();
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) dispatch(name || "message", data.join("\n"));
          data = []; name = "";
          continue;
        }
        if (line[0] === ":") continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let val = i < 0 ? "" : line.slice(i + 1);
        if (val[0] === " ") val = val.slice(1);
        if (field === "data") data.push(val);
        else if (field === "event") name = val;
      }
    }
  } catch (e) {
    if (my !== gen) return;
    if (e.status === 401 || e.status === 403) {
      setState("err", "Key rejected");
      showError("stream", "The event stream refused the key: " + e.message);
      return;
    }
  } finally {
    clearTimeout(watchdog);
  }
  if (my !== gen) return;
  if (opened && Date.now() - opened > 10000) backoff = 1000;
  const wait = backoff;
  backoff = Math.min(backoff * 2, 15000);
  setState("wait", "Reconnecting…");
  if (!opened) showError("stream", "Live events disconnected; reconnecting.");
  timer = setTimeout(() => { if (my === gen) startStream(); }, wait + Math.random() * 300);
}

function dispatch(name, data) {
  let msg;
  try { msg = JSON.parse(data); } catch (_) { return; }
  if (name === "error") {
    showError("stream", "Event stream dropped (" + ((msg.error && msg.error.code) || "error") + "); reconnecting.");
    return;
  }
  emit(msg);
}

// --- small widgets ---

// field is a labelled form control.
let fieldSeq = 0;
export function field(label, control, hint) {
  if (!control.id) control.id = "f" + (++fieldSeq);
  return el("div", { class: "field" }, el("label", { for: control.id }, label), control,
    hint ? el("small", { class: "muted" }, hint) : null);
}

export function badge(status) {
  const s = String(status || "UNKNOWN");
  return el("span", { class: "badge s-" + s.replace(/[^A-Za-z_]/g, "") }, s);
}

export function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty || "Nothing yet.");
  // Narrow screens show each row as a card; every cell names its column (style.css).
  for (const r of rows) [...r.children].forEach((c, i) => { if (headers[i]) c.dataset.label = headers[i]; });
  return el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": "Table: " + headers.join(", ") }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows)));
}

export function button(label, onclick, cls, aria) {
  return el("button", { type: "button", class: cls || "", onclick, "aria-label": aria }, label);
}

// readButton is a button that only reads: it stays in the admin's read-only view of a
// tenant, where every other button and form of the page is hidden (style.css).
export function readButton(label, onclick, cls, aria) {
  const b = button(label, onclick, cls, aria);
  b.dataset.read = "";
  return b;
}

// busy runs fn with the button disabled.
export async function busy(btn, fn) {
  btn.disabled = true;
  try { return await fn(); } finally { btn.disabled = false; }
}

export function section(title, ...kids) {
  const id = "h" + (++fieldSeq);
  return el("section", { class: "card", "aria-labelledby": id }, el("h2", { id }, title), ...kids);
}
