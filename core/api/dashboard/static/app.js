// app.js: the console's shell. Hash routes (#/sessions, ...), navigation by role (the
// admin key sees Tenants and Overview; a tenant key its own areas), the live stream's
// state, theme, sign-out. Each page is a module of pages/ exporting render(root) that
// returns a cleanup function.
import { auth, el, button, clearAllBanners, startStream, stopStream, onStreamState } from "./api.js";

const PAGES = {
  signin: { title: "Sign in", load: () => import("./pages/signin.js") },
  overview: { title: "Overview", load: () => import("./pages/overview.js"), roles: ["admin", "tenant"] },
  tenants: { title: "Tenants", load: () => import("./pages/tenants.js"), roles: ["admin"] },
  sessions: { title: "Sessions", load: () => import("./pages/sessions.js"), roles: ["tenant"] },
  chats: { title: "Chats", load: () => import("./pages/chats.js"), roles: ["tenant"] },
  webhooks: { title: "Webhooks", load: () => import("./pages/webhooks.js"), roles: ["tenant"] },
  policies: { title: "Policies", load: () => import("./pages/policies.js"), roles: ["tenant"] },
  campaigns: { title: "Campaigns", load: () => import("./pages/campaigns.js"), roles: ["tenant"] },
};
const HOME = { admin: "tenants", tenant: "sessions" };

let cleanup = null, navSeq = 0;

function current() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: name || "", arg: rest.map(decodeURIComponent).join("/") };
}

function renderNav(active) {
  const role = auth.view;
  const nav = document.getElementById("nav");
  const items = role ? Object.entries(PAGES).filter(([, p]) => p.roles && p.roles.includes(role)) : [];
  nav.replaceChildren(...items.map(([name, p]) =>
    el("a", { href: "#/" + name, "aria-current": name === active ? "page" : null }, p.title)));
  document.getElementById("who").textContent = auth.actAs ? "Admin, read-only" : role === "admin" ? "Admin" : role === "tenant" ? "Tenant key" : "";
  document.getElementById("signout").hidden = !role;
  // The read-only view of a tenant: a banner that stays across pages, and write
  // controls hidden (body[data-readonly] in style.css).
  const box = document.getElementById("actas");
  if (auth.actAs) {
    document.body.dataset.readonly = auth.actAs;
    box.replaceChildren(el("span", {}, "Read-only view of tenant ", el("strong", { class: "mono" }, auth.actAs),
      ": what its key with the read scope sees; write actions are hidden. "),
      button("Back to Tenants", () => openAs(""), "", "Back to Tenants: leave the read-only view of tenant " + auth.actAs));
    box.hidden = false;
  } else {
    delete document.body.dataset.readonly;
    box.replaceChildren();
    box.hidden = true;
  }
}

async function route() {
  const my = ++navSeq;
  let { name, arg } = current();
  const role = auth.view;
  if (!role) name = "signin";
  else if (!PAGES[name] || !PAGES[name].roles || !PAGES[name].roles.includes(role)) {
    location.replace("#/" + HOME[role]);
    return;
  }
  renderNav(name);
  const mod = await PAGES[name].load();
  if (my !== navSeq) return;
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } }
  cleanup = null;
  clearAllBanners();
  const view = document.getElementById("view");
  view.replaceChildren();
  document.title = PAGES[name].title + " · wagate console";
  cleanup = mod.render(view, { arg, signedIn, openAs, readOnly: auth.readOnly, go: (h) => { location.hash = h; } }) || null;
}

// openAs opens tenant id's view read-only (the admin key with X-Wagate-Tenant), or
// leaves it ("") for the Tenants page.
function openAs(id) {
  auth.setActAs(id);
  stopStream();
  if (id) startStream();
  location.hash = id ? "#/sessions" : "#/tenants";
  route();
}

// signedIn is called by the sign-in page with a checked key and its role.
function signedIn(key, role) {
  auth.set(key, role);
  if (role === "tenant") startStream(); else stopStream();
  location.hash = "#/" + HOME[role];
  route();
}

function signOut() {
  auth.clear();
  stopStream();
  location.hash = "#/signin";
  route();
}

function applyTheme() {
  const t = localStorage.getItem("wagate.theme"); // a preference, not a secret
  if (t) document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
}

document.getElementById("signout").addEventListener("click", signOut);
document.getElementById("theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme === "dark" ||
    (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
  localStorage.setItem("wagate.theme", dark ? "light" : "dark");
  applyTheme();
});
onStreamState((s) => {
  const c = document.getElementById("conn");
  c.dataset.state = s.state;
  c.textContent = auth.view === "admin" ? "Admin" : s.text;
});
window.addEventListener("hashchange", route);
window.addEventListener("wagate:unauthorized", () => { if (auth.role) signOut(); });

applyTheme();
if (auth.view === "tenant") startStream();
route();
