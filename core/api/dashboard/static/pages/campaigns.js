// campaigns.js: create a campaign from a CSV (a new contact list, imported through
// /api/lists), follow its progress live (campaign.* events), pause, resume, cancel.
import { el, api, request, enc, field, table, button, busy, section, showOK, badge, onEvent, showError } from "../api.js";

export function render(root) {
  const listBox = el("div", { id: "campaignList" });
  const name = el("input", { name: "name", required: true, maxlength: 100 });
  const csv = el("textarea", { class: "code", name: "csv", required: true, value: "phone,name\n15551230001,Ana\n" });
  const file = el("input", { type: "file", accept: ".csv,text/csv", name: "csvFile" });
  const text = el("textarea", { name: "text", required: true, value: "Hi {{name|there}}!" });
  const sessions = el("input", { name: "sessions", placeholder: "all working sessions" });
  const start = el("input", { type: "checkbox", id: "campaignStart", checked: true });
  const btn = el("button", { type: "submit", class: "primary" }, "Create campaign");
  file.addEventListener("change", async () => { if (file.files[0]) csv.value = await file.files[0].text(); });
  const form = el("form", { class: "row", id: "createCampaign" },
    field("Name", name), field("Sessions (comma-separated)", sessions), field("Load a CSV file", file),
    el("div", { class: "field wide" }, el("label", { for: "campaignCSV" }, "Recipients (CSV with a phone column; other columns become {{attrs.column}})"), csv),
    el("div", { class: "field wide" }, el("label", { for: "campaignText" }, "Message text ({{name}}, {{attrs.city}}, {{name|default}})"), text),
    el("div", { class: "check" }, start, el("label", { for: "campaignStart" }, "Start at once")), btn);
  csv.id = "campaignCSV"; text.id = "campaignText";
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(btn, async () => {
      const list = await api("POST", "/api/lists", { name: name.value.trim() }, { source: "campaign-create" }).catch(() => null);
      if (!list) return;
      const rep = await request("POST", "/api/lists/" + enc(list.id) + "/import", { raw: csv.value, type: "text/csv", source: "campaign-create" })
        .then((r) => r.json(), () => null);
      if (!rep) return;
      if (!rep.imported) { showError("campaign-create", "The CSV gave no valid recipient (" + rep.invalid + " invalid rows)."); return; }
      const body = { name: name.value.trim(), listId: list.id, message: { type: "text", text: text.value }, start: start.checked };
      const ss = sessions.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (ss.length) body.sessions = ss;
      const c = await api("POST", "/api/campaigns", body, { source: "campaign-create" }).catch(() => null);
      if (!c) return;
      showOK("Campaign " + c.name + ": " + rep.imported + " recipients imported (" + rep.duplicates + " duplicates, " + rep.invalid + " invalid).");
      form.reset();
      load();
    });
  });

  async function load() {
    const cs = await api("GET", "/api/campaigns", undefined, { source: "campaigns" }).catch(() => null);
    if (!cs) return;
    const list = Array.isArray(cs) ? cs : cs.campaigns || [];
    listBox.replaceChildren(table(["Name", "Status", "Progress", "Counts", "Actions"], list.map((c) => {
      const k = c.counts || {}, done = Math.max(0, (k.total || 0) - (k.pending || 0) - (k.queued || 0)); // counts are exclusive states
      const act = (a) => button(a[0].toUpperCase() + a.slice(1), async () => {
        await api("POST", "/api/campaigns/" + enc(c.id) + "/" + a, {}, { source: "campaign-action" }).catch(() => null);
        load();
      }, a === "cancel" ? "danger" : "", a + " campaign " + c.name);
      const acts = [];
      if (c.status === "draft") acts.push(act("start"));
      if (c.status === "running" || c.status === "scheduled") acts.push(act("pause"));
      if (c.status === "paused") acts.push(act("resume"));
      if (!["completed", "cancelled", "failed"].includes(c.status)) acts.push(act("cancel"));
      return el("tr", { "data-campaign": c.id },
        el("th", { scope: "row" }, c.name), el("td", {}, badge(c.status), c.reason ? el("div", { class: "small muted" }, c.reason) : null),
        el("td", {}, el("progress", { max: k.total || 1, value: done, "aria-label": "Progress of " + c.name }), " " + done + "/" + (k.total || 0)),
        el("td", { class: "small" }, "queued " + (k.queued || 0) + " · sent " + (k.sent || 0) + " · delivered " + (k.delivered || 0) +
          " · read " + (k.read || 0) + " · failed " + (k.failed || 0) + " · replied " + (k.replied || 0)),
        el("td", {}, el("div", { class: "actions" }, acts)));
    }), "No campaigns yet."));
  }

  let pending = 0;
  const off = onEvent((env) => {
    if (env.event !== "resync" && !String(env.event).startsWith("campaign.")) return;
    if (!pending) pending = setTimeout(() => { pending = 0; load(); }, 300);
  });
  root.append(el("h1", {}, "Campaigns"), section("Create a campaign from a CSV", form), section("Campaigns", listBox));
  load();
  return () => { off(); clearTimeout(pending); };
}
