// The emulator's chat page. Plain DOM, no build step. Every piece of text from a person or
// the bot goes into the page through textContent (never innerHTML), and only http(s) URLs
// become src/href, so nothing a bot says can run script here.
"use strict";

const TAPBACKS = [
  ["love", "❤️"], ["like", "👍"], ["dislike", "👎"],
  ["laugh", "😂"], ["emphasize", "‼️"], ["question", "❓"],
];
const TAPBACK_EMOJI = Object.fromEntries(TAPBACKS);
const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg|heic|heif)(\?|#|$)/i;
const VIDEO = /\.(mov|mp4|m4v|webm)(\?|#|$)/i;
const AUDIO = /\.(m4a|caf|aac|mp3|wav|ogg|oga|opus)(\?|#|$)/i;
const DEFAULT_CONTACT = "+15550100001";
const GAP_SECONDS = 15 * 60;

const state = {
  api: "current",
  conversations: new Map(),
  messages: new Map(),
  log: [],
  faults: {},
  codes: [],
  current: null,        // key of the open conversation
  drafts: new Map(),    // contact conversations started on the page but not yet written to
  as: new Map(),        // group key -> participant the page writes as
  pending: [],          // uploaded attachments waiting for the next message
  replyTo: null,
  typingTimer: null,
};
const rows = new Map();  // message id -> {signature, node}
const animated = new Set();  // ids whose effect has played: effects play once, on arrival
const loadedAt = Date.now() / 1000;
const PERSON = '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="8.5" r="4.2"/><path d="M3.8 21a8.2 8.2 0 0 1 16.4 0z"/></svg>';

// helpers ------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

async function call(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showError(message) {
  $("chat-error").textContent = message || "";
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

function day(seconds) {
  const date = new Date(seconds * 1000);
  const today = new Date();
  const label = date.toDateString() === today.toDateString()
    ? "Today" : date.toLocaleDateString([], { weekday: "long", month: "short", day: "numeric" });
  return [label, clock(seconds)];
}

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

function prettyContact(contact) {
  const us = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(contact || "");
  return us ? `+1 (${us[1]}) ${us[2]}-${us[3]}` : contact;
}

function conversationName(conversation) {
  if (conversation.kind === "group") {
    return conversation.name || conversation.participants.map(prettyContact).join(", ");
  }
  return prettyContact(conversation.key);
}

function isOneEmoji(text) {
  return /^\p{Extended_Pictographic}(\u200d\p{Extended_Pictographic}|\ufe0f)*$/u.test(text.trim());
}

// state updates ------------------------------------------------------------------------------
function applySnapshot(snapshot) {
  state.api = snapshot.api;
  state.faults = snapshot.faults;
  state.codes = snapshot.codes;
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

function startDraft(contact) {
  if (!state.conversations.has(contact)) {
    state.drafts.set(contact, { key: contact, kind: "contact", name: null, participants: [contact], created: Date.now() / 1000, typing_until: 0 });
  }
  return contact;
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

// conversation list ------------------------------------------------------------------------
function messagesOf(key) {
  return [...state.messages.values()].filter((m) => m.conversation === key).sort((a, b) => a.created - b.created);
}

function lastBubble(key) {
  const list = messagesOf(key).filter((m) => !m.reaction);
  return list[list.length - 1];
}

function sortedConversations() {
  const all = [...state.conversations.values(), ...state.drafts.values()];
  const stamp = (c) => (lastBubble(c.key) || c).created;
  return all.sort((a, b) => stamp(b) - stamp(a));
}

function preview(message) {
  if (!message) return "New conversation";
  if (message.text) return message.text;
  if (message.message_type === "audio" || message.media_url) return "🎙️ Voice message";
  if (message.message_type === "sticker") return "Sticker";
  if (message.attachments.length) return `📎 ${message.attachments.length} attachment${message.attachments.length > 1 ? "s" : ""}`;
  return "";
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

function currentConversation() {
  return state.conversations.get(state.current) || state.drafts.get(state.current);
}

function renderHeader() {
  const conversation = currentConversation();
  if (!conversation) return;
  const group = conversation.kind === "group";
  $("chat-name").textContent = conversationName(conversation);
  $("chat-avatar").replaceWith(avatar(conversation, " large"));
  const sender = $("chat-subtitle").dataset.sender || "";
  $("chat-subtitle").textContent = group
    ? `${conversation.participants.length} people and the bot · iMessage`
    : `iMessage with the bot${sender ? ` (${sender})` : ""}`;
  $("as-label").hidden = !group;
  if (group) {
    const select = $("as-select");
    const chosen = state.as.get(conversation.key) || conversation.participants[0];
    select.replaceChildren(...conversation.participants.map((p) => h("option", { value: p, selected: p === chosen }, prettyContact(p))));
  }
}

// messages -----------------------------------------------------------------------------------
function renderMessages() {
  const pane = $("messages");
  const conversation = currentConversation();
  const nearBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
  const list = conversation ? messagesOf(conversation.key) : [];
  const bubbles = list.filter((m) => !m.reaction);
  const nodes = [];
  if (!bubbles.length) {
    nodes.push(h("div", { class: "empty" },
      h("strong", {}, "Say hello to your bot"),
      "Messages you type here reach your Rasa bot as LoopMessage webhooks, and its replies come back through the emulated API."));
  }
  const lastInbound = [...bubbles].reverse().find((m) => m.direction === "inbound");
  let previous = null;
  for (const message of bubbles) {
    if (!previous || message.created - previous.created > GAP_SECONDS) {
      const [label, time] = day(message.created);
      nodes.push(h("div", { class: "separator" }, h("b", {}, label), " ", time));
      previous = null;
    }
    const row = rowFor(message);
    const next = bubbles[bubbles.indexOf(message) + 1];
    const lastOfRun = !next || next.direction !== message.direction || next.sender !== message.sender;
    row.querySelectorAll(".bubble").forEach((b, i, all) => b.classList.toggle("tail", lastOfRun && i === all.length - 1));
    row.classList.toggle("gap", !!previous && (previous.direction !== message.direction || previous.sender !== message.sender));
    nodes.push(row);
    if (message === lastInbound && message.status === "delivered") {
      nodes.push(h("div", { class: "row me" }, h("div", { class: "receipt" }, message.read ? "Read" : "Delivered")));
    }
    previous = message;
  }
  if (conversation && conversation.typing_until > Date.now() / 1000) {
    nodes.push($("typing-template").content.firstElementChild.cloneNode(true));
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(scheduleRender, (conversation.typing_until - Date.now() / 1000) * 1000 + 50);
  }
  pane.replaceChildren(...nodes);
  if (nearBottom || pane.dataset.key !== state.current) pane.scrollTop = pane.scrollHeight;
  pane.dataset.key = state.current;
}

function rowFor(message) {
  const signature = JSON.stringify([message.status, message.read, message.tapbacks, message.error_code]);
  const cached = rows.get(message.id);
  if (cached && cached.signature === signature) return cached.node;
  const node = renderRow(message);
  rows.set(message.id, { signature, node });
  return node;
}

function renderRow(message) {
  const me = message.direction === "inbound";
  const conversation = state.conversations.get(message.conversation);
  const parts = [];
  if (conversation && conversation.kind === "group" && me) {
    parts.push(h("div", { class: "author" }, prettyContact(message.sender)));
  } else if (conversation && conversation.kind === "group") {
    parts.push(h("div", { class: "author" }, "Bot"));
  }
  if (message.reply_to_id) {
    const quoted = state.messages.get(message.reply_to_id);
    parts.push(h("div", { class: "reply-quote" }, `↪ ${quoted ? preview(quoted) : "a message"}`));
  }
  const wrap = h("div", { class: "bubble-wrap" });
  const media = renderMedia(message, me);
  if (media) wrap.append(media);
  const hasText = message.text || message.subject || message.speech;
  if (hasText || (!media && !message.media_url)) {
    const classes = ["bubble"];
    if (message.text && !message.subject && !media && isOneEmoji(message.text)) classes.push("emoji-only");
    if (message.effect === "invisibleInk") classes.push("ink");
    if (message.effect && message.created > loadedAt && !animated.has(message.id)) {
      animated.add(message.id);
      if (["slam", "loud", "gentle"].includes(message.effect)) classes.push(message.effect);
      else playScreenEffect(message.effect);
    }
    const bubble = h("div", { class: classes.join(" "), "data-id": message.id, onclick: (e) => e.currentTarget.classList.add("revealed") },
      message.subject ? h("span", { class: "subject-line" }, message.subject) : null,
      linkify(message.text));
    if (message.speech) bubble.append(h("span", { class: "transcript" }, `“${message.speech}”`));
    wrap.append(bubble);
  }
  const tapbacks = Object.entries(message.tapbacks || {});
  if (tapbacks.length) {
    wrap.append(h("div", { class: "tapbacks", title: tapbacks.map(([who, r]) => `${who === "bot" ? "Bot" : prettyContact(who)}: ${r}`).join("\n") },
      tapbacks.map(([, reaction]) => TAPBACK_EMOJI[reaction] || "•")));
  }
  if (!me) {
    wrap.append(h("button", { class: "react-button", type: "button", title: "Tapback or reply", "aria-label": "Tapback", onclick: (e) => { e.stopPropagation(); openTapbackMenu(message, wrap); } }, "☺"));
    wrap.addEventListener("contextmenu", (e) => { e.preventDefault(); openTapbackMenu(message, wrap); });
    addLongPress(wrap, () => openTapbackMenu(message, wrap));
  }
  const row = h("div", { class: `row ${me ? "me" : "them"}${tapbacks.length ? " has-tapback" : ""}`, "data-id": message.id, "data-status": message.status }, parts, wrap);
  if (message.effect) row.append(h("div", { class: "effect-note" }, `Sent with ${effectName(message.effect)}`));
  const receipt = receiptFor(message);
  if (receipt) row.append(receipt);
  return row;
}

// Full-screen effects, as Messages plays them when such a message arrives.
const SCREEN_EFFECTS = { balloons: "🎈", love: "❤️", fireworks: "🎆", celebration: "✨", shootingStar: "🌠", lasers: "💫", spotlight: "🔦", echo: "💬" };
const CONFETTI_COLOURS = ["#ff3b30", "#ff9500", "#ffcc00", "#34c759", "#0a7cff", "#af52de", "#ff2d55"];

function playScreenEffect(effect) {
  if (effect === "invisibleInk") return;
  const layer = h("div", { class: "screen-effect", "aria-hidden": "true" });
  for (let i = 0; i < 48; i++) {
    const piece = effect === "confetti"
      ? h("i", { class: "confetti", style: `left:${Math.random() * 100}%;background:${CONFETTI_COLOURS[i % CONFETTI_COLOURS.length]};animation-delay:${Math.random() * 0.6}s;transform:rotate(${Math.random() * 360}deg)` })
      : h("i", { class: "floater", style: `left:${Math.random() * 100}%;animation-delay:${Math.random() * 0.8}s;font-size:${18 + Math.random() * 22}px` }, SCREEN_EFFECTS[effect] || "✨");
    layer.append(piece);
  }
  document.querySelector(".chat").append(layer);
  setTimeout(() => layer.remove(), 3200);
}

function effectName(effect) {
  return effect.replace(/([A-Z])/g, " $1").replace(/^./, (c) => c.toUpperCase());
}

function receiptFor(message) {
  if (message.direction === "outbound") {
    if (message.status === "failed") {
      return h("div", { class: "receipt bad" }, `Not Delivered${message.error_code ? ` · ${message.error_code}` : ""}`);
    }
    return null;
  }
  if (message.status === "retrying") return h("div", { class: "receipt warn" }, "Bot did not answer 200 — LoopMessage is retrying…");
  if (message.status === "failed") return h("div", { class: "receipt bad" }, "Not delivered to the bot (see Traffic)");
  return null;
}

function linkify(text) {
  if (!text) return [];
  const out = [];
  let last = 0;
  for (const match of text.matchAll(/https?:\/\/[^\s<>"]+/g)) {
    out.push(text.slice(last, match.index));
    const url = safeUrl(match[0]);
    out.push(url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, match[0]) : match[0]);
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  return out;
}

function renderMedia(message, me) {
  const urls = [...message.attachments];
  if (message.media_url) urls.unshift(message.media_url);
  if (!urls.length) return null;
  const box = h("div", { class: "media" });
  for (const raw of urls) {
    const url = safeUrl(raw);
    if (!url) continue;
    const isVoice = raw === message.media_url || message.message_type === "audio";
    if (AUDIO.test(url) || isVoice) {
      box.append(h("div", { class: "audio" }, h("audio", { controls: true, preload: "none", src: url })));
    } else if (VIDEO.test(url)) {
      box.append(h("video", { controls: true, preload: "metadata", src: url }));
    } else if (IMAGE.test(url) || message.message_type === "sticker") {
      const img = h("img", { alt: fileName(url), class: message.message_type === "sticker" ? "sticker" : null });
      const link = h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "image", "data-src": url }, img);
      // HEIC, or a URL this machine cannot reach: keep a picture-shaped card with the name.
      img.addEventListener("error", () => link.replaceChildren(
        h("span", { class: "image-missing" }, h("span", { class: "icon" }, "🖼️"), h("span", {}, fileName(url)), h("small", {}, "preview not available here"))));
      img.src = url;
      box.append(link);
    } else {
      box.append(fileChip(url));
    }
  }
  return box;
}

function fileName(url) {
  try {
    return decodeURIComponent(new URL(url).pathname.split("/").pop()) || url;
  } catch (_) {
    return url;
  }
}

function fileChip(url) {
  return h("a", { class: "file-chip", href: url, target: "_blank", rel: "noopener noreferrer" }, h("span", { class: "icon" }, "📄"), h("span", {}, fileName(url)));
}

function addLongPress(node, action) {
  let timer = null;
  node.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse") return;
    timer = setTimeout(action, 500);
  });
  for (const end of ["pointerup", "pointerleave", "pointercancel"]) node.addEventListener(end, () => clearTimeout(timer));
}

// tapbacks and replies -----------------------------------------------------------------------
function closeMenus() {
  document.querySelectorAll(".tapback-menu").forEach((menu) => menu.remove());
}

function openTapbackMenu(message, wrap) {
  closeMenus();
  const conversation = currentConversation();
  const who = conversation.kind === "group" ? (state.as.get(conversation.key) || conversation.participants[0]) : conversation.key;
  const mine = (message.tapbacks || {})[who];
  const menu = h("div", { class: "tapback-menu", role: "menu" },
    TAPBACKS.map(([name, emoji]) => h("button", {
      type: "button", role: "menuitem", title: name, class: mine === name ? "active" : null, "data-reaction": name,
      onclick: (e) => { e.stopPropagation(); closeMenus(); react(message, mine === name ? `-${name}` : name, who); },
    }, emoji)),
    h("button", { type: "button", class: "reply", onclick: (e) => { e.stopPropagation(); closeMenus(); state.replyTo = message; renderReplying(); $("text").focus(); } }, "Reply"));
  wrap.append(menu);
}

async function react(message, reaction, contact) {
  try {
    await call("POST", "/emulator/reactions", { message_id: message.id, reaction, contact });
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

function renderReplying() {
  $("replying").hidden = !state.replyTo;
  $("replying-text").textContent = state.replyTo ? preview(state.replyTo).slice(0, 80) : "";
}

// writing --------------------------------------------------------------------------------
function writer() {
  const conversation = currentConversation();
  if (conversation.kind === "group") {
    return { contact: state.as.get(conversation.key) || conversation.participants[0], group: conversation.key };
  }
  return { contact: conversation.key };
}

async function sendMessage(extra) {
  const body = { ...writer(), ...extra };
  if (state.replyTo) body.reply_to_id = state.replyTo.id;
  try {
    await call("POST", "/emulator/messages", body);
    state.replyTo = null;
    renderReplying();
    showError("");
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return call("POST", "/emulator/files", form);
}

function renderPending() {
  const box = $("pending");
  box.hidden = !state.pending.length;
  box.replaceChildren(...state.pending.map((file, index) => h("div", { class: "chip" },
    IMAGE.test(file.url) ? h("img", { src: safeUrl(file.url), alt: "" }) : h("span", {}, "📎"),
    h("span", {}, file.name),
    h("button", { type: "button", "aria-label": "Remove", onclick: () => { state.pending.splice(index, 1); renderPending(); } }, "✕"))));
}

async function onCompose(event) {
  event.preventDefault();
  const text = $("text").value;
  const subject = $("subject").hidden ? "" : $("subject").value.trim();
  if (!text.trim() && !state.pending.length) return;
  const sent = await sendMessage({ text, subject: subject || undefined, attachments: state.pending.map((f) => f.url) });
  if (sent) {
    $("text").value = "";
    $("subject").value = "";
    state.pending = [];
    renderPending();
  }
}

async function onFiles(files, extra) {
  try {
    for (const file of files) {
      const stored = await upload(file);
      if (extra) await sendMessage({ attachments: [stored.url], ...extra });
      else state.pending.push(stored);
    }
    renderPending();
  } catch (error) {
    showError(error.message);
  }
}

async function onVoice(event) {
  event.preventDefault();
  const file = $("voice-file").files[0];
  if (!file) return;
  try {
    const stored = await upload(file);
    const transcript = $("voice-transcript").value.trim();
    if (await sendMessage({ voice: { url: stored.url, transcript: transcript || undefined } })) {
      $("voice-form").reset();
      $("voice-form").hidden = true;
    }
  } catch (error) {
    showError(error.message);
  }
}

function onApp(name) {
  $("apps").hidden = true;
  if (name === "files") $("file-input").click();
  else if (name === "sticker") $("sticker-input").click();
  else if (name === "voice") { $("voice-form").hidden = false; $("voice-transcript").focus(); }
  else if (name === "location") sendMessage({ text: "https://maps.apple.com/?ll=37.3349,-122.0090&q=Apple%20Park", message_type: "location" });
}

// new conversations ----------------------------------------------------------------------------
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

// developer panel ---------------------------------------------------------------------------
function renderLog() {
  $("log").replaceChildren(...[...state.log].reverse().map(logItem));
}

function renderLogEntry(entry) {
  $("log").prepend(logItem(entry));
  while ($("log").children.length > 1000) $("log").lastElementChild.remove();
}

function logItem(entry) {
  const status = entry.status === null || entry.status === undefined ? "—" : entry.status;
  const tone = entry.ok ? "" : entry.status === null || entry.status === undefined ? "none" : entry.status >= 500 ? "bad" : "warn";
  const meta = [];
  if (entry.attempt) meta.push(`attempt ${entry.attempt}`);
  if (entry.webhook_id) meta.push(`webhook_id ${entry.webhook_id.slice(0, 8)}…`);
  if (entry.code) meta.push(`code ${entry.code}`);
  if (entry.duration_ms !== null && entry.duration_ms !== undefined) meta.push(`${entry.duration_ms} ms`);
  return h("li", { "data-direction": entry.direction, "data-status": status },
    h("span", { class: `pill ${tone}` }, status),
    h("div", { class: "dir" }, entry.direction === "api" ? "bot → API" : "webhook → bot", h("span", { class: "when" }, clock(entry.at))),
    h("div", { class: "title" }, entry.title),
    entry.detail ? h("div", { class: "detail" }, entry.detail) : null,
    meta.length ? h("div", { class: "meta" }, meta.join(" · ")) : null);
}

function renderFaultOptions() {
  const select = $("fault-send");
  select.replaceChildren(
    h("option", { value: "" }, "— nothing, it succeeds —"),
    h("option", { value: "http500" }, "HTTP 500 (server error)"),
    h("option", { value: "timeout" }, "No answer (timeout)"),
    ...state.codes.map((c) => h("option", { value: String(c.code) }, `${c.code} · ${c.meaning}`)));
}

function renderFaults() {
  const faults = state.faults || {};
  $("fault-send").value = faults.fail_next_send === null || faults.fail_next_send === undefined ? "" : String(faults.fail_next_send);
  $("fault-delivery").checked = !!faults.fail_next_delivery;
  $("fault-duplicate").checked = !!faults.duplicate_next_webhook;
  $("fault-delay").value = faults.webhook_delay || 0;
  const armed = [];
  if (faults.fail_next_send !== null && faults.fail_next_send !== undefined) armed.push(`next send → ${faults.fail_next_send}`);
  if (faults.fail_next_delivery) armed.push("next delivery fails");
  if (faults.duplicate_next_webhook) armed.push("next webhook twice");
  if (faults.webhook_delay) armed.push(`webhooks +${faults.webhook_delay} s`);
  $("faults-state").textContent = armed.length ? `Armed: ${armed.join(", ")}` : "No faults armed.";
}

async function onFaults(event) {
  event.preventDefault();
  const send = $("fault-send").value;
  try {
    await call("POST", "/emulator/faults", {
      fail_next_send: send === "" ? null : send,
      fail_next_delivery: $("fault-delivery").checked,
      duplicate_next_webhook: $("fault-duplicate").checked,
      webhook_delay: Number($("fault-delay").value) || 0,
    });
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

function showTab(tab) {
  document.querySelectorAll(".debug-head .segmented button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll("[data-panel]").forEach((panel) => { panel.hidden = panel.dataset.panel !== tab; });
}

// wiring -------------------------------------------------------------------------------
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
  $("faults").addEventListener("submit", onFaults);
  document.querySelectorAll(".debug-head .segmented button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("reset").addEventListener("click", async () => {
    if (confirm("Forget every conversation, message and log entry?")) await call("POST", "/emulator/reset");
  });
  $("toggle-debug").addEventListener("click", () => {
    const hidden = document.querySelector(".app").classList.toggle("no-debug");
    $("toggle-debug").setAttribute("aria-pressed", String(!hidden));
  });
  document.addEventListener("click", () => { closeMenus(); $("apps").hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") { closeMenus(); $("apps").hidden = true; } });
}

window.addEventListener("DOMContentLoaded", () => {
  wire();
  connect();
});
