// Writing as a person: text, subject, attachments, voice notes, stickers, location, replies.
import { $, IMAGE, call, h, safeUrl, showError } from "./dom.js";
import { chosenSender, currentConversation, preview, state } from "./state.js";

export function renderReplying() {
  $("replying").hidden = !state.replyTo;
  $("replying-text").textContent = state.replyTo ? preview(state.replyTo).slice(0, 80) : "";
}

function writer() {
  const conversation = currentConversation();
  if (conversation.kind === "group") {
    return { contact: state.as.get(conversation.key) || conversation.participants[0], group: conversation.key };
  }
  if (state.senders.length > 1) return { contact: conversation.key, sender: chosenSender(conversation.key) };
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

export function renderPending() {
  const box = $("pending");
  box.hidden = !state.pending.length;
  box.replaceChildren(...state.pending.map((file, index) => h("div", { class: "chip" },
    IMAGE.test(file.url) ? h("img", { src: safeUrl(file.url), alt: "" }) : h("span", {}, "📎"),
    h("span", {}, file.name),
    h("button", { type: "button", "aria-label": "Remove", onclick: () => { state.pending.splice(index, 1); renderPending(); } }, "✕"))));
}

export async function onCompose(event) {
  event.preventDefault();
  const text = $("text").value;
  const subject = $("subject").hidden ? "" : $("subject").value.trim();
  if (!text.trim() && !state.pending.length) return;
  const files = state.pending.slice();
  const sent = await sendMessage({ text, subject: subject || undefined, attachments: files.map((f) => f.url) });
  if (sent) {
    // Clear only what was sent: the next bubble may have been typed while this one went.
    if ($("text").value === text) $("text").value = "";
    if ($("subject").value.trim() === subject) $("subject").value = "";
    state.pending = state.pending.filter((file) => !files.includes(file));
    renderPending();
  }
}

export async function onFiles(files, extra) {
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

export async function onVoice(event) {
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

export function onApp(name) {
  $("apps").hidden = true;
  if (name === "files") $("file-input").click();
  else if (name === "sticker") $("sticker-input").click();
  else if (name === "voice") { $("voice-form").hidden = false; $("voice-transcript").focus(); }
  else if (name === "opt-in") call("POST", "/emulator/opt-in", { contact: writer().contact }).then(() => showError(""), (error) => showError(error.message));
  else if (name === "call") { const { contact, sender } = writer(); call("POST", "/emulator/calls", { contact, sender }).then(() => showError(""), (error) => showError(error.message)); }
  else if (name === "location") sendMessage({ text: "https://maps.apple.com/?ll=37.3349,-122.0090&q=Apple%20Park", message_type: "location" });
}
