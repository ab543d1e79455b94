// webhooks.js: endpoints (create, delete), secret reveal and rotate, the deliveries log
// with status and response, retry of one delivery, replay of a time range.
import { el, api, enc, field, table, button, readButton, busy, section, showOK, badge, fmtTime, onEvent } from "../api.js";

export function render(root) {
  const listBox = el("div", { id: "webhookList" });
  const detailBox = el("div", { id: "webhookDetail" });
  let open = "", refresh = 0;

  const url = el("input", { name: "url", type: "url", required: true, placeholder: "https://example.com/wa" });
  const events = el("input", { name: "events", value: "*", placeholder: "*, message.*, session.status" });
  const desc = el("input", { name: "description", maxlength: 200 });
  const created = el("div", { "aria-live": "polite" });
  const createBtn = el("button", { type: "submit", class: "primary" }, "Create webhook");
  const form = el("form", { class: "row", id: "createWebhook" },
    field("URL", url), field("Events (comma-separated)", events), field("Description", desc), createBtn);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(createBtn, async () => {
      const body = { url: url.value.trim(), events: events.value.split(",").map((s) => s.trim()).filter(Boolean) };
      if (desc.value.trim()) body.description = desc.value.trim();
      const w = await api("POST", "/api/webhooks", body, { source: "webhook-create" }).catch(() => null);
      if (!w) return;
      form.reset();
      created.replaceChildren(el("p", { role: "status" }, "Webhook created. Its signing secret: ", el("code", { class: "secret" }, w.secret)));
      await load();
      openDeliveries(w.id);
    });
  });

  async function load() {
    const ws = await api("GET", "/api/webhooks", undefined, { source: "webhooks" }).catch(() => null);
    if (!ws) return;
    listBox.replaceChildren(table(["URL", "Events", "State", "Actions"], ws.map((w) => el("tr", { "data-webhook": w.id },
      el("td", { class: "mono" }, w.url, w.description ? el("div", { class: "small muted" }, w.description) : null),
      el("td", { class: "small" }, (w.events || []).join(", ")),
      el("td", {}, w.enabled ? "enabled" : "disabled" + (w.disabledReason ? " (" + w.disabledReason + ")" : "")),
      el("td", {}, el("div", { class: "actions" },
        readButton("Deliveries", () => openDeliveries(w.id), "", "Deliveries of webhook " + w.url),
        button("Delete", async () => {
          if (!confirm("Delete the webhook to " + w.url + "?")) return;
          await api("DELETE", "/api/webhooks/" + enc(w.id), undefined, { source: "webhook-delete" }).catch(() => null);
          if (open === w.id) { open = ""; detailBox.replaceChildren(); }
          load();
        }, "danger", "Delete webhook " + w.url))))), "No webhooks yet."));
  }

  async function openDeliveries(id) {
    open = id;
    const base = "/api/webhooks/" + enc(id);
    const page = await api("GET", base + "/deliveries?limit=50", undefined, { source: "deliveries" }).catch(() => null);
    if (!page || open !== id) return;
    const secretOut = el("span", { "aria-live": "polite" });
    const since = el("input", { type: "datetime-local", name: "since", required: true });
    const until = el("input", { type: "datetime-local", name: "until", required: true });
    const replayBtn = el("button", { type: "submit" }, "Replay range");
    const replay = el("form", { class: "row" }, field("Since", since), field("Until", until), replayBtn);
    replay.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(replayBtn, async () => {
        const r = await api("POST", base + "/replay", { since: new Date(since.value).toISOString(), until: new Date(until.value).toISOString() }, { source: "replay" }).catch(() => null);
        if (r) { showOK("Replayed " + r.replayed + " events" + (r.truncated ? " (truncated)" : "") + "."); openDeliveries(id); }
      });
    });
    const rows = page.deliveries.map((d) => el("tr", { "data-delivery": d.id, "data-status": d.status },
      el("td", { class: "small" }, fmtTime(d.createdAt)), el("td", {}, d.event, d.session ? el("div", { class: "small muted" }, d.session) : null),
      el("td", {}, badge(d.status)), el("td", {}, String(d.attempts)),
      el("td", { class: "small" }, d.lastStatusCode ? "HTTP " + d.lastStatusCode + (d.lastLatencyMs ? " · " + d.lastLatencyMs + " ms" : "") : "", d.lastError ? el("div", { class: "muted" }, d.lastError) : null),
      el("td", {}, d.status === "delivered" ? "" : button("Retry", async () => {
        await api("POST", base + "/deliveries/" + enc(d.id) + "/retry", {}, { source: "retry" }).catch(() => null);
        openDeliveries(id);
      }, "", "Retry delivery " + d.id))));
    detailBox.replaceChildren(section("Deliveries",
      el("div", { class: "actions" },
        button("Reveal secret", async () => {
          const s = await api("GET", base + "/secret", undefined, { source: "secret" }).catch(() => null);
          if (s) secretOut.replaceChildren(el("code", { class: "secret" }, s.secret));
        }),
        button("Rotate secret", async () => {
          if (!confirm("Rotate the signing secret? The old one stays valid for the grace period.")) return;
          const s = await api("POST", base + "/rotate-secret", {}, { source: "secret" }).catch(() => null);
          if (s) secretOut.replaceChildren("New secret: ", el("code", { class: "secret" }, s.secret));
        }),
        readButton("Refresh", () => openDeliveries(id))),
      secretOut, replay,
      table(["When", "Event", "Status", "Attempts", "Response", "Actions"], rows, "No deliveries yet.")));
  }

  // New events mean new deliveries: refresh the open log, at most once a second.
  const off = onEvent((env) => {
    if (!open || refresh) return;
    refresh = setTimeout(() => { refresh = 0; if (open) openDeliveries(open); }, env.event === "resync" ? 0 : 1000);
  });

  root.append(el("h1", {}, "Webhooks"), section("Create a webhook", form, created), section("Endpoints", listBox), detailBox);
  load();
  return () => { off(); clearTimeout(refresh); };
}
