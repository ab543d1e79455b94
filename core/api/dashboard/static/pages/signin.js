// signin.js: the admin key or a tenant key. The key is checked against the API, then
// kept in sessionStorage (this tab only).
import { el, field, request, showError, clearBanner, ApiError } from "../api.js";

// roleOf asks the gateway who key is: admin (the admin routes answer), tenant (they
// answer 403 admin_required), or throws (401: unknown key).
export async function roleOf(key) {
  try {
    await request("GET", "/api/admin/tenants", { key, source: "" });
    return "admin";
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return "tenant";
    throw e;
  }
}

export function render(root, ctx) {
  const input = el("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true, name: "key" });
  const btn = el("button", { type: "submit", class: "primary" }, "Sign in");
  const form = el("form", { class: "row", id: "signin" },
    field("API key (admin or tenant)", input, "Kept in this tab only (sessionStorage); closing the tab forgets it."), btn);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    btn.disabled = true;
    try {
      const role = await roleOf(key);
      clearBanner("signin");
      ctx.signedIn(key, role);
    } catch (e) {
      showError("signin", e.status === 401 ? "Key rejected: " + e.message : "Sign-in failed: " + e.message);
    } finally {
      btn.disabled = false;
    }
  });
  root.append(el("h1", {}, "Sign in"), el("section", { class: "card" },
    el("p", {}, "Use the gateway's admin key to manage tenants and their keys, or a tenant's API key for its sessions, chats, webhooks, policies and campaigns."),
    form));
  input.focus();
}
