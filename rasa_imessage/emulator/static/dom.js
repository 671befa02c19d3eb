// Small DOM and HTTP helpers. Text only ever enters the page as text nodes (h() below),
// and only http(s) URLs pass safeUrl(), so nothing a person or a bot writes can run here.

// Media kinds by file extension, as LoopMessage's attachment URLs end.
export const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg|heic|heif)(\?|#|$)/i;
export const VIDEO = /\.(mov|mp4|m4v|webm)(\?|#|$)/i;
export const AUDIO = /\.(m4a|caf|aac|mp3|wav|ogg|oga|opus)(\?|#|$)/i;

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs, ...children) {
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

export function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

export async function call(method, path, body) {
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

export function showError(message) {
  $("chat-error").textContent = message || "";
}

export function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

export function day(seconds) {
  const date = new Date(seconds * 1000);
  const today = new Date();
  const label = date.toDateString() === today.toDateString()
    ? "Today" : date.toLocaleDateString([], { weekday: "long", month: "short", day: "numeric" });
  return [label, clock(seconds)];
}

export function prettyContact(contact) {
  const us = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(contact || "");
  return us ? `+1 (${us[1]}) ${us[2]}-${us[3]}` : contact;
}

export function isOneEmoji(text) {
  return /^\p{Extended_Pictographic}(\u200d\p{Extended_Pictographic}|\ufe0f)*$/u.test(text.trim());
}

export function linkify(text) {
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

export function fileName(url) {
  try {
    return decodeURIComponent(new URL(url).pathname.split("/").pop()) || url;
  } catch (_) {
    return url;
  }
}

export function addLongPress(node, action) {
  let timer = null;
  node.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse") return;
    timer = setTimeout(action, 500);
  });
  for (const end of ["pointerup", "pointerleave", "pointercancel"]) node.addEventListener(end, () => clearTimeout(timer));
}
