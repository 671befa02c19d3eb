// The open conversation: bubbles, media, receipts, tapbacks, effects and the typing indicator.
import { renderReplying } from "./composer.js";
import { $, AUDIO, IMAGE, VIDEO, addLongPress, call, day, fileName, h, isOneEmoji, linkify, prettyContact, safeUrl, showError } from "./dom.js";
import { currentConversation, messagesOf, state } from "./state.js";

const TAPBACKS = [
  ["love", "❤️"], ["like", "👍"], ["dislike", "👎"],
  ["laugh", "😂"], ["emphasize", "‼️"], ["question", "❓"],
];

const TAPBACK_EMOJI = Object.fromEntries(TAPBACKS);

const GAP_SECONDS = 15 * 60;

export const rows = new Map();  // message id -> {signature, node}

const animated = new Set();  // ids whose effect has played: effects play once, on arrival

const loadedAt = Date.now() / 1000;

export function renderMessages() {
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
    state.typingTimer = setTimeout(renderMessages, (conversation.typing_until - Date.now() / 1000) * 1000 + 50);
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
  } else if (state.senders.length > 1 && message.via) {
    parts.push(h("div", { class: "author via" }, `${me ? "to" : "from"} ${message.via}`));
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

function fileChip(url) {
  return h("a", { class: "file-chip", href: url, target: "_blank", rel: "noopener noreferrer" }, h("span", { class: "icon" }, "📄"), h("span", {}, fileName(url)));
}

export function closeMenus() {
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
