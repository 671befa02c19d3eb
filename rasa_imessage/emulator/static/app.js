// The emulator's chat page: live state over SSE, the conversation list, and the wiring.
// Plain ES modules, no build step.
import { closeMenus, renderMessages, rows } from "./bubbles.js";
import { onApp, onCompose, onFiles, onVoice, renderPending, renderReplying } from "./composer.js";
import { $, call, clock, h, prettyContact } from "./dom.js";
import { onFaults, renderFaultOptions, renderFaults, renderLog, renderLogEntry, showTab } from "./panel.js";
import { DEFAULT_CONTACT, chosenSender, conversationName, currentConversation, lastBubble, preview, sortedConversations, startDraft, state } from "./state.js";

const PERSON = '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="8.5" r="4.2"/><path d="M3.8 21a8.2 8.2 0 0 1 16.4 0z"/></svg>';

function avatar(conversation, size) {
  const node = h("div", { class: `avatar${size}${conversation.kind === "group" ? " group" : ""}`, id: size ? "chat-avatar" : null });
  if (conversation.kind === "group") {
    node.textContent = (conversation.name || "G").trim().slice(0, 1).toUpperCase();
  } else if (conversation.key.includes("@")) {
    node.textContent = conversation.key.slice(0, 1).toUpperCase();
  } else {
    node.innerHTML = PERSON;  // a constant, never data
  }
  return node;
}

function applySnapshot(snapshot) {
  state.api = snapshot.api;
  state.faults = snapshot.faults;
  state.codes = snapshot.codes;
  state.senders = snapshot.senders || [];
  state.conversations = new Map(snapshot.conversations.map((c) => [c.key, c]));
  state.messages = new Map(snapshot.messages.map((m) => [m.id, m]));
  state.log = snapshot.log;
  rows.clear();
  $("api-badge").textContent = `${snapshot.api} API`;
  $("webhook-url").textContent = snapshot.webhook_url || "not set — start with --webhook-url";
  $("chat-subtitle").dataset.sender = snapshot.sender;
  if (!state.current || !(state.conversations.has(state.current) || state.drafts.has(state.current))) {
    const newest = sortedConversations()[0];
    state.current = newest ? newest.key : startDraft(DEFAULT_CONTACT);
  }
  renderFaultOptions();
  renderFaults();
  renderLog();  // whole on every snapshot; entries then stream in one by one
  renderAll();
}

async function reload() {
  applySnapshot(await call("GET", "/emulator/state"));
}

function onEvent(kind, data) {
  if (kind === "message") {
    state.messages.set(data.id, data);
    if (data.direction === "inbound") state.drafts.delete(data.conversation);
    scheduleRender();
  } else if (kind === "conversation") {
    state.conversations.set(data.key, data);
    state.drafts.delete(data.key);
    scheduleRender();
  } else if (kind === "typing") {
    const conversation = state.conversations.get(data.conversation);
    if (conversation) {
      conversation.typing_until = data.seconds > 0 ? Date.now() / 1000 + data.seconds : 0;
      // At once, not on the next frame: a quick bot's reply would otherwise land in the
      // same frame and the indicator would never be seen.
      if (data.conversation === state.current) renderMessages();
    }
  } else if (kind === "log") {
    state.log.push(data);
    if (state.log.length > 1000) state.log.shift();
    renderLogEntry(data);
  } else if (kind === "faults") {
    state.faults = data;
    renderFaults();
  } else if (kind === "reset") {
    state.drafts.clear();
    state.current = null;
    reload();
  }
}

function connect() {
  const source = new EventSource("/emulator/events");
  for (const kind of ["message", "conversation", "typing", "log", "faults", "reset"]) {
    source.addEventListener(kind, (event) => onEvent(kind, JSON.parse(event.data)));
  }
  source.onopen = () => {
    $("connection").classList.remove("down");
    $("connection").title = "Live updates connected";
    reload();  // whatever happened while disconnected
  };
  source.onerror = () => {
    $("connection").classList.add("down");
    $("connection").title = "Live updates disconnected — retrying";
  };
}

let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderAll();
  });
}

function renderAll() {
  renderConversationList();
  renderHeader();
  renderMessages();
}

function renderConversationList() {
  const list = $("conversations");
  list.replaceChildren(...sortedConversations().map((conversation) => {
    const last = lastBubble(conversation.key);
    const group = conversation.kind === "group";
    return h("li", {
      class: `conversation${conversation.key === state.current ? " selected" : ""}`,
      "data-key": conversation.key,
      onclick: () => openConversation(conversation.key),
    },
      avatar(conversation, ""),
      h("div", { class: "summary" },
        h("div", { class: "name" }, conversationName(conversation)),
        h("div", { class: "preview" }, preview(last))),
      h("div", { class: "when" }, last ? clock(last.created) : ""));
  }));
}

function openConversation(key) {
  for (const draft of [...state.drafts.keys()]) if (draft !== key) state.drafts.delete(draft);  // never written to
  state.current = key;
  state.replyTo = null;
  state.pending = [];
  rows.clear();
  renderPending();
  renderReplying();
  renderAll();
  $("text").focus();
}

function renderHeader() {
  const conversation = currentConversation();
  if (!conversation) return;
  const group = conversation.kind === "group";
  $("chat-name").textContent = conversationName(conversation);
  $("chat-avatar").replaceWith(avatar(conversation, " large"));
  const several = state.senders.length > 1;
  const sender = several ? chosenSender(conversation.key) : $("chat-subtitle").dataset.sender || "";
  $("chat-subtitle").textContent = group
    ? `${conversation.participants.length} people and the bot · iMessage`
    : `iMessage with the bot${sender ? ` (${sender})` : ""}`;
  $("as-label").hidden = !group;
  $("to-label").hidden = group || !several;
  if (!group && several) {
    $("to-select").replaceChildren(...state.senders.map((s) => h("option", { value: s, selected: s === sender }, s)));
  }
  if (group) {
    const select = $("as-select");
    const chosen = state.as.get(conversation.key) || conversation.participants[0];
    select.replaceChildren(...conversation.participants.map((p) => h("option", { value: p, selected: p === chosen }, prettyContact(p))));
  }
}

let newMode = "contact";

function setNewMode(mode) {
  newMode = mode;
  document.querySelectorAll("#new-conversation .segmented button").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
  $("new-contact").hidden = mode !== "contact";
  document.querySelector(".group-fields").hidden = mode !== "group";
}

async function onNewConversation(event) {
  event.preventDefault();
  $("new-error").textContent = "";
  try {
    if (newMode === "contact") {
      const raw = $("new-contact").value.trim();
      if (!raw) return;
      const key = normaliseContact(raw);
      if (!key) throw new Error("Use a phone number with country code, or an email address.");
      startDraft(key);
      openConversation(key);
    } else {
      const participants = $("new-group-people").value.split(",").map((p) => p.trim()).filter(Boolean);
      const group = await call("POST", "/emulator/groups", { name: $("new-group-name").value.trim(), participants });
      state.conversations.set(group.key, group);
      openConversation(group.key);
    }
    $("new-conversation").reset();
    $("new-conversation").hidden = true;
  } catch (error) {
    $("new-error").textContent = error.message;
  }
}

function normaliseContact(raw) {
  if (raw.includes("@")) return /^[^@\s]+@[^@\s]+\.[^@\s.]+$/.test(raw) ? raw.toLowerCase() : null;
  const digits = raw.replace(/[\s\-().]/g, "").replace(/^\+/, "");
  return /^[0-9]{8,15}$/.test(digits) ? `+${digits}` : null;
}

function setDebugOpen(open) {
  document.querySelector(".app").dataset.debug = open ? "open" : "closed";
  $("toggle-debug").setAttribute("aria-pressed", String(open));
}

function wire() {
  $("composer").addEventListener("submit", onCompose);
  $("subject-button").addEventListener("click", () => { $("subject").hidden = !$("subject").hidden; if (!$("subject").hidden) $("subject").focus(); });
  $("apps-button").addEventListener("click", (e) => { e.stopPropagation(); $("apps").hidden = !$("apps").hidden; });
  document.querySelectorAll("#apps button").forEach((b) => b.addEventListener("click", () => onApp(b.dataset.app)));
  $("file-input").addEventListener("change", (e) => { onFiles([...e.target.files]); e.target.value = ""; });
  $("sticker-input").addEventListener("change", (e) => { onFiles([...e.target.files], { message_type: "sticker" }); e.target.value = ""; });
  $("voice-form").addEventListener("submit", onVoice);
  $("cancel-voice").addEventListener("click", () => { $("voice-form").hidden = true; });
  $("cancel-reply").addEventListener("click", () => { state.replyTo = null; renderReplying(); });
  $("compose").addEventListener("click", () => { $("new-conversation").hidden = !$("new-conversation").hidden; $("new-contact").focus(); });
  $("cancel-new").addEventListener("click", () => { $("new-conversation").hidden = true; });
  document.querySelectorAll("#new-conversation .segmented button").forEach((b) => b.addEventListener("click", () => setNewMode(b.dataset.mode)));
  $("new-conversation").addEventListener("submit", onNewConversation);
  $("as-select").addEventListener("change", (e) => state.as.set(state.current, e.target.value));
  $("to-select").addEventListener("change", (e) => { state.to.set(state.current, e.target.value); renderHeader(); });
  $("faults").addEventListener("submit", onFaults);
  document.querySelectorAll(".debug-head .segmented button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("reset").addEventListener("click", async () => {
    if (confirm("Forget every conversation, message and log entry?")) await call("POST", "/emulator/reset");
  });
  // Open beside the chat on a wide window, as a drawer over it on a narrow one (style.css).
  setDebugOpen(window.innerWidth >= 1100);
  $("close-debug").addEventListener("click", () => setDebugOpen(false));
  $("toggle-debug").addEventListener("click", () => {
    setDebugOpen(document.querySelector(".app").dataset.debug !== "open");
  });
  document.addEventListener("click", () => { closeMenus(); $("apps").hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") { closeMenus(); $("apps").hidden = true; } });
}

// An opened opt-in link (/opt-in/<id>) lands here with its message ready to send, as
// Messages opens with it on a phone.
function takeComposeParameter() {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("compose")) return;
  $("text").value = params.get("compose");
  history.replaceState(null, "", window.location.pathname);
}

window.addEventListener("DOMContentLoaded", () => {
  wire();
  takeComposeParameter();
  connect();
});
