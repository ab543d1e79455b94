// tenants.js (admin key): tenants with their plans and usage, create and delete, open
// read-only (the tenant's pages as its read key sees them); per tenant its API keys:
// issue (the secret shown once), revoke.
import { el, api, enc, field, table, button, busy, section, showOK, fmtTime } from "../api.js";

export function render(root, ctx) {
  const list = el("div");
  const keysBox = el("div");
  let open = "";

  const id = el("input", { name: "id", maxlength: 40, placeholder: "e.g. acme (generated when empty)", pattern: "[a-z0-9-]{1,40}" });
  const name = el("input", { name: "name", maxlength: 100 });
  const maxSessions = el("input", { name: "maxSessions", type: "number", min: 1, max: 100000, placeholder: "gateway default" });
  const maxPerDay = el("input", { name: "maxMessagesPerDay", type: "number", min: 0, placeholder: "gateway default" });
  const created = el("div", { "aria-live": "polite" });
  const submit = el("button", { type: "submit", class: "primary" }, "Create tenant");
  const form = el("form", { class: "row", id: "createTenant" },
    field("Tenant id", id), field("Display name", name),
    field("Max sessions (1 to 100000)", maxSessions), field("Max messages a day (0 = unlimited)", maxPerDay), submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      const body = {};
      if (id.value.trim()) body.id = id.value.trim();
      if (name.value.trim()) body.name = name.value.trim();
      if (maxSessions.value !== "" || maxPerDay.value !== "") {
        body.plan = { maxSessions: Number(maxSessions.value || 0), maxMessagesPerDay: Number(maxPerDay.value || 0) };
      }
      const r = await api("POST", "/api/admin/tenants", body, { source: "tenant-create" }).catch(() => null);
      if (!r) return;
      form.reset();
      created.replaceChildren(secretBox("Tenant " + r.tenant.id + " created. Its first API key (shown once):", r.apiKey.key));
      await load();
      openKeys(r.tenant.id);
    });
  });

  function secretBox(text, secret) {
    return el("div", { class: "card", role: "status" }, el("p", {}, text), el("code", { class: "secret", "data-secret": "" }, secret),
      " ", button("Copy", () => navigator.clipboard && navigator.clipboard.writeText(secret)));
  }

  async function load() {
    const ts = await api("GET", "/api/admin/tenants", undefined, { source: "tenants" }).catch(() => null);
    if (!ts) return;
    const usage = new Map(ts.map((t) => [t.id, el("td", { class: "small", "data-usage": "" }, "…")]));
    list.replaceChildren(table(["Id", "Name", "Plan", "Usage", "Created", "Actions"], ts.map((t) => el("tr", { "data-tenant": t.id },
      el("th", { scope: "row", class: "mono" }, t.id),
      el("td", {}, t.name || ""),
      el("td", { class: "small" }, (t.plan.maxSessions || "∞") + " sessions · " + (t.plan.maxMessagesPerDay || "∞") + " msgs/day"),
      usage.get(t.id),
      el("td", { class: "small" }, fmtTime(t.createdAt)),
      el("td", {}, el("div", { class: "actions" },
        button("Manage", () => openKeys(t.id), "", "Manage tenant " + t.id),
        button("Open read-only", () => ctx.openAs(t.id), "", "Open read-only: tenant " + t.id),
        button("Delete", () => del(t.id), "danger", "Delete tenant " + t.id))))), "No tenants yet."));
    // Usage against the plan, per tenant (GET /api/admin/tenants/{id}/usage).
    await Promise.all(ts.slice(0, 200).map(async (t) => {
      const u = await api("GET", "/api/admin/tenants/" + enc(t.id) + "/usage", undefined, { source: "usage" }).catch(() => null);
      const cell = usage.get(t.id);
      if (!u) { cell.textContent = "—"; return; }
      const m = u.messages, lim = u.plan.maxMessagesPerDay;
      cell.replaceChildren(
        el("div", {}, m.today + " / " + (lim || "∞") + " messages today"),
        el("div", {}, m.thisMonth + " this month"),
        el("div", {}, u.sessions.count + " / " + u.sessions.limit + " sessions" + (u.sessions.byState.WORKING ? " (" + u.sessions.byState.WORKING + " working)" : "")));
    }));
  }

  async function del(tid) {
    if (!confirm("Delete tenant " + tid + " with all its sessions, keys and data?")) return;
    if (await api("DELETE", "/api/admin/tenants/" + enc(tid), undefined, { source: "tenant-delete" }).then(() => true, () => false)) {
      showOK("Tenant " + tid + " deleted.");
      if (open === tid) { open = ""; keysBox.replaceChildren(); }
      load();
    }
  }

  async function openKeys(tid) {
    open = tid;
    const keys = await api("GET", "/api/admin/tenants/" + enc(tid) + "/keys", undefined, { source: "keys" }).catch(() => null);
    if (!keys || open !== tid) return;
    const kname = el("input", { name: "keyName", maxlength: 64, placeholder: "e.g. crm-prod" });
    const out = el("div", { "aria-live": "polite" });
    const issue = el("button", { type: "submit", class: "primary" }, "Issue key");
    const f = el("form", { class: "row", id: "issueKey" }, field("Key name", kname), issue);
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(issue, async () => {
        const body = kname.value.trim() ? { name: kname.value.trim() } : {};
        const k = await api("POST", "/api/admin/tenants/" + enc(tid) + "/keys", body, { source: "key-issue" }).catch(() => null);
        if (!k) return;
        await openKeys(tid);
        keysBox.querySelector("[data-out]").replaceChildren(secretBox("Key " + k.name + " for " + tid + " (shown once):", k.key));
      });
    });
    const rows = keys.map((k) => el("tr", {},
      el("td", { class: "mono" }, k.id), el("td", {}, k.name), el("td", { class: "small" }, fmtTime(k.createdAt)),
      el("td", {}, k.revoked ? el("span", { class: "muted" }, "revoked " + fmtTime(k.revokedAt)) :
        button("Revoke", async () => {
          if (!confirm("Revoke key " + k.name + "? Clients using it stop at once.")) return;
          await api("DELETE", "/api/admin/tenants/" + enc(tid) + "/keys/" + enc(k.id), undefined, { source: "key-revoke" }).catch(() => null);
          openKeys(tid);
        }, "danger", "Revoke key " + k.name))));
    out.dataset.out = "";
    // The plan: both limits, replaced with PUT /api/admin/tenants/{id}.
    const t = await api("GET", "/api/admin/tenants/" + enc(tid), undefined, { source: "tenant" }).catch(() => null);
    if (!t || open !== tid) return;
    const ps = el("input", { name: "planSessions", type: "number", min: 1, max: 100000, required: true, value: String(t.plan.maxSessions) });
    const pd = el("input", { name: "planPerDay", type: "number", min: 0, required: true, value: String(t.plan.maxMessagesPerDay) });
    const planBtn = el("button", { type: "submit" }, "Save plan");
    const pf = el("form", { class: "row", id: "editPlan" }, field("Max sessions", ps), field("Max messages a day (0 = unlimited)", pd), planBtn);
    pf.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(planBtn, async () => {
        const r = await api("PUT", "/api/admin/tenants/" + enc(tid),
          { plan: { maxSessions: Number(ps.value), maxMessagesPerDay: Number(pd.value) } }, { source: "plan" }).catch(() => null);
        if (r) { showOK("Plan of " + tid + " saved."); load(); }
      });
    });
    keysBox.replaceChildren(section("Tenant " + tid, el("h3", {}, "Plan"), pf, el("h3", {}, "API keys"), f, out,
      table(["Id", "Name", "Created", "Actions"], rows, "No keys.")));
  }

  root.append(el("h1", {}, "Tenants"), section("Create a tenant", form, created), section("All tenants", list), keysBox);
  load();
}
