// overview.js: sessions by state, messages per minute, webhook and queue figures, from
// the API and the gateway's own /metrics (Prometheus text).
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

  async function load() {
    if (tenant) {
      const ss = await api("GET", "/api/sessions", undefined, { source: "sessions" }).catch(() => null);
      if (ss) {
        const by = {};
        for (const s of ss) by[s.status] = (by[s.status] || 0) + 1;
        states.replaceChildren(...(ss.length ? Object.entries(by).map(([k, n]) => el("div", { class: "stat" }, el("b", {}, String(n)), badge(k))) :
          [el("p", { class: "muted" }, "No sessions.")]));
      }
    }
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
    const stat = (label, v) => el("div", { class: "stat" }, el("b", {}, String(v)), el("span", { class: "small muted" }, label));
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

  root.append(el("h1", {}, "Overview"),
    tenant ? section("Sessions by state", states) : null,
    section("Traffic (refreshed every 5 s)", figures), section("Queues and backlogs", gauges));
  load();
  timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
