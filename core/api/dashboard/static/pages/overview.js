// overview.js: for a tenant (and the admin's read-only view of one) its own sessions by
// state, messages a minute, queue depth and webhook backlog (GET /api/overview); for the
// admin the gateway-wide figures of the gateway's own /metrics (Prometheus text).
import { auth, el, api, request, section, badge, table } from "../api.js";

// parseMetrics reads the Prometheus text format into [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const p of m[2].slice(1, -1).matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (ms, name, f) => ms.filter((m) => m.name === name && (!f || f(m.labels))).reduce((a, m) => a + m.value, 0);

export function render(root, ctx) {
  const states = el("div", { class: "stats", id: "sessionStates" });
  const figures = el("div", { class: "stats", id: "figures" });
  const gauges = el("div", { id: "gauges" });
  let last = null, timer = 0;
  const tenant = auth.view === "tenant";
  const stat = (label, v, id) => el("div", { class: "stat", "data-stat": id || null }, el("b", {}, String(v)), el("span", { class: "small muted" }, label));

  // A tenant (or the admin's read-only view of one) sees its own figures
  // (GET /api/overview), never the gateway-wide metrics.
  async function loadTenant() {
    const o = await api("GET", "/api/overview", undefined, { source: "overview" }).catch(() => null);
    if (!o) return;
    const by = Object.entries(o.sessions.byState);
    states.replaceChildren(...(by.length ? by.map(([k, n]) => el("div", { class: "stat" }, el("b", {}, String(n)), badge(k))) :
      [el("p", { class: "muted" }, "No sessions.")]));
    const q = o.queue, w = o.webhooks;
    figures.replaceChildren(
      stat("messages sent in the last minute", o.messages.sentLastMinute, "perMinute"),
      stat("sent in the last hour", o.messages.sentLastHour),
      stat("accepted today (UTC)", o.messages.acceptedToday),
      stat("accepted this month", o.messages.acceptedThisMonth));
    gauges.replaceChildren(el("div", { class: "stats" },
      stat("messages waiting in the queues", q.waiting, "queue"),
      stat("oldest waiting", q.oldest ? Math.round(q.oldestAgeSeconds) + " s (" + q.oldestSession + ")" : "—"),
      stat("webhook deliveries pending", w.pending + (w.truncated ? "+" : ""), "webhookBacklog"),
      stat("webhook endpoints", w.endpoints + (w.disabled ? " (" + w.disabled + " disabled)" : ""))));
  }

  // The admin sees the gateway's own metrics (Prometheus text of /metrics).
  async function loadGateway() {
    const text = await request("GET", "/metrics", { source: "metrics" }).then((r) => r.text(), () => null);
    if (text == null) return;
    const ms = parseMetrics(text);
    const now = Date.now();
    const sent = sum(ms, "wagate_dispatch_messages_total", (l) => l.outcome === "sent");
    const failed = sum(ms, "wagate_dispatch_messages_total", (l) => l.outcome === "failed");
    const hooks = sum(ms, "wagate_webhook_attempts_total");
    let perMin = "—";
    if (last) perMin = (((sent - last.sent) * 60000) / Math.max(1, now - last.at)).toFixed(1);
    last = { sent, at: now };
    figures.replaceChildren(stat("messages a minute (sent, gateway-wide)", perMin), stat("messages sent since the gateway started", sent), stat("messages failed since start", failed),
      stat("webhook attempts", hooks), stat("webhook endpoints", sum(ms, "wagate_webhook_endpoints")),
      stat("QR codes shown", sum(ms, "wagate_session_qr_codes_total")));
    // Queue depth, backlogs and other gauges: every wagate_ series whose name says so.
    const rows = ms.filter((m) => /^wagate_.*(depth|backlog|pending|queued|outbox|sessions)/.test(m.name) && !/_(bucket|sum|count|total)$/.test(m.name));
    gauges.replaceChildren(table(["Metric", "Labels", "Value"], rows.slice(0, 60).map((m) => el("tr", {},
      el("td", { class: "mono small" }, m.name),
      el("td", { class: "small" }, Object.entries(m.labels).map(([k, v]) => k + "=" + v).join(" ")),
      el("td", {}, String(m.value)))), "No queue or backlog gauges exported."));
  }

  const load = tenant ? loadTenant : loadGateway;
  root.append(el("h1", {}, "Overview"),
    tenant ? section("Sessions by state", states) : null,
    section(tenant ? "Messages (refreshed every 5 s)" : "Traffic, gateway-wide (refreshed every 5 s)", figures),
    section(tenant ? "Queue and webhook backlog" : "Queues and backlogs", gauges));
  load();
  timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
