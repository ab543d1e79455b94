// chats.js: a session's conversations (GET /api/{session}/chats), a thread view
// (the messages the session sent to the chat and received in it, GET /api/{session}/chats/{chatId}/messages,
// plus what arrives live), a reply box, media previews, and status ticks that follow
// message.ack events.
import { el, api, request, enc, field, section, busy, onEvent, fmtTime, showError } from "../api.js";

const TICKS = { queued: "🕓 queued", sending: "🕓 sending", sent: "✓ sent", delivered: "✓✓ delivered", read: "✓✓ read", played: "✓✓ played", failed: "✗ failed" };

export function render(root, ctx) {
  let [session, chat] = (ctx.arg || "").split("/");
  const sessionSel = el("select", { name: "session" });
  const chatList = el("ul", { class: "list", id: "chatList" });
  const thread = el("ol", { class: "thread", id: "thread", "aria-live": "polite" });
  const title = el("h2", { id: "threadTitle" }, "No chat open");
  const items = new Map(); // message id -> li
  const urls = [];
  const newChat = el("input", { name: "chatId", placeholder: "15551234567 or …@c.us" });
  const openBtn = el("button", { type: "submit", "data-read": true }, "Open");
  const openForm = el("form", { class: "row", id: "openChat", "data-read": true }, field("Chat id", newChat), openBtn);
  const text = el("textarea", { name: "text", required: true, maxlength: 65536, rows: 3 });
  const sendBtn = el("button", { type: "submit", class: "primary" }, "Send");
  const reply = el("form", { class: "row", id: "reply", hidden: true }, el("div", { class: "field wide" }, el("label", { for: "replyText" }, "Reply"), text), sendBtn);
  text.id = "replyText";

  async function loadSessions() {
    const list = await api("GET", "/api/sessions", undefined, { source: "sessions" }).catch(() => null);
    if (!list) return;
    sessionSel.replaceChildren(el("option", { value: "" }, "choose a session"),
      ...list.map((s) => el("option", { value: s.name }, s.name + " (" + s.status + ")")));
    if (!session && list.length) session = (list.find((s) => s.status === "WORKING") || list[0]).name;
    sessionSel.value = session || "";
    await loadChats();
    if (chat) openChat(chat);
  }

  async function loadChats() {
    if (!session) { chatList.replaceChildren(); return; }
    const chats = await api("GET", "/api/" + enc(session) + "/chats?limit=100", undefined, { source: "chats" }).catch(() => null);
    if (!chats) return;
    chatList.replaceChildren(...(chats.length ? chats.map((c) => el("li", {},
      el("button", { type: "button", "data-read": true, "aria-current": chat && chatKey(c.id) === chatKey(chat) ? "true" : null, onclick: () => openChat(c.id) },
        el("span", { class: "mono" }, c.name || c.id),
        el("div", { class: "small muted" }, (c.lastMessage && (c.lastMessage.text || c.lastMessage.type)) || "")))) :
      [el("li", { class: "muted small" }, "No conversations yet: open one by its chat id.")]));
  }

  function tick(li, status) {
    li.dataset.status = status;
    li.querySelector(".tick").textContent = TICKS[status] || status;
  }

  function bubble(m) {
    const li = el("li", { class: m.out ? "out" : "in", "data-id": m.id },
      el("div", { class: "body" }, m.text || "[" + (m.type || "message") + "]"),
      el("div", { class: "small muted" }, fmtTime(m.at), m.out ? el("span", { class: "tick" }) : null));
    if (m.out) tick(li, m.status || "queued");
    if (m.media && /^image\//.test(m.media.mimetype || "") && m.id) {
      const img = el("img", { alt: "image from " + (m.from || "the chat"), width: 160 });
      li.append(img);
      request("GET", "/api/" + enc(session) + "/media/" + enc(m.id), { source: "media" }).then((r) => r.blob()).then((b) => {
        const u = URL.createObjectURL(b); urls.push(u); img.src = u;
      }, () => { img.alt = "media unavailable"; });
    }
    return li;
  }

  function add(m) {
    const old = items.get(m.id);
    if (old) { if (m.out && m.status) tick(old, m.status); return; }
    const li = bubble(m);
    if (m.id) items.set(m.id, li);
    thread.append(li);
    thread.scrollTop = thread.scrollHeight;
  }

  async function openChat(id) {
    chat = id;
    history.replaceState(null, "", "#/chats/" + enc(session) + "/" + enc(chat));
    title.textContent = "Chat " + chat;
    reply.hidden = false;
    items.clear();
    thread.replaceChildren();
    for (const b of chatList.querySelectorAll("button")) b.removeAttribute("aria-current");
    const page = await api("GET", "/api/" + enc(session) + "/chats/" + enc(chat) + "/messages?limit=50", undefined, { source: "thread" }).catch(() => null);
    if (!page || id !== chat) return;
    for (const m of [...page.messages].reverse()) {
      add({ id: m.id, out: true, text: m.text || (m.payload && m.payload.caption) || "", type: m.type, status: m.status, at: m.createdAt });
    }
  }

  // msTime takes a Unix time in seconds or milliseconds.
  const msTime = (t) => (!t ? Date.now() : t < 1e12 ? t * 1000 : t);
  const chatKey = (id) => String(id || "").replace(/@.*$/, "");

  openForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!session) { showError("chats", "Choose a session first."); return; }
    if (newChat.value.trim()) openChat(newChat.value.trim());
  });
  sessionSel.addEventListener("change", () => {
    session = sessionSel.value; chat = "";
    thread.replaceChildren(); items.clear(); reply.hidden = true; title.textContent = "No chat open";
    loadChats();
  });
  reply.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(sendBtn, async () => {
      const r = await api("POST", "/api/sendText", { session, chatId: chat, text: text.value }, { source: "send" }).catch(() => null);
      if (!r) return;
      add({ id: r.id, out: true, text: text.value, status: r.status, at: Date.now() });
      text.value = "";
      loadChats();
    });
  });

  const off = onEvent((env) => {
    if (env.event === "resync") { loadSessions(); return; }
    if (env.session !== session) return;
    const p = env.payload || {};
    if (env.event === "message.ack" && p.id) {
      const li = items.get(p.id);
      if (li) tick(li, p.status);
    } else if (env.event === "message" && chat && chatKey(p.chatId || p.from) === chatKey(chat)) {
      loadChats();
      add({ id: p.id, out: !!p.fromMe, text: p.body, type: p.type, media: p.media, from: p.from, at: msTime(p.timestamp), status: p.fromMe ? "sent" : "" });
    } else if (env.event === "message") {
      loadChats();
    }
  });

  root.append(el("h1", {}, "Chats"), el("div", { class: "row narrow" }, field("Session", sessionSel)),
    el("div", { class: "chats" },
      section("Conversations", openForm, chatList),
      el("section", { class: "card", "aria-labelledby": "threadTitle" }, title, thread, reply)));
  loadSessions();
  return () => { off(); for (const u of urls) URL.revokeObjectURL(u); };
}
