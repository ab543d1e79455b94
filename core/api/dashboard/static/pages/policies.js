// policies.js: upload a Lua policy (or a WASM module) with test vectors that the
// gateway runs before it stores the version, versions and activate/rollback, the
// per-hook bindings, delete.
import { el, api, enc, field, table, button, readButton, busy, section, showOK, fmtTime, clearBanner } from "../api.js";

const SAMPLE = `-- route: pick the first candidate session
function route(msg, candidates)
  return candidates[1]
end
`;
const SAMPLE_TESTS = `[
  {"name": "first candidate", "hook": "route",
   "input": {"message": {"chatId": "15551234567@c.us"}, "candidates": [{"session": "a"}, {"session": "b"}]},
   "want": {"session": "a"}}
]`;

export function render(root) {
  const listBox = el("div", { id: "policyList" });
  const versionsBox = el("div", { id: "policyVersions" });
  const result = el("div", { id: "testResult", role: "status", "aria-live": "polite" });

  const name = el("input", { name: "name", required: true, maxlength: 64, placeholder: "e.g. router" });
  const kind = el("select", { name: "kind" }, el("option", { value: "lua" }, "Lua"), el("option", { value: "wasm" }, "WASM"));
  const file = el("input", { type: "file", name: "file", accept: ".lua,.wasm" });
  const source = el("textarea", { class: "code", name: "source", spellcheck: "false", value: SAMPLE });
  const tests = el("textarea", { class: "code", name: "tests", spellcheck: "false", value: SAMPLE_TESTS });
  const activate = el("input", { type: "checkbox", id: "policyActivate", checked: true });
  const upBtn = el("button", { type: "submit", class: "primary" }, "Upload and run tests");
  let wasmBytes = null;
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    if (f.name.endsWith(".wasm")) { kind.value = "wasm"; wasmBytes = new Uint8Array(await f.arrayBuffer()); source.value = "(WASM module " + f.name + ", " + f.size + " bytes)"; }
    else { kind.value = "lua"; wasmBytes = null; source.value = await f.text(); }
    if (!name.value) name.value = f.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]/g, "-");
  });
  const form = el("form", { class: "row", id: "uploadPolicy" },
    field("Name", name), field("Kind", kind), field("Or load a file", file),
    el("div", { class: "field wide" }, el("label", { for: "policySource" }, "Source"), source),
    el("div", { class: "field wide" }, el("label", { for: "policyTests" }, "Test vectors (JSON array: name, hook, input, want)"), tests),
    el("div", { class: "check" }, activate, el("label", { for: "policyActivate" }, "Activate the new version")), upBtn);
  source.id = "policySource"; tests.id = "policyTests";
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    let vectors = [];
    try { vectors = tests.value.trim() ? JSON.parse(tests.value) : []; } catch (e) {
      result.replaceChildren(el("p", { class: "banner err" }, "The test vectors are not JSON: " + e.message));
      return;
    }
    const body = { kind: kind.value, tests: vectors, activate: activate.checked };
    if (kind.value === "wasm") {
      if (!wasmBytes) { result.replaceChildren(el("p", { class: "banner err" }, "Load a .wasm file first.")); return; }
      let bin = ""; for (const b of wasmBytes) bin += String.fromCharCode(b);
      body.module = btoa(bin);
    } else body.source = source.value;
    busy(upBtn, async () => {
      result.replaceChildren(el("p", {}, "Compiling and running " + vectors.length + " test vector(s)…"));
      const v = await api("PUT", "/api/policies/" + enc(name.value.trim()), body, { source: "" }).catch((e) => e);
      if (v instanceof Error) {
        result.replaceChildren(el("p", { class: "banner err", "data-result": "fail" }, "Refused (" + v.code + "): " + v.message));
        return;
      }
      clearBanner("policies");
      result.replaceChildren(el("p", { class: "banner ok", "data-result": "pass" },
        vectors.length + " test vector(s) passed; stored " + name.value.trim() + " version " + v.version + " (hooks: " + (v.hooks || "none") + ")."));
      load();
    });
  });

  async function load() {
    const ps = await api("GET", "/api/policies", undefined, { source: "policies" }).catch(() => null);
    if (!ps) return;
    listBox.replaceChildren(table(["Name", "Kind", "Active", "Latest", "Updated", "Actions"], ps.map((p) => el("tr", { "data-policy": p.name },
      el("th", { scope: "row", class: "mono" }, p.name), el("td", {}, p.kind), el("td", {}, "v" + p.active), el("td", {}, "v" + p.latest),
      el("td", { class: "small" }, fmtTime(p.updatedAt)),
      el("td", {}, el("div", { class: "actions" },
        readButton("Versions", () => versions(p.name), "", "Versions of policy " + p.name),
        button("Delete", async () => {
          if (!confirm("Delete policy " + p.name + "?")) return;
          await api("DELETE", "/api/policies/" + enc(p.name), undefined, { source: "policy-delete" }).catch(() => null);
          versionsBox.replaceChildren();
          load();
        }, "danger", "Delete policy " + p.name))))), "No policies uploaded yet."));
  }

  async function versions(n) {
    const d = await api("GET", "/api/policies/" + enc(n), undefined, { source: "policy" }).catch(() => null);
    if (!d) return;
    versionsBox.replaceChildren(section("Versions of " + n, table(["Version", "Hooks", "Size", "SHA-256", "Created", "Actions"], d.versions.map((v) => el("tr", {},
      el("td", {}, "v" + v.version + (v.version === d.active ? " (active)" : "")), el("td", {}, v.hooks), el("td", {}, v.size + " B"),
      el("td", { class: "mono small" }, (v.sha256 || "").slice(0, 16)), el("td", { class: "small" }, fmtTime(v.createdAt)),
      el("td", {}, v.version === d.active ? "" : button(v.version < d.active ? "Roll back" : "Activate", async () => {
        const r = await api("POST", "/api/policies/" + enc(n) + "/activate", { version: v.version }, { source: "activate" }).catch(() => null);
        if (r) { showOK(n + " v" + v.version + " is active."); versions(n); load(); }
      }, "", "Activate version " + v.version)))))));
  }

  const bindings = el("textarea", { class: "code", id: "bindings", spellcheck: "false" });
  const saveBtn = el("button", { type: "submit" }, "Save bindings");
  const bform = el("form", { class: "row" }, el("div", { class: "field wide" },
    el("label", { for: "bindings" }, "Chains per hook (route, failover, rate, transform): lists of {\"name\": ...}"), bindings), saveBtn);
  async function loadBindings() {
    const b = await api("GET", "/api/policies/bindings", undefined, { source: "bindings" }).catch(() => null);
    if (b) bindings.value = JSON.stringify(b, null, 2);
  }
  bform.addEventListener("submit", (ev) => {
    ev.preventDefault();
    let b;
    try { b = JSON.parse(bindings.value); } catch (e) { result.replaceChildren(el("p", { class: "banner err" }, "Bindings are not JSON: " + e.message)); return; }
    busy(saveBtn, async () => {
      const r = await api("PUT", "/api/policies/bindings", b, { source: "bindings" }).catch(() => null);
      if (r) { bindings.value = JSON.stringify(r, null, 2); showOK("Bindings saved."); }
    });
  });

  root.append(el("h1", {}, "Policies"),
    section("Upload a policy", form, result), section("Policies", listBox), versionsBox, section("Bindings", bform));
  load();
  loadBindings();
}
