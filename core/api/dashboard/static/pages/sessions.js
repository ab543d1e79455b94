// sessions.js: the tenant's sessions with live status (event stream), create with a
// provider-specific form, QR codes that always show the current code (refetched on
// every session.qr event, on reconnect and when the countdown runs out), pairing code,
// actions and a detail view (health, pacing state, queue, recent failures).
import { el, api, request, enc, field, badge, table, button, readButton, busy, section, showOK, showError, clearBanner, onEvent, fmtTime } from "../api.js";

const RUNNING = ["STARTING", "CONNECTING", "SCAN_QR_CODE", "WORKING"];

export function render(root, ctx) {
  const sessions = new Map();
  const qrs = new Map(); // name -> {fig, img, cap, url, seq, expiresAt}
  const listBox = el("div", { id: "sessionList" });
  const qrBox = el("div", { class: "qrs", id: "qrList" });
  const noQR = el("p", { class: "muted" }, ctx.readOnly ? "QR codes are not shown in the read-only view: scanning one links a phone." : "No session is waiting for a scan.");
  const detailBox = el("div", { id: "sessionDetail" });
  let loadSeq = 0, tick = 0, detail = ctx.arg || "";

  // merge takes s unless what is shown is newer (an event may overtake a response).
  function merge(s) {
    const old = sessions.get(s.name);
    if (old && Date.parse(old.updatedAt || 0) > Date.parse(s.updatedAt || 0)) sessions.set(s.name, { ...s, ...old });
    else sessions.set(s.name, { ...old, ...s });
  }

  // --- list ---
  async function load() {
    const my = ++loadSeq;
    const list = await api("GET", "/api/sessions", undefined, { source: "sessions" }).catch(() => null);
    if (!list || my !== loadSeq) return;
    const names = new Set(list.map((s) => s.name));
    for (const n of [...sessions.keys()]) if (!names.has(n)) sessions.delete(n);
    for (const s of list) merge(s);
    renderList();
    for (const name of qrs.keys()) loadQR(name); // resync: a restart means new codes
    if (detail) showDetail(detail);
  }

  function meta(s) {
    const m = s.config && s.config.metadata;
    if (!m || typeof m !== "object") return null;
    return el("div", { class: "small muted meta" }, Object.entries(m).map(([k, v]) => k + "=" + v).join(", "));
  }

  function actions(s) {
    const path = "/api/sessions/" + enc(s.name);
    const b = (label, fn, cls) => button(label, (ev) => busy(ev.currentTarget, fn), cls, label + " session " + s.name);
    const out = [];
    if (s.provider === "sandbox" && s.status === "SCAN_QR_CODE") {
      out.push(b("Link (sandbox)", () => act(s.name, "POST", "/api/sandbox/" + enc(s.name) + "/link", {}), "primary"));
    }
    if (RUNNING.includes(s.status)) out.push(b("Stop", () => act(s.name, "POST", path + "/stop")));
    else out.push(b("Start", () => act(s.name, "POST", path + "/start")));
    out.push(b("Restart", () => act(s.name, "POST", path + "/restart")));
    if (s.me || s.status === "WORKING") {
      out.push(b("Logout", () => confirm("Log " + s.name + " out of WhatsApp? It will need a new QR scan.") && act(s.name, "POST", path + "/logout")));
    }
    out.push(readButton("Details", () => { detail = s.name; showDetail(s.name); }, "", "Details session " + s.name));
    out.push(b("Delete", () => confirm("Delete session " + s.name + "?") && act(s.name, "DELETE", path), "danger"));
    return out;
  }

  function renderList() {
    const focused = listBox.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    const list = [...sessions.values()].sort((a, b) => a.name.localeCompare(b.name));
    listBox.replaceChildren(table(["Name", "Status", "Provider", "Account", "Actions"], list.map((s) =>
      el("tr", { "data-session": s.name, "data-status": s.status },
        el("th", { scope: "row", class: "mono" }, s.name, meta(s)),
        el("td", {}, badge(s.status), s.reason ? el("div", { class: "muted small" }, s.reason) : null),
        el("td", {}, s.provider || ""),
        el("td", { class: "small" }, s.me ? (s.me.pushName ? s.me.pushName + " · " : "") + s.me.id : "—"),
        el("td", {}, el("div", { class: "actions" }, actions(s))))), "No sessions yet: create one below."));
    if (focused) {
      const again = listBox.querySelector('button[aria-label="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
    fallbackSel.replaceChildren(el("option", { value: "" }, "none"), ...list.map((s) => el("option", { value: s.name }, s.name)));
    syncQR();
  }

  async function act(name, method, path, body) {
    const r = await api(method, path, body, { source: "session-action" }).catch(() => undefined);
    if (r === undefined) { load(); return; }
    if (method === "DELETE") { sessions.delete(name); dropQR(name); if (detail === name) { detail = ""; detailBox.replaceChildren(); } }
    else if (r && r.name === name && r.status) merge(r);
    renderList();
  }

  // --- QR codes ---
  function syncQR() {
    // The read-only view has no QR codes: scanning one links a phone (the QR route
    // needs the admin scope).
    const want = ctx.readOnly ? [] : [...sessions.values()].filter((s) => s.status === "SCAN_QR_CODE").map((s) => s.name);
    for (const name of [...qrs.keys()]) if (!want.includes(name)) dropQR(name);
    for (const name of want) if (!qrs.has(name)) loadQR(name);
    noQR.hidden = want.length > 0;
  }

  async function loadQR(name) {
    let q = qrs.get(name);
    if (!q) {
      const img = el("img", { alt: "QR code for session " + name, width: 220, height: 220 });
      const cap = el("span", { class: "muted countdown" });
      q = { img, cap, url: "", seq: 0, expiresAt: 0, fig: el("figure", { class: "qr", "data-session": name }, img,
        el("figcaption", {}, el("strong", {}, name), " ", cap)) };
      qrs.set(name, q);
      qrBox.append(q.fig);
    }
    const seq = ++q.seq;
    const base = "/api/" + enc(name) + "/auth/qr";
    try {
      const raw = await api("GET", base + "?format=raw", undefined, { source: "qr:" + name });
      const res = await request("GET", base + "?format=image", { accept: "image/png", source: "qr:" + name });
      const blob = await res.blob();
      if (qrs.get(name) !== q || seq !== q.seq) return;
      if (q.url) URL.revokeObjectURL(q.url);
      q.url = URL.createObjectURL(blob);
      q.img.src = q.url;
      q.fig.dataset.code = raw.value;
      q.expiresAt = Date.parse(raw.expiresAt) || 0;
      countdown();
    } catch (e) {
      if (qrs.get(name) === q && seq === q.seq) { q.img.removeAttribute("src"); q.cap.textContent = "QR unavailable"; }
    }
  }

  function countdown() {
    const now = Date.now();
    for (const [name, q] of qrs) {
      if (!q.expiresAt) continue;
      const left = Math.round((q.expiresAt - now) / 1000);
      q.cap.textContent = left > 0 ? "new code in " + left + " s" : "refreshing…";
      if (left <= -2 && !q.refetching) { q.refetching = true; loadQR(name).finally(() => { q.refetching = false; }); }
    }
  }

  function dropQR(name) {
    const q = qrs.get(name);
    if (!q) return;
    if (q.url) URL.revokeObjectURL(q.url);
    q.fig.remove();
    qrs.delete(name);
    clearBanner("qr:" + name);
  }

  // --- detail ---
  async function showDetail(name) {
    const s = await api("GET", "/api/sessions/" + enc(name), undefined, { source: "session-detail" }).catch(() => null);
    // Health, pacing state, queue and recent failures in one read.
    const h = await api("GET", "/api/sessions/" + enc(name) + "/health", undefined, { source: "session-health" }).catch(() => null);
    const q = h && h.queue;
    if (!s || detail !== name) return;
    const kv = (k, v) => [el("dt", {}, k), el("dd", {}, v == null || v === "" ? "—" : String(v))];
    const phone = el("input", { name: "phoneNumber", inputmode: "numeric", placeholder: "15551234567", pattern: "\\+?[0-9]{5,15}" });
    const codeOut = el("p", { class: "mono", "aria-live": "polite" });
    const reqBtn = el("button", { type: "submit" }, "Get pairing code");
    const pair = el("form", { class: "row" }, field("Phone number for a pairing code", phone), reqBtn);
    pair.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(reqBtn, async () => {
        const r = await api("POST", "/api/" + enc(name) + "/auth/request-code", { phoneNumber: phone.value.trim() }, { source: "pairing" }).catch(() => null);
        if (r) codeOut.textContent = "Enter this code on the phone: " + r.code;
      });
    });
    const metaPairs = s.config && s.config.metadata ? Object.entries(s.config.metadata) : [];
    detailBox.replaceChildren(section("Session " + s.name,
      el("dl", { class: "kv" },
        kv("Status", s.status), kv("Reason", s.reason), kv("What it means", s.message), kv("Provider", s.provider),
        kv("Account", s.me ? s.me.id : ""), kv("Push name", s.me && s.me.pushName), kv("Fallback", s.fallback),
        kv("Created", fmtTime(s.createdAt)), kv("Updated", fmtTime(s.updatedAt)),
        kv("Messages waiting", q ? q.waiting : ""), kv("Oldest waiting since", q && q.oldest ? fmtTime(q.oldest) : ""),
        metaPairs.flatMap(([k, v]) => kv("metadata." + k, v))),
      h ? healthView(h) : null,
      el("h3", {}, "Provider config (secrets redacted)"), el("pre", { class: "mono" }, JSON.stringify(s.config || {}, null, 2)),
      s.status === "SCAN_QR_CODE" ? [pair, codeOut] : null,
      el("div", { class: "actions" }, readButton("Open chats", () => ctx.go("#/chats/" + enc(s.name))), readButton("Close", () => { detail = ""; detailBox.replaceChildren(); }))));
  }

  // healthView shows GET /api/sessions/{session}/health: the verdict, the pacing state
  // and the recent failures.
  function healthView(h) {
    const kv = (k, v) => [el("dt", {}, k), el("dd", {}, v == null || v === "" ? "—" : String(v))];
    const hh = h.health, p = h.pacing, r = p && p.rule;
    const ago = (t) => { const d = Math.round((Date.now() - Date.parse(t)) / 1000); return isNaN(d) ? "" : fmtTime(t) + " (" + Math.max(d, 0) + " s ago)"; };
    let next = "";
    if (r && r.applies) {
      const left = Math.round((Date.parse(r.nextAt) - Date.now()) / 1000);
      next = r.rejects ? "refused (" + r.rejects + ")" : left > 0 ? "in " + left + " s (" + r.heldBy + ")" : "now";
    }
    const fails = hh.failures || [];
    return el("div", { id: "sessionHealth", "data-verdict": hh.verdict },
      el("h3", {}, "Health"),
      el("dl", { class: "kv" },
        kv("Verdict", hh.verdict), kv("In this status since", fmtTime(hh.since)), kv("Last sign of life", ago(hh.lastAliveAt)),
        kv("Sends timing out in a row", hh.sendTimeouts), kv("Reconnects", hh.reconnectAttempts + (hh.reconnecting ? " (reconnecting)" : "") + (hh.gaveUp ? " (gave up)" : "")),
        kv("Health monitor", hh.monitored ? "on" : "off")),
      el("h3", {}, "Pacing"),
      p ? el("dl", { class: "kv", id: "sessionPacing" },
        kv("Sent (minute / hour / day)", p.sentMinute + " / " + p.sentHour + " / " + p.sentDay), kv("Last send", p.lastSentAt ? fmtTime(p.lastSentAt) : ""),
        kv("Linked", fmtTime(p.linkedAt)), kv("First contacts today", p.firstContactsDay),
        kv("Restriction", p.pauseReason ? p.pauseReason + " until " + fmtTime(p.pausedUntil) : ""),
        kv("Pacing rule", r ? r.rule + (r.applies ? "" : " (does not pace " + s0(h) + ")") : "off"),
        r && r.applies ? [kv("Warm-up", r.warmingUp ? "day " + r.warmupDay + " of " + r.warmupDays : "done"),
          kv("Daily cap", r.dailyCap || "none"), kv("Next send allowed", next)] : null) : el("p", { class: "muted" }, "No pacing state."),
      el("h3", {}, "Recent failures"),
      table(["When", "Kind", "Reason", "Message", "Detail"], fails.map((f) => el("tr", { "data-failure": f.kind },
        el("td", { class: "small" }, fmtTime(f.at)), el("td", {}, f.kind), el("td", { class: "mono small" }, f.reason),
        el("td", { class: "mono small" }, f.messageId || ""), el("td", { class: "small" }, f.detail || ""))), "No failures since the gateway started."));
  }
  const s0 = (h) => (sessions.get(h.session) || {}).provider || "this provider";

  // --- create ---
  const name = el("input", { name: "name", required: true, maxlength: 64, pattern: "[A-Za-z0-9][A-Za-z0-9_-]{0,63}", placeholder: "e.g. support" });
  const providerSel = el("select", { name: "provider" },
    el("option", { value: "sandbox" }, "sandbox (simulated, no phone)"),
    el("option", { value: "whatsmeow" }, "whatsmeow (WhatsApp Web, QR or pairing code)"),
    el("option", { value: "cloudapi" }, "Cloud API (Meta)"));
  const fallbackSel = el("select", { name: "fallback" });
  const start = el("input", { type: "checkbox", checked: true, id: "newStart" });
  const metadata = el("textarea", { name: "metadata", rows: 2, placeholder: "key=value, one a line" });
  const cloud = {
    phoneNumberId: el("input", { name: "phoneNumberId", inputmode: "numeric", pattern: "[0-9]{5,20}" }),
    accessToken: el("input", { name: "accessToken", type: "password", autocomplete: "off" }),
    appSecret: el("input", { name: "appSecret", type: "password", autocomplete: "off" }),
    verifyToken: el("input", { name: "verifyToken", autocomplete: "off" }),
  };
  const cloudBox = el("div", { class: "row field wide", hidden: true },
    field("Phone number id", cloud.phoneNumberId, "Digits, from Meta's WhatsApp Manager"), field("Access token", cloud.accessToken),
    field("App secret", cloud.appSecret, "Verifies X-Hub-Signature-256"), field("Verify token", cloud.verifyToken, "Meta's GET challenge"));
  const sandboxHint = el("p", { class: "small muted field wide" }, "Sandbox: the QR appears at once; \u201cLink (sandbox)\u201d stands in for scanning it with a phone.");
  providerSel.addEventListener("change", () => {
    const p = providerSel.value;
    cloudBox.hidden = p !== "cloudapi";
    sandboxHint.hidden = p !== "sandbox";
    for (const c of Object.values(cloud)) c.required = p === "cloudapi";
  });
  const createBtn = el("button", { type: "submit", class: "primary" }, "Create session");
  const form = el("form", { class: "row", id: "createSession" },
    field("Name", name), field("Provider", providerSel), field("Fallback session", fallbackSel, "Takes the messages when this one is lost"),
    field("Metadata", metadata, "Carried by every event of the session"),
    el("div", { class: "check" }, start, el("label", { for: "newStart" }, "Start now")),
    sandboxHint, cloudBox, createBtn);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const config = {};
    const md = {};
    for (const line of metadata.value.split("\n")) {
      const i = line.indexOf("=");
      if (line.trim() === "") continue;
      if (i < 1) { showError("session-create", "Metadata lines are key=value: " + line); return; }
      md[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    if (Object.keys(md).length) config.metadata = md;
    if (providerSel.value === "cloudapi") {
      if (!/^[0-9]{5,20}$/.test(cloud.phoneNumberId.value.trim())) { showError("session-create", "The phone number id is digits only."); return; }
      for (const [k, c] of Object.entries(cloud)) config[k] = c.value.trim();
    }
    clearBanner("session-create");
    const body = { name: name.value.trim(), provider: providerSel.value, start: start.checked };
    if (Object.keys(config).length) body.config = config;
    if (fallbackSel.value) body.fallback = fallbackSel.value;
    busy(createBtn, async () => {
      const s = await api("POST", "/api/sessions", body, { source: "session-create" }).catch(() => null);
      if (!s) return;
      merge(s);
      renderList();
      form.reset();
      providerSel.dispatchEvent(new Event("change"));
      showOK("Session " + s.name + " created.");
    });
  });

  // --- live ---
  const off = onEvent((env) => {
    if (ctx.readOnly && env.event === "session.qr") return;
    if (env.event === "resync") { load(); return; }
    const p = env.payload || {};
    const s = env.session ? sessions.get(env.session) : null;
    if (env.event === "session.status") {
      if (!s) { load(); return; }
      s.status = p.status; s.reason = p.reason; s.me = p.me;
      s.updatedAt = new Date(env.timestamp || Date.now()).toISOString();
      renderList();
      if (detail === env.session) showDetail(detail);
    } else if (env.event === "session.qr") {
      if (!s) { load(); return; }
      if (s.status !== "SCAN_QR_CODE") { s.status = "SCAN_QR_CODE"; s.updatedAt = new Date(env.timestamp || Date.now()).toISOString(); renderList(); }
      loadQR(env.session);
    }
  });
  tick = setInterval(countdown, 1000);

  root.append(el("h1", {}, "Sessions"),
    el("div", { class: "grid" },
      el("div", {}, section("Sessions", listBox), detailBox, section("Create a session", form)),
      el("div", {}, section("QR codes", qrBox, noQR))));
  load();
  return () => { off(); clearInterval(tick); for (const n of [...qrs.keys()]) dropQR(n); };
}
